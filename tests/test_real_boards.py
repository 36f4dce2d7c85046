"""Real boards without a board (issue 19): what a user with an nRF52840-DK or an STM32F4-Discovery
on the desk would hit, reproduced here.

No probe or board can be plugged in, so the probe side runs on fakes, each named as one: fake sysfs
trees (as Linux shows USB devices), fake pyOCD probe lists (objects with pyOCD's attributes), a fake
list of serial ports (as pyserial's list_ports reports them). The rest is real: pyOCD's own
exception classes, a pty for the exclusive open, the firmware under QEMU behind the fault-injecting
proxy for the frame cap, the host compiler for the generated input quantizer, Zephyr's own west
runners (where a Zephyr tree is present) for their argument lists.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from tests.conftest import needs_qemu, slow, tiny_model
from workbench import cli
from workbench.boards import load_board
from workbench.errors import DeviceError, WorkbenchError
from workbench.paths import project_root
from workbench.targets import hardware, probe
from workbench.targets.hardware import SerialPort

NRF = load_board("nrf52840")
DISCO = load_board("stm32f4_disco")


def fake_usb_device(root, name, vid, pid, product="", serial="", busnum=None, devnum=None):
    """Fake: one USB device's folder as Linux sysfs shows it."""
    d = root / name
    d.mkdir(parents=True)
    (d / "idVendor").write_text(f"{vid:04x}\n")
    (d / "idProduct").write_text(f"{pid:04x}\n")
    for key, value in (("product", product), ("serial", serial), ("busnum", busnum), ("devnum", devnum)):
        if value:
            (d / key).write_text(f"{value}\n")


def fake_pyocd_probe(unique_id, description="J-Link OB-SAM3U128-V2-NordicSemi"):
    """Fake: one entry of pyOCD's probe listing (the attributes workbench reads)."""
    return SimpleNamespace(unique_id=unique_id, description=description, product_name=description)


def one_line_error(capsys, code, rc):
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == code and len(err) == 1, err
    return err[0]


@pytest.fixture
def linux_sysfs(tmp_path, monkeypatch):
    """A fake sysfs tree standing in for /sys/bus/usb/devices."""
    root = tmp_path / "usb"
    root.mkdir()
    monkeypatch.setattr(probe, "USB_SYSFS", root)
    monkeypatch.setattr(sys, "platform", "linux")
    return root


# -- 1. the J-Link's serial number: sysfs pads it with zeros, pyOCD does not ---------------------------------
def test_jlink_serial_with_leading_zeros_matches_pyocds(linux_sysfs):
    fake_usb_device(linux_sysfs, "1-1", 0x1366, 0x1015, "J-Link", "000683123456")
    (p,) = probe.usb_probes(linux_sysfs)
    assert (p.serial, p.number) == ("000683123456", "683123456")
    # pyOCD formats the J-Link library's integer serial with {:d}: no zeros.
    listed = [fake_pyocd_probe("683999999"), fake_pyocd_probe("683123456")]
    assert probe.pyocd_match(p, listed) is listed[1]
    # ... and where a tool keeps the zeros, they match as well.
    assert probe.pyocd_match(p, [fake_pyocd_probe("000683123456")]) is not None
    assert probe.pyocd_match(p, [fake_pyocd_probe("683999999")]) is None
    assert probe.same_serial("066DFF", "066dff") and not probe.same_serial("", "")


def test_flash_reaches_pyocd_with_the_serial_it_knows(linux_sysfs, tmp_path, monkeypatch, capsys):
    fake_usb_device(linux_sysfs, "1-1", 0x1366, 0x1015, "J-Link", "000683123456")
    listed = [fake_pyocd_probe("683123456")]
    monkeypatch.setattr(probe, "pyocd_listed", lambda: listed)          # fake pyOCD listing
    programmed = []
    monkeypatch.setattr(probe, "_program", lambda chosen, target, fw, on_progress:   # fake programming
                        programmed.append((chosen.unique_id, target, fw.name)))
    monkeypatch.setattr(hardware, "serial_ports", lambda: [])
    fw = tmp_path / "fw.hex"
    fw.write_text(":00000001FF\n")
    assert cli.main(["flash", "--board", "nrf52840", "--firmware", str(fw)]) == 0
    assert programmed == [("683123456", "nrf52840", "fw.hex")]
    assert "debug probe: SEGGER J-Link 000683123456" in capsys.readouterr().out


