"""Which graphs train, select and test: k-fold cross-validation, a random split, or a given one.

Every split is a dict "train", "val", "test" -> sorted long graph indices that partition the
graphs it uses. In `graph_folds` the test parts of the k folds partition all graphs, and each
fold's validation graphs (10%, stratified for single-label classes) come out of its training
graphs, so that early stopping and model selection never see the fold's test graphs.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from gnntool.errors import UserError

__all__ = ["VAL_SHARE", "graph_folds", "random_split", "stratified_take"]

VAL_SHARE = 0.1  # of each fold's training graphs, for early stopping and model selection


def _part(indices: np.ndarray) -> Tensor:
    return torch.from_numpy(np.sort(np.asarray(indices, dtype=np.int64)))


def _single_label(task: str) -> bool:
    return task == "classes"


def stratified_take(indices: np.ndarray, labels: np.ndarray | None, total: int, rng: np.random.Generator) -> np.ndarray:
    """`total` of `indices` at random, with each label's share as close to its share of `indices`
    as whole graphs allow when `labels` (one per index) are given: largest remainders decide."""
    if labels is None:
        return rng.choice(indices, total, replace=False)
    classes, counts = np.unique(labels, return_counts=True)
    quota = counts * total / len(indices)
    taken = np.floor(quota).astype(np.int64)
    order = np.argsort(-(quota - taken), kind="stable")
    taken[order[: total - int(taken.sum())]] += 1
    chosen = [rng.choice(indices[labels == c], n, replace=False) for c, n in zip(classes, taken, strict=True)]
    return np.concatenate(chosen)


def _with_val(train: np.ndarray, test: np.ndarray, y: np.ndarray | None, rng: np.random.Generator) -> dict[str, Tensor]:
    """A fold: `VAL_SHARE` of its training graphs (stratified by `y` when given) become validation."""
    if len(train) < 2:
        raise UserError(
            f"dataset.folds: a fold has {len(train)} training graph, too few to hold out validation graphs; "
            "lower dataset.folds"
        )
    val = stratified_take(train, None if y is None else y[train], max(1, round(VAL_SHARE * len(train))), rng)
    return {"train": _part(np.setdiff1d(train, val)), "val": _part(val), "test": _part(test)}


def graph_folds(y: Tensor, task: str, k: int, seed: int) -> list[dict[str, Tensor]]:
    """k folds: stratified for single-label classes (scikit-learn's StratifiedKFold), plain seeded
    KFold otherwise; each fold's validation graphs come from its training graphs.

    A UserError when there are fewer graphs than folds, or when a class has fewer graphs than
    folds (a fold's test part could not hold every class)."""
    from sklearn.model_selection import KFold, StratifiedKFold

    num_graphs = len(y)
    if k > num_graphs:
        raise UserError(f"dataset.folds: {k} folds need at least {k} graphs; the dataset has {num_graphs}")
    labels = y.numpy() if _single_label(task) else None
    rng = np.random.default_rng(seed)
    index = np.arange(num_graphs)
    if labels is not None:
        classes, counts = np.unique(labels, return_counts=True)
        if counts.min() < k:
            smallest = int(np.argmin(counts))
            raise UserError(
                f"dataset.folds: {k} stratified folds need at least {k} graphs of every class; class "
                f"{int(classes[smallest])} has {int(counts[smallest])} "
                "(lower dataset.folds, or use dataset.split: random)"
            )
        splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed).split(index, labels)
    else:
        splitter = KFold(n_splits=k, shuffle=True, random_state=seed).split(index)
    return [_with_val(train, test, labels, rng) for train, test in splitter]


def random_split(y: Tensor, task: str, train_frac: float, val_frac: float, seed: int) -> dict[str, Tensor]:
    """`train_frac` of the graphs train, `val_frac` validate, the rest test, drawn by `seed`
    (each part stratified for single-label classes); every part holds at least one graph."""
    num_graphs = len(y)
    if num_graphs < 3:
        raise UserError(
            f"dataset.split: random needs at least 3 graphs (train, val, test); the dataset has {num_graphs}"
        )
    rng = np.random.default_rng(seed)
    labels = y.numpy() if _single_label(task) else None
    index = np.arange(num_graphs)
    num_test = min(max(1, round((1.0 - train_frac - val_frac) * num_graphs)), num_graphs - 2)
    num_val = min(max(1, round(val_frac * num_graphs)), num_graphs - num_test - 1)
    test = stratified_take(index, labels, num_test, rng)
    rest = np.setdiff1d(index, test)
    val = stratified_take(rest, None if labels is None else labels[rest], num_val, rng)
    return {"train": _part(np.setdiff1d(rest, val)), "val": _part(val), "test": _part(test)}
