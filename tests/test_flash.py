"""Real boards: `workbench flash` finds (or does not find) a debug probe, and `workbench run --port`
streams through a serial port. No probe or board is attached here: the probe side is tested on
fake sysfs trees and the serial port list on fake ``comports()`` entries (both named Fake...), the
serial side on QEMU's UART behind a pty standing in for the board's USB serial port."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from dataclasses import dataclass

import pytest

from tests.conftest import needs_qemu, slow, tiny_model
from workbench import cli
from workbench.boards import load_board
from workbench.errors import WorkbenchError
from workbench.targets import hardware, probe


def fake_usb_device(root, name, vid, pid, product="", serial=""):
    """Fake: one USB device's folder as Linux sysfs shows it (idVendor, idProduct, product, serial)."""
    d = root / name
    d.mkdir(parents=True)
    (d / "idVendor").write_text(f"{vid:04x}\n")
    (d / "idProduct").write_text(f"{pid:04x}\n")
    if product:
        (d / "product").write_text(product + "\n")
    if serial:
        (d / "serial").write_text(serial + "\n")


def one_line_error(capsys, code, rc):
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == code and len(err) == 1, err
    return err[0]


@pytest.mark.parametrize("sysfs", ["empty", "missing"])
def test_no_probe_is_one_line(tmp_path, monkeypatch, capsys, sysfs):
    root = tmp_path / "usb"
    if sysfs == "empty":
        root.mkdir()
        fake_usb_device(root, "1-1", 0x046D, 0xC52B, "USB Receiver")      # a keyboard receiver: no probe
    monkeypatch.setattr(probe, "USB_SYSFS", root)
    monkeypatch.setattr(sys, "platform", "linux")
    line = one_line_error(capsys, 3, cli.main(["flash", "--board", "nrf52840"]))
    assert line.startswith("workbench: error: no debug probe found (looked for: SEGGER J-Link, CMSIS-DAP")
    assert ("no USB bus" in line) == (sysfs == "missing")


def test_no_probe_from_the_command_line():
    """The real command on this machine, as a user runs it (skipped where a probe is attached)."""
    if probe.find_probes():
        pytest.skip("a debug probe is attached")
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "workbench.cli", "flash", "--board", "nrf52840"],
                          capture_output=True, text=True)
    print(f"workbench flash without a probe: {time.monotonic() - t0:.2f} s")
    assert proc.returncode == 3
    assert re.fullmatch(r"workbench: error: no debug probe found \(looked for: .+\)\n", proc.stderr)


def test_probes_found_in_sysfs(tmp_path):
    fake_usb_device(tmp_path, "1-1", 0x1366, 0x1015, "J-Link", "000683123456")
    fake_usb_device(tmp_path, "1-2", 0xC251, 0xF002, "XYZ CMSIS-DAP v2", "abc")   # any vendor, by name
    fake_usb_device(tmp_path, "1-3", 0x0483, 0x374B, "STM32 STLink", "066D")
    fake_usb_device(tmp_path, "1-4", 0x0483, 0x5740, "STM32 Virtual ComPort")     # ST, but not a probe
    found = probe.usb_probes(tmp_path) if sys.platform.startswith("linux") else None
    if found is None:
        pytest.skip("sysfs is Linux only")
    assert [(p.name, p.serial) for p in found] == [("SEGGER J-Link", "000683123456"), ("CMSIS-DAP probe", "abc"),
                                                   ("ST-Link", "066D")]


def test_probe_but_nothing_to_flash(tmp_path, monkeypatch, capsys):
    fake_usb_device(tmp_path, "1-1", 0x1366, 0x1015, "J-Link", "000683123456")
    monkeypatch.setattr(probe, "USB_SYSFS", tmp_path)
    monkeypatch.setattr(sys, "platform", "linux")
    line = one_line_error(capsys, 2, cli.main(["flash", "--board", "nrf52840"]))
    assert "nothing to flash: pass --model" in line


def test_emulated_board_is_not_flashed(capsys):
    line = one_line_error(capsys, 2, cli.main(["flash", "--board", "mps2-an386"]))
    assert "board mps2-an386 is not flashed by workbench" in line


