"""One labelled graph with split masks → a `GraphDataset`, transductive or inductive."""

from __future__ import annotations

import torch
from torch import Tensor
from torch_geometric.data import Data

from gnntool.data.dataset import GraphDataset, SplitPart
from gnntool.errors import UserError
from gnntool.traits import SPLITS


def random_masks(data: Data, train_frac: float, val_frac: float, seed: int) -> None:
    """Set `data`'s train/val/test masks to a seeded random split by fractions (test: the rest)."""
    for split, mask in split_masks(data.num_nodes, train_frac, val_frac, seed).items():
        data[f"{split}_mask"] = mask


def split_masks(num_nodes: int, train_frac: float, val_frac: float, seed: int) -> dict[str, Tensor]:
    """A seeded random split of `num_nodes` nodes by fractions (test: the rest), as bool masks."""
    order = torch.randperm(num_nodes, generator=torch.Generator().manual_seed(seed))
    num_train = round(train_frac * num_nodes)
    num_val = round(val_frac * num_nodes)
    masks = {}
    for split, nodes in zip(SPLITS, torch.split(order, [num_train, num_val, num_nodes - num_train - num_val])):
        masks[split] = torch.zeros(num_nodes, dtype=torch.bool)
        masks[split][nodes] = True
    return masks


def check_masks(data: Data, source: str) -> None:
    """Every split must hold nodes: an empty one would train without validation or report
    metrics of no node; `source` says where the masks came from."""
    for split in SPLITS:
        if not bool(data[f"{split}_mask"].any()):
            raise UserError(f"{source}: the {split} split is empty ({split}_mask selects no node)")


def single_graph_dataset(data: Data, inductive: bool = False, multilabel: bool = False) -> GraphDataset:
    """Split one graph by its `train_mask`, `val_mask` and `test_mask`.

    Transductive: every split runs on the whole graph and scores its own nodes. Inductive (the
    usual GraphSAGE setting): training runs on the subgraph induced by every node that is neither
    a validation nor a test node, validation on the graph without the test nodes, and only the
    test pass sees the whole graph, so test nodes and their edges are never seen in training.
    """
    check_masks(data, "dataset")
    if not inductive:
        splits = {split: [SplitPart(data, data[f"{split}_mask"])] for split in SPLITS}
    else:
        train_graph = data.subgraph(~(data.val_mask | data.test_mask))
        val_graph = data.subgraph(~data.test_mask)
        splits = {
            "train": [SplitPart(train_graph, train_graph.train_mask)],
            "val": [SplitPart(val_graph, val_graph.val_mask)],
            "test": [SplitPart(data, data.test_mask)],
        }
    if data.y is None:
        num_classes = 0
    else:
        num_classes = data.y.size(1) if multilabel else int(data.y.max()) + 1
    return GraphDataset(
        graphs=[data],
        splits=splits,
        num_features=data.num_features,
        num_classes=num_classes,
        multilabel=multilabel,
    )