def test_missing_jlink_library_is_named(linux_sysfs, tmp_path, monkeypatch, capsys):
    """Without SEGGER's library pylink raises and pyOCD silently lists no J-Link; the user is told
    what to install. The library check is real (this machine has no J-Link software)."""
    if probe.jlink_library_found():
        pytest.skip("SEGGER's J-Link library is installed here")
    fake_usb_device(linux_sysfs, "1-1", 0x1366, 0x1015, "J-Link", "000683123456")
    monkeypatch.setattr(probe, "pyocd_listed", lambda: [])             # fake: what pyOCD lists then
    fw = tmp_path / "fw.hex"
    fw.write_text(":00000001FF\n")
    line = one_line_error(capsys, 3, cli.main(["flash", "--board", "nrf52840", "--firmware", str(fw)]))
    assert line.startswith("workbench: error: pyOCD could not open the probe SEGGER J-Link 000683123456: pyOCD "
                           "drives a J-Link through SEGGER's J-Link library, which is not installed: install SEGGER's "
                           "J-Link Software and Documentation Pack")


def test_usb_permissions_are_named(linux_sysfs, tmp_path, monkeypatch, capsys):
    fake_usb_device(linux_sysfs, "1-3", 0x0483, 0x374B, "STM32 STLink", "066DFF", busnum="1", devnum="7")
    monkeypatch.setattr(probe, "pyocd_listed", lambda: [])             # fake: pyOCD skips what it cannot open
    monkeypatch.setattr(probe, "usb_accessible", lambda p: False)      # fake: a USB node without rights
    fw = tmp_path / "fw.hex"
    fw.write_text(":00000001FF\n")
    line = one_line_error(capsys, 3, cli.main(["flash", "--board", "stm32f4_disco", "--firmware", str(fw)]))
    assert "this user may not open its USB device /dev/bus/usb/001/007: install the probe's udev rules" in line


@pytest.mark.parametrize("exc_factory, expected", [
    (lambda: __import__("pyocd.core.exceptions", fromlist=["x"]).TargetSupportError(
        "Target type stm32f407vgtx not recognized. Use 'pyocd list --targets' to see currently available "
        "target types."),
     "pyOCD does not know target stm32f407vgtx: install its CMSIS pack: pyocd pack install stm32f407vg ("),
    (lambda: OSError(13, "Access denied (insufficient permissions)"),
     "pyOCD may not open ST-Link 066DFF: [Errno 13] Access denied (insufficient permissions); install the probe's "
     "udev rules"),
    (lambda: __import__("pyocd.core.exceptions", fromlist=["x"]).ProbeError("Unable to open the probe\nat all"),
     "pyOCD failed on ST-Link 066DFF: Unable to open the probe at all"),
])
def test_pyocd_exceptions_are_one_line(linux_sysfs, tmp_path, monkeypatch, capsys, exc_factory, expected):
    """pyOCD's own exceptions (its real classes, raised by a fake programming step) end in one line."""
    fake_usb_device(linux_sysfs, "1-3", 0x0483, 0x374B, "STM32 STLink", "066DFF")
    monkeypatch.setattr(probe, "pyocd_listed", lambda: [fake_pyocd_probe("066DFF", "STM32 STLink")])

    def fake_program(*_args):
        raise exc_factory()

    monkeypatch.setattr(probe, "_program", fake_program)
    fw = tmp_path / "fw.hex"
    fw.write_text(":00000001FF\n")
    line = one_line_error(capsys, 3, cli.main(["flash", "--board", "stm32f4_disco", "--firmware", str(fw)]))
    assert line.startswith("workbench: error: " + expected), line
    assert "Traceback" not in line


def test_pyocd_listing_that_raises_is_one_line(monkeypatch):
    class Boom(Exception):
        pass

    def fake_listing(**_kw):
        raise Boom("libusb: LIBUSB_ERROR_ACCESS")

    monkeypatch.setattr("pyocd.core.helpers.ConnectHelper.get_all_connected_probes", fake_listing)
    with pytest.raises(DeviceError, match=r"^pyOCD could not list debug probes: libusb: LIBUSB_ERROR_ACCESS$"):
        probe.pyocd_listed()


def test_pyocd_missing_is_one_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyocd.core.helpers", None)        # as if pyOCD were not installed
    with pytest.raises(WorkbenchError, match=r"^pyOCD is not installed in this Python environment: pip install pyocd"):
        probe.pyocd_listed()


def test_pyocd_is_a_dependency_of_the_package():
    """`pip install .` then `workbench flash`: pyOCD must come with the package."""
    import tomllib

    deps = tomllib.loads((project_root() / "pyproject.toml").read_text())["project"]["dependencies"]
    assert any(re.match(r"pyocd\b", d) for d in deps)


