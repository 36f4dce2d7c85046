"""Dashboard stage: any set of profiles -> one self-contained HTML file.

Everything is inline: the profiles' figures as one JSON block, our own plotting code (vanilla JS that
draws SVG: ``dashboard.js``) and style sheet (``dashboard.css``). The page fetches nothing, so it opens
offline, from a mail attachment or a CI artefact, and shows the same thing years later.

Python prepares the figures (so the page only draws): per profile its model, board and metrics, and
an **estimate** of energy per inference from the board file's ``energy`` table. With I = µA/MHz x
clock and t = cycles / clock, E = I x V x t = cycles x (µA/MHz) x V x 1e-12 J (the clock cancels).
Emulated profiles count instructions, not cycles: their estimate uses the Cortex-M4 cycle estimate
where the profile has one (``cycles_est.*``), else assumes one cycle per instruction, and says which
(``basis``); a cycle-counted profile (DWT) uses its cycles.
"""

from __future__ import annotations

import html
import json
from datetime import datetime, timezone
from pathlib import Path

from workbench import __version__

HERE = Path(__file__).resolve().parent
PLOTS = ("breakdown", "latency", "cost-vs-k", "pareto", "memory", "confusion", "agreement", "boards", "energy")
# Drawn only when the profiles hold what they plot: two-core profiles (``_parallel``).
CONDITIONAL_PLOTS = ("parallel-k",)
STAGES = ("lower", "upper", "head", "io", "other")
LEVELS = ("lower", "upper", "head")



def _energy(profile: dict, boards: dict) -> dict | None:
    board = boards.get(profile["board"])
    if board is None or not board.energy:
        return None
    e = board.energy
    ua_per_mhz, volts = e.get("ua_per_mhz"), e.get("volts")
    if not isinstance(ua_per_mhz, (int, float)) or not isinstance(volts, (int, float)):
        return None
    out = {"ua_per_mhz": ua_per_mhz, "volts": volts, "clock_hz": board.clock_hz, "board_source": e.get("source", ""),
           "source": "estimate"}
    for what in ("full_window", "stream_window"):
        m = profile["metrics"].get(f"cost.{what}.median")
        est = profile["metrics"].get(f"cycles_est.{what}.median")
        if est is not None and m is not None and m["unit"] == "instructions":
            m, basis = est, "cycle-estimate-based (Cortex-M4 TRM cycle model)"
        elif m is not None and m["unit"] in ("instructions", "cycles"):
            basis = ("instruction-based: assumes 1 cycle per instruction" if m["unit"] == "instructions"
                     else "cycle-based")
        else:
            continue
        value, source = m["value"], f"{m['unit']} ({m['source']})"
        cores = [profile["metrics"].get(f"cost.core{i}.{what}.median") for i in (0, 1)]
        if all(cores):     # two cores: energy goes with the work of both, not with the critical path
            value, source = cores[0]["value"] + cores[1]["value"], f"core 0 + core 1 {m['unit']} ({m['source']})"
        out[what] = {"value": value * ua_per_mhz * volts * 1e-12 * 1e6, "unit": "µJ", "basis": basis,
                     "from": source}
    return out


def _breakdown(profile: dict) -> dict | None:
    """Per stage: median instructions of a full window (mac and act parts of the levels) and, where
    the profile has them, estimated cycles; with the sources."""
    metrics = profile["metrics"]
    first = metrics.get(f"cost.stage.{STAGES[0]}.median")
    if first is None:
        return None

    def med(name):
        m = metrics.get(f"{name}.median")
        return m["value"] if m and isinstance(m["value"], (int, float)) else None

    stages = []
    extra = ("checkpoints",) if "cost.stage.checkpoints.median" in metrics else ()
    for s in (*STAGES, *extra):
        row = {"stage": s, "value": med(f"cost.stage.{s}"), "cycles": med(f"cycles_est.stage.{s}")}
        if s in LEVELS:
            row["mac"], row["act"] = med(f"cost.stage.{s}.mac"), med(f"cost.stage.{s}.act")
        stages.append(row)
    cyc = metrics.get(f"cycles_est.stage.{STAGES[0]}.median")
    return {"unit": first["unit"], "source": first["source"], "stages": stages,
            "cycles_source": cyc["source"] if cyc else None}


