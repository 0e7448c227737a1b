"""SampledSteps: per-batch generators (resumable mid-epoch, independent of the global RNG), the
training seed (not config.seed), and the batches the background thread prepares."""

from __future__ import annotations

import pytest
import torch
from conftest import DATA_ROOT

from gnntool.config import validate
from gnntool.data import load_dataset
from gnntool.engine import train as train_module
from gnntool.engine.inputs import Step, task_tensors
from gnntool.engine.objectives import supervised as supervised_module
from gnntool.engine.runtime.distributed import SINGLE, Ranks
from gnntool.engine.sampled import SampledSteps


@pytest.fixture(scope="module")
def setup():
    config = validate(
        {
            "dataset": {"name": "Cora", "root": str(DATA_ROOT)},
            "model": {"arch": "sage"},
            "train": {"epochs": 2, "batch_size": 32, "fanout": [5, 3]},
        }
    )
    task = task_tensors(load_dataset(config.dataset, 0), torch.device("cpu"), config.inference_chunk)
    return config, task


def same_step(a: Step, b: Step) -> bool:
    return (
        torch.equal(a.x, b.x)
        and torch.equal(a.y, b.y)
        and all(
            torch.equal(p.source, q.source) and torch.equal(p.target, q.target) and p.shape == q.shape
            for p, q in zip(a.ops, b.ops)
        )
    )


def test_steps_from_start_equal_the_tail_of_the_epoch_whatever_the_global_rng(setup) -> None:
    config, task = setup
    sampled = SampledSteps(config, task, SINGLE, seed=3)
    torch.manual_seed(0)
    whole = list(sampled.steps(1))
    assert len(whole) == sampled.num_batches(1) == -(-140 // 32)  # Cora: 140 training nodes
    torch.manual_seed(12345)
    tail = list(sampled.steps(1, start=2))
    assert len(tail) == len(whole) - 2
    assert all(same_step(a, b) for a, b in zip(whole[2:], tail))
    assert list(sampled.steps(1, start=sampled.num_batches(1))) == []
    # Every training node is a seed exactly once per epoch, and the labels are the seeds'.
    labels = torch.cat([step.y for step in whole])
    assert labels.numel() == 140
    train_labels = task.dataset.graphs[0].y[task.splits["train"][0].mask]
    assert torch.equal(torch.sort(labels).values, torch.sort(train_labels).values)


def test_batches_differ_across_epochs_and_batches(setup) -> None:
    config, task = setup
    sampled = SampledSteps(config, task, SINGLE, seed=0)
    first, second = list(sampled.steps(0)), list(sampled.steps(1))
    assert not same_step(first[0], second[0])
    # The same seeds give different samples in another batch position: each batch has its own stream.
    assert sampled.generator(0, 0).initial_seed() != sampled.generator(0, 1).initial_seed()
    assert sampled.generator(0, 0).initial_seed() != sampled.generator(1, 0).initial_seed()


def test_the_training_seed_decides_order_and_samples(setup) -> None:
    config, task = setup
    one, other = SampledSteps(config, task, SINGLE, seed=0), SampledSteps(config, task, SINGLE, seed=1)
    assert not torch.equal(one.shard(0), other.shard(0))
    again = SampledSteps(config, task, SINGLE, seed=1)
    assert all(same_step(a, b) for a, b in zip(other.steps(0), again.steps(0)))


def test_ranks_draw_their_own_samples(setup) -> None:
    config, task = setup
    ranks = [SampledSteps(config, task, Ranks(rank=rank, world=2, local_rank=rank), seed=0) for rank in (0, 1)]
    assert ranks[0].num_batches(0) == ranks[1].num_batches(0) == -(-70 // 32)
    assert ranks[0].generator(0, 0).initial_seed() != ranks[1].generator(0, 0).initial_seed()
    shards = [steps.shard(0) for steps in ranks]
    assert not set(shards[0].tolist()) & set(shards[1].tolist())


def test_fit_samples_with_the_seed_it_trains(setup, monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """Multi-seed runs: each seed's batch order and samples come from that seed, not config.seed."""
    config, task = setup
    seen = []

    class Recording(SampledSteps):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            seen.append(self.seed)

    monkeypatch.setattr(supervised_module, "SampledSteps", Recording)
    short = config.model_copy(update={"train": config.train.model_copy(update={"epochs": 1})})
    for seed in (4, 7):
        train_module.fit(short, task, seed, tmp_path / f"checkpoint-{seed}.pt", f"seed {seed}")
    assert seen == [4, 7] and config.seed == 0
