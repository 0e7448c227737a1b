"""What every whole-graph loader returns: many small graphs, one target row per graph, and the splits."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

__all__ = ["TASKS", "GraphSet"]

# What a set's targets are: one class per graph, a 0/1 matrix with NaN for missing labels, real values.
TASKS = ("classes", "multilabel", "regression")


@dataclass
class GraphSet:
    """Many small graphs, one target row per graph; nodes and edges sorted by graph.

    - `x`: N × F float features, or N × C long categorical columns when `node_vocab` is set
      (each column embedded with its own table of `node_vocab[c]` rows, as OGB's AtomEncoder does).
    - `edge_index`: 2 × E long over all nodes (global rows); no edge joins two graphs.
    - `node_ptr`, `edge_ptr`: (G+1,) long; graph g's nodes are rows `node_ptr[g]:node_ptr[g+1]`, its
      edges columns `edge_ptr[g]:edge_ptr[g+1]`.
    - `y`: (G,) long classes | (G × C) float 0/1 with NaN = missing (multilabel) | (G × T) float
      (regression); `task` says which ("classes", "multilabel", "regression") and `num_outputs`
      counts the classes, labels or targets. Graphs read to run a trained model on
      (`gnntool.data.graphsets.unseen.read_graph_set`) may bring no targets: y and task are then
      None, num_outputs 0 and splits empty.
    - `splits`: one dict per fold (a single one when not split into folds) of "train", "val",
      "test" -> sorted long graph indices; val comes from the fold's training graphs and never
      overlaps test.
    - `edge_attr`: E × D float, or E × C long categorical when `edge_vocab` is set.
    - `graph_id`: the input's own graph ids; `class_names[i]`: the original label of class i.
    - `degree_width`: when `dataset.degree_features` appended one-hot degrees (the last columns of
      `x`, or its last categorical column), their number; graphs read later get the same.
    - `scorer`: the dataset's own metric (OGB's Evaluator): a split's outputs and targets ->
      {metric: value}.
    """

    x: Tensor
    edge_index: Tensor
    node_ptr: Tensor
    edge_ptr: Tensor
    y: Tensor | None
    task: str | None
    num_outputs: int
    splits: list[dict[str, Tensor]]
    edge_attr: Tensor | None = None
    node_vocab: list[int] | None = None
    edge_vocab: list[int] | None = None
    graph_id: np.ndarray | None = None
    class_names: np.ndarray | None = None
    scorer: Callable[[Tensor, Tensor], dict[str, float]] | None = None
    degree_width: int | None = None

    @property
    def num_graphs(self) -> int:
        return len(self.node_ptr) - 1

    @property
    def num_features(self) -> int:
        """Feature width, or the number of categorical columns when `node_vocab` is set."""
        return int(self.x.size(1))

    @property
    def num_edge_features(self) -> int:
        """Edge feature width (categorical columns when `edge_vocab` is set); 0 without edge features."""
        return 0 if self.edge_attr is None else int(self.edge_attr.size(1))

    def graph_of_node(self) -> Tensor:
        """(N,) long: the graph of every node."""
        return torch.repeat_interleave(torch.arange(self.num_graphs), self.node_ptr.diff())

    def graph_of_edge(self) -> Tensor:
        """(E,) long: the graph of every edge."""
        return torch.repeat_interleave(torch.arange(self.num_graphs), self.edge_ptr.diff())

    def output_ids(self) -> np.ndarray:
        """The id of every graph: the input's own ids, else positions."""
        return self.graph_id if self.graph_id is not None else np.arange(self.num_graphs)
