"""`gnntool sweep`: train one run directory per cell of a grid of config values, then tabulate.

A grid is ``--grid KEY=V1,V2,...`` (repeatable). Values split on commas outside ``[]``/``{}``
brackets and quotes, and each is parsed as YAML, as ``--set`` values are
(``train.fanout=[25,10],[10,5]`` is two lists). The cells are the cartesian product of the grids, in
the order given (the last grid varies fastest). Every cell's config is validated before anything
trains. Each cell trains into ``OUT/<cell name>``; a cell whose directory already holds a finished
run is skipped and an interrupted one resumes from its checkpoint, so running the same sweep again
continues it. At the end ``OUT/sweep.csv`` and ``OUT/sweep.json`` summarise every cell.

Cell names: for each grid key, the shortest dotted suffix that tells it apart from the other grid
keys (``model.norm`` → ``norm``), then ``-`` and the value (lists and mappings joined with ``-``,
characters outside ``A-Za-z0-9._+-`` replaced by ``-``); pairs are joined with ``_`` in grid order:
``model.norm=batch`` × ``model.aggregator=mean`` → ``norm-batch_aggregator-mean``. Should two cells
still get the same name (compared case-insensitively), or a name grow past 120 characters, a short
hash of the cell's exact values is appended, so names stay unique and stable across runs.

This module does not import torch until training starts: grid and config errors answer at once.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from gnntool import log
from gnntool.config import Config, load_config, read_overridden
from gnntool.engine.studies.study import (
    config_problem,
    csv_cells,
    csv_header,
    flat_metrics,
    has_std,
    metric_columns,
    point_config,
    shown_cells,
    shown_columns,
    train_point,
)
from gnntool.errors import Interrupted, UserError
from gnntool.rundir.layout import (
    CONFIG,
    METRICS,
    SWEEP_CSV,
    SWEEP_JSON,
    has_progress,
    is_finished,
    read_json,
    write_csv,
    write_json,
)
from gnntool.rundir.lock import hold_run_lock

if TYPE_CHECKING:
    from gnntool.engine.runs.tracking.tracker import Draw, TrackedRun

MAX_NAME = 120

_OPEN = {"[": "]", "{": "}"}
_CLOSE = {"]": "[", "}": "{"}
_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")


@dataclass(frozen=True)
class Cell:
    """One point of the grid: its `key → value` assignments, directory name and validated config."""

    values: dict[str, Any]
    name: str
    config: Config


# --- grid parsing -------------------------------------------------------------------------------


def split_values(text: str) -> list[str]:
    """Split on commas outside brackets and quotes; items are stripped; raises ValueError."""
    items, current, stack, quote = [], [], [], None
    for char in text:
        if quote:
            current.append(char)
            if char == quote:
                quote = None
            continue
        if char in "'\"":
            quote = char
        elif char in _OPEN:
            stack.append(char)
        elif char in _CLOSE:
            if not stack or stack[-1] != _CLOSE[char]:
                raise ValueError(f"unbalanced {char!r}")
            stack.pop()
        elif char == "," and not stack:
            items.append("".join(current).strip())
            current = []
            continue
        current.append(char)
    if quote:
        raise ValueError(f"unclosed quote {quote}")
    if stack:
        raise ValueError(f"unclosed {stack[-1]!r}")
    items.append("".join(current).strip())
    return items


def yaml_text(value: Any) -> str:
    """`value` as a one-line YAML scalar or flow collection (what `--grid`/`--set` would parse back)."""
    text = yaml.safe_dump(value, default_flow_style=True, width=10**9).strip()
    return text.removesuffix("\n...").removesuffix("...").strip()


def parse_grid(spec: str, option: str = "--grid") -> tuple[str, list[Any]]:
    """`KEY=V1,V2,...` → (KEY, [values parsed as YAML]); a UserError naming the `option` if malformed."""
    key, sep, text = spec.partition("=")
    key = key.strip()
    if not sep or not key:
        raise UserError(f"{option} {spec!r}: expected KEY=V1,V2,..., e.g. model.norm=none,batch")
    if any(not part for part in key.split(".")):
        raise UserError(f"{option} {spec!r}: {key!r} is not a dotted config key")
    if not text.strip():
        raise UserError(f"{option} {key}: no values (give KEY=V1,V2,...; write null for an empty value)")
    try:
        items = split_values(text)
    except ValueError as exc:
        raise UserError(f"{option} {key}={text}: {exc}") from None
    values: list[Any] = []
    seen: set[str] = set()
    for position, item in enumerate(items, 1):
        if not item:
            raise UserError(f"{option} {key}={text}: value {position} is empty (write null for a null value)")
        try:
            value = yaml.safe_load(item)
        except yaml.YAMLError as exc:
            problem = str(exc).splitlines()[0]
            raise UserError(f"{option} {key}: value {item!r} is not valid YAML ({problem})") from None
        text_of_value = yaml_text(value)
        if text_of_value in seen:
            raise UserError(f"{option} {key}: value {item!r} is given twice")
        seen.add(text_of_value)
        values.append(value)
    return key, values


def parse_grids(specs: Sequence[str]) -> list[tuple[str, list[Any]]]:
    """Every `--grid`, each key at most once."""
    if not specs:
        raise UserError("--grid: give at least one KEY=V1,V2,...")
    grids = [parse_grid(spec) for spec in specs]
    keys = [key for key, _ in grids]
    for key in keys:
        if keys.count(key) > 1:
            raise UserError(f"--grid {key}: given more than once (put all its values in one --grid)")
    return grids


def expand(grids: Sequence[tuple[str, list[Any]]]) -> list[dict[str, Any]]:
    """The cartesian product of the grids, in the order given; each cell a `{key: value}` dict."""
    keys = [key for key, _ in grids]
    return [dict(zip(keys, combo)) for combo in itertools.product(*(values for _, values in grids))]


# --- cell names ---------------------------------------------------------------------------------


def short_keys(keys: Sequence[str]) -> dict[str, str]:
    """Each key's shortest dotted suffix that no other key ends with (`model.norm` → `norm`)."""
    result = {}
    for key in keys:
        parts = key.split(".")
        for length in range(1, len(parts) + 1):
            suffix = ".".join(parts[-length:])
            clash = any(other != key and (other == suffix or other.endswith("." + suffix)) for other in keys)
            if not clash:
                break
        result[key] = suffix
    return result


