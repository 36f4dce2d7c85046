"""Sweeps: the grid, its one-line refusals, resuming (a finished configuration never runs twice, an
interrupted sweep keeps what finished), and the Dask engine giving the same profiles as local workers.

The QEMU tests run a 4-configuration grid (2 epochs, 3 windows each) on two workers: ~1-2 minutes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import needs_qemu, slow
from tests.test_cli_errors import assert_one_line_error
from workbench.errors import WorkbenchError
from workbench.sweep import Config, expand_grid

GRID = ["--k", "10", "20", "--hidden", "8", "--cells", "gru", "lstm", "--epochs", "2", "--limit", "3"]


def workbench(*args, env=None, **kw):
    return subprocess.run([sys.executable, "-m", "workbench.cli", *map(str, args)], capture_output=True, text=True,
                          env=env, **kw)


def grid(**kw):
    args = dict(dataset="BasicMotions", families=["sharnn"], cells=["gru", "lstm"], hidden=["8", "16"],
                ks=[5, 10, 20], quantizations=["f32"], boards=["mps2-an386"], epochs=20)
    args.update(kw)
    return expand_grid(**args)


def test_grid_expands_and_keys_are_stable_and_distinct():
    configs = grid()
    assert len(configs) == 12
    assert len({c.key for c in configs}) == 12
    assert [c.key for c in configs] == [c.key for c in grid()]
    c = configs[0]
    assert c.key.startswith("mps2-an386-sharnn-gru-gru-h8-8-k5-f32-")
    assert Config(**{**c.__dict__, "epochs": 21}).key != c.key     # every field is part of the key


def test_grid_levels_and_single_level_family():
    configs = grid(families=["sharnn", "rnn"], cells=["lstm/gru"], hidden=["8/16"], ks=[5, 10])
    sharnn = [c for c in configs if c.family == "sharnn"]
    rnn = [c for c in configs if c.family == "rnn"]
    assert [(c.cells, c.hidden, c.k) for c in sharnn] == [(("lstm", "gru"), (8, 16), 5), (("lstm", "gru"), (8, 16), 10)]
    assert [(c.cells, c.hidden, c.k) for c in rnn] == [(("lstm",), (8,), None)]   # k does not apply: one config
    with pytest.raises(WorkbenchError, match="hidden 'x' is not valid"):
        grid(hidden=["x"])


@pytest.mark.parametrize("args, words", [
    (["--k", "7"], ["k=7 does not divide the window of BasicMotions (T=100)"]),
    (["--quantization", "f32", "int16"], ["quantization 'int16' is not supported by this build", "have: f32"]),
    (["--cells", "gru,transformer"], ["unknown cell 'transformer'"]),
    (["--board", "mps2-an386", "nosuch"], ["unknown board 'nosuch'"]),
    (["--family", "cnn"], ["unknown family 'cnn'"]),
    (["--k", "ten"], ["--k ten: brick lengths must be integers"]),
    (["--k", "10,20"], ["--k '10,20': one value per grid point; separate the values with spaces, e.g. --k 10 20"]),
    (["--workers", "0"], ["--workers must be at least 1"]),
    (["--engine", "local", "--scheduler", "tcp://127.0.0.1:1"], ["--scheduler applies to --engine dask only"]),
])
def test_unsupported_values_are_refused_in_one_line(tmp_path, args, words):
    assert_one_line_error(workbench("sweep", *args, "--out", tmp_path / "s"), *words)
    assert not (tmp_path / "s").exists()


def blocked_dask_env(tmp_path) -> dict:
    """PYTHONPATH with stand-ins that make `import dask` / `import distributed` fail, in every process."""
    for name in ("dask", "distributed"):
        (tmp_path / "block" / name).mkdir(parents=True)
        (tmp_path / "block" / name / "__init__.py").write_text(f"raise ImportError('{name} is not installed')\n")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path / "block"), str(Path(__file__).resolve().parents[1]),
                                         env.get("PYTHONPATH", "")])
    return env


def test_dask_engine_without_distributed_is_one_line(tmp_path):
    proc = workbench("sweep", *GRID, "--engine", "dask", "--out", tmp_path / "s", env=blocked_dask_env(tmp_path))
    assert_one_line_error(proc, "the dask engine needs the 'distributed' package", "--engine local")


def profiles_of(folder: Path) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))}


def comparable(p: dict) -> dict:
    """What must be identical between two runs of one configuration: the model (weights by content hash),
    every measured metric but wall-clock time, every window's logits and counts. Not times, and not the
    training stage's own notes in model.meta, and not the link's traffic: on a busy machine the host
    may time out and resend a request, so frames_ok/duplicates count that run's retransmissions."""
    model = {k: v for k, v in p["model"].items() if k != "meta"}
    traffic = ("frames_ok", "duplicates")
    return {"model": model, "board": p["board"], "dataset": p["dataset"],
            "metrics": {k: v for k, v in p["metrics"].items() if v["source"] != "host-wallclock"},
            "windows": p["windows"],
            "device_stats": {k: v for k, v in p["extra"]["device_stats"].items() if k not in traffic}}


