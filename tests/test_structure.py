"""The codebase's own rules, and what a new user meets first.

- Layers: nothing below the CLI imports it (workbench/ outside cli.py and commands/, bench/, tasks.py).
- Facts written once: the protocol's numbers come from wb_proto.h; the cells per arithmetic from one table.
- New-user behaviour: instant refusals, recursive profile checks, a note when compared data sets differ,
  --limit spread over the classes, plain progress lines off a terminal.
"""

from __future__ import annotations

import ast
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def python_files_below_the_cli() -> list[Path]:
    lib = [p for p in (ROOT / "workbench").rglob("*.py")
           if p.name != "cli.py" and "commands" not in p.relative_to(ROOT / "workbench").parts]
    return lib + sorted((ROOT / "bench").glob("*.py")) + [ROOT / "tasks.py"]


def imported_modules(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
            out |= {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) in \
                ("import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant):
            out.add(str(node.args[0].value))
    return out


def test_nothing_below_the_cli_imports_it():
    offenders = {}
    for path in python_files_below_the_cli():
        bad = sorted(m for m in imported_modules(path)
                     if m == "workbench.cli" or m.startswith("workbench.commands") or m == "workbench.commands")
        if bad:
            offenders[str(path.relative_to(ROOT))] = bad
    assert offenders == {}


def test_the_import_check_sees_a_violation(tmp_path):
    """The check above is not vacuous: a library module that imports a command is caught."""
    f = tmp_path / "bad.py"
    f.write_text("def f():\n    from workbench.commands.train import cmd_train\n")
    assert "workbench.commands.train" in imported_modules(f)


def test_protocol_layout_is_the_headers():
    """The HELLO and result layouts the host parses are the ones wb_proto.h defines for the device."""
    from workbench.link import protocol as proto

    header = (ROOT / "firmware" / "runner" / "wb_proto.h").read_text()
    assert proto.HELLO_FIXED.size == proto.P.HELLO_HASH == 36
    assert proto.P.HELLO_BOARD_LEN == proto.P.HELLO_HASH + 8 and proto.P.HELLO_BOARD == proto.P.HELLO_BOARD_LEN + 1
    assert proto.RESULT_HEADER.size == proto.P.RESULT_HEADER
    for code, (name, _np, size) in proto.DTYPES.items():
        assert f"#define WB_DTYPE_{ {'f32': 'F32', 'i16': 'I16', 'i32': 'I32', 'i8': 'I8'}[name]} {code}" in header
        assert np.dtype(_np).itemsize == size
    runner = (ROOT / "firmware" / "runner" / "wb_runner.c").read_text()
    for literal in ("rsp + 36", "rsp[44]", "rsp + 45"):      # the offsets are spelled by name, once
        assert literal not in runner


def test_one_table_of_cells_per_arithmetic():
    from workbench.export import c as export_c
    from workbench.models.cells import CELLS
    from workbench.models.families import CELL_KINDS, KERNEL_CELLS
    from workbench.quantize import QUANT_SCHEMES

    assert set(CELL_KINDS) == set(CELLS)
    assert set(KERNEL_CELLS) == set(QUANT_SCHEMES)
    assert set(KERNEL_CELLS["f32"]) <= set(export_c.CELL_KIND)        # the float exporter has each of them


def test_a_k_that_does_not_divide_the_window_is_refused_before_torch_loads():
    code = ("import sys\nfrom workbench.cli import main\nrc = main(['train', '--k', '7', '--out', 'x.wbm'])\n"
            "print('torch' in sys.modules, rc)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert proc.stdout.split() == ["False", "2"], proc.stderr
    assert proc.stderr.strip() == "workbench: error: brick size k=7 does not divide the window length T=100"


def _profile(dataset="BasicMotions", count=40):
    from tests.profile_samples import sample_profile

    p = sample_profile()
    p["dataset"] = {**p["dataset"], "name": dataset, "count": count}
    return p


def test_profile_check_recurses_into_subfolders(tmp_path):
    from workbench.cli import main
    from workbench.profile import write_profile

    write_profile(_profile(), tmp_path / "a.json")
    write_profile(_profile(), tmp_path / "sweeps" / "s1" / "b.json")
    (tmp_path / "sweeps" / "s1" / "models").mkdir()
    (tmp_path / "sweeps" / "s1" / "models" / "m.wbm").write_bytes(b"x")
    out = io.StringIO()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sys, "stdout", out)
        assert main(["profile", "check", str(tmp_path)]) == 0
    assert "2 profile(s) valid" in out.getvalue()
    (tmp_path / "sweeps" / "s1" / "broken.json").write_text("{")
    with pytest.raises(Exception, match="broken.json is not valid JSON"):
        from workbench.profile.store import load_many

        load_many([tmp_path])


def test_compare_notes_different_data_sets(tmp_path):
    from workbench.profile import write_profile

    write_profile(_profile("BasicMotions", 40), tmp_path / "bm.json")
    write_profile(_profile("JapaneseVowels", 370), tmp_path / "jv.json")
    proc = subprocess.run([sys.executable, "-m", "workbench.cli", "compare", str(tmp_path / "bm.json"),
                           str(tmp_path / "jv.json")], capture_output=True, text=True, cwd=ROOT,
                          env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    text = " ".join(proc.stdout.split())
    assert ("note: data sets differ: BasicMotions test (40 windows) vs JapaneseVowels test (370 windows): accuracy "
            "and agreement figures describe different data") in text
    assert text.endswith("no gate (pass --fail-over PCT to gate); the data sets differ (see the note)")


def test_limit_spreads_the_windows_over_the_classes():
    from workbench.data import Dataset

    y = np.repeat(np.arange(4), 10)                     # sorted by class, as UCR test splits are
    data = Dataset("d", "test", np.arange(40 * 2 * 1, dtype=np.float32).reshape(40, 2, 1), y, list("abcd"))
    few = data.spread(6)
    assert few.y.tolist() == [0, 0, 1, 1, 2, 3]
    assert few.x[:, 0, 0].tolist() == [0.0, 2.0, 20.0, 22.0, 40.0, 60.0]     # the first windows of each class
    assert data.spread(40) is data and data.spread(400) is data


def test_plain_progress_lines_off_a_terminal():
    from workbench.progress import LineProgress

    out = io.StringIO()
    p = LineProgress(out, every_s=0)
    task = p.add_task("windows", total=4)
    for _ in range(4):
        p.update(task, advance=1)
    lines = out.getvalue().splitlines()
    assert [line.split(",")[0] for line in lines] == ["windows: 1/4 (25 %)", "windows: 2/4 (50 %)",
                                                      "windows: 3/4 (75 %)", "windows: 4/4 (100 %)"]
    quiet = io.StringIO()
    p = LineProgress(quiet, every_s=3600)
    task = p.add_task("epochs", total=3)
    p.update(task, advance=1, status="val acc 0.5")
    p.update(task, advance=2, status="val acc 0.9")
    assert [line.split(", ")[0] for line in quiet.getvalue().splitlines()] == ["epochs: 1/3 (33 %)",
                                                                               "epochs: 3/3 (100 %)"]
    assert quiet.getvalue().splitlines()[-1].endswith(", val acc 0.9")


def test_an_interrupt_is_not_reported_as_an_error(capsys):
    from workbench import cli
    from workbench.errors import Interrupted

    def stop(_args):
        raise Interrupted("sweep interrupted: 3 of 8 configurations have profiles in out")

    parser = cli.build_parser()
    args = parser.parse_args(["boards"])
    args.func = stop
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(cli, "build_parser", lambda: type("P", (), {"parse_args": lambda self, a: args})())
        assert cli.main(["boards"]) == 130
    assert capsys.readouterr().err == "workbench: sweep interrupted: 3 of 8 configurations have profiles in out\n"


def test_sample_profile_round_trips_as_strict_json(tmp_path):
    from workbench.profile import load_profile, write_profile

    path = write_profile(_profile(), tmp_path / "p.json")
    assert json.loads(path.read_text()) == load_profile(path)