def _value_label(value: Any) -> str:
    if isinstance(value, dict):
        return "-".join(f"{_value_label(k)}-{_value_label(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return "-".join(_value_label(item) for item in value)
    return value if isinstance(value, str) else yaml_text(value)


def _safe(text: str) -> str:
    return _UNSAFE.sub("-", text)


def _digest(values: dict[str, Any]) -> str:
    exact = json.dumps([[key, yaml_text(value)] for key, value in values.items()])
    return hashlib.sha1(exact.encode()).hexdigest()[:8]


def cell_names(cells: Sequence[dict[str, Any]]) -> list[str]:
    """A readable, filesystem-safe directory name per cell, unique among the cells (see the module doc)."""
    if not cells:
        return []
    short = short_keys(list(cells[0]))
    names = []
    for values in cells:
        name = "_".join(_safe(f"{short[key]}-{_value_label(value)}") for key, value in values.items())
        if len(name) > MAX_NAME:
            name = f"{name[:MAX_NAME].rstrip('-_.')}-{_digest(values)}"
        names.append(name)
    folded = [name.lower() for name in names]
    for index, values in enumerate(cells):
        if folded.count(folded[index]) > 1:
            names[index] = f"{names[index]}-{_digest(values)}"
    return names


def describe(values: dict[str, Any]) -> str:
    """`model.norm=batch, model.hidden=8`: a cell as the user wrote it."""
    return ", ".join(f"{key}={yaml_text(value)}" for key, value in values.items())


# --- planning -----------------------------------------------------------------------------------


def default_out(config_path: Path) -> Path:
    return Path("runs") / f"{config_path.stem}-sweep"


def plan_sweep(config_path: Path, grid_specs: Sequence[str], overrides: Sequence[str] = ()) -> list[Cell]:
    """Parse the grids, build every cell's config (file, then --set, then the cell) and validate all."""
    grids = parse_grids(grid_specs)
    base = read_overridden(config_path, overrides)
    cells = expand(grids)
    names = cell_names(cells)
    planned, failures = [], []
    for values, name in zip(cells, names):
        try:
            planned.append(Cell(values, name, point_config(base, values, option="--grid")))
        except UserError as exc:
            failures.append(f"cell {name} ({describe(values)}): {config_problem(exc)}")
    if failures:
        shown = failures[:5] + ([f"... and {len(failures) - 5} more"] if len(failures) > 5 else [])
        raise UserError(
            f"--grid: {len(failures)} of {len(cells)} cell(s) have an invalid config; nothing was trained:\n  "
            + "\n  ".join(shown)
        )
    return planned


def _check_existing(cell: Cell, run_dir: Path, seeds: int) -> None:
    """Refuse, before anything trains, a cell directory holding a run of another config or seed count."""
    if not (is_finished(run_dir) or has_progress(run_dir)) or not (run_dir / CONFIG).is_file():
        return
    previous = load_config(run_dir / CONFIG)
    # Finished runs are compared without `device` (where a run trained does not change what it is);
    # an unfinished one must match exactly, as `train --resume` requires.
    if is_finished(run_dir):
        previous = previous.model_copy(update={"device": cell.config.device})
    if previous != cell.config:
        raise UserError(
            f"{run_dir}: holds a run of a different config than cell {cell.name} ({describe(cell.values)}); "
            "run the sweep with the same config and --set, or use another --out"
        )
    if is_finished(run_dir):
        finished = read_json(run_dir / METRICS)
        runs = finished.get("runs", finished.get("folds"))  # every seed's, or every (seed, fold)'s metrics
        done = len({run.get("seed") for run in runs}) if isinstance(runs, list) else 1
        if done != seeds:
            raise UserError(
                f"{run_dir}: finished with {done} seed(s) but this sweep asks for --seeds {seeds}; "
                "use another --out"
            )


# --- running ------------------------------------------------------------------------------------


def run_sweep(
    config_path: Path,
    grid_specs: Sequence[str],
    overrides: Sequence[str] = (),
    seeds: int = 1,
    out: Path | None = None,
    draw: Draw | None = None,
) -> list[dict[str, Any]]:
    """Train every cell not yet finished, write OUT/sweep.csv and OUT/sweep.json, return their rows;
    `draw` adds pictures of each finished run to what the trackers keep.

    Each row (an entry of sweep.json) is `{"cell": {key: value}, "run_dir": str, "metrics": ...}`,
    `metrics` being the cell's metrics.json.
    """
    cells = plan_sweep(config_path, grid_specs, overrides)
    out = Path(out) if out is not None else default_out(config_path)
    for cell in cells:
        _check_existing(cell, out / cell.name, seeds)

    from gnntool.engine.runs.tracking.loggers import check_loggers
    from gnntool.engine.runs.tracking.training import study_run
    from gnntool.engine.runtime.device import resolve_device

    for device in dict.fromkeys(cell.config.device for cell in cells):
        resolve_device(device)  # a missing device is an error before anything trains
    check_loggers(dict.fromkeys(name for cell in cells for name in cell.config.output.active_loggers))
    params = {**{f"grid.{key}": yaml_text(values) for key, values in parse_grids(grid_specs)}, "seeds": seeds}
    # one sweep per directory; each cell's run is locked by train_run
    with hold_run_lock(out), study_run(cells[0].config, config_path.stem, out, "sweep", params, draw) as parent:
        rows = train_cells(cells, out, seeds, parent)
        parent.finish({}, None, lambda: [out / SWEEP_CSV, out / SWEEP_JSON])
        return rows


def train_cells(cells: Sequence[Cell], out: Path, seeds: int, parent: TrackedRun) -> list[dict[str, Any]]:
    """`run_sweep`'s training and tables, with the sweep directory locked; each cell tracked under `parent`."""
    from gnntool.engine.runs.tracking.training import point_scope

    total = len(cells)
    log.info(f"sweep: {total} cell(s) × {seeds} seed(s) into {out}")
    for index, cell in enumerate(cells, 1):
        run_dir = out / cell.name
        label = f"cell {index}/{total} {cell.name} ({describe(cell.values)})"
        if is_finished(run_dir):
            log.info(f"{label}: already finished; skipped")
            continue
        log.info(f"{label}: {'resuming' if has_progress(run_dir) else 'training'}")
        scope = point_scope(parent, "cell", cell.name)
        train_point(cell.config, run_dir, seeds, interrupted=partial(_interrupted, cell), scope=scope)

    rows = [
        {"cell": dict(cell.values), "run_dir": str(out / cell.name), "metrics": read_json(out / cell.name / METRICS)}
        for cell in cells
    ]
    header, table = csv_table(rows)
    write_csv(out / SWEEP_CSV, header, table)
    write_json(out / SWEEP_JSON, rows)
    log.info(f"sweep: wrote {out / SWEEP_CSV} and {out / SWEEP_JSON}")
    return rows


def _interrupted(cell: Cell, exc: Interrupted) -> str:
    """What a Ctrl-C in `cell` says: the sweep, not the cell's run, is what to run again."""
    return (
        f"interrupted in cell {cell.name}; checkpoint saved to {exc.checkpoint} "
        "(run the same sweep again to continue it)"
    )


# --- tables -------------------------------------------------------------------------------------


def csv_table(rows: Sequence[dict[str, Any]]) -> tuple[list[str], list[list[Any]]]:
    """sweep.csv: the grid keys (values as YAML), then `split_metric` (and `split_metric_std` for
    multi-seed cells) as fractions, then the cell's run directory."""
    keys = list(rows[0]["cell"]) if rows else []
    flat = [flat_metrics(row["metrics"]) for row in rows]
    columns, std = metric_columns(flat), has_std(flat)
    table = [
        [*(yaml_text(row["cell"][key]) for key in keys), *csv_cells(metrics, columns, std), row["run_dir"]]
        for row, metrics in zip(rows, flat)
    ]
    return [*keys, *csv_header(columns, std), "run_dir"], table


def display_table(rows: Sequence[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """The results table printed on stdout: grid keys, then one `mean ± std` column per split metric
    (the loss only where there is no other metric; sweep.csv has it)."""
    keys = list(rows[0]["cell"]) if rows else []
    flat = [flat_metrics(row["metrics"]) for row in rows]
    columns = shown_columns(metric_columns(flat))
    table = [
        [*(yaml_text(row["cell"][key]) for key in keys), *shown_cells(metrics, columns)]
        for row, metrics in zip(rows, flat)
    ]
    return [*keys, *columns], table
