"""Every tracker of a command, side by side, and the rule that none of them costs a run.

A `Tracking` is opened once per command (train, sweep, tune) with the trackers the config names;
each tracked run is a `TrackedRun` that hands every call to each tracker still on. The first
error of a tracker (server down, write refused, a bug) is one warning on stderr naming the tracker
and the error, and switches that tracker off for the rest of the command; what a switched-off
tracker missed of the runs' ends (their final metrics and status) is tried once more when the
command closes its `Tracking`, quietly. The trackers' ids are kept in the run's tracking.json, so
that `--resume` (and a study run again) continues the same runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from gnntool import log
from gnntool.config import Config
from gnntool.engine.runs.tracking.base import FAILED, FINISHED, KILLED, Logger, Param, RunInfo, epoch_scalars
from gnntool.errors import Interrupted, Terminated
from gnntool.rundir.layout import TRACKING, read_json, write_json

T = TypeVar("T")
Draw = Callable[[Path], list[Path]]  # a finished run's directory → pictures drawn of it


@dataclass(frozen=True)
class Settings:
    """What the trackers read of the command: its config's `output` section, the experiment's
    default name (the config file's stem) and what draws a finished run's pictures."""

    config: Config
    experiment: str
    draw: Draw | None = None


def error_line(error: BaseException) -> str:
    """An error on one short line: its type and the first line of its message."""
    text = str(error).strip().splitlines()
    message = text[0] if text else ""
    message = message if len(message) <= 200 else f"{message[:120]} ... {message[-75:]}"  # the cause is last
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


@dataclass
class Pending:
    """A run's end that a switched-off tracker missed, tried once more when the command ends."""

    name: str
    logger: Logger
    metrics: Mapping[str, Any] | None
    step: int | None
    status: str


class Tracking:
    """The command's trackers: which are on, and the run ends they missed while off."""

    def __init__(self, names: Sequence[str], settings: Settings | None) -> None:
        self.names = tuple(names)
        self.settings = settings
        self.off: dict[str, str] = {}
        self.pending: list[Pending] = []

    def call(self, name: str, action: Callable[..., T], *args: Any) -> T | None:
        """`action(*args)` for tracker `name` unless it is off; its first error switches it off."""
        if name in self.off:
            return None
        try:
            return action(*args)
        except Exception as error:  # a tracker never costs a run, whatever it raises
            self.off[name] = error_line(error)
            log.warn(
                f"{name}: {self.off[name]}; {name} is off for the rest of this run "
                "(its final metrics are tried once more at the end)"
            )
            return None

    def open(
        self,
        run: RunInfo,
        params: Mapping[str, Param],
        tags: Mapping[str, str],
        parent: TrackedRun | None = None,
    ) -> TrackedRun:
        """Start (or continue, by the id kept in `run.home`) `run` in every tracker that is on."""
        from gnntool.engine.runs.tracking.loggers import LOGGERS

        if not self.names:
            return TrackedRun(self, run)
        kept = read_ids(run.home).get(run.key, {})
        loggers: dict[str, Logger] = {}
        for name in self.names:
            if name in self.off or (parent is not None and name not in parent.loggers):
                continue
            logger = LOGGERS[name](self.settings, parent.loggers[name] if parent is not None else None)
            before = len(self.off)
            started = self.call(name, logger.start, run, params, tags, kept.get(name))
            if len(self.off) == before:
                loggers[name] = logger
                if started is not None and started != kept.get(name):
                    kept[name] = started
                    keep_ids(run.home, run.key, kept)
        return TrackedRun(self, run, loggers)

    def close(self) -> None:
        """Try once more, quietly, the run ends that switched-off trackers missed."""
        pending, self.pending = self.pending, []
        failed: set[str] = set()
        for item in pending:
            if item.name in failed:
                continue
            try:
                if item.metrics is not None:
                    item.logger.log_final(item.metrics, item.step)
                item.logger.end(item.status)
            except Exception as error:  # still down: the warning was given when it switched off
                failed.add(item.name)
                log.info(f"{item.name}: the final metrics could not be logged either ({error_line(error)})")
        for name in {item.name for item in pending} - failed:
            log.info(f"{name}: the final metrics were logged at the end")


@dataclass
class TrackedRun:
    """One tracked run in each tracker that started it."""

    tracking: Tracking
    run: RunInfo
    loggers: dict[str, Logger] = field(default_factory=dict)
    ended: bool = False

    def epoch(self, row: dict[str, float]) -> None:
        """An epoch observer (`gnntool.engine.train.EpochObserver`): the history row, at its epoch."""
        metrics, step = epoch_scalars(row), int(row["epoch"])
        for name, logger in self.loggers.items():
            self.tracking.call(name, logger.log_epoch, metrics, step)

    def finish(self, metrics: Mapping[str, Any], step: int | None, files: Callable[[], list[Path]]) -> None:
        """The final metrics (at the best epoch `step`, if one), the files `files()` lists, and the end."""
        paths = self._files(files) if any(logger.artifacts for logger in self.loggers.values()) else []
        for name, logger in self.loggers.items():
            self.tracking.call(name, logger.log_final, metrics, step)
            self.tracking.call(name, logger.log_artifacts, paths)
            self._end(name, logger, FINISHED, metrics, step)
        self.ended = True

    @staticmethod
    def _files(files: Callable[[], list[Path]]) -> list[Path]:
        """The files to keep; none if gathering them fails (drawing the curves, say): never the run."""
        try:
            return files()
        except Exception as error:
            log.warn(f"tracking: the run's files are not kept ({error_line(error)})")
            return []

    def end(self, status: str) -> None:
        """End without final metrics (the run failed or was interrupted)."""
        for name, logger in self.loggers.items():
            self._end(name, logger, status, None, None)
        self.ended = True

    def _end(self, name: str, logger: Logger, status: str, metrics: Mapping[str, Any] | None, step: int | None) -> None:
        if name not in self.tracking.off:
            self.tracking.call(name, logger.end, status)
        if name in self.tracking.off:
            self.tracking.pending.append(Pending(name, logger, metrics, step, status))


@contextmanager
def tracked(run: TrackedRun) -> Iterator[TrackedRun]:
    """`run`, ended as killed (Ctrl-C, SIGTERM) or failed if an error leaves the block before it finished."""
    try:
        yield run
    except BaseException as error:
        if not run.ended:
            run.end(KILLED if isinstance(error, (Interrupted, Terminated, KeyboardInterrupt)) else FAILED)
        raise


def read_ids(home: Path) -> dict[str, dict[str, str]]:
    """tracking.json of `home`: run key → tracker → id ({} when there is none)."""
    path = home / TRACKING
    return read_json(path) if path.is_file() else {}


def keep_ids(home: Path, key: str, ids: dict[str, str]) -> None:
    write_json(home / TRACKING, {**read_ids(home), key: ids})
