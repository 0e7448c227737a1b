"""The graph objective: batches of graphs, losses and metrics, and model selection that never sees test graphs."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gnntool.config import validate
from gnntool.data.graphsets.dataset import GraphSet
from gnntool.engine.graphs.batches import GraphBatcher
from gnntool.engine.graphs.metrics import LOSSES, graph_metrics, resolve_loss
from gnntool.engine.objectives.graph import GraphLevel
from gnntool.engine.runs.train_run import train_run
from gnntool.errors import UserError


def tiny_set() -> GraphSet:
    """Three graphs (3, 2 and 4 nodes); graph 0 has a repeated edge and a self-loop."""
    x = torch.arange(9, dtype=torch.float).view(9, 1)
    edge_index = torch.tensor([[0, 1, 1, 1, 2, 3, 4, 5, 6, 7, 8], [1, 0, 0, 2, 2, 4, 3, 6, 7, 8, 5]])
    every = torch.arange(3)
    return GraphSet(
        x, edge_index, torch.tensor([0, 3, 5, 9]), torch.tensor([0, 5, 7, 11]), torch.tensor([0, 1, 0]), "classes", 2,
        [{"train": every, "val": every, "test": every}], edge_attr=torch.arange(11.0).view(11, 1),
    )  # fmt: skip


def test_a_batch_is_the_disjoint_union_of_its_graphs() -> None:
    graphs = tiny_set()
    batch = GraphBatcher(graphs, torch.device("cpu")).batch(torch.tensor([2, 0]))
    # graph 2's nodes 5..8 then graph 0's 0..2, renumbered from 0
    assert batch.x.view(-1).tolist() == [5, 6, 7, 8, 0, 1, 2]
    assert batch.ops.batch.tolist() == [0, 0, 0, 0, 1, 1, 1]
    assert batch.y.tolist() == [0, 0]
    edges = sorted(zip(batch.ops.source.tolist(), batch.ops.target.tolist(), batch.edge_attr.view(-1).tolist()))
    # graph 2: 5->6, 6->7, 7->8, 8->5 (edge attrs 7..10); graph 0: 0->1 (0), 1->0 (first of two: 1), 1->2 (3)
    assert edges == [(0, 1, 7.0), (1, 2, 8.0), (2, 3, 9.0), (3, 0, 10.0), (4, 5, 0.0), (5, 4, 1.0), (5, 6, 3.0)]
    assert batch.ops.num_graphs == 2


@pytest.mark.parametrize("gathered", [1, 5, 1 << 20])  # nodes gathered at once: one batch, some, all
def test_an_epochs_batches_are_its_slices_as_single_batches(monkeypatch, gathered: int) -> None:
    from gnntool.engine.graphs import batches

    monkeypatch.setattr(batches, "GATHERED", gathered)
    batcher = GraphBatcher(tiny_set(), torch.device("cpu"))
    order = torch.tensor([2, 0, 1, 1, 2])
    made = list(batcher.batches(order, 2))
    assert [b.graphs.tolist() for b in made] == [[2, 0], [1, 1], [2]]
    for b, first in zip(made, range(0, 5, 2)):
        alone = batcher.batch(order[first : first + 2])
        for got, want in ((b.x, alone.x), (b.y, alone.y), (b.edge_attr, alone.edge_attr),
                          (b.ops.source, alone.ops.source), (b.ops.target, alone.ops.target),
                          (b.ops.batch, alone.ops.batch)):  # fmt: skip
            assert torch.equal(got, want)
        assert (b.ops.num_nodes, b.ops.num_graphs) == (alone.ops.num_nodes, alone.ops.num_graphs)


def test_symmetric_batches_back_propagate_as_the_general_path() -> None:
    """An undirected set's adjacency is its own transpose: the backward reuses the forward's bags
    and gives the gradients the general (sorted) transpose gives."""
    from gnntool.models.graph_ops import GraphOps, self_plus_neighbour_sum

    graphs = tiny_set()
    graphs.edge_index = torch.tensor([[0, 1, 1, 2, 3, 4, 5, 6, 6, 7], [1, 0, 2, 1, 4, 3, 6, 5, 7, 6]])
    graphs.edge_ptr, graphs.edge_attr = torch.tensor([0, 4, 6, 10]), None
    batcher = GraphBatcher(graphs, torch.device("cpu"))
    assert batcher.symmetric and not GraphBatcher(tiny_set(), torch.device("cpu")).symmetric
    ops = batcher.batch(torch.tensor([1, 2, 0])).ops
    assert ops.sum_bags_t is ops.sum_bags  # nothing sorted
    general = GraphOps(torch.stack([ops.source, ops.target]), ops.num_nodes, grouped=True)  # not told: sorts
    grads = []
    for each in (ops, general):
        x = torch.randn(ops.num_nodes, 3, generator=torch.Generator().manual_seed(0), requires_grad=True)
        eps = torch.tensor([0.3], requires_grad=True)
        self_plus_neighbour_sum(x, eps, each).pow(2).sum().backward()
        grads.append((x.grad, eps.grad))
    torch.testing.assert_close(grads[0], grads[1])


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_any_batch_is_the_union_of_its_graphs_canonical_edges(data) -> None:  # type: ignore[no-untyped-def]
    """Random graphs (repeated edges, self-loops, any edge order) and any choice of them: the batch
    holds each chosen graph's nodes in order and its distinct non-loop edges, shifted, and nothing else."""
    sizes = data.draw(st.lists(st.integers(1, 5), min_size=1, max_size=6))
    ptr = np.concatenate([[0], np.cumsum(sizes)])
    edges = [
        [(int(ptr[g]) + a, int(ptr[g]) + b) for a, b in data.draw(st.lists(st.tuples(st.integers(0, n - 1),
                                                                            st.integers(0, n - 1)), max_size=8))]
        for g, n in enumerate(sizes)
    ]  # fmt: skip
    edge_ptr = np.concatenate([[0], np.cumsum([len(e) for e in edges])])
    flat = [pair for graph in edges for pair in graph]
    edge_index = torch.tensor(flat, dtype=torch.long).t().reshape(2, -1)
    x = torch.arange(int(ptr[-1]), dtype=torch.float).view(-1, 1)  # each node's global row
    y = torch.zeros(len(sizes), dtype=torch.long)
    graphs = GraphSet(x, edge_index, torch.tensor(ptr), torch.tensor(edge_ptr), y, "classes", 2, [])
    chosen = data.draw(st.lists(st.integers(0, len(sizes) - 1), min_size=1, max_size=6, unique=True))
    batch = GraphBatcher(graphs, torch.device("cpu")).batch(torch.tensor(chosen))
    expected_x, expected_edges, offset = [], set(), 0
    for position, g in enumerate(chosen):
        expected_x += list(range(int(ptr[g]), int(ptr[g + 1])))
        expected_edges |= {(a - int(ptr[g]) + offset, b - int(ptr[g]) + offset) for a, b in edges[g] if a != b}
        offset += sizes[g]
        assert batch.ops.batch[offset - 1].item() == position
    assert batch.x.view(-1).long().tolist() == expected_x
    pairs = list(zip(batch.ops.source.tolist(), batch.ops.target.tolist()))
    assert set(pairs) == expected_edges and len(pairs) == len(expected_edges)
    assert pairs == sorted(pairs, key=lambda pair: (pair[1], pair[0]))  # the order GraphOps keeps


