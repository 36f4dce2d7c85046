"""``workbench sweep``: a grid of configurations, run in parallel, one profile each, resumable."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

from workbench.commands.common import console
from workbench.errors import WorkbenchError


def _single(values: list[str], option: str) -> list[str]:
    """Values of an option that takes one value per grid point (k, family, quantization, board)."""
    for v in values:
        if "," in v or "/" in v:
            raise WorkbenchError(f"sweep: {option} '{v}': one value per grid point; separate the values with "
                                 f"spaces, e.g. {option} {' '.join(v.replace('/', ',').split(','))}")
    return values


def configs_from_args(args):
    from workbench.sweep import check_grid, expand_grid

    try:
        ks = [int(k) for k in _single(args.k, "--k")]
    except ValueError:
        raise WorkbenchError(f"sweep: --k {' '.join(args.k)}: brick lengths must be integers") from None
    configs = expand_grid(dataset=args.dataset, families=_single(args.family, "--family"), cells=args.cells,
                          hidden=args.hidden, ks=ks, quantizations=_single(args.quantization, "--quantization"),
                          boards=_single(args.board, "--board"), epochs=args.epochs, seed=args.seed,
                          limit=args.limit)
    check_grid(configs)
    return configs


def default_out(configs) -> Path:
    """The same grid -> the same folder, so rerunning the same command resumes it."""
    from workbench.paths import profiles_dir

    digest = hashlib.sha256("\n".join(sorted(c.key for c in configs)).encode()).hexdigest()[:10]
    return profiles_dir() / "sweeps" / f"sweep-{digest}"


class Display:
    """A rich live view: the overall bar and what each worker is doing."""

    def __init__(self, con, total: int, done: int):
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.con = con
        self.progress = Progress(TextColumn("[bold]sweep"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                                 TextColumn("eta"), TimeRemainingColumn(), console=con)
        self.task = self.progress.add_task("sweep", total=total, completed=done)
        self.workers: dict[str, tuple[str, str, float]] = {}   # worker -> (config, stage, since)

    def __rich__(self):
        from rich.console import Group
        from rich.markup import escape
        from rich.table import Table

        t = Table(show_header=False, box=None, pad_edge=False)
        rows = sorted(self.workers.items())
        for w, (label, stage, since) in rows[:8]:
            t.add_row(f"[cyan]{w}[/]", escape(label), f"[dim]{escape(stage)}[/]", f"{time.monotonic() - since:4.0f}s")
        if len(rows) > 8:
            t.add_row("", f"[dim]… and {len(rows) - 8} more[/]", "", "")
        return Group(self.progress, t)

    def on_event(self, ev) -> None:
        from rich.markup import escape

        if ev.kind == "start":
            self.workers[ev.worker if ev.worker != "dask" else ev.key[-8:]] = (ev.text, "queued" if ev.worker == "dask"
                                                                                else "starting", time.monotonic())
        elif ev.kind == "stage":
            label, _, since = self.workers.get(ev.worker, ("", "", time.monotonic()))
            self.workers[ev.worker] = (label, ev.text, since)
            if not self.con.is_terminal:     # no live view in a log: each stage as a line, labelled
                self.con.print(f"{ev.worker} {escape(label)}: {escape(ev.text)}", highlight=False)
        else:
            slot = ev.worker if ev.worker != "dask" else ev.key[-8:]
            label = self.workers.pop(slot, (ev.key, "", 0))[0]
            self.progress.advance(self.task)
            if ev.kind == "done":
                m = ev.result["profile"]["metrics"]
                acc = m.get("accuracy.device", {}).get("value")
                cost = m.get("cost.full_window.median", {})
                self.con.print(f"[green]done[/] {escape(label)}: accuracy {acc:.3f}, full window "
                               f"{cost.get('value', 0):,.0f} {cost.get('unit', '')} ({ev.result['seconds']:.0f} s)")
            else:
                self.con.print(f"[red]failed[/] {escape(label)}: {escape(ev.text)}")


def summary_table(configs, out: Path, failed: dict[str, str]):
    from rich.markup import escape
    from rich.table import Table

    from workbench.profile.show import format_value
    from workbench.profile.store import ProfileStore

    store = ProfileStore(out)
    t = Table(title=f"sweep: {len(configs)} configurations in {out}")
    for col, justify in (("configuration", "left"), ("acc.", "right"), ("full window", "right"),
                         ("new window", "right"), ("RAM", "right"), ("flash", "right"), ("cost source", "left")):
        t.add_column(col, justify=justify)
    for c in configs:
        if c.key in failed:
            t.add_row(escape(c.label()), "[red]failed[/]", "", "", "", "", escape(failed[c.key])[:60])
            continue
        if not store.path(c.key).exists():
            t.add_row(escape(c.label()), "[dim]not run[/]", "", "", "", "", "")
            continue
        m = store.load(c.key)["metrics"]

        def v(name, m=m):
            return m[name]["value"] if name in m else None

        ram = sum(v(n) or 0 for n in ("ram.data", "ram.bss", "ram.stack_peak"))
        flash = sum(v(n) or 0 for n in ("flash.code", "flash.weights"))
        src = m.get("cost.full_window.median", {})
        t.add_row(escape(c.label()), format_value(v("accuracy.device"), "fraction"),
                  format_value(v("cost.full_window.median")), format_value(v("cost.stream_window.median")),
                  format_value(ram), format_value(flash), f"{src.get('unit', '')} ({src.get('source', '')})")
    return t


def cmd_sweep(args) -> int:
    from rich.live import Live

    from workbench.sweep import make_engine, run_sweep

    configs = configs_from_args(args)
    out = Path(args.out) if args.out else default_out(configs)
    con = console()
    if args.dry_run:
        for c in configs:
            con.print(f"{c.key}  {c.label()}")
        con.print(f"{len(configs)} configurations -> {out}")
        return 0
    engine = make_engine(args.engine, args.workers, args.scheduler)
    display = {}

    def on_skip(todo):
        con.print(f"{len(configs)} configurations, {len(configs) - len(todo)} already profiled in {out}, "
                  f"{len(todo)} to run on {engine.describe()}")
        display["d"] = Display(con, len(configs), len(configs) - len(todo))

    live = None

    def on_event(ev):
        nonlocal live
        d = display["d"]
        if live is None and con.is_terminal:
            live = Live(d, console=con, refresh_per_second=4, transient=True)
            live.start()
        d.on_event(ev)

    try:
        result = run_sweep(configs, out, engine, on_event=on_event, on_skip=on_skip)
    finally:
        if live is not None:
            live.stop()
    con.print(summary_table(configs, out, result.failed))
    ran = len(result.done) + len(result.failed)
    con.print(f"{len(result.done)} run, {len(result.skipped)} already done, {len(result.failed)} failed"
              + (f" in {result.seconds:.1f} s" if ran else "") + f"; profiles in {out}")
    return 1 if result.failed else 0


def register(sub) -> None:
    from workbench.boards import DEFAULT_BOARD

    s = sub.add_parser("sweep", help="profile a grid of configurations (k, hidden sizes, cells, quantization, boards) "
                                     "in parallel; resumable",
                       description="Every option takes one or more values separated by spaces; the grid is all "
                                   "their combinations. Within one value, a comma separates the levels (lower,upper) "
                                   "as in workbench train.")
    from workbench.models.families import cells_help

    s.add_argument("--dataset", default="BasicMotions", help="dataset [BasicMotions]")
    s.add_argument("--family", nargs="+", default=["sharnn"], help="model families: sharnn rnn [sharnn]")
    s.add_argument("--cells", nargs="+", default=["gru"],
                   help="cell kinds, one grid point each; lower,upper for two levels as in train, e.g. "
                        f"gru lstm lstm,gru ({cells_help()}) [gru]")
    s.add_argument("--hidden", nargs="+", default=["16"],
                   help="hidden sizes, one grid point each; lower,upper as in train, e.g. 8 16 8,16 [16]")
    s.add_argument("--k", nargs="+", default=["10"], help="brick lengths, e.g. 5 10 20 (each must divide T) [10]")
    s.add_argument("--quantization", nargs="+", default=["f32"],
                   help="quantizations, e.g. f32 q15; a value this build cannot run is refused up front [f32]")
    s.add_argument("--board", "--boards", dest="board", nargs="+", default=[DEFAULT_BOARD],
                   help=f"boards (emulated) [{DEFAULT_BOARD}]")
    s.add_argument("--epochs", type=int, default=30, help="training epochs per configuration [30]")
    s.add_argument("--seed", type=int, default=0, help="training seed [0]")
    s.add_argument("--limit", type=int, help="stream only N test windows, spread over the classes [all]")
    s.add_argument("--workers", type=int, help="parallel workers, one emulator each [cores]")
    s.add_argument("--engine", default="local", choices=["local", "dask"],
                   help="local worker processes, or a Dask cluster (needs 'distributed') [local]")
    s.add_argument("--scheduler", help="Dask scheduler address (tcp://host:8786); default: a local Dask cluster")
    s.add_argument("--out", help="folder of the sweep's profiles; rerun with the same folder to resume "
                                 "[profiles/sweeps/sweep-<grid hash>]")
    s.add_argument("--dry-run", action="store_true", help="list the configurations and exit")
    s.set_defaults(func=cmd_sweep)
