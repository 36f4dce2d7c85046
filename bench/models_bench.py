"""Model families × datasets: test accuracy, parameters, MACs per full window and per streamed new window.

Not a test: it trains every family on every dataset (minutes to an hour on 2 cores) and prints a table.
Accuracies are float32 torch on the host, on the dataset's test split, for the seeds given; each model is
trained with the default ``TrainConfig`` (the settings docs/models.md names) and nothing is tuned per seed.

MACs are computed from the model (``model.macs()``; formulas in ``workbench/models/cells.py`` and
``ShaRNN.macs``): multiply-accumulates of weights with activations, for a full window and for the
streamed new window of a stride of k steps (ShaRNN: one new brick + the upper level; a single-level RNN
recomputes the whole window).

    PYTHONPATH=. python bench/models_bench.py                       # every family × dataset, seed 0
    PYTHONPATH=. python bench/models_bench.py --datasets BasicMotions --seeds 0,1,2,3,4
    PYTHONPATH=. python bench/models_bench.py --study --seeds 0,1,2,3,4,5,6,7,8,9   # training settings (BasicMotions)

Results go to ``build/bench/models.json`` (rows already there are reused unless ``--fresh``), the
table to stdout and, with ``--markdown FILE``, as a Markdown table. The table's "measured" column says where
each row's figures come from: "this run", "model file" (``--add-model`` in this run) or "cached" (a row
of an earlier invocation read back from ``--out``, with the date it was measured when the row has one).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

CELL_KINDS = ["lstm", "gru", "fastgrnn", "mingru", "minlstm", "durnn"]

# Per dataset: ShaRNN sizes (the paper's KWS setting for keywords), single-level size and window preparation
# (`workbench train --window`: JapaneseVowels utterances of 7-29 steps end at step 30, so k=5 divides it).
# Training settings are the dataset's DATASET_TRAINING (workbench/models/trainconfig.py), the ones
# `workbench train` applies, the same for every family of the dataset.
DATASETS = {
    "BasicMotions": {"sharnn_hidden": [16, 16], "k": 10, "rnn_hidden": [16], "window": None},
    "JapaneseVowels": {"sharnn_hidden": [32, 16], "k": 5, "rnn_hidden": [32], "window": 30},
    "keywords": {"sharnn_hidden": [32, 16], "k": 11, "rnn_hidden": [32], "window": None},
}

# The robustness study on BasicMotions: (family, settings that differ from TrainConfig's defaults), each
# change added to the one before (the figures in docs/benchmarks.md's training table).
BEFORE = {"criterion": "accuracy", "augment": 0.0, "schedule": "constant", "refit": False}
STUDY = {
    "before: accuracy criterion, no augmentation, constant lr, no refit": ("sharnn-gru", BEFORE),
    "smoothed validation-loss criterion": ("sharnn-gru", {**BEFORE, "criterion": "loss"}),
    "+ gain/jitter augmentation 0.1": ("sharnn-gru", {"augment": 0.1, "schedule": "constant", "refit": False}),
    "+ cosine learning rate": ("sharnn-gru", {"augment": 0.1, "refit": False}),
    "+ refit on all 40 windows": ("sharnn-gru", {"augment": 0.1}),
    "augmentation 0.2 (the defaults)": ("sharnn-gru", {}),
    "augmentation 0.3": ("sharnn-gru", {"augment": 0.3}),
    "ShaRNN minGRU, the defaults": ("sharnn-mingru", {}),
    "ShaRNN minGRU, + time shift (--shift 1)": ("sharnn-mingru", {"shift": 1.0}),
}


class Quiet:
    def add_task(self, *a, **k):
        return 0

    def update(self, *a, **k):
        pass


def families(dataset: str, only: list[str] | None) -> list[tuple[str, dict]]:
    spec = DATASETS[dataset]
    out = []
    for kind in CELL_KINDS:
        out.append((f"sharnn-{kind}", {"family": "sharnn", "cells": [kind, kind], "hidden": spec["sharnn_hidden"],
                                       "k": spec["k"]}))
        out.append((kind, {"family": "rnn", "cells": [kind], "hidden": spec["rnn_hidden"]}))
    return [f for f in out if not only or f[0] in only]


def load(dataset: str):
    from workbench.data import align_to_window, load_dataset

    tr, te = load_dataset(dataset, "train"), load_dataset(dataset, "test")
    window = DATASETS.get(dataset, {}).get("window")
    if window:
        tr, te = align_to_window(tr, window), align_to_window(te, window)
    return tr, te


def run_one(dataset: str, tr, te, name: str, arch: dict, seed: int, overrides: dict) -> dict:
    import torch

    from workbench.models import build_model, count_parameters
    from workbench.models.train import TrainConfig, accuracy, train

    config = dict(arch, window=tr.window_length, input_dim=tr.num_channels, num_classes=tr.num_classes)
    torch.manual_seed(seed)
    model = build_model(config)
    cfg = TrainConfig(seed=seed, **overrides)
    t0 = time.perf_counter()
    result = train(model, tr, cfg, Quiet())
    seconds = time.perf_counter() - t0
    macs = model.macs()
    return {"dataset": dataset, "family": name, "config": model.config(), "seed": seed, "train": asdict(cfg),
            "test_accuracy": accuracy(model, te.x, te.y), "parameters": count_parameters(model),
            "macs_full_window": macs["full_window"], "macs_stream_window": macs["stream_window"],
            "best_epoch": result.best_epoch, "epochs_run": result.epochs_run, "train_seconds": round(seconds, 1),
            "measured_utc": utc_now()}


def row_from_file(path: str) -> dict:
    """A row for a model file trained elsewhere (``workbench train``, same settings): test accuracy
    measured here, the training settings and epochs from the file's metadata."""
    from workbench.models import count_parameters
    from workbench.models.modelfile import load as load_model
    from workbench.models.train import accuracy

    mf = load_model(path)
    model, c, t = mf.build(), mf.config, mf.meta["train"]
    _, te = load(mf.meta["dataset"])
    family = ("sharnn-" if c["family"] == "sharnn" else "") + c["cells"][0]
    spec = DATASETS.get(mf.meta["dataset"], {})
    default_hidden = spec.get("sharnn_hidden" if c["family"] == "sharnn" else "rnn_hidden")
    opts = c.get("cell_options") or {}
    levels = opts if isinstance(opts, list) else [opts]
    if list(c["hidden"]) != list(default_hidden or c["hidden"]) or any(levels):
        # Another size or cell options than the table's standard row: a row of its own beside it.
        shown = levels[:1] if all(o == levels[0] for o in levels) else levels
        family += " " + "/".join(map(str, c["hidden"])) + "".join(
            " " + ",".join(f"{k}={v}" for k, v in sorted(o.items())) for o in shown if o)
    macs = model.macs()
    return {"dataset": mf.meta["dataset"], "family": family, "config": c, "seed": mf.meta["seed"],
            "train": t["config"], "test_accuracy": accuracy(model, te.x, te.y), "parameters": count_parameters(model),
            "macs_full_window": macs["full_window"], "macs_stream_window": macs["stream_window"],
            "best_epoch": t["best_epoch"], "epochs_run": t["epochs_run"], "train_seconds": t.get("seconds"),
            "model_file": str(path), "study": "", "measured_utc": utc_now()}


def utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def origin_label(row: dict, made_here: set[str]) -> str:
    """Where a row's figures come from: this invocation, a model file added in it, or the cache."""
    if key(row) in made_here:
        return "model file" if row.get("model_file") else "this run"
    return "cached" + (f" {row['measured_utc'][:10]}" if row.get("measured_utc") else "")


def key(row) -> str:
    return json.dumps([row["dataset"], row["family"], row["seed"], row.get("study", "")], sort_keys=True)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--datasets", default=",".join(DATASETS))
    p.add_argument("--families", default="", help="comma-separated subset (e.g. sharnn-lstm,lstm) [all]")
    p.add_argument("--seeds", default="0")
    p.add_argument("--epochs", type=int, default=None, help="override TrainConfig.epochs (smoke runs)")
    p.add_argument("--study", action="store_true", help="training-settings study on BasicMotions instead")
    p.add_argument("--out", default="build/bench/models.json")
    p.add_argument("--fresh", action="store_true", help="ignore rows already in --out")
    p.add_argument("--add-model", action="append", default=[], metavar="FILE.wbm",
                   help="add (or replace) the row of a model file trained with `workbench train` and the "
                        "dataset's settings, instead of training it here (repeatable)")
    p.add_argument("--table-only", action="store_true",
                   help="train nothing: the table of the rows already in --out (runs not made are left out)")
    p.add_argument("--markdown", default=None, help="also write the table as Markdown to this file")
    args = p.parse_args(argv)

    import torch

    from workbench.models.trainconfig import DATASET_TRAINING

    torch.set_num_threads(1)
    out = Path(args.out)
    rows = {} if args.fresh or not out.exists() else {key(r): r for r in json.loads(out.read_text())}
    seeds = [int(s) for s in args.seeds.split(",")]
    over = {"epochs": args.epochs} if args.epochs else {}
    only = [f for f in args.families.split(",") if f]
    made_here: set[str] = set()        # keys of the rows measured by this invocation; the rest are cached
    for path in args.add_model:
        row = row_from_file(path)
        rows[key(row)] = row
        made_here.add(key(row))
        print(f"{row['dataset']} {row['family']} seed {row['seed']} from {path}: test {row['test_accuracy']:.4f}")
    if args.add_model:
        save_rows(out, rows)
    jobs = []
    if args.study:
        for label, (name, settings) in STUDY.items():
            arch = dict(families("BasicMotions", [name])[0][1])
            jobs += [("BasicMotions", name, arch, s, {**settings, **over}, label) for s in seeds]
    else:
        for ds in args.datasets.split(","):
            settings = {**DATASET_TRAINING.get(ds, {}), **over}
            jobs += [(ds, name, arch, s, settings, "") for name, arch in families(ds, only) for s in seeds]
    loaded = {}
    t_all = time.perf_counter()
    for i, (ds, name, arch, seed, settings, label) in enumerate(jobs, 1):
        probe = {"dataset": ds, "family": name, "seed": seed, "study": label}
        if key(probe) in rows or args.table_only:
            continue
        if ds not in loaded:
            loaded[ds] = load(ds)
        row = run_one(ds, *loaded[ds], name, arch, seed, settings)
        row["study"] = label
        rows[key(row)] = row
        made_here.add(key(row))
        save_rows(out, rows)
        print(f"[{i}/{len(jobs)}] {ds} {name} {label} seed {seed}: test {row['test_accuracy']:.4f} "
              f"({row['train_seconds']} s, best epoch {row['best_epoch']})", flush=True)
    wanted = {key({"dataset": j[0], "family": j[1], "seed": j[3], "study": j[5]}) for j in jobs}
    sized = {key(r) for r in rows.values() if not args.study and " " in r["family"]
             and r["dataset"] in args.datasets.split(",") and (not only or r["family"].split()[0] in only)}
    table = [r for k, r in rows.items() if k in wanted or k in sized]
    origins = {key(r): origin_label(r, made_here) for r in table}
    text = study_table(table, origins) if args.study else family_table(table, origins)
    print(text)
    if not args.study:
        print(checks(table))
    cached = sum(o.startswith("cached") for o in origins.values())
    if cached:
        print(f"\n{cached} of {len(table)} rows are cached: read from {out}, measured by an earlier invocation "
              f"(--fresh re-runs them)")
    trained = sum(key({"dataset": j[0], "family": j[1], "seed": j[3], "study": j[5]}) in made_here for j in jobs)
    print(f"\n{len(jobs)} runs asked, {trained} trained in {time.perf_counter() - t_all:.0f} s this invocation")
    if args.markdown:
        Path(args.markdown).write_text(text + ("" if args.study else "\n" + checks(table)) + "\n")
    return 0


