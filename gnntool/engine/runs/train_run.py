"""`gnntool train`: one run directory, one or several seeds, every output written atomically.

Order of writes: config.yaml first; per seed its model, history and metrics (then its checkpoint
is removed); then the top-level model.pt and embeddings.npy (the first seed's; on a typed graph
embeddings/<type>.npy), run.json, and metrics.json last — its presence marks the run as
finished — and only then a single-seed run's checkpoint is removed.
"""

from __future__ import annotations

import functools
import platform
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack, nullcontext
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch_geometric

import gnntool
from gnntool import log
from gnntool.config import Config, dump_config, load_config
from gnntool.data import load_dataset
from gnntool.engine.metrics import summarise
from gnntool.engine.monitor import settle_monitor
from gnntool.engine.runs.saved import save_model
from gnntool.engine.runs.tracking.loggers import check_loggers
from gnntool.engine.runs.tracking.training import Scope, TrainingRuns, open_tracking
from gnntool.engine.runtime.device import resolve_device
from gnntool.engine.runtime.distributed import (
    SINGLE,
    Ranks,
    broadcast_from_main,
    local_device,
    process_group,
)
from gnntool.engine.runtime.threads import training_threads
from gnntool.engine.tasks import build_task
from gnntool.engine.train import EpochObserver, fit
from gnntool.errors import UserError
from gnntool.launcher import is_main_process, launched_by_torchrun
from gnntool.metric_facts import format_value, main_metric
from gnntool.rundir import layout
from gnntool.rundir.layout import (
    CHECKPOINT,
    CONFIG,
    HISTORY,
    METRICS,
    MODEL,
    RUN_INFO,
    TRACKING,
    clear_run,
    has_progress,
    is_finished,
    read_json,
    remove_temporaries,
    write_csv,
    write_json,
    write_text,
    write_with,
)
from gnntool.rundir.lock import hold_run_lock
from gnntool.traits import SPLITS

SeedHooks = Callable[[int, Path], Sequence[EpochObserver]]
"""Given a seed's index in the run and its directory, extra observers of its epochs (tune's pruning)."""


def prepare_run_dir(run_dir: Path, config: Config, resume: bool, force: bool) -> bool:
    """Check what `run_dir` (locked by this process) holds against the flags; return False if there
    is nothing to do."""
    config_path = run_dir / CONFIG
    remove_temporaries(run_dir)  # of a writer killed mid-write
    if is_finished(run_dir):
        if resume:
            log.info(f"{run_dir}: run already finished; nothing to resume")
            return False
        if not force:
            raise UserError(
                f"{run_dir}: holds a finished run; use --force to overwrite it or --out for another directory"
            )
        clear_run(run_dir)
    elif has_progress(run_dir):
        if force:
            clear_run(run_dir)
        elif not resume:
            raise UserError(f"{run_dir}: holds an unfinished run; use --resume to continue it or --force to start over")
        elif load_config(config_path) != config:
            raise UserError(
                f"{run_dir}: the config differs from the run's {CONFIG}; resume with the same config, or --force"
            )
    elif resume:
        log.warn(f"{run_dir}: no checkpoint to resume from; starting a new run")
    if not has_progress(run_dir):
        (run_dir / TRACKING).unlink(missing_ok=True)  # a run started afresh starts new tracked runs
    write_text(config_path, dump_config(config))
    return True


def train_one_seed(
    config: Config,
    seed: int,
    seed_dir: Path,
    device: torch.device,
    label: str,
    first: bool,
    run_dir: Path,
    ranks: Ranks,
    dataset: Callable[[int], Any],
    observers: Sequence[EpochObserver] = (),
    fold: int = 0,
) -> tuple[dict[str, Any], int | None]:
    """Train `seed` (on cross-validation fold `fold`) into `seed_dir` (skipped if already done
    there) and return its metrics and best epoch (None when it was done already); `dataset(seed)`
    is the seed's data.

    Under torchrun every rank trains and evaluates; rank 0 alone writes.
    """
    metrics_path = seed_dir / METRICS
    done = broadcast_from_main(seed_dir != run_dir and metrics_path.is_file(), ranks)
    if done:
        log.info(f"{label}: already finished")
        return broadcast_from_main(read_json(metrics_path) if ranks.main else None, ranks), None
    task = build_task(dataset(seed), device, config.inference_chunk, fold)
    # full-batch on a small graph: one thread (gnntool.engine.runtime.threads); restored after the seed
    with training_threads(config, task, device, ranks.distributed):
        result = fit(config, task, seed, seed_dir / CHECKPOINT, label, ranks, observers)
        objective = result.objective
        outputs = objective.inference(result.model)  # one pass for the metrics and the embeddings
        metrics = objective.evaluate(result.model, SPLITS, outputs)
    if not ranks.main:
        return metrics, result.best_epoch
    write_csv(
        seed_dir / HISTORY,
        list(result.history[0]),
        ([row[key] for key in row] for row in result.history),
    )
    save_model(
        seed_dir / MODEL, config, result.model, seed, task, objective.output_width(), result.best_epoch,
        objective.saved_shape(),
    )  # fmt: skip
    if first:
        for name, embeddings in objective.embedding_files(outputs).items():
            write_with(run_dir / name, lambda handle, rows=embeddings: np.save(handle, rows))
        if seed_dir != run_dir:
            model_bytes = (seed_dir / MODEL).read_bytes()
            write_with(run_dir / MODEL, lambda handle: handle.write(model_bytes))  # atomic, like every output
    if seed_dir != run_dir:
        write_json(metrics_path, metrics)
        (seed_dir / CHECKPOINT).unlink(missing_ok=True)  # only now that metrics.json marks the seed done
    metric = main_metric(metrics["test"])
    log.info(f"{label}: test {metric} {metrics['test'][metric]:.4f} (val {metrics['val'][metric]:.4f})")
    return metrics, result.best_epoch


