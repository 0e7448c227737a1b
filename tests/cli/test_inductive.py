"""The inductive split: training and validation never see test nodes or their edges."""

from __future__ import annotations

import math

import torch
from conftest import DATA_ROOT

from gnntool.config import validate
from gnntool.data import load_dataset
from gnntool.data.splits import single_graph_dataset
from gnntool.engine.inputs import task_tensors
from gnntool.engine.train import fit


def cora(split: str):
    return load_dataset(validate({"dataset": {"root": str(DATA_ROOT), "split": split}}).dataset, 0)


def test_subgraphs_hold_no_test_node_nor_edge() -> None:
    data = cora("public").graphs[0]
    data.node_index = torch.arange(data.num_nodes)  # rides along through subgraph()
    dataset = single_graph_dataset(data, inductive=True)
    train = dataset.splits["train"][0].graph
    val = dataset.splits["val"][0].graph
    test_nodes = set(data.test_mask.nonzero().flatten().tolist())
    val_nodes = set(data.val_mask.nonzero().flatten().tolist())
    assert not test_nodes & set(train.node_index.tolist()) and not val_nodes & set(train.node_index.tolist())
    assert not test_nodes & set(val.node_index.tolist())
    assert train.num_nodes == data.num_nodes - len(test_nodes | val_nodes)
    for graph, banned in ((train, test_nodes | val_nodes), (val, test_nodes)):
        original_edges = graph.node_index[graph.edge_index]  # back to the full graph's ids
        assert not set(original_edges.flatten().tolist()) & banned
        allowed = torch.ones(data.num_nodes, dtype=torch.bool)
        allowed[list(banned)] = False
        expected = allowed[data.edge_index].all(0).sum().item()
        assert graph.edge_index.size(1) == expected  # every edge among allowed nodes is kept
    # labels count only on training nodes in training, validation nodes in validation
    assert dataset.splits["train"][0].mask.sum() == data.train_mask.sum() == 140
    assert dataset.splits["val"][0].mask.sum() == 500
    assert dataset.splits["test"][0].graph is data and dataset.splits["test"][0].mask.sum() == 1000


def poisoned_training(split: str, tmp_path) -> list[dict]:
    """Train a few epochs with NaN features on every test node; return the history."""
    dataset = cora(split)
    data = dataset.graphs[0]
    data.x[data.test_mask] = float("nan")
    config = validate({"train": {"epochs": 3}, "model": {"arch": "sage"}})
    task = task_tensors(dataset, torch.device("cpu"))
    return fit(config, task, 0, checkpoint=tmp_path / "checkpoint.pt", label="t").history


def test_test_features_never_reach_training(tmp_path) -> None:
    # Inductive: the NaNs never meet training or validation, so every number stays finite.
    for row in poisoned_training("inductive", tmp_path):
        assert math.isfinite(row["loss"]) and math.isfinite(row["val_loss"])
    # The same poison in the transductive setting does reach them: the check can fail.
    assert any(math.isnan(row["loss"]) for row in poisoned_training("public", tmp_path))
