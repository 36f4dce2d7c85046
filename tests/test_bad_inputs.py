"""The bad-input table: everything a user can type or pass wrong, each with its one-line message.

Each row runs the real CLI entry point (``workbench.cli.main``) and checks: exit code 2, exactly one
line on stderr, that line equal to the expected message (``{T}`` stands for the test's folder,
``{BOARDS}`` for the boards of this checkout; None: any one line). Every check runs before any build or emulator
look-up (RunSpec.check, then the board, the model and the data), so no row needs a toolchain.
docs/robustness.md shows the same table.
"""

from __future__ import annotations

import hashlib
import os

import numpy as np
import pytest

from tests.conftest import tiny_model
from tests.profile_samples import sample_profile
from workbench import cli
from workbench.boards import all_boards
from workbench.models import modelfile
from workbench.profile import write_profile

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
     "max_frame, seed, to"),
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
    # Issue 14: one model validation for every command; a checksum over every byte of a model file.
    ("model with brick size zero", "run --model {T}/k0.wbm",
     "model file {T}/k0.wbm is invalid: k=0: the brick size must be a whole number of at least 1"),
    ("model without its window", "build --model {T}/nowin.wbm",
     "model file {T}/nowin.wbm is invalid: its config has no window (the window length T)"),
    ("build: k does not divide the model's window", "build --model {T}/k7.wbm",
     "model file {T}/k7.wbm is invalid: brick size k=7 does not divide the window length T=100"),
    ("build: num_classes differs from the weights", "build --model {T}/nc5.wbm",
     "model file {T}/nc5.wbm is invalid: fc.weight is 4x8; its config says 5x8 (num_classes=5 x hidden 8)"),
    ("model with a NaN weight", "export {T}/nan.wbm --out {T}/e",
     "model file {T}/nan.wbm is invalid: tensor fc.weight holds 1 non-finite value(s) (NaN or infinity) of 32"),
    ("a byte of the model's metadata flipped", "run --model {T}/flipped.wbm",
     "model file {T}/flipped.wbm is corrupt (checksum mismatch)"),
    ("junk appended to a model file", "run --model {T}/junk.wbm",
     "model file {T}/junk.wbm is corrupt (4 bytes after the end of its data)"),
    ("empty model file", "run --model {T}/empty.wbm", "model file {T}/empty.wbm is not a workbench model (bad magic)"),
    ("model file of a future format", "build --model {T}/future.wbm",
     "model file {T}/future.wbm has format version 9; this workbench reads 1, 2"),
    ("model path is a device", "build --model /dev/zero", "model file /dev/zero is a character device, not a file"),
    ("model path is a named pipe", "run --model {T}/pipe.wbm", "model file {T}/pipe.wbm is a named pipe, not a file"),
    # Issue 14: strict JSON, files that are not files, outputs checked before the work.
    ("profile holds NaN (not strict JSON)", "compare {T}/nan.json {T}/p.json",
     "profile {T}/nan.json is not strict JSON: it holds NaN (strict parsers refuse it)"),
    ("empty profile", "compare {T}/empty.json {T}/p.json",
     "profile {T}/empty.json is not valid JSON (truncated or corrupt: Expecting value at line 1)"),
    ("profile path is a device", "compare /dev/zero {T}/p.json", "profile /dev/zero is a character device, not a file"),
    ("profile path is a named pipe", "dashboard {T}/pipe.json --out {T}/d.html",
     "profile {T}/pipe.json is a named pipe, not a file"),
    ("profile --out is a device", "run --model {T}/m.wbm --out /dev/null --force",
     "--out /dev/null is a character device; give the profile's file name"),
    ("dashboard --out is a device", "dashboard {T}/p.json --out /dev/null",
     "--out /dev/null is a character device; give the dashboard's file name"),
    ("dashboard --out under a file", "dashboard {T}/p.json --out {T}/m.wbm/d.html",
     "--out {T}/m.wbm/d.html: a parent of it is a file, not a folder"),
    ("train --out under a file", "train --out {T}/m.wbm/x.wbm",
     "--out {T}/m.wbm/x.wbm: a parent of it is a file, not a folder"),
    ("export --out under a file", "export {T}/m.wbm --out {T}/m.wbm/c",
     "cannot export into {T}/m.wbm/c: {T}/m.wbm is a file, not a folder"),
    ("sweep --out under a file", "sweep --epochs 1 --out {T}/m.wbm/s",
     "cannot write the sweep's profiles into {T}/m.wbm/s: {T}/m.wbm is a file, not a folder"),
    # Issue 14: options refuse non-finite numbers (a NaN gate passes everything).
    ("gate threshold NaN", "compare {T}/p.json {T}/p.json --fail-over nan",
     "workbench compare: argument --fail-over: 'nan' is not a finite number (see workbench compare --help)"),
    ("gate threshold infinite", "compare {T}/p.json {T}/p.json --fail-over inf",
     "workbench compare: argument --fail-over: 'inf' is not a finite number (see workbench compare --help)"),
    ("gate threshold negative", "compare {T}/p.json {T}/p.json --fail-over -5",
     "--fail-over must be a percentage >= 0, got -5.0"),
    ("learning rate NaN", "train --lr nan --out {T}/x.wbm",
     "workbench train: argument --lr: 'nan' is not a finite number (see workbench train --help)"),
    ("validation fraction infinite", "train --val-fraction inf --out {T}/x.wbm",
     "workbench train: argument --val-fraction: 'inf' is not a finite number (see workbench train --help)"),
    ("link timeout NaN", "run --model {T}/m.wbm --link-timeout nan",
     "workbench run: argument --link-timeout: 'nan' is not a finite number (see workbench run --help)"),
    ("proxy duration NaN", "link-proxy --to 127.0.0.1:5 --faults drop=0.1 --duration nan",
     "workbench link-proxy: argument --duration: 'nan' is not a finite number (see workbench link-proxy --help)"),
    ("fault rate NaN", "run --model {T}/m.wbm --fault-link drop=nan",
     "fault spec 'drop=nan': drop=nan is not a rate between 0 and 1"),
    ("fault delay infinite", "run --model {T}/m.wbm --fault-link delay_ms=inf",
     "fault spec 'delay_ms=inf': delay_ms=inf must be within 0..10000"),
    ("fault seed not an integer", "run --model {T}/m.wbm --fault-link seed=1.5",
     "fault spec 'seed=1.5': seed must be an integer, got '1.5'"),
    ("brick size zero for training", "train --k 0 --out {T}/x.wbm", "--k 0: the brick size must be at least 1"),
    ("time shift out of range", "train --shift 2 --out {T}/x.wbm", "--shift must lie in [0, 1], got 2.0"),
    ("sweep without workers", "sweep --workers 0 --out {T}/s", "--workers must be at least 1, got 0"),
    # The user's own data: refused at load time, before any training, and no model file is written.
    ("3e38 in an .npz (float32 training overflows)", "train --dataset {T}/big.npz --out {T}/x.wbm",
     "{T}/big.npz: x[2, 5, 1] = 3e+38 is out of range: values must lie within ±2.1e+37 (float32's largest / 16), "
     "the room float32 training needs"),
    ("1e39 in a .csv (overflows float32)", "train --dataset {T}/big.csv --out {T}/x.wbm",
     "{T}/big.csv:4: value 7 = 1e+39 overflows float32 (largest 3.4e+38)"),
    ("NaN in the data", "train --dataset {T}/nan.npz --out {T}/x.wbm", "{T}/nan.npz: x_test[1, 3, 0] is NaN"),
    ("inf in the data", "train --dataset {T}/inf.csv --out {T}/x.wbm", "{T}/inf.csv:3: value 4 is infinite"),
    ("zero windows", "train --dataset {T}/empty.npz --out {T}/x.wbm",
     "{T}/empty.npz: x holds no windows (shape [0, 20, 2])"),
    ("label not a class index or name", "train --dataset {T}/frac.npz --out {T}/x.wbm",
     "{T}/frac.npz: y[4] = 1.5 is not a class index (an integer 0..K-1) or a class name"),
    ("absurd number of classes", "train --dataset {T}/classes.npz --out {T}/x.wbm",
     "{T}/classes.npz: y: 1,000,000 classes for 30 training windows: labels must be class indices 0..K-1 or class "
     "names (at most 1,000 classes, and no more than training windows)"),
    ("channel counts differ between splits", "train --dataset {T}/channels.npz --out {T}/x.wbm",
     "{T}/channels.npz: x_test: windows are [T=20, C=3] but the training windows are [T=20, C=2]: both splits need "
     "the same steps and channels"),
    ("training diverges", "train --dataset {T}/ok.csv --hidden 4 --k 10 --epochs 4 --batch-size 2 --lr 3e37 "
                          "--out {T}/x.wbm",
     "training on ok diverged after 4 epochs: weight cell1.rnn.weight_ih_l0 holds NaN or infinite values; no model "
     "written (lower --lr)"),
    ("learning rate overflows float32", "train --lr 1e39 --out {T}/x.wbm",
     "--lr 1e+39: above 3.4e+37, where Adam's first step (10 × lr) overflows float32"),
    ("the model's data file moved", "run --model {T}/moved.wbm --quant q15",
     "{T}/moved.wbm was trained on {T}/gone.csv (sha256 {SHA}), which is not there any more: pass --dataset PATH "
     "(Python: data=) where that file is now"),
    ("the model's data file changed", "run --model {T}/changed.wbm",
     "{T}/changed.wbm was trained on {T}/changed.csv with sha256 {SHA}, but {T}/changed.csv now has sha256 "
     "{SHA_CHANGED} (changed since training): pass --dataset PATH (Python: data=) with the data it was trained on"),
    ("data path that is not there", "train --dataset {T}/nosuch/walk.npz --out {T}/x.wbm",
     "{T}/nosuch/walk.npz: file not found"),
]

