"""``workbench compare BASE NEW [--fail-over PCT]``: metric deltas and the regression gate.

Exit 0: no gate, or the gate passed; 1: the gate failed (a cost metric grew more than PCT, an
accuracy or agreement dropped, or a gated metric is missing); 2: bad input (missing, truncated or
schema-invalid profile, metrics from different sources).
"""

from __future__ import annotations

from workbench.commands.common import console, finite_float


def cmd_compare(args) -> int:
    from workbench.profile import load_profile
    from workbench.profile.compare import compare, render, summary

    base, new = load_profile(args.base), load_profile(args.new)
    c = compare(base, new, args.fail_over, base_name=args.base, new_name=args.new)
    con = console()
    con.print(render(c, args.base, args.new))
    line = summary(c)
    con.print(line, style="bold red" if c.failed else None, soft_wrap=True, markup=False)
    return 1 if c.failed else 0


def register(sub) -> None:
    s = sub.add_parser("compare", help="deltas of every metric between two profiles; --fail-over gates regressions")
    s.add_argument("base", metavar="BASE", help="baseline profile (.json)")
    s.add_argument("new", metavar="NEW", help="profile to check against it")
    s.add_argument("--fail-over", type=finite_float, metavar="PCT",
                   help="exit 1 if any cost metric (instructions/cycles, RAM, flash) grows more than PCT percent "
                        "or any accuracy/agreement drops")
    s.set_defaults(func=cmd_compare)
