"""``workbench dashboard PROFILES... --out dash.html``: one self-contained HTML page of plots."""

from __future__ import annotations

from pathlib import Path

from workbench.commands.common import console


def cmd_dashboard(args) -> int:
    from workbench.dashboard import write_dashboard
    from workbench.filesystem import check_output_file
    from workbench.profile.store import load_many

    check_output_file(args.out, "dashboard")
    if args.screenshot:
        check_output_file(args.screenshot, "screenshot", "--screenshot")
    profiles = load_many(args.profiles)
    out = write_dashboard(profiles, Path(args.out), args.title)
    con = console()
    con.print(f"dashboard of {len(profiles)} profile(s) written to [bold]{out}[/] "
              f"({out.stat().st_size / 1024:.0f} KB, self-contained)")
    if args.screenshot:
        from workbench.dashboard.headless import Chromium

        with Chromium(width=args.width) as browser:
            report = browser.open(out.resolve().as_uri())
            if report.errors:
                con.print(f"[yellow]page reported: {report.errors[0]}[/]")
            browser.screenshot(Path(args.screenshot))
        con.print(f"screenshot written to [bold]{args.screenshot}[/]")
    return 0


def register(sub) -> None:
    s = sub.add_parser("dashboard", help="one self-contained HTML page of plots from any set of profiles")
    s.add_argument("profiles", nargs="+", metavar="PROFILES", help="profile files, or folders of profiles")
    s.add_argument("--out", required=True, help="HTML file to write")
    s.add_argument("--title", default="workbench dashboard", help="page title [workbench dashboard]")
    s.add_argument("--screenshot", metavar="PNG", help="also render the page in headless Chromium to this PNG")
    s.add_argument("--width", type=int, default=1400, help="screenshot width in pixels [1400]")
    s.set_defaults(func=cmd_dashboard)