def train_run(
    config: Config,
    run_dir: Path,
    seeds: int,
    resume: bool,
    force: bool,
    hooks: SeedHooks | None = None,
    locked: bool = False,
    scope: Scope | None = None,
) -> Path | None:
    """Train `seeds` models (seeds config.seed ...) into `run_dir`; return `run_dir`.

    Under torchrun, one process per rank trains with DDP (see `gnntool.engine.runtime.distributed`);
    rank 0 alone reports and returns `run_dir`, the other ranks print nothing and return None.
    `hooks` adds observers to each seed's epochs. `locked`: the caller already holds `run_dir`'s
    lock (one process only: under torchrun rank 0 locks and tells the others the outcome).
    `scope`: where the run is tracked (`output.loggers`); by default on its own, the experiment
    named after the run directory.
    """
    check_loggers(config.output.active_loggers)
    device = resolve_device(config.device)
    # seed -> its one load; only the latest kept, as seeds train one after another (each fold of a seed shares it)
    data = functools.lru_cache(maxsize=1)(functools.partial(load_dataset, config.dataset))
    # before config.yaml is written or anything reads the monitor; the data it reads is the first seed's
    config = settle_monitor(config, data(config.seed) if config.monitor_waits_for_data else None)
    if not launched_by_torchrun():
        return train_ranks(config, run_dir, seeds, resume, force, device, SINGLE, data, hooks, locked, scope)
    if not is_main_process():
        log.silence()  # rank 0 speaks for all, errors included: every rank meets the same ones
    if not config.objective_traits.distributed:
        raise UserError(f"torchrun: {config.train.objective} training runs in one process; run it without torchrun")
    if not config.neighbour_sampling:
        raise UserError(
            "torchrun: multi-process training shares out the seed nodes of neighbour-sampled mini-batches; "
            "set train.batch_size (seed nodes per step) and train.fanout, or run full-batch training without torchrun"
        )
    device = local_device(device)
    with process_group(device) as ranks:
        path = train_ranks(config, run_dir, seeds, resume, force, device, ranks, data, hooks, scope=scope)
        return path if ranks.main else None


def train_ranks(
    config: Config,
    run_dir: Path,
    seeds: int,
    resume: bool,
    force: bool,
    device: torch.device,
    ranks: Ranks,
    data: Callable[[int], Any],
    hooks: SeedHooks | None = None,
    locked: bool = False,
    scope: Scope | None = None,
) -> Path:
    """`train_run` on this rank: rank 0 locks (unless `locked`), prepares and writes the run
    directory, every rank trains (`data(seed)`: a seed's dataset)."""
    with ExitStack() as lock:
        outcome: str | bool | None = None
        if ranks.main:
            try:
                if not locked:
                    lock.enter_context(hold_run_lock(run_dir))
                outcome = prepare_run_dir(run_dir, config, resume, force)
            except UserError as error:
                outcome = str(error)
        outcome = broadcast_from_main(outcome, ranks)  # so that no rank waits on one that has failed
        if isinstance(outcome, str):
            raise UserError(outcome)
        if outcome:
            with ExitStack() as tracking:
                if scope is None or not ranks.main:  # only rank 0 tracks
                    opened = open_tracking(config, run_dir.name, enabled=ranks.main)
                    scope = Scope(tracking.enter_context(opened))
                train_seeds(config, run_dir, seeds, device, ranks, scope, data, hooks)
    return run_dir


