"""Fit one model with one seed: Adam over the epoch's steps, early stopping, checkpoints, resume.

An epoch's steps are the whole graph (full batch), batches of whole graphs (PPI), or
neighbour-sampled mini-batches of seed nodes (`gnntool.engine.sampled`); under torchrun the
model is wrapped in DistributedDataParallel and losses, metrics and stop requests are reduced
across ranks (`gnntool.engine.runtime.distributed`).

Checkpoints are written at consistent points only: the end of an epoch, or, in an epoch of
several steps (mini-batches, batches of graphs), the boundary between two steps, saving the
position in the epoch (steps taken, their losses) besides model, optimiser, best-so-far, history
and RNG. Every batch is drawn from the epoch's seeded order (and, sampled, its own generator), so
resuming from any checkpoint repeats the uninterrupted run exactly (on the CPU, one process). A
checkpoint is saved every `train.checkpoint_seconds`, and when the first SIGINT (Ctrl-C) or
SIGTERM (preemption) arrives: the loop then stops at the next consistent point, saves and raises
`Interrupted`. A second signal interrupts at once.
"""

from __future__ import annotations

import functools
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from gnntool import log
from gnntool.config import Config, TrainConfig
from gnntool.engine.inputs import Task
from gnntool.engine.objectives import Objective, build_objective
from gnntool.engine.runtime.distributed import SINGLE, Ranks, broadcast_from_main, max_over_ranks
from gnntool.engine.steps import EpochPosition
from gnntool.errors import Interrupted, Terminated
from gnntool.metric_facts import score
from gnntool.models import GNN
from gnntool.rundir.layout import load_torch, save_torch


@dataclass
class TrainState:
    """Everything besides model and optimiser that the loop needs to continue exactly."""

    epoch: int = 0
    best_epoch: int = 0
    best_score: tuple[float, ...] | None = None
    best_weights: dict[str, torch.Tensor] = field(default_factory=dict)
    history: list[dict[str, float]] = field(default_factory=list)
    # The position inside epoch `epoch + 1`: steps taken, their losses, seconds spent.
    step: int = 0
    step_losses: list[torch.Tensor] = field(default_factory=list)
    step_seconds: float = 0.0

    def next_epoch(self) -> None:
        self.step, self.step_losses, self.step_seconds = 0, [], 0.0


@dataclass
class FitResult:
    model: GNN
    history: list[dict[str, float]]
    best_epoch: int
    objective: Objective


EpochObserver = Callable[[dict[str, float]], None]
"""Called with each finished epoch's history row (TensorBoard, tuning); it may raise to stop the run."""


class StopRequest:
    """Set by the first SIGINT or SIGTERM (its number); the loop checks it at every consistent point."""

    signum = 0


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def stop_on_signals() -> Iterator[StopRequest]:
    """While training, the first SIGINT or SIGTERM asks for a stop; a second one interrupts at once."""
    stop = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield stop  # signals reach the main thread only
        return

    def handler(signum: int, frame: Any) -> None:
        if stop.signum:
            raise KeyboardInterrupt if signum == signal.SIGINT else Terminated
        stop.signum = signum
        name = signal.Signals(signum).name
        log.warn(f"{name}: stopping at the next step boundary to save a checkpoint (again to abort)")

    previous = {signum: signal.signal(signum, handler) for signum in STOP_SIGNALS}
    try:
        yield stop
    finally:
        for signum, action in previous.items():
            signal.signal(signum, action)


class Checkpoints:
    """Saves at consistent points: every `seconds` (0: never on the clock) and on a stop request,
    after which it raises `Interrupted`. Under torchrun every rank takes the same decision."""

    def __init__(
        self,
        path: Path,
        seconds: float,
        stop: StopRequest,
        save: Callable[[], None],
        ranks: Ranks,
        device: torch.device,
    ) -> None:
        self.path, self.seconds, self.stop, self.save = path, seconds, stop, save
        self.ranks, self.device = ranks, device
        self.last = time.monotonic()

    def boundary(self) -> None:
        """A consistent point: save if a stop was requested or the clock says so; then stop if asked."""
        due = self.seconds > 0 and time.monotonic() - self.last >= self.seconds
        signum, due = max_over_ranks([self.stop.signum, due], self.ranks, self.device)
        if signum or due:
            if self.ranks.main:
                self.save()
            self.last = time.monotonic()
        if signum:
            raise Interrupted(self.path, int(signum))