def test_losses_and_metrics_mask_missing_labels() -> None:
    outputs = torch.tensor([[2.0, -1.0], [-1.0, 0.5], [0.3, 3.0], [-2.0, 1.0]])
    y = torch.tensor([[1.0, float("nan")], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])
    metrics = graph_metrics(outputs, y, "multilabel", LOSSES["bce"][1])
    present = ~torch.isnan(y)
    expected = torch.nn.functional.binary_cross_entropy_with_logits(outputs[present], y[present])
    assert metrics["loss"] == pytest.approx(expected.item())
    # label 0: positives score 2.0, 0.3 above every negative (-1, -2): AUC 1; label 1: positives
    # 1.0, 0.5 below the negative 3.0: AUC 0, AP = mean of the precisions 1/2 and 2/3 at the positives.
    assert metrics["auc"] == pytest.approx(0.5)
    assert metrics["ap"] == pytest.approx((1.0 + (1 / 2 + 2 / 3) / 2) / 2)


def test_regression_metrics() -> None:
    outputs = torch.tensor([[1.0], [2.0], [4.0]])
    y = torch.tensor([[1.5], [float("nan")], [1.0]])
    metrics = graph_metrics(outputs, y, "regression", LOSSES["mae"][1])
    assert metrics["rmse"] == pytest.approx(math.sqrt((0.25 + 9.0) / 2))
    assert metrics["mae"] == pytest.approx((0.5 + 3.0) / 2) == metrics["loss"]


def test_the_loss_must_fit_the_targets() -> None:
    assert resolve_loss(None, "regression") == ("mse", "regression")
    assert resolve_loss("mae", "multilabel") == ("mae", "regression")
    with pytest.raises(UserError, match="cross_entropy fits classes"):
        resolve_loss("cross_entropy", "regression")


def test_no_fold_selects_its_model_on_test_graphs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every graph a fold trains or selects its epoch on lies outside that fold's test graphs."""
    active: dict[str, set[int]] = {}  # while a fold trains or validates: its test graphs
    touched: list[int] = []
    tests: list[frozenset[int]] = []
    gathered, validate_, train_epoch = GraphBatcher._gathered, GraphLevel.validate, GraphLevel.train_epoch

    def recorded(self, chosen, size):  # type: ignore[no-untyped-def]  # every batch's graphs pass here
        if "test" in active:
            assert not active["test"] & set(chosen.tolist()), "a test graph reached training or model selection"
            touched.extend(chosen.tolist())
        return gathered(self, chosen, size)

    def watched(method):  # type: ignore[no-untyped-def]
        def run(self, *args):  # type: ignore[no-untyped-def]
            active["test"] = set(self.task.splits["test"].tolist())
            tests.append(frozenset(active["test"]))
            try:
                return method(self, *args)
            finally:
                active.clear()

        return run

    monkeypatch.setattr(GraphBatcher, "_gathered", recorded)
    monkeypatch.setattr(GraphLevel, "validate", watched(validate_))
    monkeypatch.setattr(GraphLevel, "train_epoch", watched(train_epoch))
    config = validate(
        {
            "dataset": {"name": "synthetic_graphs", "split": "folds", "folds": 3, "graphs": 60, "graph_nodes": 10},
            "model": {"arch": "gin", "hidden": 8, "layers": 2},
            "train": {"objective": "graph", "epochs": 2, "batch_size": 16},
        }
    )
    train_run(config, tmp_path / "run", seeds=1, resume=False, force=False)
    assert len(set(tests)) == 3 and touched  # three folds trained and validated
    assert set().union(*tests) == set(range(60))  # whose test graphs cover the set
