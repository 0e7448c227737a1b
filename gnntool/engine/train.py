"""Fit one model with one seed: Adam over the epoch's steps, early stopping, checkpoints, resume.

An epoch's steps are the whole graph (full batch), batches of whole graphs (PPI), or
neighbour-sampled mini-batches of seed nodes (`gnntool.engine.sampled`); under torchrun the
model is wrapped in DistributedDataParallel and losses, metrics and stop requests are reduced
across ranks (`gnntool.engine.distributed`).

Ctrl-C does not tear an epoch in half: the first SIGINT only asks the loop to stop at the end
of the current epoch, where the whole state (model, optimiser, best-so-far, history, RNG) is
consistent and saved to the checkpoint; resuming from it repeats the uninterrupted run exactly.
A second Ctrl-C interrupts at once.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from gnntool import log
from gnntool.config import Config
from gnntool.engine.distributed import SINGLE, Ranks, any_rank, broadcast_from_main
from gnntool.engine.inputs import Part, Step, Task, batch_parts
from gnntool.engine.metrics import loss_fn
from gnntool.errors import Interrupted, UserError
from gnntool.models import GNN
from gnntool.outputs import load_torch, save_torch

if TYPE_CHECKING:
    from gnntool.engine.objectives import Objective


@dataclass
class TrainState:
    """Everything besides model and optimiser that the loop needs to continue exactly."""

    epoch: int = 0
    best_epoch: int = 0
    best_score: tuple[float, ...] | None = None
    best_weights: dict[str, torch.Tensor] = field(default_factory=dict)
    history: list[dict[str, float]] = field(default_factory=list)


@dataclass
class FitResult:
    model: GNN
    history: list[dict[str, float]]
    best_epoch: int
    objective: Objective


class StopRequest:
    """Set by the first SIGINT; the loop checks it at epoch boundaries."""

    requested = False


@contextmanager
def stop_on_sigint() -> Iterator[StopRequest]:
    stop = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield stop  # signals reach the main thread only
        return

    def handler(signum: int, frame: Any) -> None:
        if stop.requested:
            raise KeyboardInterrupt
        stop.requested = True
        log.warn("interrupt: stopping after this epoch to save a checkpoint (Ctrl-C again to abort)")

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)


def score(metrics: dict[str, float], monitor: str) -> tuple[float, ...]:
    """Higher is better. Accuracy (or F1) ties, common on 500 nodes, go to the lower loss."""
    if monitor == "val_loss":
        return (-metrics["loss"],)
    return (metrics[monitor.removeprefix("val_")], -metrics["loss"])


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
            "rng": rng_state(device),
        },
    )


def load_checkpoint(checkpoint: dict[str, Any], model: GNN, optimizer: torch.optim.Optimizer) -> TrainState:
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
    )


def training_batches(task: Task, batch_size: int | None) -> Iterator[Part]:
    """The epoch's parts: every training graph at once (full batch, converted once and kept), or
    `batch_size` graphs per step in a fresh order each epoch (drawn from the seeded global RNG)."""
    parts = task.splits["train"]
    if batch_size is None or len(parts) <= batch_size:
        if len(parts) == 1:
            yield parts[0]
        else:
            yield full_training_batch(task)
        return
    graphs = task.dataset.splits["train"]
    order = torch.randperm(len(graphs)).tolist()
    for start in range(0, len(order), batch_size):
        chosen = [graphs[i] for i in order[start : start + batch_size]]
        yield batch_parts([part.graph for part in chosen], [part.mask for part in chosen], task.device)


def full_training_batch(task: Task) -> Part:
    """All training graphs as one batch, built on first use and cached on the task."""
    if task.full_train is None:
        graphs = task.dataset.splits["train"]
        task.full_train = batch_parts([part.graph for part in graphs], [part.mask for part in graphs], task.device)
    return task.full_train


def graph_steps(task: Task, batch_size: int | None) -> Iterator[Step]:
    """Whole-graph training steps: each scores the masked nodes of its part."""
    for part in training_batches(task, batch_size):
        yield Step(x=part.graph.x, ops=part.graph.ops, y=part.graph.y[part.mask], rows=part.mask)


def mixed_precision(amp: bool, device: torch.device) -> AbstractContextManager[Any]:
    """bf16 autocast on CUDA when `amp`; plain float32 otherwise."""
    if amp and device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return nullcontext()


def train_epoch(
    model: nn.Module, optimizer: torch.optim.Optimizer, steps: Iterable[Step], multilabel: bool, amp: bool = False
) -> float:
    """One pass over the epoch's steps; returns the mean loss of its steps."""
    model.train()
    losses = []
    for step in steps:
        optimizer.zero_grad(set_to_none=True)
        with mixed_precision(amp, step.x.device):
            logits = model(step.x, step.ops)
        if step.rows is not None:
            logits = logits[step.rows]
        loss = loss_fn(logits.float(), step.y, multilabel)  # the loss in float32 under autocast too
        loss.backward()
        optimizer.step()
        losses.append(loss.detach())
    if not losses:
        raise UserError("no training step this epoch: fewer training nodes than processes")
    return torch.stack(losses).mean().item()


def fit(config: Config, task: Task, seed: int, checkpoint: Path, label: str, ranks: Ranks = SINGLE) -> FitResult:
    """Train with `seed`, continuing from `checkpoint` if it exists; return the best-epoch model.

    Under torchrun every rank runs this with the same arguments; rank 0 alone saves. Raises
    `Interrupted` after saving `checkpoint` when Ctrl-C arrives (on any rank).
    """
    from gnntool.engine.objectives import build_objective  # the objectives build on this module

    device = task.device
    objective = build_objective(config, task, seed, ranks)
    objective.check()
    torch.manual_seed(seed)
    model = objective.build_model().to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.train.lr, weight_decay=config.train.weight_decay)
    # Rank 0 reads the checkpoint and hands it to the others: the run directory need not be on
    # a filesystem every machine sees, and every rank must resume from the same epoch.
    saved = broadcast_from_main(load_torch(checkpoint) if ranks.main and checkpoint.is_file() else None, ranks)
    if saved is not None:
        state = load_checkpoint(saved, model, optimizer)
        log.info(f"{label}: resuming from {checkpoint} after epoch {state.epoch}")
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
    with stop_on_sigint() as stop, log.EpochProgress(config.train.epochs, label, monitor) as progress:
        while state.epoch < config.train.epochs and state.epoch - state.best_epoch < config.train.patience:
            started = time.perf_counter()
            loss = objective.train_epoch(trained, optimizer, state.epoch)
            val = objective.validate(model)
            state.epoch += 1
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
            if any_rank(stop.requested, ranks, device):
                if ranks.main:
                    save_checkpoint(checkpoint, config, model, optimizer, state, device)
                raise Interrupted(checkpoint)

    if state.epoch < config.train.epochs:
        log.info(f"{label}: early stop at epoch {state.epoch} (no {monitor} gain for {config.train.patience} epochs)")
    model.load_state_dict(state.best_weights)
    log.info(f"{label}: best {monitor} at epoch {state.best_epoch}")
    return FitResult(model=model, history=state.history, best_epoch=state.best_epoch, objective=objective)
