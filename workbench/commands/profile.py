"""``workbench profile show FILE``: one profile as rich tables (provenance, metrics, confusion)."""

from __future__ import annotations

from workbench.commands.common import console
from workbench.errors import WorkbenchError


def cmd_show(args) -> int:
    from workbench.profile import load_profile
    from workbench.profile.show import render

    con = console()
    for path in args.files:
        con.print(render(load_profile(path)))
    return 0


def cmd_check(args) -> int:
    from workbench.profile.store import load_many

    profiles = load_many(args.files)
    console().print(f"{len(profiles)} profile(s) valid")
    return 0


def register(sub) -> None:
    s = sub.add_parser("profile", help="inspect profiles: show one as tables, check files against the schema")
    ps = s.add_subparsers(dest="profile_command", metavar="SUBCOMMAND", parser_class=type(s))
    show = ps.add_parser("show", help="print a profile as rich tables")
    show.add_argument("files", nargs="+", metavar="FILE", help="profile(s) (.json)")
    show.set_defaults(func=cmd_show)
    check = ps.add_parser("check", help="validate profiles (files or folders) against the schema")
    check.add_argument("files", nargs="+", metavar="PATH", help="profiles, or folders (searched with their "
                                                                "subfolders)")
    check.set_defaults(func=cmd_check)

    def no_subcommand(_args):
        raise WorkbenchError("profile: choose a subcommand: show or check (see workbench profile --help)")

    s.set_defaults(func=no_subcommand)
