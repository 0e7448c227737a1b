"""Batch memory without a blanket allocator policy: the sampled loader gathers features into
buffers it recycles, and gnntool's malloc setting no longer keeps loading-sized blocks."""

from __future__ import annotations

import platform
import resource
import subprocess
import sys
from types import SimpleNamespace

import pytest
import torch

from gnntool import cli, log
from gnntool.config import validate
from gnntool.engine.inputs import DevicePart, GraphTensors
from gnntool.engine.runtime import allocator
from gnntool.engine.runtime.distributed import SINGLE
from gnntool.engine.sampled import SampledSteps
from gnntool.models.graph_ops import GraphOps

GLIBC = platform.libc_ver()[0] == "glibc"
# 8 batches of 2048 seeds on a ring: ~5,500 rows of 16 KiB, ~88 MiB per batch, above what a
# thread's malloc arena serves from its heaps (64 MiB) whatever the allocator's settings.
NODES, BATCH, WIDE = 16384, 2048, 4096


def page_faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def ring_sampled_steps(features: int) -> SampledSteps:
    """The sampled steps of a ring graph (every node a training node) with `features` random features."""
    config = validate(
        {
            "dataset": {"name": "Cora"},  # (not loaded: the graph is built here)
            "model": {"arch": "sage", "layers": 2},
            "train": {"batch_size": BATCH, "fanout": [2, 2]},
        }
    )
    nodes = torch.arange(NODES)
    ops = GraphOps(torch.stack([nodes, (nodes + 1) % NODES]), NODES)
    graph = GraphTensors(x=torch.rand(NODES, features), y=torch.zeros(NODES, dtype=torch.long), ops=ops)
    task = SimpleNamespace(splits={"train": [DevicePart(graph=graph, mask=torch.ones(NODES, dtype=torch.bool))]})
    return SampledSteps(config, task, SINGLE, seed=0)


@pytest.mark.skipif(sys.platform != "linux", reason="counts the kernel's minor page faults")
def test_the_loader_gathers_batches_into_recycled_memory_without_any_malloc_setting() -> None:
    sampled = ring_sampled_steps(WIDE)
    steps = sampled.steps(0)
    numel = next(steps).x.numel()  # (a step held on to would keep its buffer from the next gathers)
    before = page_faults()
    torch.empty(numel).fill_(1.0)  # what a fresh batch-sized mapping faults here
    fresh = page_faults() - before
    if fresh < numel * 4 // 65536:
        pytest.skip("the kernel maps huge pages: a fresh mapping costs too few faults to compare")
    for _ in range(3):  # the buffers are made (the background thread gathers into them)
        next(steps)
    before = page_faults()
    for step in steps:  # consumed as the training loop does: each dropped once the next comes
        assert step.x.size(1) == WIDE
    # Four batches gathered (in the background thread) fault less than a tenth of one fresh mapping.
    assert page_faults() - before < fresh // 10


def test_a_kept_step_is_never_overwritten_by_a_later_gather() -> None:
    sampled = ring_sampled_steps(16)
    kept = list(sampled.steps(0)) + list(sampled.steps(1))
    for index, step in enumerate(kept):
        epoch, batch = divmod(index, NODES // BATCH)
        node, _ = sampled.blocks(sampled.shard(epoch), epoch, batch)
        assert torch.equal(step.x, sampled.graph.x[node])


@pytest.mark.skipif(not GLIBC, reason="mallopt is glibc's")
def test_freed_loading_sized_blocks_go_back_to_the_os() -> None:
    """The issue's experiment: 4 x 200 MiB written and freed, small live blocks between them."""
    script = """
import torch
from gnntool.engine.runtime.allocator import retain_freed_memory

def rss_mib():
    return int(open("/proc/self/statm").read().split()[1]) * 4096 / 2**20

assert retain_freed_memory()
start, large, small = rss_mib(), [], []
for _ in range(4):
    large.append(torch.ones(50 << 20))  # 200 MiB
    small.append(torch.ones(16))  # live between them
del large
print(rss_mib() - start)
"""
    kept = float(subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout)
    assert kept < 100  # (the old setting kept all 800 MiB)


@pytest.mark.parametrize("result, warned", [(True, False), (None, False), (False, True)])
def test_the_command_warns_when_glibc_refuses_the_setting(monkeypatch, result, warned) -> None:
    warnings = []
    monkeypatch.setattr(allocator, "retain_freed_memory", lambda: result)
    monkeypatch.setattr(log, "warn", warnings.append)
    monkeypatch.setattr(cli, "app", lambda prog_name: None)
    cli.main()
    assert bool(warnings) == warned
