"""`gnntool tune`: Optuna's TPE sampler over a space of config values, one run directory per trial.

A ``--space KEY=SPEC`` is a range when SPEC is exactly ``NUM:NUM`` or ``NUM:NUM:log`` (integers for
integer keys such as ``model.hidden``), else a list of choices parsed as ``--grid`` values are
(``model.aggregator=mean,gcn``). Each trial trains ``--seeds`` seeds into ``OUT/trial-NNNN`` (a run
directory like a sweep cell) and scores the mean of ``train.monitor`` over them, maximised (a loss
is minimised). Optuna's median pruner watches the first seed's best-so-far monitored value per
epoch and stops hopeless trials. Test metrics are recorded with each trial, never used to choose.

The study lives in its storage (``sqlite:///OUT/tune.db`` by default), so the same command again
continues it: ``--trials N`` is the study's total, finished trials stay, and a trial interrupted
by Ctrl-C (its checkpoint saved) or killed is retried first, resuming its run directory. At the end
``OUT/trials.csv`` lists every trial and ``OUT/best.yaml`` is the best trial's complete config.

This module imports neither torch nor Optuna until a study starts: space errors answer at once.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from gnntool import log
from gnntool.config import Config, known_keys, read_overridden, validate
from gnntool.engine.studies.study import (
    REPORTED_SPLITS,
    config_problem,
    csv_cells,
    csv_header,
    flat_metrics,
    metric_columns,
    point_config,
    shown_cells,
    shown_columns,
    train_point,
)
from gnntool.engine.studies.sweep import describe, parse_grid, yaml_text
from gnntool.errors import Interrupted, UserError
from gnntool.metric_facts import format_value, minimise
from gnntool.rundir.layout import CONFIG, METRICS, read_json, write_csv, write_text
from gnntool.rundir.lock import hold_run_lock

if TYPE_CHECKING:
    from gnntool.engine.runs.tracking.tracker import Draw, TrackedRun

TRIALS_CSV = "trials.csv"
BEST_YAML = "best.yaml"
STUDY_NAME = "gnntool"
INSTALL = "pip install 'gnntool[tune]'"
PRUNE_STARTUP_TRIALS = 5  # trials that finish before the pruner judges others
PRUNE_WARMUP_EPOCHS = 20  # epochs of every trial that are never pruned
FIXED_KEYS = ("train.monitor", "seed", "output")  # the score, the seeds and where runs go stay fixed

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_RANGE = re.compile(rf"^\s*({_NUMBER})\s*:\s*({_NUMBER})\s*(:\s*log\s*)?$")
_INTEGER = re.compile(r"^\s*[-+]?\d+\s*$")


class InvalidTrial(Exception):
    """A point of the space whose config does not validate (e.g. groups not dividing hidden)."""


@dataclass(frozen=True)
class Param:
    """One dimension of the space: a numeric range (`low`..`high`, maybe log) or a list of choices."""

    key: str
    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    choices: tuple[Any, ...] = ()

    def values(self) -> list[Any]:
        """The values every trial's config must accept on their own: the bounds, or every choice."""
        return list(self.choices) if self.choices else [self.low, self.high]

    def suggest(self, trial: Any) -> Any:
        """This dimension's value for an Optuna trial (choices travel as their YAML text)."""
        if self.choices:
            texts = [yaml_text(choice) for choice in self.choices]
            return self.choices[texts.index(trial.suggest_categorical(self.key, texts))]
        if isinstance(self.low, int):
            return trial.suggest_int(self.key, self.low, self.high, log=self.log)
        return trial.suggest_float(self.key, self.low, self.high, log=self.log)


# --- the space ----------------------------------------------------------------------------------


