"""`gnntool tune`: Optuna's TPE sampler over a space of config values, one run directory per trial.

A ``--space KEY=SPEC`` is a range when SPEC is exactly ``NUM:NUM`` or ``NUM:NUM:log`` (integers for
integer keys such as ``model.hidden``), else a list of choices parsed as ``--grid`` values are
(``model.aggregator=mean,gcn``). Each trial trains ``--seeds`` seeds into ``OUT/trial-NNNN`` (a run
directory like a sweep cell) and scores the mean of ``train.monitor`` over them, maximised (a loss
is minimised). Optuna's median pruner watches the first seed's best-so-far monitored value per
epoch and stops hopeless trials. Test metrics are recorded with each trial, never used to choose.

The study lives in its storage (``sqlite:///OUT/tune.db`` by default, ``journal:OUT/tune.journal``
with ``--workers``), so the same command again continues it: ``--trials N`` is the study's total,
finished trials stay, and a trial interrupted by Ctrl-C (its checkpoint saved) or killed is retried
first, resuming its run directory.

Several workers (processes, on one machine or sharing OUT on a network filesystem) may work on one
study at once: each draws a trial, runs it and draws the next until the study has N trials. A
worker holds OUT's lock shared (a train or sweep into OUT is refused) and, from the draw of a trial
to telling the storage how it ended, its run directory's lock; drawing happens under a short
exclusive lock on OUT/.draw.lock. So a RUNNING trial whose directory nobody holds belongs to a dead
worker: it is marked interrupted and retried, never a live worker's. A trial drawn with N places
already taken (numbers come from the storage) is failed, left out of the tables, and stops its
worker. After each trial the worker rewrites ``OUT/trials.csv`` (every trial) and ``OUT/best.yaml``
(the best trial's complete config) from the storage's view, each in one rename.

This module imports neither torch nor Optuna until a study starts: space errors answer at once.
"""

from __future__ import annotations

import difflib
import hashlib
import re
import time
import types
import typing
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from gnntool import log
from gnntool.config import Config, known_keys, read_overridden, validate
from gnntool.engine.monitor import settle_monitor
from gnntool.engine.studies.storage import default_storage, open_storage
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
from gnntool.rundir.layout import BEST_YAML, CONFIG, METRICS, TRIALS_CSV, read_json, write_csv, write_text
from gnntool.rundir.lock import first_free_lock, hold_run_lock, is_locked, waiting_lock

if TYPE_CHECKING:
    from gnntool.engine.runs.tracking.tracker import Draw, TrackedRun

STUDY_NAME = "gnntool"
DRAW_LOCK = ".draw.lock"  # held by a worker for moments: to draw a trial and lock its directory
WORKER_LOCK = ".worker-"  # OUT/.worker-N.lock: held by worker N for its life (N seeds its sampler)
INSTALL = "pip install 'gnntool[tune]'"
PRUNE_STARTUP_TRIALS = 5  # trials that finish before the pruner judges others
PRUNE_WARMUP_EPOCHS = 20  # epochs of every trial that are never pruned
FIXED_KEYS = ("train.monitor", "seed", "output")  # the score, the seeds and where runs go stay fixed

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_RANGE = re.compile(rf"^\s*({_NUMBER})\s*:\s*({_NUMBER})\s*(:\s*log\s*)?$")
_INTEGER = re.compile(r"^\s*[-+]?\d+\s*$")


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
    workers: int = 1,
) -> Tuning:
    """Parse and check the space against the config (file, then --set) without training; the
    storage defaults as `storage.default_storage` says for `workers` processes."""
    space = parse_space(specs)
    base = read_overridden(config_path, overrides)
    config = settle_monitor(validate(base))  # the study's direction and tables follow the monitor
    check_space(base, space)
    out = Path(out) if out is not None else default_out(config_path)
    return Tuning(space, base, config, seeds, out, storage or default_storage(out, workers), config_path.stem)


def import_optuna() -> Any:
    try:
        import optuna
    except ImportError:
        raise UserError(f"gnntool tune needs Optuna: {INSTALL}") from None
    return optuna