# -- 8. several probes: never the first one at random ---------------------------------------------------
def test_two_probes_need_a_choice(linux_sysfs, capsys):
    fake_usb_device(linux_sysfs, "1-1", 0x1366, 0x1015, "J-Link", "000683123456")
    fake_usb_device(linux_sysfs, "1-2", 0x1366, 0x1015, "J-Link", "000683999999")
    line = one_line_error(capsys, 2, cli.main(["flash", "--board", "nrf52840", "--model", __file__]))
    assert line == ("workbench: error: 2 debug probes found (SEGGER J-Link 000683123456, SEGGER J-Link 000683999999): "
                    "pass --probe SERIAL")
    probes = probe.usb_probes(linux_sysfs)
    assert probe.choose_probe(NRF, probes, "683999999").serial == "000683999999"       # zeros optional
    assert probe.choose_probe(NRF, probes, "000683999999").serial == "000683999999"
    with pytest.raises(WorkbenchError, match=r"no debug probe with serial 1234 \(found: SEGGER J-Link"):
        probe.choose_probe(NRF, probes, "1234")


def test_the_boards_own_kind_of_probe_is_preferred(linux_sysfs):
    fake_usb_device(linux_sysfs, "1-1", 0x1366, 0x1015, "J-Link", "000683123456")
    fake_usb_device(linux_sysfs, "1-3", 0x0483, 0x374B, "STM32 STLink", "066DFF")
    probes = probe.usb_probes(linux_sysfs)
    assert probe.choose_probe(NRF, probes).name == "SEGGER J-Link"
    assert probe.choose_probe(DISCO, probes).name == "ST-Link"


# -- 2. west flash: each runner gets the probe in the form it takes ----------------------------------------
JLINK = probe.Probe("SEGGER J-Link", 0x1366, 0x1015, "000683123456")
STLINK = probe.Probe("ST-Link", 0x0483, 0x374B, "066DFF")
RUNNER_ARGS = {
    ("jlink", "jlink"): ["--dev-id", "683123456"],
    ("nrfjprog", "jlink"): ["--dev-id", "683123456"],
    ("nrfutil", "jlink"): ["--dev-id", "683123456"],
    ("pyocd", "jlink"): ["--dev-id", "683123456"],
    ("pyocd", "stlink"): ["--dev-id", "066DFF"],
    ("openocd", "stlink"): ["--cmd-pre-init", "adapter serial 066DFF"],       # 4.1's openocd has no --dev-id
    ("stm32cubeprogrammer", "stlink"): ["--conn-modifiers", "sn=066DFF"],    # nor has stm32cubeprogrammer
    ("jlink", "stlink"): ["--dev-id", "066DFF"],
    ("blackmagicprobe", "stlink"): [],                                       # a runner that cannot choose
}


@pytest.mark.parametrize("runner, which", list(RUNNER_ARGS))
def test_west_flash_arguments_per_runner(tmp_path, runner, which):
    p = JLINK if which == "jlink" else STLINK
    cmd = probe.west_flash_command(NRF if which == "jlink" else DISCO, tmp_path, p, runner=runner)
    assert cmd == ["west", "flash", "-d", str(tmp_path), "--runner", runner, *RUNNER_ARGS[runner, which]]


def test_board_files_runners_get_no_dev_id_where_they_reject_it(tmp_path):
    assert probe.west_flash_command(DISCO, tmp_path, STLINK)[5:] == ["openocd", "--cmd-pre-init",
                                                                     "adapter serial 066DFF"]
    assert probe.west_flash_command(NRF, tmp_path, JLINK)[5:] == ["jlink", "--dev-id", "683123456"]


def _zephyr_runners():
    base = os.environ.get("ZEPHYR_BASE")
    if not base or not (Path(base) / "scripts" / "west_commands" / "runners").is_dir():
        pytest.skip("needs a Zephyr tree (ZEPHYR_BASE) for its west runners")
    sys.path.insert(0, str(Path(base) / "scripts" / "west_commands"))
    try:
        import runners
    except ImportError as exc:
        pytest.skip(f"Zephyr's runners do not import here: {exc}")
    return runners


