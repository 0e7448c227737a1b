"""graph_folds and random_split: partitions, validation inside training, stratification, seeds."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gnntool.data.graphsets.folds import graph_folds, random_split, stratified_take
from gnntool.errors import UserError


def as_set(t: torch.Tensor) -> set[int]:
    return set(t.tolist())


@settings(max_examples=15, deadline=None)
@given(
    counts=st.lists(st.integers(5, 40), min_size=2, max_size=4),
    k=st.integers(2, 5),
    seed=st.integers(0, 2**16),
)
def test_stratified_folds_partition_and_keep_validation_inside_training(counts: list[int], k: int, seed: int) -> None:
    y = torch.from_numpy(np.random.default_rng(seed).permutation(np.repeat(np.arange(len(counts)), counts)))
    folds = graph_folds(y, "classes", k, seed)
    assert len(folds) == k
    tests = [as_set(fold["test"]) for fold in folds]
    assert set().union(*tests) == set(range(len(y)))  # the test parts cover every graph ...
    assert sum(map(len, tests)) == len(y)  # ... once
    for fold, test in zip(folds, tests, strict=True):
        train, val = as_set(fold["train"]), as_set(fold["val"])
        assert train | val == set(range(len(y))) - test  # val comes out of the fold's training graphs
        assert not train & val and not val & test and val
        for part in fold.values():
            assert torch.equal(part, part.sort().values) and part.dtype == torch.long
        # stratified: each class's share of the test part is within one graph of its share overall
        for c, count in enumerate(counts):
            in_test = int((y[fold["test"]] == c).sum())
            assert abs(in_test - count / k) < 1 + 1e-9


def test_validation_is_stratified_and_a_tenth_of_the_training_graphs() -> None:
    y = torch.tensor([0] * 300 + [1] * 100)
    for fold in graph_folds(y, "classes", 4, 0):
        val = y[fold["val"]]
        assert len(val) == 30  # 10% of 300 training graphs
        assert int((val == 1).sum()) in (7, 8)  # a quarter of them, as in the training graphs


def test_folds_are_seeded() -> None:
    y = torch.tensor([0, 1, 2] * 20)
    same = [graph_folds(y, "classes", 5, 3) for _ in range(2)]
    other = graph_folds(y, "classes", 5, 4)
    assert all(torch.equal(a[p], b[p]) for a, b in zip(*same, strict=True) for p in a)
    assert any(not torch.equal(a["test"], b["test"]) for a, b in zip(same[0], other, strict=True))


def test_more_folds_than_the_smallest_class_is_a_user_error() -> None:
    y = torch.tensor([0] * 20 + [1] * 3)
    with pytest.raises(UserError, match=r"dataset.folds: 4 stratified folds .* class 1 has 3"):
        graph_folds(y, "classes", 4, 0)
    assert len(graph_folds(y, "classes", 3, 0)) == 3


def test_regression_and_multilabel_folds_are_plain_kfold() -> None:
    y = torch.randn(23, 2)
    folds = graph_folds(y, "regression", 5, 0)
    assert sorted(len(fold["test"]) for fold in folds) == [4, 4, 5, 5, 5]
    assert set().union(*(as_set(fold["test"]) for fold in folds)) == set(range(23))
    with pytest.raises(UserError, match="5 folds need at least 5 graphs"):
        graph_folds(torch.randn(4, 1), "regression", 5, 0)


@settings(max_examples=15, deadline=None)
@given(n=st.integers(3, 200), train=st.floats(0.1, 0.8), seed=st.integers(0, 99))
def test_random_split_partitions_every_graph(n: int, train: float, seed: int) -> None:
    val = (1 - train) / 2
    split = random_split(torch.arange(n) % 3, "classes", train, val, seed)
    parts = [as_set(split[p]) for p in ("train", "val", "test")]
    assert set().union(*parts) == set(range(n)) and sum(map(len, parts)) == n and all(parts)
    assert torch.equal(split["test"], random_split(torch.arange(n) % 3, "classes", train, val, seed)["test"])


def test_random_split_fractions_and_strata() -> None:
    y = torch.tensor([0] * 800 + [1] * 200)
    split = random_split(y, "classes", 0.6, 0.2, 0)
    assert [len(split[p]) for p in ("train", "val", "test")] == [600, 200, 200]
    assert int(y[split["test"]].sum()) == 40 and int(y[split["val"]].sum()) == 40


def test_stratified_take_keeps_each_class_share() -> None:
    rng = np.random.default_rng(0)
    labels = np.array([0] * 50 + [1] * 30 + [2] * 20)
    taken = stratified_take(np.arange(100), labels, 10, rng)
    assert len(taken) == 10 and len(set(taken)) == 10
    assert np.bincount(labels[taken], minlength=3).tolist() == [5, 3, 2]
