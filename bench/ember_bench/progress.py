"""Progress display for long runs (rich), with a line-per-step fallback off a terminal."""

from __future__ import annotations

import time

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                           TimeElapsedColumn, TimeRemainingColumn)


class RunProgress:
    """A context manager counting finished benchmark processes.

    ``total`` is the number of processes planned. On a terminal a rich progress
    bar with elapsed/remaining time is shown; otherwise (``make`` in CI, output
    piped to a file) one line is printed every ``every`` steps.
    """

    def __init__(self, total: int, console: Console | None = None, every: int = 10):
        self.total = total
        self.console = console or Console(stderr=True)
        self.every = every
        self.done = 0
        self.t0 = time.monotonic()
        self._progress = None
        self._task = None

    def __enter__(self) -> "RunProgress":
        if self.console.is_terminal:
            self._progress = Progress(
                TextColumn("[bold]{task.description:<40}"), BarColumn(),
                MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("eta"),
                TimeRemainingColumn(), console=self.console)
            self._progress.__enter__()
            self._task = self._progress.add_task("starting", total=self.total)
        return self

    def advance(self, description: str) -> None:
        """Mark one process as finished; ``description`` says which."""
        self.done += 1
        if self._progress is not None:
            self._progress.update(self._task, advance=1, description=description)
        elif self.done % self.every == 0 or self.done == self.total:
            el = time.monotonic() - self.t0
            self.console.print(f"[{self.done}/{self.total}] {el:6.0f} s  {description}",
                               highlight=False)

    def __exit__(self, *exc) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)