def key_type(key: str) -> type | None:
    """int or float for a numeric schema key (optional or not), else None; a UserError if unknown."""
    model: type[BaseModel] = Config
    parts = key.split(".")
    for depth, part in enumerate(parts):
        field = model.model_fields.get(part)
        if field is None:
            matches = difflib.get_close_matches(key, known_keys(), n=1, cutoff=0.6)
            hint = f" — did you mean {matches[0]}?" if matches else ""
            raise UserError(f"--space {key}: unknown key{hint}")
        annotation = field.annotation
        if depth < len(parts) - 1:
            if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
                raise UserError(f"--space {key}: {'.'.join(parts[: depth + 1])} is not a section")
            model = annotation
    args = typing.get_args(annotation) if isinstance(annotation, types.UnionType) else (annotation,)
    for numeric in (int, float):
        if numeric in args:
            return numeric
    return None


def parse_param(spec: str) -> Param:
    """`KEY=LOW:HIGH[:log]` → a range; any other `KEY=A,B,C` → choices (parsed as --grid values)."""
    key, sep, text = spec.partition("=")
    key = key.strip()
    if not sep or not key:
        raise UserError(f"--space {spec!r}: expected KEY=LOW:HIGH[:log] or KEY=A,B,C, e.g. train.lr=1e-3:1e-1:log")
    if any(key == fixed or key.startswith(f"{fixed}.") for fixed in FIXED_KEYS):
        raise UserError(
            f"--space {key}: fixed during a study (the score, the seeds and the run directories); set it with --set"
        )
    kind = key_type(key)
    match = _RANGE.match(text)
    if match is None:
        return Param(key, choices=tuple(parse_grid(spec, option="--space")[1]))
    low_text, high_text, log_mark = match.groups()
    if kind is None:
        raise UserError(f"--space {key}={text}: a range needs a numeric key; give the choices instead (A,B,C)")
    if kind is int:
        if not (_INTEGER.match(low_text) and _INTEGER.match(high_text)):
            raise UserError(f"--space {key}={text}: {key} is an integer; give integer bounds")
        low, high = int(low_text), int(high_text)
    else:
        low, high = float(low_text), float(high_text)
    if low >= high:
        raise UserError(f"--space {key}={text}: the low bound must be below the high bound")
    if log_mark and low <= 0:
        raise UserError(f"--space {key}={text}: a log range needs a positive low bound")
    return Param(key, low, high, log=bool(log_mark))


def parse_space(specs: Sequence[str]) -> list[Param]:
    """Every `--space`, each key at most once."""
    if not specs:
        raise UserError("--space: give at least one KEY=LOW:HIGH[:log] or KEY=A,B,C")
    space = [parse_param(spec) for spec in specs]
    keys = [param.key for param in space]
    for key in keys:
        if keys.count(key) > 1:
            raise UserError(f"--space {key}: given more than once")
    return space


def trial_config(base: dict[str, Any], values: dict[str, Any]) -> Config:
    """The base config (file + --set) with a trial's values, validated."""
    return point_config(base, values, option="--space")


def check_space(base: dict[str, Any], space: Sequence[Param]) -> None:
    """Every bound and choice must be a valid value on its own, before anything trains."""
    failures = []
    for param in space:
        for value in param.values():
            try:
                trial_config(base, {param.key: value})
            except UserError as exc:
                failures.append(f"{param.key}={yaml_text(value)}: {config_problem(exc)}")
    if failures:
        raise UserError("--space: invalid values; nothing was trained:\n  " + "\n  ".join(failures))


# --- the study ----------------------------------------------------------------------------------


@dataclass
class Tuning:
    """What one `gnntool tune` needs: the space, the base config and where the study lives."""

    space: list[Param]
    base: dict[str, Any]
    config: Config
    seeds: int
    out: Path
    storage: str
    name: str = "tune"  # the config file's stem: the default MLflow experiment and W&B project

    @property
    def monitor(self) -> str:
        return self.config.train.monitor

    @property
    def minimise(self) -> bool:
        return minimise(self.monitor)

    @property
    def identity(self) -> dict[str, Any]:
        """What a stored study must match for a rerun to continue it."""
        return {
            "space": [
                [param.key, param.low, param.high, param.log, yaml_text(list(param.choices))] for param in self.space
            ],
            "config": self.config.model_dump(mode="json"),
            "seeds": self.seeds,
        }