def test_west_flash_uses_the_board_files_runner(tmp_path):
    jlink = probe.Probe("SEGGER J-Link", 0x1366, 0x1015, "000683123456")
    cmd = probe.west_flash_command(load_board("nrf52840"), tmp_path, jlink)
    assert cmd == ["west", "flash", "-d", str(tmp_path), "--runner", "jlink", "--dev-id", "683123456"]
    assert probe.west_flash_command(load_board("stm32f4_disco"), tmp_path)[-1] == "openocd"


@dataclass
class FakeListPortInfo:
    """Fake: the three fields of pyserial's ``ListPortInfo`` that ``find_serial_port`` reads (no board
    is attached here, so ``comports()`` is replaced by a list of these)."""

    device: str
    vid: int | None
    pid: int | None


def fake_comports(ports):
    """Fake: ``serial.tools.list_ports.comports`` answering ``ports``."""
    return lambda: list(ports)


def test_serial_port_found_by_usb_id(monkeypatch):
    ports = [FakeListPortInfo("/dev/ttyUSB0", 0x0403, 0x6001),
             FakeListPortInfo("/dev/ttyACM1", 0x1366, 0x1051),
             FakeListPortInfo("/dev/ttyS0", None, None)]
    monkeypatch.setattr("serial.tools.list_ports.comports", fake_comports(ports))
    assert hardware.find_serial_port(load_board("nrf52840")) == "/dev/ttyACM1"
    monkeypatch.setattr("serial.tools.list_ports.comports", fake_comports(ports[:1]))
    with pytest.raises(WorkbenchError, match=r"no serial port of board nrf52840 found \(looked for USB ids 1366:\*\)"):
        hardware.find_serial_port(load_board("nrf52840"))


def _board_on_a_pty(built):
    """QEMU running ``built`` with its UART on a pty: a board on its USB serial port, as far as the
    host can tell. Returns the process and the pty's path."""
    from workbench.targets.qemu import qemu_binary

    qemu = subprocess.Popen([qemu_binary(), "-M", "mps2-an386", "-cpu", "cortex-m4", "-nodefaults", "-display", "none",
                             "-monitor", "none", "-serial", "pty", "-semihosting-config", "enable=on,target=native",
                             "-kernel", str(built.artifact.elf)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    return qemu, re.search(r"redirected to (/dev/pts/\d+)", qemu.stdout.readline()).group(1)


@needs_qemu
@slow
def test_run_on_a_serial_port(basicmotions):
    """`run --port` end to end: the mps2 firmware under QEMU with its UART on a pty plays the board."""
    from workbench.models import modelfile
    from workbench.pipeline import export_and_build, host_logits, run_on_target, target_factory

    board = load_board("mps2-an386")
    built = export_and_build(modelfile.from_module(tiny_model(), {"dataset": "BasicMotions"}), board)
    qemu, pty = _board_on_a_pty(built)
    try:
        target = target_factory(board, port=pty)(built)
        x = basicmotions[1].x[:3]
        session = run_on_target(target, built, x)
        assert qemu.wait(timeout=10) == 0            # the runner's EXIT ended it
    finally:
        qemu.kill()
    host = host_logits(built, x)
    assert [w.logits.tobytes() for w in session.windows] == [h.tobytes() for h in host]
    assert target.info()["kind"] == "hardware" and target.info()["port"] == pty
    assert target.measure.source == "systick-cycles"     # what the mps2 firmware reports it counts with


@needs_qemu
@slow
def test_board_flashed_with_the_other_arithmetic(basicmotions):
    """The board runs the model's float firmware, the run asks for int16: one line saying how to flash."""
    from workbench.errors import DeviceError
    from workbench.models import modelfile
    from workbench.pipeline import export_and_build, run_on_target, target_factory

    board = load_board("mps2-an386")
    mf = modelfile.from_module(tiny_model(), {"dataset": "BasicMotions"})
    qemu, pty = _board_on_a_pty(export_and_build(mf, board))
    try:
        q15 = export_and_build(mf, board, quant="q15", calib_x=basicmotions[0].x)
        with pytest.raises(DeviceError, match=r"^device runs this model with f32 inputs, this run is --quant q15; "
                                              r"flash it first: workbench flash --quant q15$"):
            run_on_target(target_factory(board, port=pty)(q15), q15, basicmotions[1].x[:1])
    finally:
        qemu.kill()