@pytest.fixture(scope="module")
def local_sweep(tmp_path_factory):
    """The grid on two local workers, with dask and distributed unimportable in every process."""
    tmp = tmp_path_factory.mktemp("sweep")
    out = tmp / "local"
    proc = workbench("sweep", *GRID, "--workers", "2", "--out", out, env=blocked_dask_env(tmp))
    return out, proc


@needs_qemu
@slow
def test_local_sweep_needs_no_distributed_package_and_writes_a_profile_each(local_sweep):
    out, proc = local_sweep
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "4 run, 0 already done, 0 failed" in proc.stdout
    profiles = profiles_of(out)
    assert len(profiles) == 4 and len(list((out / "models").glob("*.wbm"))) == 4
    for key, p in profiles.items():
        assert p["extra"]["sweep"]["key"] == key
        assert p["metrics"]["agreement.device_host"]["value"] == 1.0
        assert p["metrics"]["cost.stream_window.median"]["source"] == "qemu-plugin-instructions"
    assert {(p["model"]["cells"][0], p["model"]["k"]) for p in profiles.values()} == \
        {("gru", 10), ("gru", 20), ("lstm", 10), ("lstm", 20)}


@needs_qemu
@slow
def test_rerun_runs_only_missing_configurations(local_sweep, tmp_path):
    out, _ = local_sweep
    work = tmp_path / "resume"
    subprocess.run(["cp", "-a", str(out), str(work)], check=True)
    kept = sorted(work.glob("*.json"))
    removed = kept.pop(0)
    removed.unlink()
    stamps = {p: p.stat().st_mtime_ns for p in kept}
    proc = workbench("sweep", *GRID, "--workers", "2", "--out", work)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "1 run, 3 already done, 0 failed" in proc.stdout
    assert removed.exists()
    assert all(p.stat().st_mtime_ns == t for p, t in stamps.items())     # finished ones untouched
    again = workbench("sweep", *GRID, "--out", work)
    assert again.returncode == 0 and "0 run, 4 already done" in again.stdout


@needs_qemu
@slow
def test_interrupted_sweep_keeps_finished_profiles_and_resumes(tmp_path):
    out = tmp_path / "s"
    proc = subprocess.Popen([sys.executable, "-m", "workbench.cli", "sweep", *GRID, "--workers", "1", "--out",
                             str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not list(out.glob("*.json")):
        time.sleep(0.5)
    assert list(out.glob("*.json")), "no configuration finished"
    proc.send_signal(signal.SIGTERM)              # "kill it halfway"
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "sweep interrupted" in err and "rerun the same command" in err and "error" not in err
    done = sorted(p.name for p in out.glob("*.json"))
    assert 1 <= len(done) < 4
    assert not list(out.glob(".*.json.*"))        # no half-written profile
    proc = workbench("sweep", *GRID, "--workers", "2", "--out", out)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"{4 - len(done)} run, {len(done)} already done, 0 failed" in proc.stdout
    assert len(list(out.glob("*.json"))) == 4


@needs_qemu
@slow
def test_dask_engine_on_a_two_worker_local_cluster_gives_identical_profiles(local_sweep, tmp_path):
    pytest.importorskip("distributed")
    out, _ = local_sweep
    proc = workbench("sweep", *GRID, "--engine", "dask", "--workers", "2", "--out", tmp_path / "dask")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "local Dask cluster of 2 worker process(es)" in proc.stdout
    local, dask = profiles_of(out), profiles_of(tmp_path / "dask")
    assert sorted(local) == sorted(dask) and len(dask) == 4
    for key in local:
        assert comparable(dask[key]) == comparable(local[key]), key


@needs_qemu
@pytest.mark.slow
def test_int16_sweep_runs_the_cells_only_int16_has(tmp_path):
    """The kernel table (workbench.models.families.KERNEL_CELLS) decides, not the float exporter's list:
    minGRU runs in int16, so its sweep runs, and off a terminal each stage is a labelled line."""
    out = tmp_path / "q15"
    proc = workbench("sweep", "--cells", "mingru", "--quantization", "q15", "--hidden", "8", "--k", "10",
                     "--epochs", "1", "--limit", "4", "--workers", "1", "--out", out)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "1 run, 0 already done, 0 failed" in proc.stdout
    assert "w1 sharnn mingru/mingru 8/8 k=10 q15 mps2-an386: build firmware for mps2-an386" in proc.stdout
    (profile,) = profiles_of(out).values()
    assert (profile["model"]["cells"], profile["model"]["quantization"]) == (["mingru", "mingru"], "q15")
    assert profile["dataset"]["count"] == 4 and sorted(w["label"] for w in profile["windows"]) == [0, 1, 2, 3]
    assert profile["metrics"]["agreement.device_reference"]["value"] == 1.0
