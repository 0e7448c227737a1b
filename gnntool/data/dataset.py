"""What every dataset loader returns: the graphs, the nodes each split scores, and the task."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from torch import Tensor
from torch_geometric.data import Data


@dataclass
class SplitPart:
    """One graph a split runs the model on, and the nodes of it whose labels count in that split.

    Transductive splits share one graph with different masks; inductive ones run on subgraphs
    (training never sees validation or test nodes); multi-graph datasets (PPI) give one part per
    graph with every node masked in.
    """

    graph: Data
    mask: Tensor


@dataclass
class GraphDataset:
    """A loaded dataset.

    `graphs` holds every graph of the dataset once, in dataset order: embeddings.npy has one row
    per node of these, in this order. `splits` maps train/val/test to the parts each split runs.
    Every graph has `x` (nodes × features, float) and `edge_index`; labelled ones have `y`: class
    ids (long, nodes) or, when `multilabel`, a 0/1 float matrix (nodes × num_classes); an
    unlabelled dataset has `num_classes` 0. `node_id` holds the input's own node ids (one per row
    of embeddings.npy) when the input gave them, else None (ids are then row positions).
    `scorer`, when set, is the dataset's own metric (OGB's Evaluator): a split's logits and
    labels -> {metric: value}, reported beside (or instead of) the built-in ones.
    `held_out` holds the link-prediction edges a graph file brings (`val_edges`, `test_edges`,
    optional `val_negatives`/`test_negatives`: 2 × P row positions), else None.
    """

    graphs: list[Data]
    splits: dict[str, list[SplitPart]]
    num_features: int
    num_classes: int
    multilabel: bool = False
    node_id: np.ndarray | None = None
    scorer: Callable[[Tensor, Tensor], dict[str, float]] | None = None
    held_out: dict[str, np.ndarray] | None = None

    @property
    def labelled(self) -> bool:
        return self.num_classes > 0

    def output_ids(self) -> np.ndarray:
        """The id of every output row: the input's own ids, else row positions over all graphs."""
        if self.node_id is not None:
            return self.node_id
        return np.arange(sum(graph.num_nodes for graph in self.graphs))
