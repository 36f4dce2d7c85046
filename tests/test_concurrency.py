"""Runs that overlap: two terminals, CI jobs, a sweep beside a run, all in one checkout. Each run writes
into a scratch folder of its own (plugin counts, link FIFOs, logs) and runs a copy of the firmware;
builds of one model take turns on its build folder (a lock). Whatever overlaps, every run gives the
logits and counts of the same run alone. And a sweep killed outright takes its workers and their QEMUs
with it."""

from __future__ import annotations

import json
import signal
import time

import pytest

from tests.conftest import needs_qemu, slow, tiny_model
from tests.odd_places import alive, checkout_at, command_of, start_workbench, tree_once_qemu_runs, workbench
from workbench.models import modelfile

pytestmark = [needs_qemu, slow]

# Three ways to run one model on one board: f32 over the UART, int16 over semihosting, and f32 over
# a UART that damages bytes (retransmissions; same answers).
RUNS = {"uart": [], "q15-semihost": ["--quant", "q15", "--link", "semihost"],
        "faulty": ["--fault-link", "flip=0.002,dup=0.002,seed=5"]}


def measured(path) -> list:
    """What must not depend on what else ran at the time: every window's logits and counts."""
    p = json.loads(path.read_text())
    return [(w["logits"], w["cost"], w.get("stream_cost")) for w in p["windows"]]


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """A checkout of its own: its build folder starts empty, so the runs below also build at once."""
    return checkout_at(tmp_path_factory.mktemp("concurrent") / "home")


def test_three_runs_of_one_model_at_once_match_a_lone_run(home, tmp_path):
    model = modelfile.save(modelfile.from_module(tiny_model(seed=31), {"dataset": "BasicMotions"}),
                           tmp_path / "m.wbm")
    base = ["run", "--model", model, "--limit", "3"]
    together = {name: start_workbench(*base, *extra, "--out", tmp_path / f"{name}-together.json", home=home)
                for name, extra in RUNS.items()}
    for name, proc in together.items():
        _, err = proc.communicate(timeout=900)
        assert proc.returncode == 0, f"{name}: {err[-3000:]}"
    for name, extra in RUNS.items():
        alone = workbench(*base, *extra, "--out", tmp_path / f"{name}-alone.json", home=home, timeout=900)
        assert alone.returncode == 0, f"{name}: {alone.stderr[-3000:]}"
        assert measured(tmp_path / f"{name}-together.json") == measured(tmp_path / f"{name}-alone.json"), name
    assert not list((home / "build" / "scratch").iterdir())       # every run removed its scratch folder


def test_a_sweep_and_a_run_of_its_configuration_at_once(home, tmp_path):
    grid = ["sweep", "--k", "10", "--hidden", "8", "--cells", "gru", "--epochs", "1", "--limit", "2",
            "--workers", "1"]
    first = workbench(*grid, "--out", tmp_path / "a", home=home, timeout=900)
    assert first.returncode == 0, first.stderr[-3000:]
    (profile,) = (tmp_path / "a").glob("*.json")
    # The sweep trains into build/sweep/<key>/ again while the run loads the model file from there.
    model = home / "build" / "sweep" / profile.stem / "model.wbm"
    sweep = start_workbench(*grid, "--out", tmp_path / "b", home=home)
    run = start_workbench("run", "--model", model, "--limit", "2", "--out", tmp_path / "run.json", home=home)
    for proc in (sweep, run):
        _, err = proc.communicate(timeout=900)
        assert proc.returncode == 0, err[-3000:]
    again = tmp_path / "b" / profile.name
    assert measured(again) == measured(profile)
    assert measured(tmp_path / "run.json") == measured(profile)


def test_a_sweep_killed_outright_takes_its_workers_and_qemu_with_it(home, tmp_path):
    sweep = start_workbench("sweep", "--k", "10", "20", "--hidden", "8", "--cells", "gru", "--epochs", "1",
                            "--workers", "2", "--out", tmp_path / "s", home=home)
    tree = tree_once_qemu_runs(sweep)
    sweep.send_signal(signal.SIGKILL)
    sweep.wait()
    killed = time.monotonic()
    while time.monotonic() < killed + 5 and any(alive(pid) for pid in tree):
        time.sleep(0.05)
    left = [f"{pid}: {command_of(pid)[:80]}" for pid in tree if alive(pid)]
    assert not left, left
    print(f"all {len(tree)} processes of the sweep gone {time.monotonic() - killed:.2f} s after its SIGKILL")
