"""`gnntool runs [DIR]`: one line per run, sweep or tuning study under DIR, from what their
directories hold; torch-free, so that it answers at once.

A folder is a *sweep* if it holds sweep.json, a *study* if it holds trials.csv, best.yaml or its
storage file (tune.db, tune.journal), a *run* if it holds config.yaml and a sign of training
(metrics.json, run.json, a checkpoint or seed folders); none of these is looked into further. Any
other folder is searched, except hidden ones and experiment trackers' stores (`mlruns`, `wandb`,
`mlartifacts`, `tensorboard`, or a folder holding MLflow's `meta.yaml`), whose copies of a run's
files are not runs.

A row: the run's dataset, arch, objective and `train.monitor` (config.yaml); the monitored
validation metric and the same metric on test (the main metric, as `metric_facts.main_metric`
picks, where the monitor is the loss), mean and std over the seeds (metrics.json); the epochs
trained (the longest seed's history.csv); the training's wall time and end (run.json's `seconds`
and `finished`; without run.json, the sum of history.csv's per-epoch `seconds` and metrics.json's
modification time). A sweep's or study's row is its best finished cell or trial by the monitored
validation metric, with the seconds of all of them added up and the latest end.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

from gnntool.engine.studies.storage import JOURNAL_FILE, SQLITE_FILE
from gnntool.errors import UserError
from gnntool.metric_facts import facts, format_value, main_metric
from gnntool.rundir.layout import (
    BEST_YAML,
    CONFIG,
    HISTORY,
    METRICS,
    RUN_INFO,
    SWEEP_JSON,
    TENSORBOARD,
    TRIALS_CSV,
    WANDB,
    has_progress,
    unit_dirs,
)

FIELDS = (
    "path",
    "kind",
    "dataset",
    "arch",
    "objective",
    "monitor",
    "val",
    "test",
    "test_std",
    "seeds",
    "epochs",
    "seconds",
    "finished",
)
TRACKER_STORES = frozenset({"mlruns", "mlartifacts", WANDB, TENSORBOARD})
MLFLOW_MARK = "meta.yaml"
STUDY_MARKS = (TRIALS_CSV, BEST_YAML, SQLITE_FILE, JOURNAL_FILE)
HEADER = ["name", "kind", "dataset", "arch", "objective", "monitor", "val", "test", "epochs", "time", "finished"]


# --- finding them -------------------------------------------------------------------------------


def kind_of(folder: Path) -> str | None:
    """run, sweep or study for a folder that is one, else None."""
    if (folder / SWEEP_JSON).is_file():
        return "sweep"
    if any((folder / name).is_file() for name in STUDY_MARKS):
        return "study"
    if (folder / CONFIG).is_file() and (
        any((folder / name).is_file() for name in (METRICS, RUN_INFO)) or has_progress(folder)
    ):
        return "run"
    return None


def find(folder: Path) -> Iterator[tuple[Path, str]]:
    """Every run, sweep and study under `folder` (itself included), by path."""
    kind = kind_of(folder)
    if kind is not None:
        yield folder, kind
        return
    for child in sorted(path for path in folder.iterdir() if path.is_dir()):
        if child.name.startswith(".") or child.name in TRACKER_STORES or (child / MLFLOW_MARK).is_file():
            continue
        yield from find(child)


# --- reading one --------------------------------------------------------------------------------


def read_yaml(path: Path) -> dict[str, Any]:
    try:
        loaded = yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except (OSError, yaml.YAMLError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def read_json(path: Path) -> dict[str, Any]:
    try:
        loaded = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def history_rows(run_dir: Path) -> list[list[dict[str, str]]]:
    """Each trained model's history.csv (seed-N, fold-K, seed-N/fold-K; a single run's own), as rows."""
    tables = []
    for folder in unit_dirs(run_dir) or [run_dir]:
        try:
            with (folder / HISTORY).open(newline="") as handle:
                tables.append(list(csv.DictReader(handle)))
        except OSError:
            continue
    return tables


def run_row(run_dir: Path) -> dict[str, Any]:
    """One run directory's row (see the module doc); missing files leave their fields None."""
    config = read_yaml(run_dir / CONFIG)
    section = lambda name: config.get(name) if isinstance(config.get(name), dict) else {}  # noqa: E731
    metrics, info = read_json(run_dir / METRICS), read_json(run_dir / RUN_INFO)
    val, test, spread = metrics.get("val", {}), metrics.get("test", {}), metrics.get("std", {})
    monitor = section("train").get("monitor") or (f"val_{main_metric(val)}" if val else None)
    name = monitor.removeprefix("val_") if monitor else None
    tested = name if name in test and name != "loss" else (main_metric(test) if test else None)
    histories = history_rows(run_dir)
    seconds = info.get("seconds")
    if seconds is None and histories and metrics:
        seconds = sum(float(row.get("seconds") or 0) for rows in histories for row in rows)
    finished = info.get("finished")
    if finished is None and metrics:
        mtime = (run_dir / METRICS).stat().st_mtime
        finished = datetime.fromtimestamp(mtime, timezone.utc).isoformat(timespec="seconds")
    runs = metrics.get("runs")
    return {
        "path": str(run_dir),
        "kind": "run",
        "dataset": section("dataset").get("name"),
        "arch": section("model").get("arch"),
        "objective": section("train").get("objective"),
        "monitor": monitor,
        "val": val.get(name),
        "test": test.get(tested),
        "test_std": spread.get("test", {}).get(tested),
        "seeds": len(runs) if isinstance(runs, list) else (1 if metrics else None),
        "epochs": max((len(rows) for rows in histories), default=None),
        "seconds": seconds,
        "finished": finished,
        # for the table only (not in --json): what the numbers are, and the val std
        "_val_std": spread.get("val", {}).get(name),
        "_test_metric": tested,
        "_best": None,
    }


