"""Progress reporting for long work (training epochs, windows streamed, sweep configurations).

The library prints nothing by itself: every long stage takes a ``progress`` object with the small part
of rich's ``Progress`` API it uses (``add_task``, ``update``, ``console.print``). Three kinds:

- ``Silent()``: reports nowhere (the default of the library and of tests);
- ``LineProgress(stream)``: plain lines, at most one per task every ``every_s`` seconds and one when a
  task completes — for logs, pipes, CI and notebooks, where a live bar renders only at its end;
- a rich ``Progress`` (the CLI's, on a terminal): a live bar.

``progress_for(console)`` picks the live bar on a terminal and plain lines elsewhere.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field


class _NoConsole:
    is_terminal = False

    def print(self, *args, **kwargs) -> None:
        pass


class Silent:
    """A progress object that reports nowhere."""

    console = _NoConsole()

    def add_task(self, description: str, total: float | None = None, **fields) -> int:
        return 0

    def update(self, task: int, **kwargs) -> None:
        pass

    def advance(self, task: int, advance: float = 1) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> bool:
        return False


@dataclass
class _Task:
    description: str
    total: float | None
    completed: float = 0
    fields: dict = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    last_line: float | None = None     # when its last line was printed (None: never, so the first prints)


class _LineConsole:
    is_terminal = False

    def __init__(self, stream):
        self.stream = stream

    def print(self, *objects, **kwargs) -> None:
        from rich.text import Text

        text = " ".join(o.plain if isinstance(o, Text) else str(o) for o in objects)
        print(text, file=self.stream, flush=True)


class LineProgress:
    """Plain progress lines: ``<description>: 120/400 (30 %), 12 s[, <status>]``: the first update of a
    task, then at most one every ``every_s`` seconds, and always one when it completes."""

    def __init__(self, stream=None, every_s: float = 10.0, prefix: str = ""):
        self.console = _LineConsole(stream or sys.stdout)
        self.every_s = every_s
        self.prefix = prefix
        self.tasks: list[_Task] = []

    def add_task(self, description: str, total: float | None = None, **fields) -> int:
        self.tasks.append(_Task(description, total, fields=dict(fields)))
        return len(self.tasks) - 1

    def update(self, task: int, *, advance: float | None = None, completed: float | None = None,
               total: float | None = None, description: str | None = None, **fields) -> None:
        t = self.tasks[task]
        if description is not None:
            t.description = description
        if total is not None:
            t.total = total
        if completed is not None:
            t.completed = completed
        if advance:
            t.completed += advance
        t.fields.update(fields)
        now = time.monotonic()
        done = t.total is not None and t.completed >= t.total
        if done or t.last_line is None or now - t.last_line >= self.every_s:
            t.last_line = now
            self.console.print(self.line(t, now))

    def advance(self, task: int, advance: float = 1) -> None:
        self.update(task, advance=advance)

    def line(self, t: _Task, now: float) -> str:
        count = f"{t.completed:g}" + (f"/{t.total:g} ({100 * t.completed / t.total:.0f} %)" if t.total else "")
        status = t.fields.get("status")
        return f"{self.prefix}{t.description}: {count}, {now - t.started:.0f} s" + (f", {status}" if status else "")

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> bool:
        return False


class CallbackProgress(LineProgress):
    """LineProgress whose lines go to ``callback(text)`` (a sweep worker turns them into stage events,
    which the driver shows labelled with their configuration)."""

    def __init__(self, callback, every_s: float = 10.0):
        super().__init__(every_s=every_s)
        self.console = _CallbackConsole(callback)


class _CallbackConsole(_NoConsole):
    def __init__(self, callback):
        self.callback = callback

    def print(self, *objects, **kwargs) -> None:
        self.callback(" ".join(str(o) for o in objects))


def progress_for(console=None):
    """A live rich bar when ``console`` (default: stdout's) is a terminal, else plain lines on stdout."""
    from rich.console import Console

    console = console or Console()
    if console.is_terminal:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeElapsedColumn
        from rich.text import Text

        class StatusColumn(ProgressColumn):
            def render(self, task):
                return Text(str(task.fields.get("status", "")), style="dim")

        return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), StatusColumn(), console=console)
    return LineProgress()