def save_rows(out: Path, rows: dict) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(list(rows.values()), indent=1))
    tmp.replace(out)


def _accs(rows):
    return [r["test_accuracy"] for r in rows]


def measured(rows: list[dict], origins: dict[str, str]) -> str:
    """The "measured" cell of a group of rows: one origin, or each origin with its seeds."""
    by: dict[str, list] = {}
    for r in rows:
        by.setdefault(origins[key(r)], []).append(str(r["seed"]))
    if len(by) == 1:
        return next(iter(by))
    return "; ".join(f"{o} (seed {','.join(seeds)})" for o, seeds in by.items())


def family_table(rows: list[dict], origins: dict[str, str]) -> str:
    lines = ["| dataset | family | cells | hidden | k | test accuracy | seeds | parameters | MACs / full window "
             "| MACs / streamed new window | measured |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    groups: dict[tuple, list] = {}
    for r in rows:
        groups.setdefault((r["dataset"], r["family"]), []).append(r)
    for (ds, fam), rs in groups.items():
        c = rs[0]["config"]
        accs = _accs(rs)
        acc = f"{100 * np.mean(accs):.1f} %" + (f" (min {100 * min(accs):.1f})" if len(accs) > 1 else "")
        cells = "/".join(c["cells"])      # options, if any, are in the family's name (row_from_file)
        lines.append(f"| {ds} | {fam} | {cells} | {'/'.join(map(str, c['hidden']))} | {c.get('k', '–')} | {acc} "
                     f"| {','.join(str(r['seed']) for r in rs)} | {rs[0]['parameters']:,} "
                     f"| {rs[0]['macs_full_window']:,} | {rs[0]['macs_stream_window']:,} | {measured(rs, origins)} |")
    return "\n".join(lines)


def study_table(rows: list[dict], origins: dict[str, str]) -> str:
    lines = ["| training settings (BasicMotions, ShaRNN 16/16, k=10) | mean test accuracy | min | max | "
             "seeds ≥ 95 % | measured |", "|---|---|---|---|---|---|"]
    groups: dict[str, list] = {}
    for r in rows:
        groups.setdefault(r["study"], []).append(r)
    for label, rs in groups.items():
        a = np.array(_accs(rs))
        lines.append(f"| {label} | {100 * a.mean():.1f} % | {100 * a.min():.1f} % | {100 * a.max():.1f} % "
                     f"| {(a >= 0.95).sum()}/{len(a)} | {measured(rs, origins)} |")
    return "\n".join(lines)


def checks(rows: list[dict]) -> str:
    """The issue's acceptance figures, computed from the rows (mean over the seeds run)."""
    acc: dict[tuple, float] = {}
    for (ds, fam) in {(r["dataset"], r["family"]) for r in rows}:
        acc[(ds, fam)] = float(np.mean([r["test_accuracy"] for r in rows if r["dataset"] == ds and r["family"] == fam]))
    by = {(r["dataset"], r["family"]): r for r in rows}
    out = ["", "acceptance figures (mean test accuracy over the seeds run):"]
    for ds, need in (("BasicMotions", 0.95), ("JapaneseVowels", 0.95), ("keywords", 0.90)):
        sharnn = {f: a for (d, f), a in acc.items() if d == ds and f.startswith("sharnn-")}
        if sharnn:
            best = max(sharnn, key=sharnn.get)
            out.append(f"  {ds}: best ShaRNN {best} {100 * sharnn[best]:.1f} % (need ≥ {100 * need:.0f} %)")
    if ("keywords", "sharnn-lstm") in acc and ("keywords", "lstm") in acc:
        s, l = by[("keywords", "sharnn-lstm")], by[("keywords", "lstm")]
        out.append(f"  keywords: ShaRNN LSTM 32/16 k=11 {100 * acc[('keywords', 'sharnn-lstm')]:.1f} % vs LSTM 32 "
                   f"{100 * acc[('keywords', 'lstm')]:.1f} % (need within 1 point); MACs per streamed new window "
                   f"{s['macs_stream_window']:,} vs {l['macs_stream_window']:,} = "
                   f"{l['macs_stream_window'] / s['macs_stream_window']:.2f}× fewer (need ≥ 5×)")
    for ds in ("BasicMotions", "keywords"):
        here = {f: a for (d, f), a in acc.items() if d == ds}
        if not here:
            continue
        best = max(here, key=here.get)
        for kind in ("durnn", "mingru", "minlstm"):
            cands = {f: a for f, a in here.items() if f.split()[0] in (kind, f"sharnn-{kind}")}
            if cands:
                f = max(cands, key=cands.get)
                gap = 100 * (here[best] - cands[f])
                out.append(f"  {ds}: {kind} best form {f} {100 * cands[f]:.1f} % vs best family {best} "
                           f"{100 * here[best]:.1f} %: {gap:.1f} points behind (need ≤ 3)")
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