def _latency(profile: dict, boards: dict) -> dict | None:
    """Milliseconds per inference: the cycle estimate's (badged estimate), or measured DWT cycles at the
    board file's clock, or Renode's virtual time (badged as such)."""
    metrics = profile["metrics"]
    board = boards.get(profile["board"])
    out = {}
    for what in ("full_window", "stream_window"):
        est = metrics.get(f"latency_ms_est.{what}.median")
        cost = metrics.get(f"cost.{what}.median")
        if est is not None:
            out[what] = {"value": est["value"], "source": est["source"], "basis": "estimate"}
        elif cost is not None and board is not None and cost["unit"] == "cycles" and \
                cost["source"] in ("dwt-cycles", "renode-virtual-time"):
            out[what] = {"value": cost["value"] / board.clock_hz * 1e3, "source": cost["source"],
                         "basis": "measured" if cost["source"] == "dwt-cycles" else "virtual time"}
    return out or None


def _qualifiers(profile: dict) -> dict[str, str]:
    """What can tell two runs of one model on one board apart, for their labels."""
    extra = profile.get("extra") or {}
    build = extra.get("build") or {}
    cost = profile["metrics"].get("cost.full_window.median")
    ds = profile["dataset"]
    return {"dataset": f"{ds['name']} {ds['split']} ({ds['count']})", "backend": profile["backend"],
            "target": str(profile["target"].get("kind")), "kernel": str(profile["model"].get("kernel_path") or ""),
            "build": " ".join(f"{v}" for v in (build.get("opt"), build.get("extra_cflags")) if v),
            "counter": cost["source"] if cost else "", "link": str((extra.get("link") or {}).get("transport") or "")}


def _entry(path: Path, profile: dict, boards: dict) -> dict:
    model = profile["model"]
    cells = "/".join(model["cells"])
    hidden = "/".join(map(str, model["hidden"]))
    k = f" k={model['k']}" if model.get("k") else ""
    return {
        "id": path.stem, "file": path.name, "board": profile["board"], "target": profile["target"].get("kind"),
        "family": model["family"], "cells": cells, "hidden": hidden, "k": model.get("k"), "T": model["T"],
        "quantization": model["quantization"], "parameters": model["parameters"], "sha256": model["sha256"][:16],
        "label": f"{model['family']} {cells} {hidden}{k} {model['quantization']} · {profile['board']}",
        "series": f"{model['family']} {cells} {hidden} {model['quantization']} · {profile['board']}",
        "kind": f"{model['family']} {cells}", "qualifiers": _qualifiers(profile),
        "dataset": profile["dataset"]["name"], "split": profile["dataset"]["split"],
        "count": profile["dataset"]["count"], "class_names": profile["dataset"].get("class_names"),
        "created_utc": profile["created_utc"], "commit": (profile["git"].get("commit") or "")[:12],
        "metrics": profile["metrics"], "energy": _energy(profile, boards), "breakdown": _breakdown(profile),
        "latency": _latency(profile, boards),
        "cores": profile.get("extra", {}).get("handshake", {}).get("cores", 1),
    }