def default_out(config_path: Path) -> Path:
    return Path("runs") / f"{config_path.stem}-tune"


def plan_tune(
    config_path: Path,
    specs: Sequence[str],
    overrides: Sequence[str] = (),
    seeds: int = 1,
    out: Path | None = None,
    storage: str | None = None,
) -> Tuning:
    """Parse and check the space against the config (file, then --set) without training."""
    space = parse_space(specs)
    base = read_overridden(config_path, overrides)
    config = validate(base)
    check_space(base, space)
    out = Path(out) if out is not None else default_out(config_path)
    storage = storage or f"sqlite:///{(out / 'tune.db').resolve()}"
    return Tuning(space, base, config, seeds, out, storage, config_path.stem)


def import_optuna() -> Any:
    try:
        import optuna
    except ImportError:
        raise UserError(f"gnntool tune needs Optuna: {INSTALL}") from None
    return optuna


def open_study(tuning: Tuning, optuna: Any) -> tuple[Any, Any]:
    """Create the study, or load it and check that it was made by the same command; return it
    and its storage."""
    storage = optuna.storages.get_storage(tuning.storage)
    study = optuna.create_study(
        storage=storage,
        study_name=STUDY_NAME,
        direction="minimize" if tuning.minimise else "maximize",
        sampler=optuna.samplers.TPESampler(seed=tuning.config.seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=PRUNE_STARTUP_TRIALS, n_warmup_steps=PRUNE_WARMUP_EPOCHS),
        load_if_exists=True,
    )
    stored = study.user_attrs.get("identity")
    if stored is None:
        study.set_user_attr("identity", tuning.identity)
    elif stored != tuning.identity:
        raise UserError(
            f"{tuning.storage}: holds a study of another config, space or --seeds; "
            "rerun the same command to continue it, or use another --out / --storage"
        )
    return study, storage


def retry_interrupted(study: Any, storage: Any, optuna: Any) -> None:
    """Mark trials left running by a killed process as interrupted, and queue every interrupted
    trial not yet retried with its parameters and run directory (its checkpoint resumes)."""
    study_id = storage.get_study_id_from_name(STUDY_NAME)
    state = optuna.trial.TrialState
    for trial in study.get_trials(deepcopy=False, states=(state.RUNNING,)):
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, trial.number)
        storage.set_trial_user_attr(trial_id, "interrupted", True)
        storage.set_trial_state_values(trial_id, state.FAIL)
    trials = study.get_trials(deepcopy=False)
    retried = {trial.user_attrs.get("retry_of") for trial in trials}
    for trial in trials:
        if trial.user_attrs.get("interrupted") and trial.number not in retried and "run_dir" in trial.user_attrs:
            log.info(f"tune: trial {trial.number} was interrupted; retrying it first")
            study.enqueue_trial(
                trial.params, user_attrs={"retry_of": trial.number, "run_dir": trial.user_attrs["run_dir"]}
            )


def counted(study: Any, optuna: Any) -> int:
    """Trials that count towards --trials: all but the interrupted (retried) and the queued."""
    return sum(
        1
        for trial in study.get_trials(deepcopy=False)
        if not trial.user_attrs.get("interrupted") and trial.state != optuna.trial.TrialState.WAITING
    )


def pruning_hooks(trial: Any, optuna: Any, tuning: Tuning) -> Any:
    """Observers for `train_run`: report the first seed's best-so-far monitored value per epoch."""
    better = min if tuning.minimise else max

    def hooks(index: int, seed_dir: Path) -> list[Any]:
        if index:
            return []
        best: list[float] = []

        def observe(row: dict[str, float]) -> None:
            value = row[tuning.monitor]
            best[:] = [better(best[0], value) if best else value]
            trial.report(best[0], int(row["epoch"]))
            if trial.should_prune():
                raise optuna.TrialPruned(f"{tuning.monitor} {best[0]:.4f} at epoch {int(row['epoch'])}")

        return [observe]

    return hooks