def rng_state(device: torch.device) -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state:
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(
    path: Path, config: Config, model: GNN, optimizer: torch.optim.Optimizer, state: TrainState, device: torch.device
) -> None:
    save_torch(
        path,
        {
            "config": config.model_dump(mode="json"),
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "epoch": state.epoch,
            "best_epoch": state.best_epoch,
            "best_score": list(state.best_score) if state.best_score is not None else None,
            "best_weights": state.best_weights,
            "history": state.history,
            "step": state.step,
            "step_losses": torch.stack(state.step_losses).cpu() if state.step_losses else torch.zeros(0),
            "step_seconds": state.step_seconds,
            "rng": rng_state(device),
        },
    )


def load_checkpoint(
    checkpoint: dict[str, Any], model: GNN, optimizer: torch.optim.Optimizer, device: torch.device
) -> TrainState:
    """Restore model, optimiser and RNG from a checkpoint's contents; return the loop's state."""
    model.load_state_dict(checkpoint["model"])
    optimizer.load_state_dict(checkpoint["optimizer"])
    set_rng_state(checkpoint["rng"])
    best_score = checkpoint["best_score"]
    return TrainState(
        epoch=checkpoint["epoch"],
        best_epoch=checkpoint["best_epoch"],
        best_score=tuple(best_score) if best_score is not None else None,
        best_weights=checkpoint["best_weights"],
        history=checkpoint["history"],
        step=checkpoint.get("step", 0),
        step_losses=list(checkpoint.get("step_losses", torch.zeros(0)).to(device).unbind()),
        step_seconds=checkpoint.get("step_seconds", 0.0),
    )


def step_boundary(state: TrainState, saves: Checkpoints, started: float) -> None:
    """After a step of an epoch of several: count it, then checkpoint or stop if due."""
    state.step += 1
    state.step_seconds = time.perf_counter() - started
    saves.boundary()


def build_optimizer(model: nn.Module, train: TrainConfig) -> torch.optim.Adam:
    """Adam with the config's learning rate and L2 weight decay, as every run trains: the
    multi-tensor (`foreach`) implementation, one kernel per update step for all parameters, which
    gives the same numbers bit for bit as the per-parameter loop torch defaults to on the CPU
    (the fused kernel rounds differently, which would change every published result)."""
    return torch.optim.Adam(model.parameters(), lr=train.lr, weight_decay=train.weight_decay, foreach=True)


@dataclass
class Training:
    """What one seed trains: the objective (checked against the data), the model with the
    objective's head, as the seed initialises it, and its optimiser."""

    config: Config
    seed: int
    objective: Objective
    model: GNN
    optimizer: torch.optim.Optimizer

    @property
    def device(self) -> torch.device:
        return self.objective.task.device


def setup(config: Config, task: Task, seed: int, ranks: Ranks = SINGLE) -> Training:
    """Everything a run builds before its first step (`--dry-run` stops here)."""
    objective = build_objective(config, task, seed, ranks)
    objective.check()
    torch.manual_seed(seed)
    model = objective.build_model().to(task.device)
    return Training(config, seed, objective, model, build_optimizer(model, config.train))


def resume(training: Training, checkpoint: Path, label: str, ranks: Ranks) -> TrainState:
    """The loop's state from `checkpoint` (model, optimiser and RNG restored), else a fresh one."""
    # Rank 0 reads the checkpoint and hands it to the others: the run directory need not be on
    # a filesystem every machine sees, and every rank must resume from the same epoch.
    saved = broadcast_from_main(load_torch(checkpoint) if ranks.main and checkpoint.is_file() else None, ranks)
    if saved is None:
        return TrainState()
    state = load_checkpoint(saved, training.model, training.optimizer, training.device)
    within = f", step {state.step}" if state.step else ""
    log.info(f"{label}: resuming from {checkpoint} after epoch {state.epoch}{within}")
    return state