@pytest.mark.parametrize("runner, which", [k for k in RUNNER_ARGS if k[0] != "blackmagicprobe"])
def test_zephyrs_own_runners_accept_the_arguments(runner, which):
    """Each runner's own argument parser (Zephyr's scripts/west_commands/runners), as west flash
    builds it, takes our arguments, and --dev-id only goes to runners whose capabilities have it
    (west run_common dies otherwise: 'openocd doesn't support --dev-id option')."""
    import argparse

    runners = _zephyr_runners()
    cls = runners.get_runner_cls(runner)
    parser = argparse.ArgumentParser(prog=runner)
    cls.add_parser(parser)
    args = RUNNER_ARGS[runner, which]
    required = {"stm32cubeprogrammer": ["--port", "swd"], "jlink": ["--device", "nRF52840_xxAA"],
                "nrfjprog": ["--nrf-family", "NRF52"], "nrfutil": ["--nrf-family", "NRF52"],
                "pyocd": ["--target", "nrf52840"]}.get(runner, [])
    parsed, unknown = parser.parse_known_args(required + args)
    assert unknown == []
    if "--dev-id" in args:
        assert cls.capabilities().dev_id and parsed.dev_id == args[1]
    else:           # where we pass none, west would indeed refuse it ("openocd doesn't support --dev-id")
        assert not getattr(parsed, "dev_id", None) and not cls.capabilities().dev_id


def test_west_failure_names_what_to_install():
    log = ["-- west flash: rebuilding", "FATAL ERROR: required program JLinkExe not found; install it or add its "
           "location to PATH"]
    assert probe.west_failure(log) == ("FATAL ERROR: required program JLinkExe not found; install it or add its "
                                       "location to PATH (install SEGGER's J-Link Software and Documentation Pack "
                                       "(https://www.segger.com/downloads/jlink/))")
    assert probe.west_failure(["ERROR: board with serial number 683123456 not found"]).startswith("ERROR: board")


# -- 6., 8. serial ports: the board's own, matched to the probe by USB serial ------------------------------
# Fake: the serial ports this machine would list with two DKs and an FTDI adapter plugged in.
FAKE_PORTS = [SerialPort("/dev/ttyACM0", 0x1366, 0x1015, "000683123456", 0, "J-Link - CDC"),
         SerialPort("/dev/ttyACM1", 0x1366, 0x1015, "000683999999", 0, "J-Link - CDC"),
         SerialPort("/dev/ttyUSB0", 0x0403, 0x6001, "A50285BI", 0, "FT232R USB UART")]


def test_serial_port_of_one_board_is_found_and_two_boards_are_refused():
    assert hardware.find_serial_port(NRF, FAKE_PORTS[:1] + FAKE_PORTS[2:]) == "/dev/ttyACM0"
    with pytest.raises(WorkbenchError) as e:
        hardware.find_serial_port(NRF, FAKE_PORTS)
    assert str(e.value) == ("2 USB devices look like board nrf52840 (/dev/ttyACM0 (USB 1366:1015, serial "
                            "000683123456), /dev/ttyACM1 (USB 1366:1015, serial 000683999999)): pass --port")


def test_port_matched_to_the_probe_by_usb_serial():
    jlink = probe.Probe("SEGGER J-Link", 0x1366, 0x1015, "683999999")       # as pyOCD would name it
    assert hardware.port_of_probe(NRF, jlink, FAKE_PORTS) == "/dev/ttyACM1"
    assert hardware.port_of_probe(NRF, probe.Probe("SEGGER J-Link", 0x1366, 0x1015, "1"), FAKE_PORTS) is None
    assert hardware.port_of_probe(DISCO, STLINK, FAKE_PORTS) is None             # USART2 is not on USB


def test_a_board_with_two_serial_ports_needs_its_interface(monkeypatch):
    two = [SerialPort("/dev/ttyACM0", 0x1366, 0x1051, "001050000001", 0), SerialPort("/dev/ttyACM1", 0x1366, 0x1051,
                                                                                      "001050000001", 2)]
    with pytest.raises(WorkbenchError, match=r"board nrf52840's USB device has 2 serial ports \(/dev/ttyACM0 "
                                             r"\(interface 0\), /dev/ttyACM1 \(interface 2\)\): pass --port"):
        hardware.find_serial_port(NRF, two)
    monkeypatch.setitem(NRF.serial, "usb_interface", 2)
    assert hardware.find_serial_port(NRF, two) == "/dev/ttyACM1"


def test_interface_number_from_the_ports_location():
    assert hardware._interface("1-1.4:1.2") == 2 and hardware._interface(None) is None


