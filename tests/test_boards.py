"""Board files: every board loads; a missing field or an unknown board is a one-line error."""

from __future__ import annotations

import pytest

from workbench.boards import REQUIRED, all_boards, load_board
from workbench.errors import WorkbenchError


def test_every_board_loads():
    boards = all_boards()
    assert "mps2-an386" in {b.name for b in boards}
    for b in boards:
        assert b.clock_hz > 0 and b.ram_bytes > 0


def test_alias():
    assert load_board("an386").name == "mps2-an386"


def test_unknown_board():
    with pytest.raises(WorkbenchError, match="unknown board 'nosuch'"):
        load_board("nosuch")


@pytest.mark.parametrize("field", REQUIRED)
def test_missing_field_names_board_and_field(tmp_path, monkeypatch, field):
    src = load_board("mps2-an386").path.read_text()
    lines = [l for l in src.splitlines() if not l.startswith(f"{field} =") and not l.startswith(f"{field}=")]
    text = "\n".join(lines)
    if not any(l.startswith(f"{field} =") for l in src.splitlines()):
        text = text.replace(f"[{field}]", "[removed_section]")
    (tmp_path / "mps2-an386.toml").write_text(text)
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path.parent))
    monkeypatch.setattr("workbench.boards.boards_dir", lambda: tmp_path)
    with pytest.raises(WorkbenchError, match=f"board mps2-an386: .*missing field '{field}'"):
        load_board("mps2-an386")


BOARDS = ("mps2-an386", "netduinoplus2", "nrf52840", "stm32f4_disco", "qemu_cortex_m3")


def test_the_boards_of_the_design():
    boards = {b.name: b for b in all_boards()}
    for name in BOARDS:
        assert name in boards
    assert boards["netduinoplus2"].backends == {"baremetal": "netduinoplus2"}
    assert boards["nrf52840"].backends["zephyr"] == "nrf52840dk/nrf52840"
    assert boards["nrf52840"].flashing == {"probe": "SEGGER J-Link", "pyocd_target": "nrf52840", "west_runner": "jlink"}
    assert boards["nrf52840"].emulators["renode"]["platform"] == "platforms/cpus/nrf52840.repl"
    assert not boards["qemu_cortex_m3"].fpu and not boards["qemu_cortex_m3"].dsp
    assert load_board("nrf52840dk/nrf52840").name == "nrf52840"
    assert load_board("nrf52840").default_backend == "zephyr"
    assert load_board("mps2-an386").default_backend == "baremetal"


@pytest.mark.parametrize("table,field", [("emulators.renode", "platform"), ("energy", "source"),
                                         ("serial", "baudrate")])
def test_missing_nested_field_names_it(tmp_path, monkeypatch, table, field):
    src = load_board("nrf52840").path.read_text()
    if table == "emulators.renode":
        text = src.replace('platform = "platforms/cpus/nrf52840.repl", ', "")
    else:
        text = "\n".join(l for l in src.splitlines() if not l.startswith(f"{field} ="))
    (tmp_path / "nrf52840.toml").write_text(text)
    monkeypatch.setattr("workbench.boards.boards_dir", lambda: tmp_path)
    missing = rf"board nrf52840: board file nrf52840.toml is missing field '{table}.{field}'"
    with pytest.raises(WorkbenchError, match=missing):
        load_board("nrf52840")


def _cli(*args, env=None):
    import os
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "workbench.cli", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})})


def test_boards_command_lists_every_board():
    proc = _cli("boards")
    assert proc.returncode == 0, proc.stderr
    for b in all_boards():
        assert b.name in proc.stdout
    for word in ("QEMU", "Renode", "board", "bare metal", "zephyr", "pyOCD", "west"):
        assert word in proc.stdout


def test_boards_command_names_a_broken_board_file(tmp_path):
    import shutil

    from workbench.paths import boards_dir

    shutil.copytree(boards_dir(), tmp_path / "boards")
    path = tmp_path / "boards" / "netduinoplus2.toml"
    path.write_text("\n".join(l for l in path.read_text().splitlines() if not l.startswith("clock_hz")))
    proc = _cli("boards", env={"WORKBENCH_HOME": str(tmp_path)})
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "workbench: error: board netduinoplus2: board file netduinoplus2.toml is missing field 'clock_hz'"]
    proc = _cli("build", "--board", "nosuch", "--model", "m.wbm")
    assert proc.returncode == 2 and proc.stderr.startswith("workbench: error: unknown board 'nosuch' (known: ")
