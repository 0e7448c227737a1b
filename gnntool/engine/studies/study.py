"""What `gnntool sweep` and `gnntool tune` share: a point's config, its training, the results table.

A study trains one config per point (a sweep's cell, a tune's trial) into the point's own run
directory: the base config (file, then --set) with the point's values, validated, trained with
resume, so that the same command again continues an interrupted point from its checkpoint and
leaves a finished one as it is. The results tables have one `split_metric` column per split and
metric (val before test, in metrics.json's order), with a `_std` companion for multi-seed runs in
the CSV, and `mean ± std` as `gnntool.metric_facts` shows each metric on stdout.

Rows of the tables hold a point's metrics flat (`flat_metrics`): `{"val_accuracy": 0.8, ...}`.
This module imports torch only when a point trains.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gnntool.config import Config, set_key, validate
from gnntool.engine.monitor import settle_monitor
from gnntool.errors import Interrupted, UserError
from gnntool.metric_facts import format_value
from gnntool.rundir.layout import has_progress, is_finished

if TYPE_CHECKING:
    from gnntool.engine.runs.tracking.training import Scope
    from gnntool.engine.runs.train_run import SeedHooks

REPORTED_SPLITS = ("val", "test")  # the splits a study reports; it chooses on val, never on test


# --- a point ------------------------------------------------------------------------------------


def point_config(base: dict[str, Any], values: dict[str, Any], option: str) -> Config:
    """The base config with a point's `key → value`s set (errors naming `option`), validated, its
    monitor settled (`gnntool.engine.monitor`)."""
    raw = copy.deepcopy(base)
    for key, value in values.items():
        set_key(raw, key, copy.deepcopy(value), option=option)
    return settle_monitor(validate(raw))


def config_problem(error: UserError) -> str:
    """A config validation error on one line, for a list of the points that fail."""
    return str(error).removeprefix("invalid config:\n  ").replace("\n  ", "; ")


def train_point(
    config: Config,
    run_dir: Path,
    seeds: int,
    interrupted: Callable[[Interrupted], str],
    hooks: SeedHooks | None = None,
    locked: bool = False,
    scope: Scope | None = None,
) -> None:
    """Train `config` into `run_dir`, resuming what it holds (a finished run stays as it is);
    `locked`: the caller holds `run_dir`'s lock; tracked as `scope` says (a point of the study's
    tracked run).

    On Ctrl-C or SIGTERM (the checkpoint saved), the error's message is `interrupted(error)`: how
    to continue the whole study rather than the one run.
    """
    from gnntool.engine.runs.train_run import train_run

    # resume=True on a finished run leaves it; on a fresh directory it would warn of no checkpoint.
    resume = is_finished(run_dir) or has_progress(run_dir)
    try:
        train_run(config, run_dir, seeds, resume=resume, force=False, hooks=hooks, locked=locked, scope=scope)
    except Interrupted as error:
        error.args = (interrupted(error),)
        raise


# --- results ------------------------------------------------------------------------------------


def flat_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    """A run's metrics.json as `{"val_accuracy": ..., "val_accuracy_std": ...}` (std for multi-seed runs)."""
    flat = {}
    for split in REPORTED_SPLITS:
        spread = metrics.get("std", {}).get(split, {})
        for name, value in metrics.get(split, {}).items():
            flat[f"{split}_{name}"] = value
            if name in spread:
                flat[f"{split}_{name}_std"] = spread[name]
    return flat


def metric_columns(rows: Sequence[dict[str, float]]) -> list[str]:
    """`split_metric` columns present in any row's flat metrics, val first, without `_std`."""
    columns: list[str] = []
    for split in REPORTED_SPLITS:
        for row in rows:
            for key in row:
                if key.startswith(f"{split}_") and not key.endswith("_std") and key not in columns:
                    columns.append(key)
    return columns


def has_std(rows: Sequence[dict[str, float]]) -> bool:
    return any(key.endswith("_std") for row in rows for key in row)


def csv_header(columns: Sequence[str], std: bool) -> list[str]:
    """The CSV's metric columns: each (and its `_std` where `std`)."""
    return [name for column in columns for name in ([column, f"{column}_std"] if std else [column])]


def csv_cells(row: dict[str, float], columns: Sequence[str], std: bool) -> list[Any]:
    """One row's values under `csv_header`: fractions as metrics.json has them, "" where missing."""
    cells: list[Any] = []
    for column in columns:
        cells.append(row.get(column, ""))
        if std:
            cells.append(row.get(f"{column}_std", ""))
    return cells


def shown_columns(columns: Sequence[str]) -> list[str]:
    """The columns printed on stdout: the loss only where there is no other metric (the CSV has it)."""
    return [column for column in columns if not column.endswith("_loss")] or list(columns)


def shown_cells(row: dict[str, float], columns: Sequence[str]) -> list[str]:
    """One row's `mean ± std` under `shown_columns`, each metric shown as `metric_facts` says."""
    return [format_value(column.split("_", 1)[1], row.get(column), row.get(f"{column}_std")) for column in columns]