def test_stm32f4_disco_says_how_its_uart_is_wired():
    with pytest.raises(WorkbenchError) as e:
        hardware.find_serial_port(DISCO, FAKE_PORTS)
    assert str(e.value) == ("board stm32f4_disco lists no USB ids to find its serial port by: USART2 is on PA2 (TX) "
                            "and PA3 (RX), not on USB: wire a 3.3 V USB-serial adapter (PA2 to its RX, PA3 to its TX, "
                            "GND to GND) and pass its port, e.g. --port /dev/ttyUSB0")


# -- 9. the serial port's open options -------------------------------------------------------------------
def test_port_is_opened_exclusively_with_a_write_timeout(monkeypatch):
    seen = {}

    def fake_serial_for_url(url, **kw):           # fake: records how the port is opened
        seen.update(kw, url=url)
        return SimpleNamespace(reset_input_buffer=lambda: None)

    monkeypatch.setattr("serial.serial_for_url", fake_serial_for_url)
    HardwareTarget = hardware.HardwareTarget
    HardwareTarget(NRF, "/dev/ttyACM0", FAKE_PORTS).start()
    assert seen == {"url": "/dev/ttyACM0", "baudrate": 115200, "timeout": 0.05, "write_timeout": hardware.WRITE_TIMEOUT,
                    "exclusive": True}


def test_a_port_held_by_another_program_is_one_line():
    """A real pty opened twice: the second open (ModemManager, a terminal) is refused."""
    master, slave = os.openpty()
    path = os.ttyname(slave)
    try:
        first = hardware.open_serial(path, 115200)
        with pytest.raises(WorkbenchError, match=rf"^serial port {path} is in use by another program \(a terminal, "
                                                 r"ModemManager\): close it"):
            hardware.open_serial(path, 115200)
        first.close()
        hardware.open_serial(path, 115200).close()
    finally:
        os.close(master)
        os.close(slave)


def test_a_stalled_write_fails_within_its_timeout():
    """A real pty nobody reads: writes block once its buffer is full; the write timeout ends them."""
    from workbench.link.client import DeviceLink

    master, slave = os.openpty()
    try:
        port = hardware.open_serial(os.ttyname(slave), 115200)
        port.write_timeout = 0.3
        link = DeviceLink(port, timeout=5.0)
        with pytest.raises(DeviceError, match=r"^serial write stalled for 0\.3 s: the USB serial link is stuck"):
            for _ in range(10_000):
                link._send(b"\x55" * 4096)
        port.close()
    finally:
        os.close(master)
        os.close(slave)


# -- 3. the J-Link OB's 64-byte limit ----------------------------------------------------------------------
def test_jlink_ports_cap_frames_at_64_bytes():
    from workbench.link.client import largest_chunk
    from workbench.link.protocol import P, encode_frame

    target = hardware.HardwareTarget(NRF, "/dev/ttyACM0", FAKE_PORTS)
    assert target.max_frame == 64 and "mass-storage" in target.frame_note
    assert target.info()["max_frame"] == 64
    assert hardware.HardwareTarget(NRF, "/dev/ttyUSB0", FAKE_PORTS).max_frame is None
    chunk = largest_chunk(64, P.MAX_PAYLOAD)
    for payload in (b"\x00" * chunk, b"\xff" * chunk, bytes(range(1, chunk + 1))):
        assert len(b"\x00" + encode_frame(P.REQ_WRITE, 7, b"\x00" * 4 + payload)) <= 64
    assert len(b"\x00" + encode_frame(P.REQ_WRITE, 7, b"\x01" * 4 + b"\x01" * (chunk + 1))) > 64
    assert largest_chunk(None, P.MAX_PAYLOAD) == P.MAX_PAYLOAD - 4 and largest_chunk(1000, 64) == 60


def test_frame_dropping_spec():
    from workbench.link.faulty import ByteMangler, FaultSpec

    spec = FaultSpec.parse("max_frame=64,to=device")
    assert spec.max_frame == 64 and FaultSpec.parse(str(spec)) == spec
    m = ByteMangler(spec, "device")
    small, big = b"\x00" + b"\x01" * 62 + b"\x00", b"\x00" + b"\x02" * 80 + b"\x00"
    out = b"".join(p for _, p in m.mangle(small + big[:40])) + b"".join(p for _, p in m.mangle(big[40:] + small))
    assert out == small + b"\x00" + small and m.stats.frames_dropped == 1
    with pytest.raises(WorkbenchError, match="max_frame must be an integer"):
        FaultSpec.parse("max_frame=big")


