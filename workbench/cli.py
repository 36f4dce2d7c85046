"""The ``workbench`` command. Thin: it assembles the subcommands (workbench/commands/) and turns
user errors into one line on stderr with exit 2 (device trouble: 3); ``--debug`` shows the traceback.
"""

from __future__ import annotations

import sys
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


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    debug = "--debug" in argv
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
    except KeyboardInterrupt:
        print("workbench: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