def open_study(tuning: Tuning, optuna: Any, worker: int = 0) -> tuple[Any, Any]:
    """Create the study, or load it and check that it was made by the same command; return it
    and its storage, with worker `worker`'s sampler (seeded as `sampler_seed` says)."""
    storage = open_storage(tuning.storage, optuna)
    study = optuna.create_study(
        storage=storage,
        study_name=STUDY_NAME,
        direction="minimize" if tuning.minimise else "maximize",
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
    seed = sampler_seed(tuning.config.seed, worker, len(study.get_trials(deepcopy=False)))
    # constant liar: trials still running count as bad, so parallel workers spread out (alone: no effect)
    study.sampler = optuna.samplers.TPESampler(seed=seed, constant_liar=True)
    return study, storage


def sampler_seed(seed: int, worker: int, existing: int) -> int:
    """The config's seed for the first worker of a new study (as a study drew before workers);
    else a seed of its own for each worker number and count of trials already in the study, so
    that neither parallel workers nor a continued study draw the same random trials again."""
    if worker == 0 and existing == 0:
        return seed
    return int.from_bytes(hashlib.sha256(f"{seed}/{worker}/{existing}".encode()).digest()[:4], "big")


def trial_dir(trial: Any, tuning: Tuning) -> Path:
    """A trial's run directory: its original's for a retry, else OUT/trial-NNNN."""
    return Path(trial.user_attrs.get("run_dir") or tuning.out / f"trial-{trial.number:04d}")


def retry_interrupted(study: Any, storage: Any, tuning: Tuning, optuna: Any) -> None:
    """Mark trials left running by a dead worker (nobody holds their directory's lock) as
    interrupted, and queue every interrupted trial not yet retried with its parameters and run
    directory (its checkpoint resumes). Call with the study's draw lock held: a live worker holds
    its trial's directory from the draw to the tell."""
    study_id = storage.get_study_id_from_name(STUDY_NAME)
    state = optuna.trial.TrialState
    for trial in study.get_trials(deepcopy=False, states=(state.RUNNING,)):
        if is_locked(trial_dir(trial, tuning)):
            continue  # a live worker's
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, trial.number)
        storage.set_trial_user_attr(trial_id, "interrupted", True)
        storage.set_trial_state_values(trial_id, state.FAIL)
    trials = study.get_trials(deepcopy=False)
    retried = {trial.user_attrs.get("retry_of") for trial in trials}
    for trial in trials:
        if trial.user_attrs.get("interrupted") and trial.number not in retried:
            log.info(f"tune: trial {trial.number} was interrupted; retrying it first")
            study.enqueue_trial(
                trial.params, user_attrs={"retry_of": trial.number, "run_dir": str(trial_dir(trial, tuning))}
            )


