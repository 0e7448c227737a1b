"""Full-batch training on a small graph runs on one torch thread (issue 21), unless OMP_NUM_THREADS says."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace

import pytest
import torch
from torch_geometric.data import Data

import gnntool.engine.runs.train_run as run_module
from gnntool.cli import app
from gnntool.engine.inputs import Task
from gnntool.engine.runtime.threads import (
    CROSSOVER_WORK,
    chosen_threads,
    full_batch_threads,
    full_batch_work,
    training_threads,
)


@pytest.fixture
def two_threads(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Torch on two threads, OMP_NUM_THREADS unset (whatever the machine), restored after."""
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def test_small_graphs_take_one_thread() -> None:
    assert full_batch_threads(2_708, 10_556, 1_433, available=2) == 1  # Cora
    assert full_batch_threads(3_327, 9_104, 3_703, available=8) == 1  # CiteSeer
    assert full_batch_threads(300_000, 3_000_000, 128, available=2) == 1  # synthetic, degree 10


def test_large_graphs_take_every_thread() -> None:
    assert full_batch_threads(1_000_000, 10_000_000, 128, available=2) == 2
    assert full_batch_threads(2_449_029, 123_718_280, 100, available=16) == 16  # ogbn-products


def test_crossover_boundary() -> None:
    nodes, features = 1_000, 100
    edges = CROSSOVER_WORK - nodes * features  # work exactly at the crossover
    assert full_batch_work(nodes, edges, features) == CROSSOVER_WORK
    assert full_batch_threads(nodes, edges, features, available=2) == 2
    assert full_batch_threads(nodes, edges - 1, features, available=2) == 1


def test_one_available_thread_stays_one() -> None:
    assert full_batch_threads(10_000_000, 100_000_000, 128, available=1) == 1
    assert full_batch_threads(10, 20, 3, available=1) == 1


class FakeTorch:
    """get/set_num_threads that record what was set."""

    def __init__(self, threads: int) -> None:
        self.threads = threads
        self.set: list[int] = []

    def get(self) -> int:
        return self.threads

    def put(self, threads: int) -> None:
        self.set.append(threads)
        self.threads = threads


def test_chosen_threads_sets_and_restores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    fake, said = FakeTorch(2), []
    with chosen_threads(2_708, 10_556, 1_433, fake.get, fake.put, said.append) as threads:
        assert threads == 1 and fake.threads == 1
    assert fake.set == [1, 2]
    assert said == ["1 thread: small graph (2,708 nodes, 10,556 edges); set OMP_NUM_THREADS to choose"]


def test_omp_num_threads_means_the_user_chose(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    fake, said = FakeTorch(2), []
    with chosen_threads(2_708, 10_556, 1_433, fake.get, fake.put, said.append) as threads:
        assert threads == 2
    assert fake.set == [] and said == []


def fake_run(sampling: bool) -> tuple[SimpleNamespace, SimpleNamespace]:
    """A config and a task as `training_threads` reads them: Cora's size."""
    graph = Data(edge_index=torch.zeros(2, 10_556, dtype=torch.long), num_nodes=2_708)
    part = SimpleNamespace(graph=graph)
    task = Task(SimpleNamespace(splits={"train": [part]}, num_features=1_433), {}, torch.device("cpu"), {})
    return SimpleNamespace(neighbour_sampling=sampling), task


@pytest.mark.parametrize(
    ("sampling", "device", "distributed", "inside"),
    [(False, "cpu", False, 1), (True, "cpu", False, 2), (False, "cuda", False, 2), (False, "cpu", True, 2)],
)
def test_only_full_batch_cpu_single_process(two_threads, sampling, device, distributed, inside) -> None:
    config, task = fake_run(sampling)
    with training_threads(config, task, torch.device(device), distributed):
        assert torch.get_num_threads() == inside
    assert torch.get_num_threads() == 2


def test_cora_trains_on_one_thread(two_threads, runner, write_config, tmp_path, monkeypatch) -> None:
    """Through `gnntool train`: the model is fitted on one thread, and two are back afterwards."""
    seen: list[int] = []
    fit = run_module.fit

    def recording_fit(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return fit(*args, **kwargs)

    monkeypatch.setattr(run_module, "fit", recording_fit)
    config = write_config({"train": {"epochs": 2}})
    result = runner.invoke(app, ["train", str(config), "--out", str(tmp_path / "run"), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert seen == [1]
    assert torch.get_num_threads() == 2
    assert "1 thread: small graph (2,708 nodes" in result.stderr
