"""``workbench link-proxy``: a fault-injecting TCP proxy for a serial line that is a TCP socket.

For checking a setup by hand: put it between any client and QEMU's ``-serial tcp:``, Renode's server
socket terminal or a network serial adapter, e.g.::

    workbench link-proxy --to 127.0.0.1:4321 --listen 5555 --faults drop=0.01,flip=0.01,dup=0.01,seed=1

then connect the client to 127.0.0.1:5555. (``workbench run --fault-link SPEC`` does the same inside
one run.) Stops on Ctrl-C or after ``--duration`` seconds and prints what it did.
"""

from __future__ import annotations

import time

from workbench.commands.common import console, finite_float
from workbench.errors import WorkbenchError


def parse_host_port(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise WorkbenchError(f"--to '{text}': give HOST:PORT with a port between 1 and 65535")
    return host, int(port)


def cmd_link_proxy(args) -> int:
    from workbench.link.faulty import FaultSpec, FaultyLink

    upstream = parse_host_port(args.to)
    spec = FaultSpec.parse(args.faults)
    if not 0 <= args.listen < 65536:
        raise WorkbenchError(f"--listen {args.listen}: give a port between 0 and 65535 (0: any free port)")
    if args.duration is not None and args.duration <= 0:
        raise WorkbenchError(f"--duration {args.duration:g}: give a positive number of seconds")
    con = console()
    with FaultyLink(upstream, spec, listen_port=args.listen) as proxy:
        con.print(f"listening on [bold]{proxy.address}[/] -> {upstream[0]}:{upstream[1]} with faults {spec} "
                  "(Ctrl-C stops)")
        end = time.monotonic() + args.duration if args.duration else None
        try:
            while end is None or time.monotonic() < end:
                time.sleep(0.2)
        except KeyboardInterrupt:
            pass
    s = proxy.stats
    for name, d in (("to device", s.to_device), ("to host", s.to_host)):
        con.print(f"{name}: {d.bytes_in} bytes in, {d.bytes_out} out; dropped {d.dropped}, flipped {d.flipped}, "
                  f"duplicated {d.duplicated}, delayed {d.delayed}")
    return 0


def register(sub) -> None:
    s = sub.add_parser("link-proxy", help="fault-injecting TCP proxy for a serial line (QEMU, Renode, ser2net)")
    s.add_argument("--to", required=True, metavar="HOST:PORT", help="where the device's serial socket listens")
    s.add_argument("--listen", type=int, default=0, metavar="PORT", help="port to listen on (127.0.0.1) [any free]")
    s.add_argument("--faults", required=True, metavar="SPEC",
                   help="per-byte rates, e.g. drop=0.01,flip=0.01,dup=0.01,seed=1 (also delay=, delay_ms=, "
                        "to=device|host)")
    s.add_argument("--duration", type=finite_float, metavar="S", help="stop after S seconds [run until Ctrl-C]")
    s.set_defaults(func=cmd_link_proxy)
