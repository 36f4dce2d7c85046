"""The ``workbench`` command. Thin: it assembles the subcommands (workbench/commands/) and turns
user errors into one line on stderr with exit 2 (device trouble: 3); ``--debug`` shows the traceback.
"""

from __future__ import annotations

import signal
import sys
import threading
from importlib import import_module

from workbench import __version__
from workbench.commands.common import OneLineParser
from workbench.errors import Interrupted, WorkbenchError

# One module per command group, in the order `workbench --help` lists them.
COMMANDS = ("boards", "train", "imports", "export", "build", "run", "flash", "deploy", "link_proxy", "profile",
            "compare", "sweep", "dashboard")


def build_parser() -> OneLineParser:
    p = OneLineParser(prog="workbench", description="Train, quantize, deploy and profile recurrent time-series "
                                                    "classifiers (ShaRNN and friends) on Cortex-M4 boards.")
    p.add_argument("--version", action="version", version=f"workbench {__version__}")
    p.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    for name in COMMANDS:
        import_module(f"workbench.commands.{name}").register(sub)
    return p


def _stopped(signum, _frame):
    """SIGTERM (kill, a CI job cancelled) and SIGHUP (the terminal closed) stop the work as Ctrl-C does:
    emulators reaped, temp files removed, one line."""
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    debug = "--debug" in argv
    previous = {}
    if threading.current_thread() is threading.main_thread():
        previous = {sig: signal.signal(sig, _stopped) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        return _main(argv, debug)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _main(argv: list[str], debug: bool) -> int:
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help()
            return 2
        return args.func(args)
    except Interrupted as exc:
        print(f"workbench: {exc}", file=sys.stderr)
        return exc.exit_code
    except WorkbenchError as exc:
        if debug:
            raise
        print(f"workbench: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt as exc:
        print(f"workbench: interrupted{f' ({exc})' if str(exc) else ''}", file=sys.stderr)
        return 130
    except OSError as exc:
        # The disk, not the code: a full or read-only file system anywhere the work writes. (Any other
        # OSError is a bug and keeps its traceback.)
        from workbench.filesystem import STORAGE_ERRNOS, why

        if debug or exc.errno not in STORAGE_ERRNOS:
            raise
        where = f" at {exc.filename}" if exc.filename else ""
        print(f"workbench: error: cannot go on{where}: {why(exc)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
