"""A fault-injecting TCP proxy for serial links: drops, flips, duplicates and delays bytes.

It sits between the host and a device whose serial line is a TCP socket (QEMU's ``-serial tcp:``,
Renode's server socket terminal) and damages the byte stream in both directions at given rates, with
a seed, so a link-robustness check is repeatable. Each byte is treated on its own and the rates are
per byte and independent: with ``drop=0.01,flip=0.01,dup=0.01`` about 3 bytes in 100 are damaged, so a
frame of 40 bytes arrives intact only ~30 % of the time.

- ``drop``: the byte is not forwarded;
- ``flip``: one random bit of the byte is inverted;
- ``dup``: the byte is forwarded twice;
- ``delay``: the stream stalls for ``delay_ms`` before the byte (TCP keeps the order, so everything
  behind it waits too, as on a UART whose far end is late);
- ``max_frame``: every frame longer than this many bytes (with its 0x00 delimiter) is dropped whole,
  as a SEGGER J-Link OB's virtual COM port drops USB transfers over 64 bytes while its mass-storage
  drive is enabled (``max_frame=64,to=device``).

Spec strings (``workbench run --fault-link``, ``workbench link-proxy --faults``)::

    drop=0.01,flip=0.01,dup=0.01,seed=1            both directions
    drop=0.05,to=device                            only bytes from host to device
    delay=0.001,delay_ms=20
    max_frame=64,to=device                         a J-Link OB with its drive enabled

Each direction draws from its own generator seeded by (seed, direction), so what happens to the
n-th byte of one direction does not depend on the other direction's timing.
"""

from __future__ import annotations

import random
import select
import socket
import threading
import time
from dataclasses import dataclass, field, fields

from workbench.errors import WorkbenchError

RATE_KEYS = ("drop", "flip", "dup", "delay")
DIRECTIONS = ("both", "device", "host")


@dataclass(frozen=True)
class FaultSpec:
    drop: float = 0.0
    flip: float = 0.0
    dup: float = 0.0
    delay: float = 0.0
    delay_ms: float = 10.0
    seed: int = 0
    to: str = "both"          # which direction is damaged: both, device (host->device), host
    max_frame: int = 0        # frames longer than this (bytes, with the delimiter) are dropped; 0: no limit

    @classmethod
    def parse(cls, text: str) -> "FaultSpec":
        """``key=value,...`` with keys drop, flip, dup, delay (rates 0..1), delay_ms, seed, to."""
        values: dict = {}
        known = {f.name for f in fields(cls)}
        for item in filter(None, (s.strip() for s in text.split(","))):
            key, sep, raw = item.partition("=")
            key = key.strip()
            if not sep or key not in known:
                raise WorkbenchError(f"fault spec '{text}': '{item}' is not key=value with a key among "
                                     f"{', '.join(sorted(known))}")
            raw = raw.strip()
            try:
                if key in ("seed", "max_frame"):
                    values[key] = int(raw)
                elif key == "to":
                    if raw not in DIRECTIONS:
                        raise ValueError
                    values[key] = raw
                else:
                    values[key] = float(raw)
            except ValueError:
                want = {"seed": "an integer", "max_frame": "an integer",
                        "to": "one of " + ", ".join(DIRECTIONS)}.get(key, "a number")
                raise WorkbenchError(f"fault spec '{text}': {key} must be {want}, got '{raw}'") from None
        spec = cls(**values)
        for key in RATE_KEYS:
            rate = getattr(spec, key)
            if not 0.0 <= rate <= 1.0:
                raise WorkbenchError(f"fault spec '{text}': {key}={rate} is not a rate between 0 and 1")
        if spec.max_frame < 0:
            raise WorkbenchError(f"fault spec '{text}': max_frame={spec.max_frame} must be 0 (no limit) or more")
        if not 0.0 <= spec.delay_ms <= 10_000:
            raise WorkbenchError(f"fault spec '{text}': delay_ms={spec.delay_ms} must be within 0..10000")
        return spec

    def applies_to(self, direction: str) -> bool:
        return self.to in ("both", direction)

    def __str__(self) -> str:
        parts = [f"{k}={getattr(self, k):g}" for k in RATE_KEYS if getattr(self, k)]
        if self.delay:
            parts.append(f"delay_ms={self.delay_ms:g}")
        if self.max_frame:
            parts.append(f"max_frame={self.max_frame}")
        parts.append(f"seed={self.seed}")
        if self.to != "both":
            parts.append(f"to={self.to}")
        return ",".join(parts)


@dataclass
class DirectionStats:
    bytes_in: int = 0
    bytes_out: int = 0
    dropped: int = 0
    flipped: int = 0
    duplicated: int = 0
    delayed: int = 0
    frames_dropped: int = 0   # whole frames over max_frame


