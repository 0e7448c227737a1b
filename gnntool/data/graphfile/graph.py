"""`GraphFile`, what the readers return, and how they build it from checked arrays."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch_geometric.data import Data


@dataclass
class GraphFile:
    """A graph read from a user's file.

    `data` has `x` (float32, nodes × features), `edge_index` (int64, 2 × edges, row positions),
    `y` when labels were given (long class ids, or a float 0/1 matrix when `multilabel`), and
    `train_mask`/`val_mask`/`test_mask` (bool) when the .npz holds them. `node_id` holds the
    input's node ids (.npz `node_id`, the csv `id` column), else `arange(nodes)`.
    """

    data: Data
    node_id: np.ndarray
    has_labels: bool
    multilabel: bool


def build(
    x: np.ndarray,
    edge_index: np.ndarray,
    y: np.ndarray | None,
    node_id: np.ndarray,
    masks: dict[str, np.ndarray],
) -> GraphFile:
    """The `GraphFile` of arrays the validators have checked."""
    data = Data(
        x=torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)),
        edge_index=torch.from_numpy(np.ascontiguousarray(edge_index, dtype=np.int64)),
    )
    if y is not None:
        data.y = torch.from_numpy(np.ascontiguousarray(y))
    for key, mask in masks.items():
        data[key] = torch.from_numpy(np.ascontiguousarray(mask, dtype=np.bool_))
    return GraphFile(
        data=data,
        node_id=np.ascontiguousarray(node_id, dtype=np.int64),
        has_labels=y is not None,
        multilabel=y is not None and y.ndim == 2,
    )
