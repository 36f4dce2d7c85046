"""A profile as rich tables: what ran where (provenance) and every metric with its unit and source."""

from __future__ import annotations

from rich.console import Group
from rich.markup import escape
from rich.table import Table


def format_value(value, unit: str = "") -> str:
    """Numbers for people: fractions to 3 places, counts with thousands separators, lists by shape."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        rows = len(value)
        cols = len(value[0]) if rows and isinstance(value[0], list) else None
        return f"[{rows}x{cols}]" if cols is not None else f"[{rows}]"
    if isinstance(value, float):
        if unit.startswith("fraction"):
            return f"{value:.3f}"
        if value != value:   # NaN
            return "nan"
        return f"{value:,.4g}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def title(profile: dict) -> str:
    m = profile["model"]
    k = f" k={m['k']}" if m.get("k") else ""
    return (f"{m['family']} {'/'.join(m['cells'])} {m['hidden']}{k} {m['quantization']} on {profile['board']} — "
            f"{profile['dataset']['name']} {profile['dataset']['split']} ({profile['dataset']['count']} windows)")


def provenance_table(profile: dict) -> Table:
    t = Table(show_header=False, box=None, pad_edge=False)
    t.add_column(style="dim")
    t.add_column()
    git = profile["git"]
    commit = (git.get("commit") or "unknown")[:12] + (" (dirty)" if git.get("dirty") else "")
    target = profile["target"]
    rows = [("created", profile["created_utc"]), ("git", commit),
            ("target", " ".join(str(v) for v in (target.get("kind"), target.get("machine")) if v)),
            ("backend", profile["backend"]),
            ("model", f"{profile['model']['sha256'][:16]}  {profile['model']['parameters']:,} parameters"),
            ("versions", ", ".join(f"{k} {v}" for k, v in profile["versions"].items()))]
    build = (profile.get("extra") or {}).get("build")
    if build:
        rows.append(("build", " ".join(f"{k}={v}" for k, v in build.items() if v not in ("", None))))
    for k, v in rows:
        t.add_row(k, escape(str(v)))
    return t


# Per-stage metrics are shown by breakdown_table, not row by row.
STAGE_PREFIXES = ("cost.stage.", "cost.stream_stage.", "cycles_est.stage.")


def metrics_table(profile: dict, *, stages: bool = True) -> Table:
    """Every metric with its unit and source; ``stages=False`` leaves out the per-stage ones (when
    ``breakdown_table`` shows them)."""
    t = Table(title=escape(title(profile)))
    for col, justify in (("metric", "left"), ("value", "right"), ("unit", "left"), ("source", "left")):
        t.add_column(col, justify=justify)
    for name, v in profile["metrics"].items():
        if isinstance(v["value"], list):
            continue     # matrices are shown by confusion_table
        if not stages and name.startswith(STAGE_PREFIXES):
            continue
        t.add_row(escape(name), format_value(v["value"], v["unit"]), escape(v["unit"]), v["source"])
    return t


def confusion_table(profile: dict) -> Table | None:
    m = profile["metrics"].get("confusion.device")
    if not m or not isinstance(m["value"], list) or not m["value"]:
        return None
    names = profile["dataset"].get("class_names") or [str(i) for i in range(len(m["value"]))]
    t = Table(title=escape(f"confusion ({m['unit']}, {m['source']})"))
    t.add_column("true \\ predicted")
    for n in names:
        t.add_column(escape(n), justify="right")
    for i, (n, row) in enumerate(zip(names, m["value"])):
        t.add_row(escape(n), *(f"[bold]{v}[/]" if i == j else str(v) for j, v in enumerate(row)))
    return t


def _median(profile: dict, name: str):
    m = profile["metrics"].get(f"{name}.median")
    return m["value"] if m and isinstance(m["value"], (int, float)) else None


def _board_clock(name: str) -> int | None:
    from workbench.boards import load_board
    from workbench.errors import WorkbenchError

    try:
        return load_board(name).clock_hz
    except WorkbenchError:
        return None


def share(part: float, total: float) -> str:
    pct = 100 * part / total if total else 0.0
    return "<0.1%" if 0 < pct < 0.1 else f"{pct:.1f}%"


def breakdown_table(profile: dict) -> Table | None:
    """Where the time goes: per stage, the median instructions of a full window (and their split into
    matrix products and the rest), the estimated cycles and milliseconds, and a streamed new window's
    instructions. None when the profile has no stage metrics."""
    from workbench.targets.stages import LEVELS, STAGES

    metrics = profile["metrics"]
    if f"cost.stage.{STAGES[0]}.median" not in metrics:
        return None
    first = metrics[f"cost.stage.{STAGES[0]}.median"]
    insn_src, unit = first["source"], first["unit"]
    rows = [*STAGES, "checkpoints"] if "cost.stage.checkpoints.median" in metrics else list(STAGES)
    cyc = f"cycles_est.stage.{STAGES[0]}.median" in metrics
    clock = (profile.get("extra") or {}).get("cycle_model", {}).get("clock_hz") or _board_clock(profile["board"])
    caption = f"median of {profile['dataset']['count']} windows; {unit}: {insn_src}"
    if len(rows) > len(STAGES):
        caption += "; checkpoints: the stage checkpoints' own time (firmware built with --breakdown)"
    if cyc:
        caption += (f"; cycles and ms: {metrics[f'cycles_est.stage.{STAGES[0]}.median']['source']} (an estimate, "
                    f"not a measurement){f' at {clock / 1e6:g} MHz' if clock else ''}")
    has_parts = f"cost.stage.{LEVELS[0]}.mac.median" in metrics
    t = Table(title="where the time goes: full window", caption=escape(caption))
    cols = ["stage", unit, "share"] + (["of which mac", "act"] if has_parts else [])
    cols += ["cycles (est.)", "share", "ms (est.)"] if cyc else []
    cols += ["new window"] if f"cost.stream_stage.{STAGES[0]}.median" in metrics else []
    for c in cols:
        t.add_column(c, justify="left" if c == "stage" else "right")
    insns = {s: _median(profile, f"cost.stage.{s}") or 0 for s in rows}
    cycles = {s: _median(profile, f"cycles_est.stage.{s}") or 0 for s in rows}
    total_i, total_c = sum(insns.values()) or 1, sum(cycles.values()) or 1
    for s in rows:
        row = [s, format_value(insns[s]), share(insns[s], total_i)]
        if has_parts:
            row += [format_value(_median(profile, f"cost.stage.{s}.mac")) if s in LEVELS else "",
                    format_value(_median(profile, f"cost.stage.{s}.act")) if s in LEVELS else ""]
        if cyc:
            row += [format_value(cycles[s]), share(cycles[s], total_c),
                    f"{cycles[s] / clock * 1e3:.3g}" if clock else "-"]
        if "new window" in cols:
            row.append(format_value(_median(profile, f"cost.stream_stage.{s}")))
        t.add_row(*row)
    return t


def render(profile: dict) -> Group:
    breakdown = breakdown_table(profile)
    parts = [provenance_table(profile), metrics_table(profile, stages=breakdown is None)]
    if breakdown is not None:
        parts.append(breakdown)
    conf = confusion_table(profile)
    if conf is not None:
        parts.append(conf)
    return Group(*parts)