def lower_is_better(monitor: str | None) -> bool:
    try:
        return monitor is not None and not facts(monitor.removeprefix("val_")).higher_is_better
    except KeyError:
        return False


def study_row(folder: Path, kind: str) -> dict[str, Any]:
    """A sweep's or study's row: its best finished cell's, with its own path and kind, every cell's
    seconds added up and the latest end."""
    cells = [run_row(path) for path in sorted(folder.iterdir()) if path.is_dir() and kind_of(path) == "run"]
    done = [cell for cell in cells if cell["val"] is not None]
    row = dict.fromkeys(FIELDS) | {"_val_std": None, "_test_metric": None, "_best": None}
    if done:
        sign = -1 if lower_is_better(done[0]["monitor"]) else 1
        best = max(done, key=lambda cell: sign * cell["val"])  # ties: the first by name
        row |= best | {"_best": Path(best["path"]).name}
    elif cells:  # none finished yet: what it trains, without numbers
        row |= {key: cells[0][key] for key in ("dataset", "arch", "objective", "monitor")}
    seconds = [cell["seconds"] for cell in cells if cell["seconds"] is not None]
    ends = [cell["finished"] for cell in cells if cell["finished"] is not None]
    return row | {
        "path": str(folder),
        "kind": kind,
        "seconds": sum(seconds) if seconds else None,
        "finished": max(ends) if ends else None,
    }


def collect(folder: Path) -> list[dict[str, Any]]:
    """The rows of every run, sweep and study under `folder`, by path; a UserError if it is not a folder."""
    if not folder.is_dir():
        raise UserError(f"{folder}: not a directory (gnntool runs DIR lists the runs under DIR)")
    return [run_row(path) if kind == "run" else study_row(path, kind) for path, kind in find(folder)]


def sort_rows(rows: list[dict[str, Any]], field: str) -> list[dict[str, Any]]:
    """By `field` (a leading `-`: descending), missing values last; a UserError naming the fields."""
    name = field.removeprefix("-")
    if name not in FIELDS:
        fields = ", ".join(FIELDS)
        raise UserError(f"--sort {field}: not a field; choose one of {fields} (a leading - sorts descending)")
    present = [row for row in rows if row[name] is not None]
    missing = [row for row in rows if row[name] is None]
    return sorted(present, key=lambda row: row[name], reverse=field.startswith("-")) + missing


# --- showing them -------------------------------------------------------------------------------


def as_json(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows with exactly `FIELDS`."""
    return [{field: row[field] for field in FIELDS} for row in rows]


def shown(metric: str | None, mean: float | None, std: float | None) -> str:
    if metric is None or mean is None:
        return ""
    try:
        return format_value(metric, mean, std)
    except KeyError:  # a metric gnntool does not know (a newer run's): as it is
        return f"{mean:.4g}" + (f" ± {std:.4g}" if std is not None else "")


def duration(seconds: float | None) -> str:
    """`42.1s`, `3m05s`, `2h07m`."""
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes = int(seconds // 60)
    return f"{minutes}m{int(seconds % 60):02d}s" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}m"


def table(rows: Sequence[dict[str, Any]], root: Path) -> tuple[list[str], list[list[str]]]:
    """The printed table: a sweep's or study's name says its best cell; a run with no metrics.json
    is `unfinished`."""
    lines = []
    for row in rows:
        name = Path(row["path"]).relative_to(root).as_posix() if Path(row["path"]) != root else root.name
        if row["_best"]:
            name += f" (best: {row['_best']})"
        monitor, tested = row["monitor"], row["_test_metric"]
        val_name = monitor.removeprefix("val_") if monitor else None
        finished = (row["finished"] or "").replace("T", " ")[:16] + " UTC" if row["finished"] else "unfinished"
        lines.append(
            [
                name,
                row["kind"],
                *(str(row[key]) if row[key] is not None else "" for key in ("dataset", "arch", "objective")),
                monitor or "",
                shown(val_name, row["val"], row["_val_std"]),
                (f"{tested} " if tested and tested != val_name else "") + shown(tested, row["test"], row["test_std"]),
                "" if row["epochs"] is None else str(row["epochs"]),
                duration(row["seconds"]),
                finished,
            ]
        )
    return HEADER, lines