class ByteMangler:
    """Applies a FaultSpec to one direction of a byte stream (deterministic for a given seed)."""

    def __init__(self, spec: FaultSpec, direction: str):
        self.spec = spec
        self.active = spec.applies_to(direction)
        self.rng = random.Random(f"{spec.seed}/{direction}")
        self.stats = DirectionStats()
        self._frame = bytearray()          # max_frame: the frame being collected up to its delimiter

    def _whole_frames(self, data: bytes) -> bytes:
        """The bytes of ``data`` that complete frames no longer than max_frame (the rest of a frame
        waits for its delimiter; a longer frame is dropped)."""
        out = bytearray()
        for b in data:
            self._frame.append(b)
            if b == 0:
                if len(self._frame) > self.spec.max_frame:
                    self.stats.frames_dropped += 1
                    self.stats.dropped += len(self._frame)
                else:
                    out += self._frame
                self._frame = bytearray()
        return bytes(out)

    def mangle(self, data: bytes) -> list[tuple[float, bytes]]:
        """Split ``data`` into (pause before, bytes) pieces to send in order."""
        self.stats.bytes_in += len(data)
        if not self.active:
            self.stats.bytes_out += len(data)
            return [(0.0, data)]
        s, rng, st = self.spec, self.rng, self.stats
        if s.max_frame:
            data = self._whole_frames(data)
        pieces: list[tuple[float, bytes]] = []
        out = bytearray()
        for b in data:
            # Four draws per byte whatever happens, so one fault never shifts the others' pattern.
            r_drop, r_flip, r_dup, r_delay = rng.random(), rng.random(), rng.random(), rng.random()
            bit = rng.randrange(8)
            if r_delay < s.delay:
                st.delayed += 1
                pieces.append((0.0, bytes(out)))
                out = bytearray()
                pieces.append((s.delay_ms / 1000.0, b""))
            if r_drop < s.drop:
                st.dropped += 1
                continue
            if r_flip < s.flip:
                b ^= 1 << bit
                st.flipped += 1
            out.append(b)
            if r_dup < s.dup:
                out.append(b)
                st.duplicated += 1
        pieces.append((0.0, bytes(out)))
        self.stats.bytes_out += sum(len(p) for _, p in pieces)
        return [(pause, p) for pause, p in pieces if pause or p]


@dataclass
class ProxyStats:
    to_device: DirectionStats = field(default_factory=DirectionStats)
    to_host: DirectionStats = field(default_factory=DirectionStats)
    connections: int = 0

    def as_dict(self) -> dict:
        return {"to_device": vars(self.to_device).copy(), "to_host": vars(self.to_host).copy(),
                "connections": self.connections}


class FaultyLink:
    """TCP proxy: listens on 127.0.0.1, forwards each accepted client to ``upstream`` with faults.

    ``upstream`` is ``(host, port)`` or an already connected socket (QEMU with ``wait=on`` releases
    the guest to its first client, so the target connects first and hands the socket over).
    Serves one client at a time; ``close()`` stops everything. Use as a context manager.
    """

    def __init__(self, upstream, spec: FaultSpec, listen_port: int = 0, listen_host: str = "127.0.0.1"):
        self.spec = spec
        self.upstream = upstream
        self.stats = ProxyStats()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self.server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.server.bind((listen_host, listen_port))
        except OSError as exc:
            self.server.close()
            raise WorkbenchError(f"link proxy cannot listen on {listen_host}:{listen_port}: {exc.strerror}") from None
        self.server.listen(1)
        self.port = self.server.getsockname()[1]
        self.address = f"{listen_host}:{self.port}"
        self._accept_thread = threading.Thread(target=self._accept_loop, name="faulty-link-accept", daemon=True)
        self._accept_thread.start()

    @property
    def url(self) -> str:
        """A pyserial URL for the proxy's client side."""
        return f"socket://{self.address}"

    # -- plumbing --------------------------------------------------------------------------------------
    def _connect_upstream(self) -> socket.socket:
        if isinstance(self.upstream, socket.socket):
            sock, self.upstream = self.upstream, None
            return sock
        if self.upstream is None:
            raise OSError("the upstream socket was already used by an earlier client")
        return socket.create_connection(self.upstream, timeout=5.0)

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([self.server], [], [], 0.1)
                if not ready:
                    continue
                client, _addr = self.server.accept()
            except OSError:
                return
            try:
                up = self._connect_upstream()
            except OSError:
                client.close()
                continue
            for s in (client, up):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                s.settimeout(None)
            with self._lock:
                self._sockets += [client, up]
                self.stats.connections += 1
            to_dev = ByteMangler(self.spec, "device")
            to_host = ByteMangler(self.spec, "host")
            self.stats.to_device, self.stats.to_host = to_dev.stats, to_host.stats
            pumps = [threading.Thread(target=self._pump, args=(client, up, to_dev), daemon=True,
                                      name="faulty-link-to-device"),
                     threading.Thread(target=self._pump, args=(up, client, to_host), daemon=True,
                                      name="faulty-link-to-host")]
            for t in pumps:
                t.start()
            self._threads += pumps
            for t in pumps:
                t.join()
            for s in (client, up):
                s.close()

    def _pump(self, src: socket.socket, dst: socket.socket, mangler: ByteMangler) -> None:
        try:
            while not self._stop.is_set():
                ready, _, _ = select.select([src], [], [], 0.1)
                if not ready:
                    continue
                data = src.recv(4096)
                if not data:
                    break
                for pause, piece in mangler.mangle(data):
                    if pause:
                        time.sleep(pause)
                    if piece:
                        dst.sendall(piece)
        except OSError:
            pass
        finally:
            # One side closed: close both so the other pump and the client see it at once.
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self._stop.set()
        try:
            self.server.close()
        except OSError:
            pass
        with self._lock:
            for s in self._sockets:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        self._accept_thread.join(timeout=2.0)
        if isinstance(self.upstream, socket.socket):
            self.upstream.close()

    def __enter__(self) -> "FaultyLink":
        return self

    def __exit__(self, *exc) -> bool:
        self.close()
        return False