@needs_qemu
@slow
def test_capped_frames_pass_a_line_that_drops_every_frame_over_64_bytes(basicmotions):
    """The firmware under QEMU behind the fault-injecting proxy, which drops every host->device frame
    over 64 bytes (a J-Link OB with its drive enabled): without a cap the first window's WRITEs never
    arrive and the run fails; with the cap the J-Link's USB id brings, no frame is lost and the
    logits are the host's."""
    from workbench.link.faulty import FaultSpec
    from workbench.models import modelfile
    from workbench.pipeline import export_and_build, host_logits, run_on_target, target_factory

    board = load_board("mps2-an386")
    built = export_and_build(modelfile.from_module(tiny_model(), {"dataset": "BasicMotions"}), board)
    x = basicmotions[1].x[:2]
    spec = FaultSpec.parse("max_frame=64,to=device")
    uncapped = target_factory(board, emulator="qemu", use_plugin=False, fault_link=spec)(built)
    with pytest.raises(DeviceError, match=r"no answer to WRITE \(window 0\)"):
        run_on_target(uncapped, built, x, link_timeout=3.0)
    assert uncapped.proxy.stats.to_device.frames_dropped > 0
    capped = target_factory(board, emulator="qemu", use_plugin=False, fault_link=spec)(built)
    capped.max_frame = hardware.frame_limit(FAKE_PORTS[0])[0]             # what the J-Link's USB id brings
    session = run_on_target(capped, built, x)
    assert [w.logits.tobytes() for w in session.windows] == [h.tobytes() for h in host_logits(built, x)]
    assert capped.proxy.stats.to_device.frames_dropped == 0 and session.link["chunk_splits"] == 0
    print(f"uncapped: {uncapped.proxy.stats.to_device.frames_dropped} frames dropped, failed; capped at "
          f"{capped.max_frame} B: 0 dropped, {session.link['requests']} requests, "
          f"{session.link['retransmits']} retransmits")


# -- 7. faults and silence on a board: what the message says -----------------------------------------------
def test_fault_frame_is_decoded_in_one_line(tmp_path):
    from workbench.link.client import DeviceFault
    from workbench.link.protocol import parse_fault
    from workbench.pipeline import device_failure

    payload = np.array([3, 0x1234, 0x567, 0x10000, 0x40000000, 0, 0, 0], dtype="<u4").tobytes()
    fault = parse_fault(payload)
    assert fault["pc"] == 0x1234 and fault["cfsr"] == 0x10000
    target = hardware.HardwareTarget(NRF, "/dev/ttyACM0", FAKE_PORTS)
    err = device_failure(target, DeviceFault(fault))
    assert str(err) == ("device fault: HardFault (forced; UsageFault: UNDEFINSTR (undefined instruction)) at "
                        "pc=0x00001234, lr=0x00000567; CFSR=0x00010000 HFSR=0x40000000; Zephyr: CPU exception; "
                        "the device rebooted")
    assert "emulator" not in str(err) and err.exit_code == 3


def test_silence_on_a_board_says_what_to_check_not_emulator(monkeypatch):
    """A link that never answers (a pty nobody writes: a board without the runner, or an unwired
    UART): the message names the flash step and the board's wiring, and never an emulator."""
    from workbench.pipeline import run_on_target

    master, slave = os.openpty()
    try:
        target = hardware.HardwareTarget(DISCO, os.ttyname(slave), [])
        built = SimpleNamespace(artifact=SimpleNamespace(elf=None))
        with pytest.raises(DeviceError) as e:
            run_on_target(target, built, np.zeros((1, 100, 6), np.float32), link_timeout=0.5)
    finally:
        os.close(master)
        os.close(slave)
    msg = str(e.value)
    assert msg.startswith("device silent for 0.5s: no answer to HELLO after ") and "\n" not in msg
    assert "is the runner flashed (workbench flash --board stm32f4_disco --model ...)" in msg
    assert "USART2 is on PA2 (TX) and PA3 (RX)" in msg and "emulator" not in msg


def test_damage_through_a_jlink_names_the_msd_remedy():
    from workbench.link.client import NoAnswer

    target = hardware.HardwareTarget(NRF, "/dev/ttyACM0", FAKE_PORTS)
    hint = target.failure_hint(NoAnswer("no valid answer to WRITE; seen: 40 corrupt frames", silent=False))
    assert hint == ("disable the J-Link's mass-storage drive: run JLinkExe, type MSDDisable, then unplug and "
                    "replug the board")


