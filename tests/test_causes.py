"""Every failure named for what it is, in one line with its exit code: a full disk is not an ld failure,
a cut serial line is not a hanging firmware, a model whose logits overflow is not scored, and a signal
stops the work as Ctrl-C does (emulator reaped, scratch removed)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest

from tests.conftest import needs_qemu, slow, tiny_model
from tests.odd_places import (alive, checkout_at, cli_env, one_line, start_workbench, tree_once_qemu_runs,
                              workbench)
from workbench.link.session import SessionResult, WindowResult
from workbench.models import modelfile
from workbench.profile import profile_json
from workbench.profile.metrics import session_metrics
from workbench.targets import Measure


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    t = tmp_path_factory.mktemp("causes")
    return modelfile.save(modelfile.from_module(tiny_model(seed=41), {"dataset": "BasicMotions"}), t / "m.wbm")


def test_stdout_on_a_full_device_is_one_line(tmp_path):
    with open("/dev/full", "w") as full:
        proc = subprocess.run([sys.executable, "-m", "workbench.cli", "boards"], stdout=full, stderr=subprocess.PIPE,
                              text=True, env=cli_env())
    assert one_line(proc, 2) == "workbench: error: cannot go on: no space left on the device (ENOSPC)"


def test_device_logits_that_are_not_finite_are_scored_wrong_and_written_as_null():
    inf = np.float32("inf")
    windows = [WindowResult(0, np.array([1, 2, 0], "<f4"), 10, 8), WindowResult(1, np.array([inf, 0, 0], "<f4"), 10, 8),
               WindowResult(2, np.array([np.nan, 0, 9], "<f4"), 10, 8)]
    session = SessionResult(hello=SimpleNamespace(has=lambda _: False), windows=windows, stats={}, link={},
                            wall_seconds=1.0)
    host = np.array([[1, 2, 0], [3, 0, 0], [0, 0, 9]], "<f4")
    m, recs = session_metrics(session, np.array([1, 0, 2]), host, None, Measure("instructions", "estimate"), None, 3)
    assert m["accuracy.device"]["value"] == pytest.approx(1 / 3)        # window 1 and 2 have no class
    assert m["accuracy.host"]["value"] == 1.0
    assert [r["device_class"] for r in recs] == [1, None, None]
    assert recs[1]["logits"] == [None, 0.0, 0.0] and recs[2]["logits"] == [None, 0.0, 9.0]
    assert m["confusion.device"]["value"] == [[0, 0, 0], [0, 1, 0], [0, 0, 0]]
    json.loads(profile_json({"windows": recs, "metrics": m}), parse_constant=pytest.fail)   # strict JSON


@needs_qemu
def test_a_model_whose_logits_overflow_is_refused_before_the_device_is_asked(tmp_path):
    mf = modelfile.from_module(tiny_model(seed=42), {"dataset": "BasicMotions"})
    # Finite weights whose logits leave float32: bias + w*h0 overflows for h0 > 0 (even rows) and h0 < 0 (odd).
    big = np.finfo(np.float32).max
    mf.tensors["fc.bias"][:] = big
    mf.tensors["fc.weight"][:] = 0
    mf.tensors["fc.weight"][:, 0] = [big, -big, big, -big]
    path = modelfile.save(mf, tmp_path / "huge.wbm")
    proc = workbench("run", "--model", path, "--limit", "4", "--out", tmp_path / "p.json")
    line = one_line(proc, 2)
    assert line == "workbench: error: the model's logits are not finite (inf or NaN) on 4 of 4 windows of the host C " \
                   "kernel (first: window 0): its weights overflow float32, so no class can be scored"
    assert not (tmp_path / "p.json").exists()


@needs_qemu
@pytest.mark.parametrize("faults, words", [
    ("drop=1", ["not one byte from the device in ", "no answer to HELLO",
                "the line to it is cut, or the firmware never started its runner",
                "--fault-link delivered 0 of ", " bytes to the device and 0 of 0 to the host; QEMU killed"]),
    ("flip=0.5", ["no valid answer to HELLO", "not one valid frame in ",
                         "bytes from the device: the line garbles what it carries", "QEMU killed"]),
], ids=["cut", "garbled"])
def test_a_cut_or_garbled_line_is_named_not_blamed_on_the_firmware(model, tmp_path, faults, words):
    proc = workbench("run", "--model", model, "--limit", "2", "--fault-link", faults, "--link-timeout", "2",
                     "--out", tmp_path / "p.json")
    line = one_line(proc, 3)
    for w in words:
        assert w in line, line
    assert "hangs or is stuck" not in line


@needs_qemu
@slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_signal_during_a_run_is_one_line_and_leaves_nothing(model, tmp_path, sig):
    home = checkout_at(tmp_path / "home")
    proc = start_workbench("run", "--model", model, "--out", tmp_path / "p.json", home=home)
    tree = tree_once_qemu_runs(proc)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err[-3000:]
    assert err.strip() == f"workbench: interrupted ({sig.name})"
    assert not [pid for pid in tree if alive(pid)]                   # QEMU reaped
    assert not list((home / "build" / "scratch").iterdir())          # its scratch folder removed
    assert not (tmp_path / "p.json").exists()