# Rows whose message comes only where qemu-system-arm is installed: without it, `run` stops earlier at
# "qemu-system-arm not found" (marker qemu, so `-m "not qemu"` leaves them out).
ROWS = [pytest.param(*row, id=row[0]) for row in TABLE]


def ok_csv(changed: bool = False) -> str:
    """A small valid 3-class .csv (20 steps, 2 channels), the same bytes every time; ``changed``: one
    value differs."""
    rng = np.random.default_rng(0)
    rows = []
    for i in range(30):
        label = i % 3
        t = np.arange(20)
        x = np.stack([np.sin(t * (label + 1) / 3), np.cos(t * (label + 1) / 3)], -1)
        x = x + 0.3 * rng.standard_normal((20, 2))
        rows.append(",".join([str(label), *(f"{v:.4f}" for v in x.reshape(-1))]))
    if changed:
        rows[0] = rows[0][:-1] + ("1" if rows[0][-1] != "1" else "2")
    return "# channels=2\n" + "\n".join(rows) + "\n"


def sha12(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def with_value(csv: str, line: int, field: int, value: str) -> str:
    """``csv`` with field ``field`` of line ``line`` (both counted from 1, the label is field 1) replaced."""
    lines = csv.splitlines()
    fields = lines[line - 1].split(",")
    fields[field - 1] = value
    lines[line - 1] = ",".join(fields)
    return "\n".join(lines) + "\n"


def write_data_files(t) -> None:
    """The data files of the rows above."""
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((30, 20, 2)).astype(np.float32), np.arange(30) % 3
    xt, yt = rng.standard_normal((6, 20, 2)).astype(np.float32), np.arange(6) % 3
    big = x.copy()
    big[2, 5, 1] = 3e38
    np.savez(t / "big.npz", x=big, y=y, x_test=xt, y_test=yt)
    (t / "big.csv").write_text(with_value(ok_csv(), line=4, field=7, value="1e39"))
    nan_t = xt.copy()
    nan_t[1, 3, 0] = np.nan
    np.savez(t / "nan.npz", x=x, y=y, x_test=nan_t, y_test=yt)
    (t / "inf.csv").write_text(with_value(ok_csv(), line=3, field=4, value="inf"))
    np.savez(t / "empty.npz", x=np.zeros((0, 20, 2), np.float32), y=np.zeros(0, np.int64))
    np.savez(t / "frac.npz", x=x, y=np.where(np.arange(30) == 4, 1.5, y))
    np.savez(t / "classes.npz", x=x, y=np.where(np.arange(30) == 7, 999_999, y))
    np.savez(t / "channels.npz", x=x, y=y, x_test=rng.standard_normal((6, 20, 3)), y_test=yt)
    (t / "ok.csv").write_text(ok_csv())
    (t / "ok_test.csv").write_text(ok_csv())
    # Model files that record a data file: one since moved away, one changed in place.
    from workbench.data.source import dataset_name, model_record, open_data

    for name, data_file in (("moved", "gone.csv"), ("changed", "changed.csv")):
        (t / data_file).write_text(ok_csv())
        data = open_data(str(t / data_file))
        meta = {"dataset": dataset_name(data), "data": model_record(data, 20, 2)}
        modelfile.save(modelfile.from_module(tiny_model(window=20, input_dim=2, num_classes=3), meta),
                       t / f"{name}.wbm")
    (t / "gone.csv").unlink()
    (t / "changed.csv").write_text(ok_csv(changed=True))


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
    for name, change in (("k0", {"k": 0}), ("nowin", {"window": None}), ("k7", {"k": 7}), ("nc5", {"num_classes": 5})):
        mf = modelfile.from_module(tiny_model(), {"dataset": "BasicMotions"})
        mf.config.update(change)
        mf.config = {k: v for k, v in mf.config.items() if v is not None}
        modelfile.save(mf, t / f"{name}.wbm")
    mf = modelfile.from_module(tiny_model(), {"dataset": "BasicMotions"})
    mf.tensors["fc.weight"][1, 2] = float("nan")
    modelfile.save(mf, t / "nan.wbm")
    good = m.read_bytes()
    at = good.index(b"BasicMotions")
    (t / "flipped.wbm").write_bytes(good[:at] + b"C" + good[at + 1:])     # "CasicMotions": still valid JSON
    (t / "junk.wbm").write_bytes(good + b"junk")
    (t / "empty.wbm").write_bytes(b"")
    (t / "future.wbm").write_bytes(good[:8] + b"\x09\x00\x00\x00" + good[12:])
    write_profile(sample_profile(), t / "p.json")
    (t / "nan.json").write_text((t / "p.json").read_text().replace('"value": 0.975', '"value": NaN', 1))
    (t / "empty.json").write_text("")
    os.mkfifo(t / "pipe.wbm")
    os.mkfifo(t / "pipe.json")
    write_data_files(t)
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
        expected = message.replace("{T}", str(folder)).replace("{BOARDS}", BOARDS) \
            .replace("{SHA_CHANGED}", sha12(ok_csv(changed=True))).replace("{SHA}", sha12(ok_csv()))
        assert lines[0] == "workbench: error: " + expected
    assert not (folder / "x.wbm").exists(), "a refused command wrote a model file"


def test_broken_board_file_is_named(tmp_path, monkeypatch, capsys):
    home = tmp_path / "home"
    (home / "boards").mkdir(parents=True)
    (home / "boards" / "myboard.toml").write_text("name = 'myboard'\nclock_hz = [\n")
    monkeypatch.setenv("WORKBENCH_HOME", str(home))
    assert cli.main(["boards"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("workbench: error: board file myboard.toml: not valid TOML (") and "\n" not in err