# -- 11. the generated header and input quantizer, compiled for this machine ---------------------------------
def _compile_and_run(export_dir: Path, main_c: str, tmp_path: Path) -> str:
    from workbench.build.host import host_compiler
    from workbench.paths import firmware_dir

    src = tmp_path / "main.c"
    src.write_text(main_c)
    exe = tmp_path / "a.out"
    subprocess.run([host_compiler(), "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-ffp-contract=off",
                    f"-I{firmware_dir() / 'sharnn' / 'include'}", f"-I{export_dir}", str(src),
                    str(export_dir / "wb_model_data.c"), "-o", str(exe)], check=True)
    return subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout


def test_generated_input_quantizer_equals_the_hosts_bit_for_bit(tmp_path):
    """wb_net_input() in the int16 export turns raw floats into the device's int16 input exactly as
    QuantModel.quantize_inputs does, on random values and on every rounding and saturation edge."""
    from workbench.export.c import export_c
    from workbench.models import modelfile
    from workbench.pipeline import quantize

    mf = modelfile.from_module(tiny_model(input_dim=5), {"dataset": "BasicMotions"})
    rng = np.random.default_rng(0)
    qm = quantize(mf, "q15", rng.standard_normal((16, 100, 5)).astype(np.float32))
    export_c(mf, tmp_path / "q", qm)
    # Raw values whose normalised, scaled value lands on the edges: halves, just below/above them,
    # the int16 limits, huge, tiny, infinities and NaN.
    scaled = np.array([0.5, -0.5, 1.5, -1.5, 0.49999997, -0.50000006, 32767.4, 32767.5, 32768, -32768.4,
                       -32768.5, -32769, 1e9, -1e9, 1e-30, -1e-30, 0.0, -0.0, 12.5, -12.5], dtype=np.float64)
    edge = (scaled / 2.0 ** qm.q_in / qm.in_inv_std[:, None] + qm.in_mean[:, None]).T.astype(np.float32)
    raw = np.concatenate([rng.standard_normal((400, 5)).astype(np.float32) * 4, edge,
                          np.array([[np.inf, -np.inf, np.nan, 3e38, -3e38]], np.float32)])
    values = ", ".join(v.hex() + "f" if np.isfinite(v) else {"inf": "INFINITY", "-inf": "-INFINITY"}.get(
        str(v), "NAN") for v in raw.ravel().astype(float))
    out = _compile_and_run(tmp_path / "q", f"""
#include <math.h>
#include <stdio.h>
#include "wb_model_config.h"
static const float raw[{len(raw)} * WB_MODEL_RAW_INPUT_DIM] = {{ {values} }};
static wb_net_input_t in[{len(raw)}][WB_MODEL_INPUT_DIM];
int main(void) {{
    wb_net_input(raw, &in[0][0], {len(raw)});
    for (int t = 0; t < {len(raw)}; t++)
        for (int d = 0; d < WB_MODEL_INPUT_DIM; d++) printf("%d\\n", in[t][d]);
    return 0;
}}""", tmp_path)
    with np.errstate(invalid="ignore"):
        expected = qm.quantize_inputs(raw)
    got = np.array(out.split(), dtype=np.int16).reshape(expected.shape)
    assert got.shape[1] == 6 and (got[:, 5] == 0).all()          # odd channels padded with a zero
    assert np.array_equal(got, expected), np.argwhere(got != expected)[:5]


def test_generated_header_declares_model_and_buffers(tmp_path):
    """An application of its own: the header alone gives wb_net, the buffer sizes and types, and the
    class names; the float export's wb_net_input() hands raw values through (the kernel normalises)."""
    from workbench.export.c import export_c
    from workbench.models import modelfile

    mf = modelfile.from_module(tiny_model(), {"dataset": "BasicMotions", "class_names": ["a", 'b"c', "d", "e"]})
    export_c(mf, tmp_path / "f")
    header = (tmp_path / "f" / "wb_model_config.h").read_text()
    for line in ("extern const wb_net_t wb_net;", "typedef sharnn_f32_model_t wb_net_t;",
                 "void wb_net_input(const float *raw, wb_net_input_t *in, size_t steps);",
                 '#define WB_MODEL_CLASS_NAMES { "a", "b\\"c", "d", "e" }', "#define WB_MODEL_RAW_INPUT_DIM 6"):
        assert line in header
    out = _compile_and_run(tmp_path / "f", """
#include <stdio.h>
#include "wb_model_config.h"
static const char *names[] = WB_MODEL_CLASS_NAMES;
static wb_net_scratch_t scratch[WB_MODEL_SCRATCH_LEN];
static wb_net_scratch_t ring[WB_MODEL_STREAM_LEN];
int main(void) {
    float raw[2][WB_MODEL_RAW_INPUT_DIM] = { { 1.5f, -2.0f, 3.25f, 0, 0, 7 } }, in[2 * WB_MODEL_INPUT_DIM];
    wb_net_input(&raw[0][0], in, 2);
    printf("%s %g %g %d %d %d\\n", names[1], in[0], in[5], wb_net.window, (int)sizeof scratch > 0,
           (int)sizeof ring > 0);
    return 0;
}""", tmp_path)
    assert out.split() == ['b"c', "1.5", "7", "100", "1", "1"]


