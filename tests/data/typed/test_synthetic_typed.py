"""`dataset.name: synthetic_typed`: relations that carry the class, edges that hide it when flattened."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gnntool.config import validate
from gnntool.data import load_dataset
from gnntool.data.typed.dataset import TypedDataset
from gnntool.data.typed.synthetic import OTHER, SAME, flatten, generate
from gnntool.errors import UserError


def config(**keys):
    return validate({"dataset": {"name": "synthetic_typed", "nodes": 3000, "features": 16, **keys}}).dataset


def neighbour_classes(edge_index: torch.Tensor, y: torch.Tensor, classes: int) -> torch.Tensor:
    """Row c: how a class-c node's neighbours spread over the classes (rows sum to 1)."""
    counts = torch.zeros(classes, classes)
    counts.index_put_((y[edge_index[1]], y[edge_index[0]]), torch.ones(edge_index.size(1)), accumulate=True)
    return counts / counts.sum(1, keepdim=True)


def test_same_is_class_pure_other_never_and_flattened_neighbours_are_uniform() -> None:
    graph, y = generate(6000, 24.0, 8, 4)
    same, other = graph[SAME].edge_index, graph[OTHER].edge_index
    assert bool((y[same[0]] == y[same[1]]).all()) and bool((y[other[0]] != y[other[1]]).all())
    spread = neighbour_classes(torch.cat([same, other], 1), y, 4)
    # 144,000 entries: the sampling error of each share is about 0.003
    assert torch.allclose(spread, torch.full((4, 4), 0.25), atol=0.015), spread
    # the other relation alone leans away from the node's class; the same one is all of it
    assert torch.allclose(neighbour_classes(other, y, 4).diagonal(), torch.zeros(4))


def test_sizes_balance_and_determinism() -> None:
    graph, y = generate(1001, 10.0, 4, 5)
    total = graph[SAME].edge_index.size(1) + graph[OTHER].edge_index.size(1)
    assert total == 2 * round(1001 * 10.0 / 2)  # every pair distinct, stored both ways
    assert graph[SAME].edge_index.size(1) == 2 * round(round(1001 * 10.0 / 2) / 5)
    sizes = torch.bincount(y)
    assert int(sizes.max() - sizes.min()) <= 1
    for relation in (SAME, OTHER):
        edges = graph[relation].edge_index
        assert not bool((edges[0] == edges[1]).any())
        keys = edges[1] * 1001 + edges[0]
        assert torch.equal(keys, torch.unique(keys))  # no repeats, sorted by target then source
        assert torch.equal(torch.sort(keys).values, torch.sort(edges[0] * 1001 + edges[1]).values)  # symmetric
    again, y_again = generate(1001, 10.0, 4, 5)
    assert torch.equal(again[SAME].edge_index, graph[SAME].edge_index) and torch.equal(y, y_again)
    assert torch.equal(again["node"].x, graph["node"].x)


def test_load_dataset_gives_a_typed_dataset_split_by_the_run_seed() -> None:
    first, second = load_dataset(config(), 0), load_dataset(config(), 1)
    assert isinstance(first, TypedDataset)
    assert first.target == "node" and first.num_classes == 10 and first.featureless() == []
    assert first.graph["node"].x.shape == (3000, 16)
    assert sorted(int(mask.sum()) for mask in first.masks.values()) == [600, 600, 1800]
    assert torch.equal(first.graph[SAME].edge_index, second.graph[SAME].edge_index)
    assert not torch.equal(first.masks["train"], second.masks["train"])


def test_flatten_writes_one_edge_type_with_the_masks() -> None:
    dataset = load_dataset(config(classes=3), 0)
    arrays = flatten(dataset)
    assert set(arrays) == {"x", "edge_index", "y", "train_mask", "val_mask", "test_mask"}
    edges = dataset.graph[SAME].edge_index.size(1) + dataset.graph[OTHER].edge_index.size(1)
    assert arrays["edge_index"].shape == (2, edges)
    assert np.array_equal(arrays["train_mask"], dataset.masks["train"].numpy())
    assert arrays["x"].shape == (3000, 16) and arrays["y"].max() == 2


def test_too_dense_and_keys_it_does_not_read() -> None:
    with pytest.raises(UserError, match="too dense"):
        load_dataset(config(nodes=40, avg_degree=30.0), 0)
    with pytest.raises(UserError, match="dataset.homophily is for dataset.name: synthetic, not synthetic_typed"):
        config(homophily=0.5)
    with pytest.raises(UserError, match="dataset.target: the generated typed graph scores node type 'node'; 'x'"):
        load_dataset(config(target="x"), 0)
    assert load_dataset(config(target="node"), 0).target == "node"
    with pytest.raises(UserError, match="dataset.target is for typed graphs"):
        validate({"dataset": {"name": "synthetic", "target": "node"}})
