"""Fit one model with one seed: Adam over the epoch's steps, early stopping, checkpoints, resume.

An epoch's steps are the whole graph (full batch), batches of whole graphs (PPI), or
neighbour-sampled mini-batches of seed nodes (`gnntool.engine.sampled`); under torchrun the
model is wrapped in DistributedDataParallel and losses, metrics and stop requests are reduced
across ranks (`gnntool.engine.distributed`).

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
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from gnntool import log
from gnntool.config import Config, TrainConfig
from gnntool.engine.distributed import SINGLE, Ranks, broadcast_from_main, max_over_ranks
from gnntool.engine.inputs import Part, Step, Task, batch_parts
from gnntool.engine.metrics import loss_fn
from gnntool.errors import Interrupted, Terminated, UserError
from gnntool.metric_facts import score
from gnntool.models import GNN
from gnntool.outputs import load_torch, save_torch

if TYPE_CHECKING:
    from gnntool.engine.objectives import Objective

StepT = TypeVar("StepT")


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


class GraphSteps:
    """Whole-graph training steps (`SampledSteps`' interface): every training graph at once (full
    batch, converted once and kept), or `batch_size` graphs per step in each epoch's order, drawn
    from a generator seeded by (seed, epoch) so that an epoch can resume at any step."""

    def __init__(self, task: Task, batch_size: int | None, seed: int) -> None:
        self.task = task
        self.batch_size = batch_size
        self.seed = seed
        self.graphs = task.dataset.splits["train"]
        self.whole = batch_size is None or len(self.graphs) <= batch_size

    def num_batches(self, epoch: int) -> int:
        return 1 if self.whole else -(-len(self.graphs) // self.batch_size)

    def parts(self, epoch: int, start: int = 0) -> Iterator[Part]:
        """The epoch's parts from batch index `start`."""
        if self.whole:
            if start == 0:
                parts = self.task.splits["train"]
                yield parts[0] if len(parts) == 1 else full_training_batch(self.task)
            return
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        order = torch.randperm(len(self.graphs), generator=generator).tolist()
        for first in range(start * self.batch_size, len(order), self.batch_size):
            chosen = [self.graphs[i] for i in order[first : first + self.batch_size]]
            yield batch_parts([part.graph for part in chosen], [part.mask for part in chosen], self.task.device)

    def steps(self, epoch: int, start: int = 0) -> Iterator[Step]:
        """The epoch's steps from batch index `start`: each scores the masked nodes of its part."""
        for part in self.parts(epoch, start):
            yield Step(x=part.graph.x, ops=part.graph.ops, y=part.graph.y[part.mask], rows=part.mask)


def full_training_batch(task: Task) -> Part:
    """All training graphs as one batch, built on first use and cached on the task."""
    if task.full_train is None:
        graphs = task.dataset.splits["train"]
        task.full_train = batch_parts([part.graph for part in graphs], [part.mask for part in graphs], task.device)
    return task.full_train


def mixed_precision(amp: bool, device: torch.device) -> AbstractContextManager[Any]:
    """bf16 autocast on CUDA when `amp`; plain float32 otherwise."""
    if amp and device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return nullcontext()


@dataclass
class EpochPosition:
    """Where an epoch (re)starts: `start` steps already taken, whose `losses` it holds (and to which
    each new step's loss is appended); `after_step` runs at every step boundary."""

    start: int = 0
    losses: list[torch.Tensor] = field(default_factory=list)
    after_step: Callable[[], None] | None = None


def run_steps(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    steps: Iterable[StepT],
    step_loss: Callable[[nn.Module, StepT], torch.Tensor],
    position: EpochPosition,
) -> float:
    """One pass of Adam over the epoch's remaining steps; returns the mean loss of all its steps."""
    model.train()
    for step in steps:
        optimizer.zero_grad(set_to_none=True)
        loss = step_loss(model, step)
        loss.backward()
        optimizer.step()
        position.losses.append(loss.detach())
        if position.after_step is not None:
            position.after_step()
    if not position.losses:
        raise UserError("no training step this epoch: fewer training nodes than processes")
    return torch.stack(position.losses).mean().item()


def classification_loss(multilabel: bool, amp: bool) -> Callable[[nn.Module, Step], torch.Tensor]:
    """The loss of a node-classification step: (binary) cross-entropy over its scored rows."""

    def step_loss(model: nn.Module, step: Step) -> torch.Tensor:
        with mixed_precision(amp, step.x.device):
            logits = model(step.x, step.ops)
        if step.rows is not None:
            logits = logits[step.rows]
        return loss_fn(logits.float(), step.y, multilabel)  # the loss in float32 under autocast too

    return step_loss


def train_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    steps: Iterable[Step],
    multilabel: bool,
    amp: bool = False,
    position: EpochPosition | None = None,
) -> float:
    """One node-classification epoch over `steps`; returns the mean loss of its steps."""
    return run_steps(model, optimizer, steps, classification_loss(multilabel, amp), position or EpochPosition())


def step_boundary(state: TrainState, saves: Checkpoints, started: float) -> None:
    """After a step of an epoch of several: count it, then checkpoint or stop if due."""
    state.step += 1
    state.step_seconds = time.perf_counter() - started
    saves.boundary()


def build_optimizer(model: nn.Module, train: TrainConfig) -> torch.optim.Adam:
    """Adam with the config's learning rate and L2 weight decay, as every run trains (torch's
    default, unfused implementation: the fused kernel rounds differently, which would change
    every published result)."""
    return torch.optim.Adam(model.parameters(), lr=train.lr, weight_decay=train.weight_decay)


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
    from gnntool.engine.objectives import build_objective  # the objectives build on this module

    device = task.device
    objective = build_objective(config, task, seed, ranks)
    objective.check()
    torch.manual_seed(seed)
    model = objective.build_model().to(device)
    optimizer = build_optimizer(model, config.train)
    # Rank 0 reads the checkpoint and hands it to the others: the run directory need not be on
    # a filesystem every machine sees, and every rank must resume from the same epoch.
    saved = broadcast_from_main(load_torch(checkpoint) if ranks.main and checkpoint.is_file() else None, ranks)
    if saved is not None:
        state = load_checkpoint(saved, model, optimizer, device)
        within = f", step {state.step}" if state.step else ""
        log.info(f"{label}: resuming from {checkpoint} after epoch {state.epoch}{within}")
    else:
        state = TrainState()
    trained: nn.Module = model
    if ranks.distributed:
        # Same initial weights everywhere (DDP also broadcasts rank 0's); then each rank draws
        # its own dropout masks (and samples its own neighbours: see SampledSteps).
        trained = DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None)
        torch.manual_seed(seed + 7919 * ranks.rank)
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

    if state.epoch < config.train.epochs:
        log.info(f"{label}: early stop at epoch {state.epoch} (no {monitor} gain for {config.train.patience} epochs)")
    model.load_state_dict(state.best_weights)
    log.info(f"{label}: best {monitor} at epoch {state.best_epoch}")
    return FitResult(model=model, history=state.history, best_epoch=state.best_epoch, objective=objective)