def run_trial(trial: Any, tuning: Tuning, optuna: Any, parent: TrackedRun) -> float:
    """The objective: train the trial's config into its run directory (tracked under `parent`) and
    return its score."""
    from gnntool.engine.runs.tracking.training import point_scope

    values = {param.key: param.suggest(trial) for param in tuning.space}
    run_dir = Path(trial.user_attrs.get("run_dir") or tuning.out / f"trial-{trial.number:04d}")
    trial.set_user_attr("run_dir", str(run_dir))
    try:
        config = trial_config(tuning.base, values)
    except UserError as exc:
        raise InvalidTrial(f"trial {trial.number} ({describe(values)}): {exc}") from None
    log.info(f"tune: trial {trial.number} ({describe(values)}) into {run_dir}")
    try:
        train_point(
            config,
            run_dir,
            tuning.seeds,
            interrupted=_interrupted(trial),
            hooks=pruning_hooks(trial, optuna, tuning),
            scope=point_scope(parent, "trial", str(trial.number)),
        )
    except (Interrupted, KeyboardInterrupt):
        trial.set_user_attr("interrupted", True)  # retried first by the next run of the same command
        raise
    metrics = read_json(run_dir / METRICS)
    for key, value in flat_metrics(metrics).items():
        trial.set_user_attr(key, value)
    return metrics["val"][tuning.monitor.removeprefix("val_")]


def _interrupted(trial: Any) -> Callable[[Interrupted], str]:
    """What a Ctrl-C in `trial` says: the tune command, not the trial's run, is what to run again."""
    return lambda _: f"interrupted in trial {trial.number}; checkpoint saved (run the same tune command to continue)"


def run_tune(
    tuning: Tuning, trials: int, timeout: float | None = None, quiet: bool = False, draw: Draw | None = None
) -> list[dict[str, Any]]:
    """Run the study up to `trials` trials in all; write trials.csv and best.yaml; return its trials
    as rows (best first among the finished). Optuna logs on stderr (warnings only when `quiet`);
    `draw` adds pictures of each finished trial to what the trackers keep."""
    optuna = import_optuna()
    from gnntool.engine.runs.tracking.loggers import check_loggers
    from gnntool.engine.runs.tracking.training import open_tracking, study_run

    check_loggers(tuning.config.output.active_loggers)
    params = {**{f"space.{param.key}": space_text(param) for param in tuning.space}, "seeds": tuning.seeds}
    # one tune per study directory; each trial's run is locked by train_run
    with hold_run_lock(tuning.out), open_tracking(tuning.config, tuning.name, draw=draw) as tracking:
        with study_run(tracking, tuning.config, tuning.out, "tune", params) as parent:
            rows = tune_study(tuning, trials, timeout, quiet, optuna, parent)
            parent.finish({}, None, lambda: [path for path in (tuning.out / TRIALS_CSV, tuning.out / BEST_YAML)
                                            if path.is_file()])
            return rows


def space_text(param: Param) -> str:
    """A dimension of the space as `--space` gives it: `LOW:HIGH[:log]` or `A,B,C`."""
    if param.choices:
        return ",".join(yaml_text(choice) for choice in param.choices)
    return f"{param.low}:{param.high}{':log' if param.log else ''}"


def tune_study(
    tuning: Tuning, trials: int, timeout: float | None, quiet: bool, optuna: Any, parent: TrackedRun
) -> list[dict[str, Any]]:
    """`run_tune`'s study, trials and tables, with the study directory locked; trials tracked under `parent`."""
    optuna.logging.set_verbosity(optuna.logging.WARNING if quiet else optuna.logging.INFO)
    study, storage = open_study(tuning, optuna)
    retry_interrupted(study, storage, optuna)
    remaining = trials - counted(study, optuna)
    if remaining > 0:
        log.info(f"tune: {remaining} trial(s) to run ({trials} in all) × {tuning.seeds} seed(s) into {tuning.out}")
        study.optimize(
            lambda trial: run_trial(trial, tuning, optuna, parent),
            n_trials=remaining,
            timeout=timeout,
            catch=(InvalidTrial,),
        )
    else:
        log.info(f"tune: the study already has {trials} trial(s); nothing to run (raise --trials to add more)")
    rows = trial_rows(study, tuning, optuna)
    header, table = trials_table(rows, tuning)
    write_csv(tuning.out / TRIALS_CSV, header, table)
    complete = [row for row in rows if row["state"] == "COMPLETE"]
    if complete:
        write_best(complete[0], tuning, len(rows))
    else:
        log.warn("tune: no trial finished; no best.yaml")
    return rows


