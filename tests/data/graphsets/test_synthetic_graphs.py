"""The generated whole-graph set: only the edges tell the classes apart."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier

from gnntool.config import validate
from gnntool.data import load_dataset
from gnntool.data.graphsets.synthetic import generate
from gnntool.errors import UserError


def load(seed: int = 0, **keys: object):
    return load_dataset(validate({"dataset": {"name": "synthetic_graphs", **keys}}).dataset, seed)


def counts(graphs) -> np.ndarray:
    """Per graph: node count, edge count and the sum of its features (what a bag of features sees)."""
    nodes = graphs.node_ptr.diff().numpy()
    edges = graphs.edge_ptr.diff().numpy()
    feature_sum = torch.zeros(graphs.num_graphs).index_add_(0, graphs.graph_of_node(), graphs.x[:, 0]).numpy()
    return np.stack([nodes, edges, feature_sum], axis=1)


def test_node_edge_and_feature_counts_do_not_reveal_the_class() -> None:
    graphs = load(graphs=2000, graph_nodes=20)
    y = graphs.y.numpy()
    assert np.bincount(y).tolist() == [1000, 1000]
    assert torch.equal(graphs.x, torch.ones_like(graphs.x))
    table = counts(graphs)
    assert np.array_equal(table[:, 1], 2 * (table[:, 0] + table[:, 0] // 2))  # the edges follow the nodes
    train, test = slice(0, 1500), slice(1500, None)
    for model in (LogisticRegression(), DecisionTreeClassifier(max_depth=6, random_state=0)):
        accuracy = model.fit(table[train], y[train]).score(table[test], y[test])
        assert abs(accuracy - 0.5) < 0.06, type(model).__name__


def test_degrees_reveal_the_class() -> None:
    """One round of 1-WL (the degree multiset) separates the classes: the largest degree alone does."""
    graphs = load(graphs=400)
    degree = torch.bincount(graphs.edge_index[1], minlength=len(graphs.x)).numpy()
    top = np.maximum.reduceat(degree, graphs.node_ptr[:-1].numpy())
    assert set(top[graphs.y.numpy() == 0]) <= {3.0} and (top[graphs.y.numpy() == 1] >= 5).all()


def test_graphs_are_simple_undirected_and_inside_their_graph() -> None:
    graphs = load(graphs=50, graph_nodes=10)
    source, target = graphs.edge_index
    assert (source != target).all()
    pairs = set(zip(source.tolist(), target.tolist(), strict=True))
    assert len(pairs) == source.numel() and all((t, s) in pairs for s, t in pairs)
    node_graph = graphs.graph_of_node()
    assert torch.equal(node_graph[source], graphs.graph_of_edge())
    assert torch.equal(node_graph[target], node_graph[source])
    sizes = graphs.node_ptr.diff()
    assert sizes.min() >= 8 and sizes.max() <= 12


def test_the_graphs_depend_on_the_size_keys_only_and_the_seed_draws_the_split() -> None:
    a, b = generate(30, 12), generate(30, 12)
    assert all(np.array_equal(p, q) for p, q in zip(a, b, strict=True))
    first, second, other = load(0, graphs=60), load(0, graphs=60), load(1, graphs=60)
    assert torch.equal(first.edge_index, other.edge_index) and torch.equal(first.y, other.y)
    assert torch.equal(first.splits[0]["test"], second.splits[0]["test"])
    assert not torch.equal(first.splits[0]["test"], other.splits[0]["test"])
    folds = load(0, graphs=60, split="folds", folds=5).splits
    assert len(folds) == 5 and sorted(torch.cat([fold["test"] for fold in folds]).tolist()) == list(range(60))


def test_size_keys_belong_to_the_generated_set() -> None:
    with pytest.raises(UserError, match="dataset.graphs is for dataset.name: synthetic_graphs, not synthetic"):
        validate({"dataset": {"name": "synthetic", "graphs": 10}})
    with pytest.raises(UserError, match="dataset.nodes is for dataset.name: synthetic, not synthetic_graphs"):
        validate({"dataset": {"name": "synthetic_graphs", "nodes": 10}})
    with pytest.raises(UserError, match="dataset.folds is for dataset.split: folds"):
        validate({"dataset": {"name": "synthetic_graphs", "folds": 5}})
    with pytest.raises(UserError, match="dataset.degree_features is for whole-graph sets"):
        validate({"dataset": {"name": "Cora", "degree_features": True}})
    config = validate({"dataset": {"name": "synthetic_graphs"}}).dataset
    assert (config.graphs, config.graph_nodes, config.split, config.folds) == (1000, 25, "random", None)


def test_degree_features_are_one_hot_degrees() -> None:
    graphs = load(graphs=20, degree_features=True)
    degree = torch.bincount(graphs.edge_index[1], minlength=len(graphs.x))
    assert graphs.num_features == 1 + int(degree.max()) + 1
    assert torch.equal(graphs.x[:, 1:].argmax(1), degree)
    assert torch.equal(graphs.x[:, 1:].sum(1), torch.ones(len(degree)))