def _parallel(entries: list[dict]) -> list[dict]:
    """Two-core profiles per series (model and board without k): the critical path of a full window
    against k, each core's count, the same series on one core where there is one, and the fit
    c0 + c1*T/k + c2*k (``workbench.targets.parallel.fit_parallel_cost``; three k or more)."""
    from workbench.targets.parallel import fit_parallel_cost

    def value(e, name):
        m = e["metrics"].get(name)
        return m["value"] if m else None

    out = []
    for series in dict.fromkeys(e["series"] for e in entries if e["cores"] == 2 and e.get("k")):
        two = [e for e in entries if e["series"] == series and e["cores"] == 2 and e.get("k")
               and value(e, "cost.full_window.median") is not None]
        one = [e for e in entries if e["series"] == series and e["cores"] == 1 and e.get("k")
               and value(e, "cost.full_window.median") is not None]
        points = [{"k": e["k"], "critical": value(e, "cost.full_window.median"),
                   "core0": value(e, "cost.core0.full_window.median"),
                   "core1": value(e, "cost.core1.full_window.median"), "id": e["id"]} for e in two]
        cost = two[0]["metrics"]["cost.full_window.median"]
        out.append({"series": series, "T": two[0]["T"], "unit": cost["unit"], "source": cost["source"],
                    "points": sorted(points, key=lambda p: p["k"]),
                    "one_core": sorted(({"k": e["k"], "cost": value(e, "cost.full_window.median"), "id": e["id"]}
                                        for e in one), key=lambda p: p["k"]),
                    "fit": fit_parallel_cost(two[0]["T"], [p["k"] for p in points], [p["critical"] for p in points])})
    return out


def _unique_labels(entries: list[dict]) -> None:
    """Every profile gets a label no other has. Runs of one model on one board that differ in how they
    ran (dataset, backend, target, kernel path, build flags, counter, link) say so in their label and
    in their series (so a fitted curve never mixes them); what is still equal is told apart by time,
    then by file name."""
    groups: dict[str, list[dict]] = {}
    for e in entries:
        groups.setdefault(e["series"], []).append(e)
    for group in groups.values():
        keys = [k for k in group[0]["qualifiers"] if len({e["qualifiers"][k] for e in group}) > 1]
        for e in group:
            extra = ", ".join(e["qualifiers"][k] or f"no {k}" for k in keys)
            if extra:
                e["label"] += f" ({extra})"
                e["series"] += f" ({extra})"
    for tiebreak in ("created_utc", "file"):
        seen: dict[str, list[dict]] = {}
        for e in entries:
            seen.setdefault(e["label"], []).append(e)
        for same in seen.values():
            if len(same) > 1:
                for e in same:
                    e["label"] += f" [{e[tiebreak]}]"


def dashboard_data(profiles: list[tuple[Path, dict]]) -> dict:
    from workbench.boards import all_boards

    boards = {b.name: b for b in all_boards()}
    entries = [_entry(Path(p), prof, boards) for p, prof in profiles]
    _unique_labels(entries)
    seen: dict[str, int] = {}
    for e in entries:          # unique ids even when two folders hold files of the same name
        n = seen.get(e["id"], 0)
        seen[e["id"]] = n + 1
        if n:
            e["id"] = f"{e['id']}~{n}"
    return {"generated_utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), "workbench": __version__,
            "profiles": entries, "parallel": _parallel(entries),
            "boards": {name: {"clock_hz": b.clock_hz, "ram_bytes": b.ram_bytes, "flash_bytes": b.flash_bytes,
                              "cpu": b.cpu} for name, b in boards.items()}}


def _script_json(data: dict) -> str:
    # Inside <script>, "</" would end the element: escape it (and the other HTML-significant characters).
    text = json.dumps(data, allow_nan=False, default=str)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render_html(profiles: list[tuple[Path, dict]], title: str = "workbench dashboard") -> str:
    data = dashboard_data(profiles)
    _finite(data)
    css = (HERE / "dashboard.css").read_text()
    js = (HERE / "dashboard.js").read_text()
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy"
      content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>
{css}
</style>
</head>
<body>
<header><h1>{html.escape(title)}</h1><p id="subtitle"></p></header>
<main id="app"></main>
<script type="application/json" id="wb-data">{_script_json(data)}</script>
<script>
{js}
</script>
</body>
</html>
"""


def _finite(node):
    """NaN and infinities become null (JSON has neither; the page shows '-')."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for k, v in list(items):
        if isinstance(v, float) and (v != v or v in (float("inf"), float("-inf"))):
            node[k] = None
        else:
            _finite(v)


def write_dashboard(profiles: list[tuple[Path, dict]], out: Path, title: str = "workbench dashboard") -> Path:
    from workbench.filesystem import write_atomic

    return write_atomic(out, render_html(profiles, title), what="write the dashboard")