def run_epochs(
    training: Training,
    state: TrainState,
    checkpoint: Path,
    label: str,
    ranks: Ranks,
    observers: Sequence[EpochObserver],
) -> None:
    """Train epochs from `state` until the last one or early stopping, updating `state`: its
    history, the best epoch and its weights; checkpoints on the clock and on a stop request."""
    config, objective, model, optimizer, device = (
        training.config, training.objective, training.model, training.optimizer, training.device
    )
    trained: nn.Module = model
    if ranks.distributed:
        # Same initial weights everywhere (DDP also broadcasts rank 0's); then each rank draws
        # its own dropout masks (and samples its own neighbours: see SampledSteps).
        trained = DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None)
        torch.manual_seed(training.seed + 7919 * ranks.rank)
    if config.train.amp and device.type != "cuda":
        log.warn("train.amp: bf16 autocast runs on CUDA only; training in float32 on the CPU")

    monitor = config.train.monitor
    with stop_on_signals() as stop, log.EpochProgress(config.train.epochs, label, monitor) as progress:
        saves = Checkpoints(
            checkpoint,
            config.train.checkpoint_seconds,
            stop,
            lambda: save_checkpoint(checkpoint, config, model, optimizer, state, device),
            ranks,
            device,
        )
        while state.epoch < config.train.epochs and state.epoch - state.best_epoch < config.train.patience:
            started = time.perf_counter() - state.step_seconds
            several = objective.num_steps(state.epoch) > 1  # else the epoch's end is the step boundary
            after_step = functools.partial(step_boundary, state, saves, started) if several else None
            position = EpochPosition(state.step, state.step_losses, after_step)
            loss = objective.train_epoch(trained, optimizer, state.epoch, position)
            val = objective.validate(model)
            state.epoch += 1
            state.next_epoch()
            state.history.append(
                {
                    "epoch": state.epoch,
                    "loss": loss,
                    "val_loss": val["loss"],
                    **{f"val_{name}": value for name, value in val.items() if name != "loss"},
                    "seconds": time.perf_counter() - started,
                }
            )
            current = score(val, monitor)
            if state.best_score is None or current > state.best_score:
                state.best_score, state.best_epoch = current, state.epoch
                state.best_weights = {k: v.detach().clone() for k, v in model.state_dict().items()}
            progress.update(state.epoch, loss, val[monitor.removeprefix("val_")])
            for observe in observers:
                observe(state.history[-1])
            saves.boundary()


def finish(training: Training, state: TrainState, label: str) -> FitResult:
    """The model at its best epoch, with the run's history."""
    train, monitor = training.config.train, training.config.train.monitor
    if state.epoch < train.epochs:
        log.info(f"{label}: early stop at epoch {state.epoch} (no {monitor} gain for {train.patience} epochs)")
    training.model.load_state_dict(state.best_weights)
    log.info(f"{label}: best {monitor} at epoch {state.best_epoch}")
    return FitResult(training.model, state.history, state.best_epoch, training.objective)


def fit(
    config: Config,
    task: Task,
    seed: int,
    checkpoint: Path,
    label: str,
    ranks: Ranks = SINGLE,
    observers: Sequence[EpochObserver] = (),
) -> FitResult:
    """Train with `seed`, continuing from `checkpoint` if it exists; return the best-epoch model.

    Under torchrun every rank runs this with the same arguments; rank 0 alone saves. Raises
    `Interrupted` after saving `checkpoint` when SIGINT or SIGTERM arrives (on any rank). Each of
    `observers` sees every epoch's history row once the epoch is done (before its checkpoint).
    """
    training = setup(config, task, seed, ranks)
    state = resume(training, checkpoint, label, ranks)
    run_epochs(training, state, checkpoint, label, ranks, observers)
    return finish(training, state, label)
