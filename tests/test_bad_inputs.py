"""The bad-input table: everything a user can type or pass wrong, each with its one-line message.

Each row runs the real CLI entry point (``workbench.cli.main``) and checks: exit code 2, exactly one
line on stderr, that line equal to the expected message (``{T}`` stands for the test's folder,
``{BOARDS}`` for the boards of this checkout; None: any one line). Every check runs before any build or emulator
look-up (RunSpec.check, then the board, the model and the data), so no row needs a toolchain.
docs/robustness.md shows the same table.
"""

from __future__ import annotations

import pytest

from tests.conftest import tiny_model
from workbench import cli
from workbench.boards import all_boards
from workbench.models import modelfile

BOARDS = ", ".join(b.name for b in all_boards())     # the board files of this checkout

# (what is wrong, argv, the one line on stderr)
TABLE = [
    ("unknown board", "run --board nosuch --model {T}/m.wbm",
     "unknown board 'nosuch' (known: {BOARDS})"),
    ("model file missing", "run --model {T}/missing.wbm", "model file {T}/missing.wbm not found"),
    ("model path is a folder", "run --model {T}", "model file {T} cannot be read: Is a directory"),
    ("not a model file", "build --model {T}/notes.wbm",
     "model file {T}/notes.wbm is not a workbench model (bad magic)"),
    ("model file truncated", "run --model {T}/cut.wbm",
     "model file {T}/cut.wbm is corrupt (unreadable header or truncated data)"),
    ("model too large for the board", "build --model {T}/big.wbm",
     "model does not fit board mps2-an386: its weights alone need 5,814,464 bytes of flash, the board has "
     "1,048,576 (estimate before build)"),
    ("model state too large for the board's RAM", "build --model {T}/ram.wbm",
     "model does not fit board mps2-an386: it needs at least 264,656 bytes of RAM (input 259,200 + model state "
     "1,360 + stack 4,096), the board has 262,144 (estimate before build)"),
    ("model and dataset shapes differ", "run --model {T}/m.wbm --dataset JapaneseVowels",
     "dataset JapaneseVowels windows are 29x12; the model takes 100x6"),
    ("model names no dataset", "run --model {T}/nodata.wbm",
     "the model file does not name its dataset: pass --dataset"),
    ("unknown dataset", "train --dataset NoSuchSet --out {T}/x.wbm", None),
    ("unknown split", "run --model {T}/m.wbm --split validation",
     "workbench run: argument --split: invalid choice: 'validation' (choose from 'train', 'test') "
     "(see workbench run --help)"),
    ("emulator not on the board", "run --model {T}/m.wbm --emulator renode",
     "board mps2-an386 cannot run in renode (its board file has: qemu)"),
    ("--limit not positive", "run --model {T}/m.wbm --limit 0", "--limit 0: give a number of windows of at least 1"),
    ("profile would be overwritten", "run --model {T}/m.wbm --out {T}/old.json",
     "{T}/old.json exists; choose another --out or pass --force to replace it"),
    ("profile path is a folder", "run --model {T}/m.wbm --out {T} --force",
     "--out {T} is a folder; give the profile's file name"),
    ("export into a file", "export {T}/m.wbm --out {T}/m.wbm",
     "--out {T}/m.wbm is a file; export writes a folder of C files"),
    ("fault rate out of range", "run --model {T}/m.wbm --fault-link drop=5",
     "fault spec 'drop=5': drop=5.0 is not a rate between 0 and 1"),
    ("fault spec unknown key", "run --model {T}/m.wbm --fault-link loss=0.1",
     "fault spec 'loss=0.1': 'loss=0.1' is not key=value with a key among delay, delay_ms, drop, dup, flip, "
     "seed, to"),
    ("fault spec not a number", "demo --fault-link flip=lots",
     "fault spec 'flip=lots': flip must be a number, got 'lots'"),
    ("link timeout out of range", "run --model {T}/m.wbm --link-timeout 0",
     "--link-timeout 0: give seconds between 0.1 and 3600"),
    ("link timeout not a number", "run --model {T}/m.wbm --link-timeout soon",
     "workbench run: argument --link-timeout: invalid float value: 'soon' (see workbench run --help)"),
    ("semihosting link off QEMU", "run --model {T}/m.wbm --board nrf52840 --link semihost",
     "--link semihost works on QEMU targets only (a board or Renode talks over the UART)"),
    ("semihosting link with a faulty line", "run --model {T}/m.wbm --link semihost --fault-link drop=0.1",
     "--fault-link damages the UART line: it does not combine with --link semihost"),
    ("semihosting link on Zephyr", "run --model {T}/m.wbm --link semihost --backend zephyr",
     "--link semihost is a bare-metal port's link: a Zephyr build talks over the board's UART"),
    ("k does not divide the window", "train --k 7 --out {T}/x.wbm",
     "brick size k=7 does not divide the window length T=100"),
    ("hidden size not a number", "train --hidden 16,x --out {T}/x.wbm",
     "expected comma-separated integers, got '16,x'"),
    ("hidden size zero", "train --hidden 0 --out {T}/x.wbm", "--hidden 0: hidden sizes must be at least 1"),
    ("epochs zero", "train --epochs 0 --out {T}/x.wbm", "--epochs 0: give at least 1"),
    ("unknown cell", "train --cells gru,foo --out {T}/x.wbm", None),
    ("unknown option", "boards --bogus",
     "workbench: unrecognized arguments: --bogus (see workbench --help)"),
    ("link proxy target malformed", "link-proxy --to nowhere --faults drop=0.1",
     "--to 'nowhere': give HOST:PORT with a port between 1 and 65535"),
]

# Rows whose message comes only where qemu-system-arm is installed: without it, `run` stops earlier at
# "qemu-system-arm not found" (marker qemu, so `-m "not qemu"` leaves them out).
ROWS = [pytest.param(*row, id=row[0]) for row in TABLE]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    t = tmp_path_factory.mktemp("bad")
    m = modelfile.save(modelfile.from_module(tiny_model(), {"dataset": "BasicMotions"}), t / "m.wbm")
    modelfile.save(modelfile.from_module(tiny_model(hidden=(400, 400)), {"dataset": "BasicMotions"}), t / "big.wbm")
    # A long window of many channels: its input alone outgrows 256 KB of RAM, its weights fit.
    modelfile.save(modelfile.from_module(tiny_model(window=1800, input_dim=36, k=60), {"dataset": "BasicMotions"}),
                   t / "ram.wbm")
    modelfile.save(modelfile.from_module(tiny_model(), {}), t / "nodata.wbm")
    (t / "notes.wbm").write_text("hello")
    (t / "cut.wbm").write_bytes(m.read_bytes()[:100])
    (t / "old.json").write_text("{}")
    return t


@pytest.mark.parametrize("what, argv, message", ROWS)
def test_bad_input_gives_its_one_line(what, argv, message, folder, capsys):
    args = [a.replace("{T}", str(folder)) for a in argv.split()]
    code = cli.main(args)
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("workbench: error: ")
    if message is not None:
        assert lines[0] == "workbench: error: " + message.replace("{T}", str(folder)).replace("{BOARDS}", BOARDS)


def test_broken_board_file_is_named(tmp_path, monkeypatch, capsys):
    home = tmp_path / "home"
    (home / "boards").mkdir(parents=True)
    (home / "boards" / "myboard.toml").write_text("name = 'myboard'\nclock_hz = [\n")
    monkeypatch.setenv("WORKBENCH_HOME", str(home))
    assert cli.main(["boards"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("workbench: error: board file myboard.toml: not valid TOML (") and "\n" not in err
