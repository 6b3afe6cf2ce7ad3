"""Progress bars (rich) and status lines; silent when disabled (tests, library use)."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator
from typing import Any


def make_console(stderr: bool = False):  # type: ignore[no-untyped-def]
    """A rich console at least 100 columns wide: piped output (logs, CI) would otherwise wrap at 80."""
    import shutil

    from rich.console import Console

    width = max(shutil.get_terminal_size((120, 24)).columns, 100)
    return Console(stderr=stderr, highlight=False, width=width)


class Reporter:
    """Prints status lines and shows progress bars; ``enabled=False`` keeps quiet except warnings."""

    def __init__(self, enabled: bool = True, *, silent: bool = False) -> None:
        """``silent`` also drops warnings: for repeated passes over data whose warnings were already shown."""
        self.enabled = enabled
        self.silent = silent
        self._progress: Any = None
        self._console: Any = make_console(stderr=True) if enabled else None
        # bars only where someone watches: in logs and pipes they would leave empty lines behind
        self._bars = enabled and bool(self._console.is_terminal)

    def log(self, message: str) -> None:
        if self._console is not None:
            self._console.print(message)

    def warn(self, message: str) -> None:
        if self.silent:
            return
        if self._console is None:
            warnings.warn(message, stacklevel=2)
        else:
            self._console.print(f"[yellow]warning:[/yellow] {message}")

    @contextlib.contextmanager
    def live(self) -> Iterator[None]:
        """Keep one progress display open for several tasks (epochs and batches)."""
        if not self._bars:
            yield
            return
        from rich import progress as rp

        with rp.Progress(rp.TextColumn("{task.description}"), rp.BarColumn(), rp.MofNCompleteColumn(),
                         rp.TimeElapsedColumn(), rp.TimeRemainingColumn(), rp.TextColumn("{task.fields[info]}"),
                         console=self._console, transient=False) as progress:
            self._progress = progress
            try:
                yield
            finally:
                self._progress = None

    @contextlib.contextmanager
    def task(self, description: str, total: int) -> Iterator[Callable[..., None]]:
        """A bar; yields ``advance(n=1, info="")``. The bar is removed when done unless it is the outer one."""
        progress = self._progress
        if progress is None and self._bars:
            with self.live():
                with self.task(description, total) as advance:
                    yield advance
            return
        if progress is None:
            yield lambda n=1, info="": None
            return
        task_id = progress.add_task(description, total=total, info="")

        def advance(n: int = 1, info: str = "") -> None:
            progress.update(task_id, advance=n, info=info)

        try:
            yield advance
        finally:
            progress.remove_task(task_id)
