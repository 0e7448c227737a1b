"""A whole-graph set on the device, with one fold's split: what the graph objective trains and scores."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor

from gnntool.data.graphsets.dataset import GraphSet
from gnntool.engine.graphs.batches import GraphBatcher
from gnntool.errors import UserError
from gnntool.traits import SPLITS


@dataclass
class GraphTask:
    """A `GraphSet` ready to batch on `device`, and the graph indices of fold `fold`'s splits."""

    dataset: GraphSet
    device: torch.device
    fold: int
    batcher: GraphBatcher
    splits: dict[str, Tensor]
    chunk_size: None = None  # inference is never layer-wise here
    kind: ClassVar[str] = "graph set"  # which objective registry serves it (gnntool.engine.objectives)

    @property
    def num_features(self) -> int:
        return self.dataset.num_features

    @property
    def num_classes(self) -> int:
        return self.dataset.num_outputs

    @property
    def multilabel(self) -> bool:
        return self.dataset.task == "multilabel"

    def training_size(self) -> tuple[int, int, int]:
        """Nodes, edges and features of the training graphs (what sizes the thread count)."""
        train = self.splits["train"]
        nodes, edges = (int((p[train + 1] - p[train]).sum()) for p in (self.dataset.node_ptr, self.dataset.edge_ptr))
        return nodes, edges, self.num_features


def graph_task(graphs: GraphSet, device: torch.device, fold: int) -> GraphTask:
    """`graphs` on `device` with fold `fold`'s split (a set not split into folds has fold 0 only)."""
    if not 0 <= fold < len(graphs.splits):
        raise UserError(f"--fold {fold}: the run has {len(graphs.splits)} fold(s), numbered from 0")
    splits = {split: graphs.splits[fold][split] for split in SPLITS}
    return GraphTask(graphs, device, fold, GraphBatcher(graphs, device), splits)
