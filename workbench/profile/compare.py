"""Compare two profiles metric by metric: the regression gate.

Every metric present in both profiles gets a delta. A metric is judged by what it is:
- **cost** (``cost.*``, ``ram.*``, ``flash.*``, or any instruction/cycle count): lower is better; with
  a threshold, growing by more than it is a regression;
- **quality** (``accuracy.*``, ``agreement.*``): higher is better; any drop is a regression;
- **stage** (``cost.stage.*``, ``cost.stream_stage.*``, ``cycles_est.stage.*``: the parts of a
  window's cost): judged better or worse like a cost, never a regression on its own (a 10-instruction
  stage that grows by 7 is not a failed build; the totals it sums to are gated); shown again in a
  table of the stages side by side, with each stage's share of the total change;
- **info** (wall-clock time, matrices, anything else): shown, never judged. Host wall-clock time is
  noisy by nature and says nothing about the device, so it never fails a gate.

Two numbers are only comparable when they came from the same place: a metric whose source (or unit)
differs between the two profiles is refused with one line naming it, never silently compared
(an icount SysTick reading is not a plugin count; an instruction count is not a cycle count).
A gated metric that the new profile lacks fails the gate: a gate must not pass by omission.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from workbench.errors import WorkbenchError

COST_PREFIXES = ("cost.", "ram.", "flash.", "cycles_est.", "latency_ms_est.")
COST_UNITS = ("instructions", "cycles")
STAGE_PREFIXES = ("cost.stage.", "cost.stream_stage.", "cycles_est.stage.")
QUALITY_PREFIXES = ("accuracy.", "agreement.")
NEVER_GATED_SOURCES = ("host-wallclock",)
EPS = 1e-12


def kind_of(name: str, m: dict) -> str:
    if m["source"] in NEVER_GATED_SOURCES or not _number(m["value"]):
        return "info"
    if name.startswith(STAGE_PREFIXES):
        return "stage"
    if name.startswith(COST_PREFIXES) or m["unit"] in COST_UNITS:
        return "cost"
    if name.startswith(QUALITY_PREFIXES):
        return "quality"
    return "info"


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v == v


@dataclass
class Delta:
    name: str
    kind: str                 # cost | quality | stage | info
    unit: str
    source: str
    base: object
    new: object
    verdict: str = "same"     # same | better | worse | regressed | changed | added | missing
    change: float | None = None   # relative change of a number, (new - base) / |base|

    @property
    def diff(self):
        return self.new - self.base if _number(self.base) and _number(self.new) else None


@dataclass
class Comparison:
    deltas: list[Delta]
    fail_over: float | None
    notes: list[str] = field(default_factory=list)

    @property
    def regressions(self) -> list[Delta]:
        return [d for d in self.deltas if d.verdict in ("regressed", "missing")]

    @property
    def failed(self) -> bool:
        return self.fail_over is not None and bool(self.regressions)


def compare(base: dict, new: dict, fail_over: float | None = None, *, base_name: str = "BASE",
            new_name: str = "NEW") -> Comparison:
    """Deltas of every metric; ``fail_over`` (percent) turns cost growth above it and any quality drop
    into regressions."""
    if fail_over is not None and not (math.isfinite(fail_over) and fail_over >= 0):
        raise WorkbenchError(f"--fail-over must be a percentage >= 0, got {fail_over}")
    bm, nm = base["metrics"], new["metrics"]
    deltas: list[Delta] = []
    for name, b in bm.items():
        n = nm.get(name)
        if n is None:
            kind = kind_of(name, b)
            deltas.append(Delta(name, kind, b["unit"], b["source"], b["value"], None,
                                "missing" if kind in ("cost", "quality") and fail_over is not None else "changed"))
            continue
        if n["source"] != b["source"]:
            raise WorkbenchError(f"metric '{name}' has source {b['source']} in {base_name} but {n['source']} in "
                                 f"{new_name}: numbers from different sources are not comparable")
        if n["unit"] != b["unit"]:
            raise WorkbenchError(f"metric '{name}' is in {b['unit']} in {base_name} but {n['unit']} in {new_name}")
        deltas.append(_judge(Delta(name, kind_of(name, b), b["unit"], b["source"], b["value"], n["value"]),
                             fail_over))
    for name, n in nm.items():
        if name not in bm:
            deltas.append(Delta(name, kind_of(name, n), n["unit"], n["source"], None, n["value"], "added"))
    notes = []
    data_note = dataset_note(base, new)
    if data_note:
        notes.append(data_note)
    for what, key in (("model", ("model", "sha256")), ("board", ("board",)), ("backend", ("backend",))):
        a, b = _dig(base, key), _dig(new, key)
        if a != b:
            notes.append(f"{what} differs: {str(a)[:16]} vs {str(b)[:16]}")
    logits = logits_note(base, new)
    if logits:
        notes.append(logits)
    return Comparison(deltas, fail_over, notes)


def dataset_note(base: dict, new: dict) -> str | None:
    """A note when the two profiles streamed different windows (another data set, split or count):
    their accuracies and agreements then describe different data."""
    def what(p):
        d = p.get("dataset", {})
        return (d.get("name"), d.get("split"), d.get("count"))

    if what(base) == what(new):
        return None
    (bn, bs, bc), (nn, ns, nc) = what(base), what(new)
    return (f"data sets differ: {bn} {bs} ({bc} windows) vs {nn} {ns} ({nc} windows): accuracy and agreement "
            "figures describe different data")


def logits_note(base: dict, new: dict) -> str | None:
    """How many windows gave exactly the same logits in both profiles (same model and windows:
    two boards, two backends), or None when the two did not run the same windows of one model in one
    arithmetic (float32 and int16 logits are not comparable numbers)."""
    same = (("model", "sha256"), ("model", "quantization"), ("dataset",))
    if any(_dig(base, key) != _dig(new, key) for key in same):
        return None
    pairs = [(a.get("logits"), b.get("logits")) for a, b in zip(base.get("windows") or [], new.get("windows") or [])]
    if not pairs or any(a is None or b is None for a, b in pairs):
        return None
    differ = [i for i, (a, b) in enumerate(pairs) if a != b]
    if not differ:
        return f"per-window logits: identical in all {len(pairs)} windows"
    return f"per-window logits: differ in {len(differ)} of {len(pairs)} windows (first: window {differ[0]})"


def _dig(d: dict, keys: tuple[str, ...]):
    for k in keys:
        d = d.get(k) if isinstance(d, dict) else None
    return d


def _judge(d: Delta, fail_over: float | None) -> Delta:
    if not (_number(d.base) and _number(d.new)):
        d.verdict = "same" if d.base == d.new else "changed"
        return d
    diff = d.new - d.base
    if d.base != 0:
        d.change = diff / abs(d.base)
    elif diff != 0:
        d.change = float("inf") if diff > 0 else float("-inf")
    else:
        d.change = 0.0
    if abs(diff) <= EPS:
        d.verdict = "same"
    elif d.kind == "cost":
        grew_too_much = fail_over is not None and d.change * 100 > fail_over
        d.verdict = "regressed" if grew_too_much else ("worse" if diff > 0 else "better")
    elif d.kind == "stage":
        d.verdict = "worse" if diff > 0 else "better"
    elif d.kind == "quality":
        d.verdict = "better" if diff > 0 else ("regressed" if fail_over is not None else "worse")
    else:
        d.verdict = "changed"
    return d


def _format_diff(d: Delta) -> str:
    diff = d.diff
    if diff is None:
        return ""
    if d.unit.startswith("fraction"):
        return f"{diff:+.3f}"
    if float(diff).is_integer() or abs(diff) >= 1000:
        return f"{diff:+,.0f}"
    return f"{diff:+.4g}"


def render(c: Comparison, base_name: str, new_name: str):
    """The comparison as a rich table for the console: rows grouped by unit and source (one heading
    per group), then the notes."""
    from rich.console import Group
    from rich.markup import escape
    from rich.table import Table
    from rich.text import Text

    from workbench.profile.show import format_value

    gate = f", gate: cost +{c.fail_over:g}% / any quality drop" if c.fail_over is not None else ""
    t = Table(title=escape(f"{base_name} → {new_name}{gate}"))
    t.add_column("metric", no_wrap=True)
    for col in ("base", "new", "Δ", "Δ%"):
        t.add_column(col, justify="right", no_wrap=True)
    t.add_column("", no_wrap=True)
    style = {"regressed": "bold red", "missing": "bold red", "worse": "yellow", "better": "green"}
    groups: dict[tuple[str, str], list[Delta]] = {}
    for d in c.deltas:
        groups.setdefault((d.unit, d.source), []).append(d)
    for i, ((unit, source), deltas) in enumerate(groups.items()):
        if i:
            t.add_section()
        t.add_row(Text(f"{unit} · {source}", style="dim italic"))
        for d in deltas:
            pct = "" if d.change is None else ("inf" if abs(d.change) == float("inf") else f"{d.change * 100:+.2f}%")
            t.add_row("  " + escape(d.name), format_value(d.base, d.unit), format_value(d.new, d.unit),
                      _format_diff(d), pct,
                      Text(d.verdict if d.verdict != "same" else "", style=style.get(d.verdict, "")))
    parts = [t]
    stages = stage_table(c)
    if stages is not None:
        parts.append(stages)
    parts += [Text(f"note: {n}", style="dim") for n in c.notes]
    return Group(*parts)


def stage_table(c: Comparison):
    """The stages of a full window side by side (medians): base, new, the change, and each stage's
    share of the total change (where a regression went). None unless both profiles have stages."""
    from rich.table import Table

    from workbench.profile.show import format_value
    from workbench.targets.stages import STAGES

    by_name = {d.name: d for d in c.deltas}
    rows = [by_name.get(f"cost.stage.{s}.median") for s in STAGES]
    if any(d is None or not (_number(d.base) and _number(d.new)) for d in rows):
        return None
    total = sum(d.new - d.base for d in rows)
    t = Table(title=f"where the time goes: full window, median {rows[0].unit} ({rows[0].source})")
    for col in ("stage", "base", "new", "Δ", "Δ%", "share of the change"):
        t.add_column(col, justify="left" if col == "stage" else "right", no_wrap=True)
    for s, d in zip(STAGES, rows):
        pct = "" if d.change is None or abs(d.change) == float("inf") else f"{d.change * 100:+.2f}%"
        part = f"{100 * (d.new - d.base) / total:.1f}%" if total else "-"
        t.add_row(s, format_value(d.base), format_value(d.new), _format_diff(d), pct, part)
    return t


def summary(c: Comparison) -> str:
    """One line: what failed the gate, or that it passed."""
    if c.fail_over is None:
        worse = [d.name for d in c.deltas if d.verdict == "worse"]
        differ = "; the data sets differ (see the note)" if any(n.startswith("data sets differ") for n in c.notes) \
            else ""
        return f"{len(worse)} metric(s) worse, no gate (pass --fail-over PCT to gate){differ}"
    if not c.regressions:
        return f"gate passed: no cost metric grew more than {c.fail_over:g}% and no accuracy or agreement dropped"
    parts = []
    for d in c.regressions:
        if d.verdict == "missing":
            parts.append(f"{d.name} missing")
        elif d.kind == "cost":
            parts.append(f"{d.name} {d.change * 100:+.2f}%")
        else:
            parts.append(f"{d.name} {format_drop(d)}")
    return f"gate failed ({len(parts)}): " + ", ".join(parts)


def format_drop(d: Delta) -> str:
    return f"{d.base:.3f} -> {d.new:.3f}"
