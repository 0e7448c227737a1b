"""`TypedDataset`: what every loader of a typed graph returns (several node and edge types)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import HeteroData

from gnntool.errors import UserError
from gnntool.relation_names import EdgeType, reverse_relation

__all__ = ["TypedDataset", "add_reverse_relations", "check_target"]


@dataclass
class TypedDataset:
    """A graph with several node and edge types (PyG `HeteroData` inside).

    `graph`: per node type T, `graph[T].num_nodes` and, only for types with features,
    `graph[T].x` (float32, N_T × F_T; widths may differ by type); per relation (src, rel, dst),
    `graph[src, rel, dst].edge_index` (2 × E, int64 row positions within each type). Reverse
    relations are already added when `dataset.add_reverse` (`add_reverse_relations`).
    `target` is the node type a supervised run scores (None: no labelled type); `y` its labels,
    long (N_target,) with -1 for unlabelled nodes, or float 0/1 (N_target × C) when `multilabel`;
    `masks` the train/val/test bool masks over the target's nodes ({} without a target).
    `node_id` holds every type's own ids in row order (as read, ints or strings; row positions
    where the input has none). `held_out` (knowledge graphs) holds `{"val": {relation: 2 × P},
    "test": {...}}`; the training triples are in `graph` (for message passing, symmetric with
    `add_reverse`) and, as the files list them, in `held_out["train"]` (the known triples of
    the filtered ranking). `scorer` is the dataset's own metric
    (ogbn-mag: OGB's Evaluator), as `GraphDataset.scorer`.
    """

    graph: HeteroData
    target: str | None
    y: Tensor | None
    masks: dict[str, Tensor]
    num_classes: int
    multilabel: bool = False
    node_id: dict[str, np.ndarray] = field(default_factory=dict)
    held_out: dict[str, dict[EdgeType, Tensor]] | None = None
    scorer: Callable[[Tensor, Tensor], dict[str, float]] | None = None
    knowledge_graph: bool = False

    def relations(self) -> list[EdgeType]:
        """Every relation of the graph, reverse ones included, in the graph's order."""
        return list(self.graph.edge_types)

    def node_types(self) -> list[str]:
        """Every node type, in the graph's order."""
        return list(self.graph.node_types)

    def featureless(self) -> list[str]:
        """The node types without features (models give them a learnt embedding or a constant)."""
        return [name for name in self.graph.node_types if "x" not in self.graph[name]]

    @property
    def labelled(self) -> bool:
        return self.num_classes > 0


def check_target(named: str | None, target: str, source: str) -> None:
    """`dataset.target`, when set, must be `target`, the only labelled type of `source`."""
    if named is not None and named != target:
        raise UserError(f"dataset.target: {source} scores node type {target!r}; {named!r} is not its labelled type")


def add_reverse_relations(graph: HeteroData) -> None:
    """What PyG's `ToUndirected` does to a `HeteroData`, in place: a relation between two types
    gets its reverse `(dst, "rev_" + rel, src)`; a relation within one type is made symmetric
    (each edge also the other way, repeats dropped, sorted by target then source)."""
    for edge_type in list(graph.edge_types):
        source, _, target = edge_type
        edge_index = graph[edge_type].edge_index
        if source == target:
            graph[edge_type].edge_index = symmetric(edge_index, graph[source].num_nodes)
        else:
            graph[reverse_relation(edge_type)].edge_index = edge_index.flip(0).contiguous()


def symmetric(edge_index: Tensor, num_nodes: int) -> Tensor:
    """`edge_index` with every edge also the other way, repeats dropped, sorted by (target, source)."""
    both = torch.cat([edge_index, edge_index.flip(0)], dim=1)
    keys = torch.unique(both[1] * num_nodes + both[0])
    return torch.stack([keys % num_nodes, keys // num_nodes])
