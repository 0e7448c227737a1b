"""What every experiment tracker implements (`Logger`), what it is told about a run (`RunInfo`),
and the names and values all of them share. Torch-free, and no tracker package is imported here.

A tracked run is a whole training run, one seed of a multi-seed run, or a study (sweep, tune)
and its points; a multi-seed run and a study are parents of their seeds, cells or trials.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Param = bool | int | float | str

FINISHED, FAILED, KILLED = "finished", "failed", "killed"  # how a tracked run ends

_REFUSED = re.compile(r"[^A-Za-z0-9_\-./ ]")


@dataclass(frozen=True)
class RunInfo:
    """One tracked run.

    `kind` is run, seed, sweep, cell, tune or trial (W&B's job_type); `home` is the directory whose
    tracking.json keeps the trackers' ids for this run under `key` (and where W&B keeps its files);
    `group` names the outermost run (W&B's group); `seed` is the training seed of a run that
    trains, None for a parent.
    """

    name: str
    kind: str
    home: Path
    key: str
    group: str
    seed: int | None = None


class Logger(ABC):
    """One tracker's side of one tracked run; `parent` is the same tracker's side of its parent.

    `start` returns the id to keep in tracking.json (None: nothing to keep), and is given the one
    kept by an earlier process (`--resume`) to continue that run. Any method may raise: the
    caller (`gnntool.engine.runs.tracking.tracker`) turns an error into one warning and switches the
    tracker off, so that a tracker never costs a run.
    """

    artifacts = True  # whether `log_artifacts` keeps files (the run's files are only gathered then)

    def __init__(self, settings: Any, parent: Logger | None) -> None:
        self.settings, self.parent = settings, parent

    @abstractmethod
    def start(self, run: RunInfo, params: Mapping[str, Param], tags: Mapping[str, str], kept: str | None) -> str | None:
        """Open (or, given `kept`, continue) the run with its flat config and tags."""

    @abstractmethod
    def log_epoch(self, metrics: Mapping[str, float], step: int) -> None:
        """One epoch's metrics (TensorBoard's tags: `train/loss`, `val/accuracy`, ...) at step `epoch`."""

    @abstractmethod
    def log_final(self, metrics: Mapping[str, Any], step: int | None) -> None:
        """The run's metrics.json (per split; a parent's also `std`) at the best epoch, if one."""

    @abstractmethod
    def log_artifacts(self, paths: Sequence[Path]) -> None:
        """Keep copies of the run's files."""

    @abstractmethod
    def end(self, status: str) -> None:
        """Close the run as finished, failed or killed."""


def flatten(value: Any, prefix: str = "") -> dict[str, Param]:
    """A config dump as `dotted.key → value`; lists become their text, null the string "null"."""
    if isinstance(value, dict):
        flat: dict[str, Param] = {}
        for key, item in value.items():
            flat.update(flatten(item, f"{prefix}{key}."))
        return flat
    key = prefix.removesuffix(".")
    if value is None:
        return {key: "null"}
    return {key: value if isinstance(value, (bool, int, float, str)) else str(value)}


def scalar_tag(key: str) -> str:
    """A history column's tag: loss → train/loss, val_accuracy → val/accuracy, seconds → time/epoch_seconds."""
    if key == "seconds":
        return "time/epoch_seconds"
    split, sep, name = key.partition("_")
    return f"{split}/{name}" if sep and split == "val" else f"train/{key}"


def epoch_scalars(row: Mapping[str, float]) -> dict[str, float]:
    """A history row (history.csv's columns) as tagged scalars, without its epoch."""
    return {scalar_tag(key): float(value) for key, value in row.items() if key != "epoch"}


def final_scalars(metrics: Mapping[str, Any]) -> dict[str, float]:
    """`final/<split>_<metric>` for every number of a run's metrics.json (train, val, test), and
    `final/<split>_<metric>_std` for a multi-seed run's spread."""
    scalars = {}
    for split, values in metrics.items():
        if split == "std" and isinstance(values, dict):
            scalars.update({f"{tag}_std": value for tag, value in final_scalars(values).items()})
        elif isinstance(values, dict):
            scalars.update(
                {f"final/{split}_{name}": float(value) for name, value in values.items() if is_number(value)}
            )
    return scalars


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def safe_name(name: str) -> str:
    """A metric or parameter name as MLflow and W&B accept it: `@` → `_at_` (`hits@20` →
    `hits_at_20`), any other character outside letters, digits, `_-./ ` → `_`."""
    return _REFUSED.sub("_", name.replace("@", "_at_"))
