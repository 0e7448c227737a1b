"""Logs and progress, always on stderr: stdout carries only results.

On a terminal, training shows a rich progress bar; otherwise (a pipe, a file, CI) it prints
plain lines, a few per run, so logs stay readable. `--quiet` keeps warnings and errors only.
"""

from __future__ import annotations

from rich.console import Console

console = Console(stderr=True, highlight=False, soft_wrap=True)
_quiet = False


def set_quiet(quiet: bool) -> None:
    global _quiet
    _quiet = quiet


def silence() -> None:
    """Print nothing at all (the other ranks of a torchrun job: rank 0 reports for them)."""
    global console
    set_quiet(True)
    console = Console(stderr=True, quiet=True)


def info(message: str) -> None:
    if not _quiet:
        console.print(message, markup=False)


def warn(message: str) -> None:
    console.print(f"warning: {message}", markup=False, style="yellow")


def error(message: str) -> None:
    console.print(f"error: {message}", markup=False, style="bold red")


class EpochProgress:
    """Per-epoch progress of one training run: a live bar on a terminal, else plain lines."""

    def __init__(self, epochs: int, label: str, monitor: str) -> None:
        self.epochs = epochs
        self.label = label
        self.monitor = monitor
        self.every = max(1, epochs // 10)
        self._bar = None
        if console.is_terminal and not _quiet:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[status]}"),
                TimeElapsedColumn(),
                console=console,
                transient=True,
            )
            self._task = self._bar.add_task(label, total=epochs, status="")

    def __enter__(self) -> EpochProgress:
        if self._bar is not None:
            self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()

    def update(self, epoch: int, loss: float, monitored: float) -> None:
        """Report the end of `epoch` (1-based) with its training loss and monitored metric."""
        status = f"loss {loss:.4f}  {self.monitor} {monitored:.4f}"
        if self._bar is not None:
            self._bar.update(self._task, completed=epoch, status=status)
        elif epoch % self.every == 0 or epoch == 1:
            info(f"{self.label} epoch {epoch}/{self.epochs}  {status}")