# --- results ------------------------------------------------------------------------------------


def trial_rows(study: Any, tuning: Tuning, optuna: Any) -> list[dict[str, Any]]:
    """Every trial but the interrupted ones (their retries stand for them): finished ones best
    first, then the rest by number."""
    rows = []
    for trial in study.get_trials(deepcopy=False):
        if trial.user_attrs.get("interrupted") or trial.state == optuna.trial.TrialState.WAITING:
            continue
        seconds = trial.duration.total_seconds() if trial.duration is not None else None
        rows.append(
            {
                "trial": trial.number,
                "state": trial.state.name,
                "value": trial.value,
                "params": {param.key: trial.params.get(param.key) for param in tuning.space},
                "metrics": {
                    key: value for key, value in trial.user_attrs.items() if key.split("_")[0] in REPORTED_SPLITS
                },
                "seconds": seconds,
                "run_dir": trial.user_attrs.get("run_dir", ""),
            }
        )
    sign = 1 if tuning.minimise else -1
    return sorted(rows, key=lambda row: (row["value"] is None, sign * (row["value"] or 0), row["trial"]))


def trials_table(rows: Sequence[dict[str, Any]], tuning: Tuning) -> tuple[list[str], list[list[Any]]]:
    """trials.csv: trial, state, score, the space's keys, every metric (and std), seconds, run_dir."""
    keys = [param.key for param in tuning.space]
    columns = metric_columns([row["metrics"] for row in rows])
    std = tuning.seeds > 1
    header = ["trial", "state", "score", *keys, *csv_header(columns, std), "seconds", "run_dir"]
    table = []
    for row in rows:
        line = [row["trial"], row["state"], "" if row["value"] is None else row["value"]]
        line += ["" if row["params"][key] is None else row["params"][key] for key in keys]
        line += csv_cells(row["metrics"], columns, std)
        line += ["" if row["seconds"] is None else round(row["seconds"], 1), row["run_dir"]]
        table.append(line)
    return header, table


def display_table(rows: Sequence[dict[str, Any]], tuning: Tuning, best: int = 10) -> tuple[list[str], list[list[str]]]:
    """The `best` finished trials for stdout: trial, the space's values, val and test metrics."""
    keys = [param.key for param in tuning.space]
    columns = shown_columns(metric_columns([row["metrics"] for row in rows]))
    table = []
    for row in [row for row in rows if row["state"] == "COMPLETE"][:best]:
        line = [str(row["trial"]), *(format_param(row["params"][key]) for key in keys)]
        table.append(line + shown_cells(row["metrics"], columns))
    return ["trial", *keys, *columns], table


def format_param(value: Any) -> str:
    """A trial's value for the table: floats to four significant digits, choices as given."""
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def write_best(row: dict[str, Any], tuning: Tuning, total: int) -> None:
    """OUT/best.yaml: the best trial's complete config (its run's config.yaml) under a comment."""
    config = (Path(row["run_dir"]) / CONFIG).read_text()
    score = format_value(tuning.monitor.removeprefix("val_"), row["value"], row["metrics"].get(f"{tuning.monitor}_std"))
    params = ", ".join(f"{key}={format_param(value)}" for key, value in row["params"].items())
    header = f"# gnntool tune: best of {total} trial(s): trial {row['trial']}, {tuning.monitor} {score}\n# {params}\n"
    write_text(tuning.out / BEST_YAML, header + config)
    log.info(f"tune: wrote {tuning.out / TRIALS_CSV} and {tuning.out / BEST_YAML}")