def taken(trials: Sequence[Any], below: int | None = None) -> int:
    """Trials that hold one of the study's --trials places (numbered below `below`): all but the
    retries (each stands in its original's place) and those drawn beyond the total."""
    return sum(
        1
        for trial in trials
        if (below is None or trial.number < below)
        and "retry_of" not in trial.user_attrs
        and not trial.user_attrs.get("beyond")
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


def run_trial(trial: Any, config: Config, run_dir: Path, tuning: Tuning, optuna: Any, parent: TrackedRun) -> float:
    """Train a drawn trial's config into its run directory (locked by the caller; tracked under
    `parent`); return its score."""
    from gnntool.engine.runs.tracking.training import point_scope

    log.info(f"tune: trial {trial.number} ({describe(trial_values(trial, tuning))}) into {run_dir}")
    try:
        train_point(
            config,
            run_dir,
            tuning.seeds,
            interrupted=_interrupted(trial),
            hooks=pruning_hooks(trial, optuna, tuning),
            locked=True,
            scope=point_scope(parent, "trial", str(trial.number)),
        )
    except (Interrupted, KeyboardInterrupt):
        trial.set_user_attr("interrupted", True)  # retried first by the next worker
        raise
    metrics = read_json(run_dir / METRICS)
    for key, value in flat_metrics(metrics).items():
        trial.set_user_attr(key, value)
    return metrics["val"][tuning.monitor.removeprefix("val_")]


def trial_values(trial: Any, tuning: Tuning) -> dict[str, Any]:
    return {param.key: param.suggest(trial) for param in tuning.space}


def _interrupted(trial: Any) -> Callable[[Interrupted], str]:
    """What a Ctrl-C in `trial` says: the tune command, not the trial's run, is what to run again."""
    return lambda _: f"interrupted in trial {trial.number}; checkpoint saved (run the same tune command to continue)"


def run_tune(
    tuning: Tuning, trials: int, timeout: float | None = None, quiet: bool = False, draw: Draw | None = None
) -> list[dict[str, Any]]:
    """Work on the study, one trial after another, until it has `trials` trials in all (other
    workers may be taking trials of it at the same time); write trials.csv and best.yaml; return
    its trials as rows (best first among the finished). Optuna logs on stderr (warnings only when
    `quiet`); `draw` adds pictures of each finished trial to what the trackers keep."""
    optuna = import_optuna()
    from gnntool.engine.runs.tracking.loggers import check_loggers
    from gnntool.engine.runs.tracking.training import study_run

    check_loggers(tuning.config.output.active_loggers)
    params = {**{f"space.{param.key}": space_text(param) for param in tuning.space}, "seeds": tuning.seeds}
    # Shared: workers of the study exclude a train or sweep into its directory, not one another.
    with (
        hold_run_lock(tuning.out, shared=True),
        first_free_lock(tuning.out, WORKER_LOCK) as worker,
        study_run(tuning.config, tuning.name, tuning.out, "tune", params, draw) as parent,
    ):
        optuna.logging.set_verbosity(optuna.logging.WARNING if quiet else optuna.logging.INFO)
        with waiting_lock(tuning.out / DRAW_LOCK):
            study, storage = open_study(tuning, optuna, worker)
        ran = work(study, storage, tuning, trials, timeout, optuna, parent)
        if not ran:
            log.info(f"tune: the study already has {trials} trial(s); nothing to run (raise --trials to add more)")
        with waiting_lock(tuning.out / DRAW_LOCK):
            rows = write_tables(study, tuning, optuna)
        tables = [path for path in (tuning.out / TRIALS_CSV, tuning.out / BEST_YAML) if path.is_file()]
        parent.finish({}, None, lambda: tables)
    if not complete(rows):
        log.warn("tune: no trial finished; no best.yaml")
    log.info(f"tune: wrote {tuning.out / TRIALS_CSV}" + (f" and {tuning.out / BEST_YAML}" if complete(rows) else ""))
    return rows


def space_text(param: Param) -> str:
    """A dimension of the space as `--space` gives it: `LOW:HIGH[:log]` or `A,B,C`."""
    if param.choices:
        return ",".join(yaml_text(choice) for choice in param.choices)
    return f"{param.low}:{param.high}{':log' if param.log else ''}"


def tune_results(tuning: Tuning, quiet: bool = False) -> list[dict[str, Any]]:
    """The study's rows (as `run_tune` returns them) once its workers have ended; the tables
    rewritten from them."""
    optuna = import_optuna()
    optuna.logging.set_verbosity(optuna.logging.WARNING if quiet else optuna.logging.INFO)
    with hold_run_lock(tuning.out, shared=True), waiting_lock(tuning.out / DRAW_LOCK):
        study, _ = open_study(tuning, optuna)
        return write_tables(study, tuning, optuna)


def work(
    study: Any, storage: Any, tuning: Tuning, trials: int, timeout: float | None, optuna: Any, parent: TrackedRun
) -> int:
    """Draw and run trials until the study is full (or `timeout` seconds have passed); return how
    many this worker ran."""
    started = time.monotonic()
    ran = 0
    while timeout is None or time.monotonic() - started < timeout:
        with ExitStack() as held:
            with waiting_lock(tuning.out / DRAW_LOCK):
                drawn = draw(study, storage, tuning, trials, optuna)
                if drawn is None:
                    return ran
                trial, config, run_dir = drawn
                if config is None:
                    continue  # an invalid point: failed, the next one
                held.enter_context(hold_run_lock(run_dir))  # before the draw lock goes: never seen unheld
            if ran == 0:
                log.info(f"tune: up to {trials} trial(s) in all × {tuning.seeds} seed(s) into {tuning.out}")
            ran += 1
            finish(study, trial, config, run_dir, tuning, optuna, parent)  # told with the trial's directory still held
        with waiting_lock(tuning.out / DRAW_LOCK):  # one writer of the tables at a time, from the latest view
            write_tables(study, tuning, optuna)
    return ran


def draw(
    study: Any, storage: Any, tuning: Tuning, trials: int, optuna: Any
) -> tuple[Any, Config | None, Path] | None:
    """With the draw lock held: the next trial (a retry first), its config (None if invalid: the
    trial is failed) and run directory; None when the study has its `trials` trials."""
    retry_interrupted(study, storage, tuning, optuna)
    state = optuna.trial.TrialState
    existing = study.get_trials(deepcopy=False)
    if taken(existing) >= trials and not any(trial.state == state.WAITING for trial in existing):
        return None
    trial = study.ask()
    # Trial numbers come from the storage: one drawn beyond the total (by a worker that does not
    # share this draw lock) is failed, never listed, and ends this worker.
    if "retry_of" not in trial.user_attrs and taken(study.get_trials(deepcopy=False), below=trial.number) >= trials:
        trial.set_user_attr("beyond", True)
        study.tell(trial, state=state.FAIL)
        return None
    run_dir = trial_dir(trial, tuning)
    trial.set_user_attr("run_dir", str(run_dir))
    values = trial_values(trial, tuning)
    try:
        return trial, trial_config(tuning.base, values), run_dir
    except UserError as exc:
        log.warn(f"tune: trial {trial.number} ({describe(values)}) failed: {config_problem(exc)}")
        study.tell(trial, state=state.FAIL)
        return trial, None, run_dir


def finish(
    study: Any, trial: Any, config: Config, run_dir: Path, tuning: Tuning, optuna: Any, parent: TrackedRun
) -> None:
    """Run a drawn trial and tell the study how it ended (a Ctrl-C or an error is told as failed,
    then raised)."""
    state = optuna.trial.TrialState
    try:
        value = run_trial(trial, config, run_dir, tuning, optuna, parent)
    except optuna.TrialPruned as pruned:
        study.tell(trial, state=state.PRUNED)
        log.info(f"tune: trial {trial.number} pruned: {pruned}")
        return
    except (Exception, KeyboardInterrupt):
        study.tell(trial, state=state.FAIL)
        raise
    study.tell(trial, value)
    best = study.best_trial
    log.info(
        f"tune: trial {trial.number} finished: {tuning.monitor} {score_text(tuning, value, trial.user_attrs)}; "
        f"best so far trial {best.number}, {score_text(tuning, best.value, best.user_attrs)}"
    )


def score_text(tuning: Tuning, value: float, metrics: dict[str, Any]) -> str:
    """A trial's score as `metric_facts` shows the monitored metric (± std over its seeds)."""
    return format_value(tuning.monitor.removeprefix("val_"), value, metrics.get(f"{tuning.monitor}_std"))


# --- results ------------------------------------------------------------------------------------


def write_tables(study: Any, tuning: Tuning, optuna: Any) -> list[dict[str, Any]]:
    """OUT/trials.csv and OUT/best.yaml (each replaced in one rename) from the study's trials as the
    storage has them now; return the trials' rows."""
    rows = trial_rows(study, tuning, optuna)
    header, table = trials_table(rows, tuning)
    write_csv(tuning.out / TRIALS_CSV, header, table)
    if complete(rows):
        write_best(complete(rows)[0], tuning, len(rows))
    return rows


def complete(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return [row for row in rows if row["state"] == "COMPLETE"]


def trial_rows(study: Any, tuning: Tuning, optuna: Any) -> list[dict[str, Any]]:
    """Every trial but the interrupted ones (their retries stand for them) and those drawn beyond
    the total: finished ones best first, then the rest by number."""
    rows = []
    for trial in study.get_trials(deepcopy=False):
        if (
            trial.user_attrs.get("interrupted")
            or trial.user_attrs.get("beyond")
            or trial.state == optuna.trial.TrialState.WAITING
        ):
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
    for row in complete(rows)[:best]:
        line = [str(row["trial"]), *(format_param(row["params"][key]) for key in keys)]
        table.append(line + shown_cells(row["metrics"], columns))
    return ["trial", *keys, *columns], table


def format_param(value: Any) -> str:
    """A trial's value for the table: floats to four significant digits, choices as given."""
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def write_best(row: dict[str, Any], tuning: Tuning, total: int) -> None:
    """OUT/best.yaml: the best trial's complete config (its run's config.yaml) under a comment."""
    config = (Path(row["run_dir"]) / CONFIG).read_text()
    score = score_text(tuning, row["value"], row["metrics"])
    params = ", ".join(f"{key}={format_param(value)}" for key, value in row["params"].items())
    header = f"# gnntool tune: best of {total} trial(s): trial {row['trial']}, {tuning.monitor} {score}\n# {params}\n"
    write_text(tuning.out / BEST_YAML, header + config)
