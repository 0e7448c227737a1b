"""Multi-process training under `torchrun`: which process this is, and the collectives the loop needs.

torchrun starts one process per GPU (or per CPU share) and tells each its place through the
environment (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT). Every process trains the same model
on its own shard of the seed nodes; gradients are averaged by DistributedDataParallel; losses,
metrics and stop decisions are reduced here so that every rank takes the same branch and none
waits forever on a collective another rank skipped.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.distributed as dist

from gnntool.errors import UserError
from gnntool.launcher import launched_by_torchrun


@dataclass(frozen=True)
class Ranks:
    """This process's place among the training processes (rank 0 of 1 when not distributed)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    distributed: bool = False

    @property
    def main(self) -> bool:
        """Rank 0 alone writes the run directory and prints progress."""
        return self.rank == 0


SINGLE = Ranks()


@contextmanager
def process_group(device: torch.device) -> Iterator[Ranks]:
    """Join the process group torchrun set up (nccl on CUDA, gloo on CPU) and leave it after."""
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend=backend)
    try:
        yield Ranks(
            rank=dist.get_rank(),
            world=dist.get_world_size(),
            local_rank=int(os.environ.get("LOCAL_RANK", 0)),
            distributed=True,
        )
    finally:
        dist.destroy_process_group()


def local_device(device: torch.device) -> torch.device:
    """Under torchrun each process on a machine takes the GPU of its local rank."""
    if device.type != "cuda" or not launched_by_torchrun():
        return device
    local_rank, count = int(os.environ.get("LOCAL_RANK", 0)), torch.cuda.device_count()
    if local_rank >= count:
        raise UserError(
            f"torchrun: process {local_rank} on this machine needs a GPU of its own and torch sees {count}; "
            f"start at most --nproc_per_node={count}, or train on the CPU (--device cpu, gloo)"
        )
    return torch.device("cuda", local_rank)


def _reduce(values: list[float], ranks: Ranks, op: dist.ReduceOp, device: torch.device) -> list[float]:
    if not ranks.distributed:
        return values
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(tensor, op=op)
    return tensor.tolist()


def mean_over_ranks(value: float, ranks: Ranks, device: torch.device) -> float:
    """The mean of `value` over all ranks."""
    return _reduce([value], ranks, dist.ReduceOp.SUM, device)[0] / ranks.world


def max_over_ranks(values: list[float], ranks: Ranks, device: torch.device) -> list[float]:
    """Each of `values` maximised over all ranks, in one collective (an interrupt that reached one
    process, a checkpoint one clock says is due)."""
    return _reduce([float(value) for value in values], ranks, dist.ReduceOp.MAX, device)


def sum_over_ranks(sums: dict[str, torch.Tensor], ranks: Ranks) -> dict[str, torch.Tensor]:
    """Every tensor of `sums` added up over all ranks (in place; the same keys on every rank)."""
    if ranks.distributed:
        for name in sorted(sums):  # one order on every rank, so the collectives pair up
            dist.all_reduce(sums[name], op=dist.ReduceOp.SUM)
    return sums


def broadcast_from_main(value: object, ranks: Ranks) -> object:
    """Rank 0's `value` on every rank (a picklable object)."""
    if not ranks.distributed:
        return value
    holder = [value]
    dist.broadcast_object_list(holder, src=0)
    return holder[0]
