"""Bad input gives one line on stderr naming the problem and exit 2, never a traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import tiny_model
from workbench.models import modelfile


def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "workbench.cli", *args], capture_output=True, text=True, cwd=cwd)


def assert_one_line_error(proc, *words, code=2):
    assert proc.returncode == code, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    for w in words:
        assert w in lines[0], lines[0]


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    return modelfile.save(modelfile.from_module(tiny_model(), {"dataset": "BasicMotions"}),
                          tmp_path_factory.mktemp("m") / "m.wbm")


def test_unknown_board(model_path):
    assert_one_line_error(run_cli("run", "--board", "nosuch", "--model", str(model_path)), "unknown board 'nosuch'")


def test_missing_model_file(tmp_path):
    assert_one_line_error(run_cli("run", "--model", str(tmp_path / "missing.wbm")), "missing.wbm", "not found")


def test_corrupt_model_file(tmp_path, model_path):
    bad = tmp_path / "bad.wbm"
    data = model_path.read_bytes()
    bad.write_bytes(data[:-50] + bytes(50))
    assert_one_line_error(run_cli("run", "--model", str(bad)), "bad.wbm", "corrupt")


def test_not_a_model_file(tmp_path):
    bad = tmp_path / "notes.wbm"
    bad.write_text("hello")
    assert_one_line_error(run_cli("build", "--model", str(bad)), "notes.wbm", "not a workbench model")


def test_unknown_option_is_one_line():
    assert_one_line_error(run_cli("boards", "--bogus"), "unrecognized arguments: --bogus")


def test_k_must_divide_window(tmp_path):
    assert_one_line_error(run_cli("train", "--k", "7", "--out", str(tmp_path / "m.wbm")), "k=7", "T=100")


def test_unknown_dataset(tmp_path):
    assert_one_line_error(run_cli("train", "--dataset", "NoSuchSet", "--out", str(tmp_path / "m.wbm")),
                          "unknown dataset 'NoSuchSet'")


def test_existing_profile_is_not_overwritten(tmp_path, model_path):
    out = tmp_path / "p.json"
    out.write_text("{}")
    assert_one_line_error(run_cli("run", "--model", str(model_path), "--out", str(out)), "exists", "--force")
    assert out.read_text() == "{}"


def test_help_answers():
    proc = run_cli("run", "--help")
    assert proc.returncode == 0
    for opt in ("--board", "--model", "--out", "--counter"):
        assert opt in proc.stdout