# -- 12. set-up by purpose; the shipped workflow ---------------------------------------------------------------
WORKFLOWS = sorted((project_root() / ".github" / "workflows").glob("*.yml"))
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "firefox")


def _workflow_commands(path: Path) -> list[list[str]]:
    import yaml

    steps = [s for job in yaml.safe_load(path.read_text())["jobs"].values() for s in job["steps"]]
    lines = []
    for step in steps:
        text = re.sub(r"\\\n\s*", " ", step.get("run", ""))
        lines += [l.strip() for l in text.splitlines() if l.strip()]
    return [shlex.split(l) for l in lines]


def test_the_workflow_sets_up_only_what_running_needs():
    import tasks

    assert WORKFLOWS
    for wf in WORKFLOWS:
        boots = [c for c in _workflow_commands(wf) if c and c[0] == "./bootstrap.sh"]
        assert boots, f"{wf.name} does not set workbench up"
        for cmd in boots:
            purpose = cmd[cmd.index("--purpose") + 1] if "--purpose" in cmd else "test"
            packages = tasks.apt_packages(purpose)
            assert not any(b in packages for b in BROWSERS), (wf.name, purpose)
            assert not any(p.startswith(("clang", "espeak")) for p in packages), (wf.name, purpose)
    assert "chromium" in tasks.apt_packages("test") and set(tasks.apt_packages("run")) < set(tasks.apt_packages("test"))


def test_every_workbench_command_of_the_workflow_exists_in_the_cli():
    """Each `workbench ...` line the workflow runs parses with the real command line (its
    subcommand and every option exist); shell variables stand for their values."""
    parser = cli.build_parser()
    seen = 0
    for wf in WORKFLOWS:
        for cmd in _workflow_commands(wf):
            if not cmd or cmd[0] != "workbench":
                continue
            argv = [re.sub(r"\$\{?\w+\}?", "x", a) for a in cmd[1:]]
            parser.parse_args(argv)                     # raises a one-line WorkbenchError otherwise
            seen += 1
    assert seen >= 3


def test_bootstrap_passes_the_purpose_to_setup():
    text = (project_root() / "bootstrap.sh").read_text()
    assert 'exec invoke setup "$@"' in text and "--purpose run" in text


def test_setup_names_an_unknown_purpose():
    import tasks

    with pytest.raises(SystemExit, match=r"setup: unknown purpose 'docs' \(have: run, test\)"):
        tasks.apt_packages("docs")


@slow
def test_every_set_up_package_exists_in_this_machines_apt_sources():
    """Real apt-cache on this (Debian) machine: every package of both sets has a candidate."""
    import shutil

    import tasks

    if not shutil.which("apt-cache"):
        pytest.skip("no apt here")
    missing = [p for p in tasks.apt_packages("test") if not tasks._has_candidate(p)]
    assert missing == []


def test_a_package_the_sources_lack_stops_setup_in_one_line(monkeypatch):
    """Ubuntu 24.04 has no chromium deb: a fake apt without it (and no browser on PATH) stops the
    set-up before installing anything, with one line naming the package and the running-only set."""
    import tasks

    ran = []
    monkeypatch.setattr(tasks, "_missing_debian", lambda packages: [p for p in packages if p in ("chromium", "gcc")])
    monkeypatch.setattr(tasks, "_has_candidate", lambda p: p != "chromium")       # fake apt sources
    monkeypatch.setattr(tasks.shutil, "which", lambda name: "/usr/bin/" + name)    # dpkg-query "present"
    fake_context = SimpleNamespace(run=lambda cmd, **kw: ran.append(cmd))
    with pytest.raises(SystemExit) as e:
        tasks.setup.body(fake_context, purpose="test")
    assert str(e.value) == ("setup: package 'chromium' is not available from this machine's apt sources (Ubuntu "
                            "ships Chromium as a snap: sudo snap install chromium); install it, or set up only what "
                            "running needs: ./bootstrap.sh --purpose run")
    assert not any("apt-get install" in c for c in ran)