def train_seeds(
    config: Config,
    run_dir: Path,
    seeds: int,
    device: torch.device,
    ranks: Ranks,
    scope: Scope,
    data: Callable[[int], Any],
    hooks: SeedHooks | None = None,
) -> None:
    """Train every seed into the prepared `run_dir`; rank 0 writes run.json and metrics.json last,
    and tells the trackers of `scope` (a seed done before a resume is not tracked again).
    `data(seed)`: the seed's dataset, loaded once for all its folds."""
    started = datetime.now(timezone.utc)
    clock = time.perf_counter()
    seed_list = list(range(config.seed, config.seed + seeds))
    processes = f", {ranks.world} processes" if ranks.distributed else ""
    log.info(f"training {config.model.arch} on {config.dataset.name} ({device}{processes}) into {run_dir}")
    folds = fold_count(config)
    with TrainingRuns(scope, config, run_dir, seed_list) as tracked:
        runs, labels, best_epoch = [], [], None
        for index, seed in enumerate(seed_list):
            seed_dir = layout.seed_dir(run_dir, seed) if seeds > 1 else run_dir
            observers = hooks(index, seed_dir) if hooks else ()
            units = [layout.fold_dir(seed_dir, fold) if folds > 1 else seed_dir for fold in range(folds)]
            done = all(unit != run_dir and (unit / METRICS).is_file() for unit in units)  # not tracked again
            with nullcontext() if done else tracked.seed(seed) as run:
                seed_runs = []
                for fold, unit_dir in enumerate(units):
                    label = " ".join([f"seed {seed}"] * (seeds > 1) + [f"fold {fold}"] * (folds > 1)) or "train"
                    # the trackers and hooks follow a seed's first fold (each fold restarts its epochs)
                    watch = [*([run.epoch] if run is not None else []), *observers] if fold == 0 else []
                    metrics, best_epoch = train_one_seed(
                        config, seed, unit_dir, device, label, index == 0 and fold == 0, run_dir, ranks, data, watch,
                        fold,
                    )  # fmt: skip
                    seed_runs.append(metrics)
                    labels.append({"seed": seed, **({"fold": fold} if folds > 1 else {})})
                if run is not None:
                    folded = summarise([{"seed": seed, **fold_run} for fold_run in seed_runs]) if folds > 1 else None
                    tracked.seed_done(run, seed, folded or seed_runs[0], best_epoch)
            runs.extend(seed_runs)
        if ranks.main:
            finish_run(config, run_dir, seed_list, runs, labels, device, ranks, started, clock)
            tracked.finish(read_json(run_dir / METRICS), best_epoch if len(runs) == 1 else None)


def finish_run(
    config: Config,
    run_dir: Path,
    seed_list: list[int],
    runs: list[dict[str, Any]],
    labels: list[dict[str, int]],
    device: torch.device,
    ranks: Ranks,
    started: datetime,
    clock: float,
) -> None:
    """Write run.json, then metrics.json (the mean and std over seeds and folds when several, every
    fold's metrics under `folds`), and report."""
    seeds, folds = len(seed_list), fold_count(config)
    seeded = [{"seed": label["seed"], **run} for label, run in zip(labels, runs)]
    final = summarise(seeded) if len(runs) > 1 else runs[0]
    if folds > 1:  # every (seed, fold)'s metrics under `folds`
        final.pop("runs")
        final["folds"] = [{**label, **run} for label, run in zip(labels, runs)]
    write_json(
        run_dir / RUN_INFO,
        {
            "gnntool": gnntool.__version__,
            "torch": torch.__version__,
            "torch_geometric": torch_geometric.__version__,
            "python": platform.python_version(),
            "command": sys.argv,
            "device": str(device),
            "processes": ranks.world,
            "seeds": seed_list,
            "started": started.isoformat(timespec="seconds"),
            "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "seconds": round(time.perf_counter() - clock, 3),
        },
    )
    write_json(run_dir / METRICS, final)
    # Removed only once metrics.json marks the run finished: killed in between, --resume still
    # finds the checkpoint (or the finished run), never neither.
    (run_dir / CHECKPOINT).unlink(missing_ok=True)
    if len(runs) > 1:
        metric = main_metric(final["test"])
        test, std = final["test"][metric], final["std"]["test"][metric]
        over = f"{seeds} seeds" + f" × {folds} folds" * (folds > 1) if seeds > 1 else f"{folds} folds"
        log.info(f"test {metric} over {over}: {format_value(metric, test, std)}")


def fold_count(config: Config) -> int:
    """How many cross-validation folds each seed trains (`dataset.split: folds`), else 1."""
    return config.dataset.folds if config.dataset.split == "folds" else 1
