"""The steps of a training epoch: the interface every objective's batches offer, and one pass of
the optimiser over them.

An objective's stepper (full-batch or batches of graphs, neighbour-sampled node batches,
neighbour-sampled link batches) draws epoch `epoch`'s steps from seeds of its own
(`gnntool.engine.seeding`), so that an epoch can restart at any step: `fit` checkpoints between
steps and resumes there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

import torch
from torch import nn

from gnntool.errors import UserError

StepT = TypeVar("StepT")
StepT_co = TypeVar("StepT_co", covariant=True)


class Steps(Protocol[StepT_co]):
    """The batches of an objective's epochs."""

    def num_batches(self, epoch: int) -> int:
        """The number of optimiser steps of `epoch`."""
        ...

    def steps(self, epoch: int, start: int = 0) -> Iterator[StepT_co]:
        """`epoch`'s steps from step index `start` on, the same whenever they are drawn."""
        ...


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
    """One pass of the optimiser over the epoch's remaining steps; returns the mean loss of all its steps."""
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
