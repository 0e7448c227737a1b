"""The structure of a typed graph as typed layers consume it: one cached `GraphOps` per relation.

A relation ``(source type, name, target type)`` sends messages from its source type's nodes to
its target type's. Its operator is a `GraphOps` whose targets come first: within one type the
type's own nodes (a square graph, as on a homogeneous graph); between two types the target
type's output rows followed by the source type's nodes (a block, as layer-wise inference builds),
so that every existing layer, which reads a node's own row with `ops.targets(x)` and its
neighbours' rows through the aggregation operators, runs on a relation unchanged
(`RelationOps.inputs` puts the rows in that order).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import torch
from torch import Tensor

from gnntool.models.graph_ops import GraphOps
from gnntool.relation_names import EdgeType, parse_relation, relation_name


@dataclass(frozen=True)
class TypedSchema:
    """What a typed model is built for: node types with their counts and input widths (0: no
    features), the relations, and the type that supervised runs score (`target`). Plain values,
    saved in model.pt."""

    num_nodes: dict[str, int]
    widths: dict[str, int]
    relations: list[EdgeType]
    target: str | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "num_nodes": dict(self.num_nodes),
            "widths": dict(self.widths),
            "relations": [relation_name(edge_type) for edge_type in self.relations],
            "target": self.target,
        }

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> TypedSchema:
        """The schema `as_dict` wrote."""
        relations = [parse_relation(name) for name in values["relations"]]
        return cls(dict(values["num_nodes"]), dict(values["widths"]), relations, values.get("target"))


@dataclass
class RelationOps:
    """One relation's operators: `ops` over its target rows first, then (between two types) the
    source type's rows; `offset` is where those source rows start (0 within one type).
    `prepared`: the rows `inputs` gives, made once for every chunk of a layer-wise pass."""

    edge_type: EdgeType
    ops: GraphOps
    offset: int
    prepared: Tensor | None = None

    @property
    def source_type(self) -> str:
        return self.edge_type[0]

    @property
    def target_type(self) -> str:
        return self.edge_type[2]

    @property
    def num_targets(self) -> int:
        return self.ops.num_targets

    def inputs(self, x: Mapping[str, Tensor]) -> Tensor:
        """The rows `ops` reads from per-type features `x`: the target type's own rows (all of
        them within one type; its output rows, then the source type's rows, between two)."""
        source, target = self.source_type, self.target_type
        if self.prepared is not None:
            return self.prepared
        if source == target:
            return x[target]
        return torch.cat([x[target][: self.offset], x[source]])

    @cached_property
    def mean_adjacency(self) -> Tensor:
        """The `targets × source nodes` row-normalised adjacency over the source type's rows only
        (no target rows in front): (M h)_v is the mean of v's in-neighbours' h, zero without any."""
        ops = self.ops
        crow = ops.rowptr[ops.first_target : ops.first_target + ops.num_targets + 1]
        value = 1.0 / ops.in_degree[ops.target].to(torch.float)
        columns = ops.num_nodes - self.offset
        return torch.sparse_csr_tensor(
            crow - crow[0], ops.source - self.offset, value, (ops.num_targets, columns), check_invariants=False
        )


def relation_ops(
    edge_type: EdgeType, edge_index: Tensor, num_sources: int, num_targets: int, grouped: bool = False
) -> RelationOps:
    """A relation's `RelationOps` from its `edge_index` (row 0 source positions, row 1 target
    positions within their types). Within one type the first `num_targets` of the `num_sources`
    nodes are the output rows. `grouped`: the edges are already in ascending target order with
    no repeats (and, within one type, no self-loops), as `GraphOps` takes them."""
    if edge_type[0] == edge_type[2]:
        ops = GraphOps(edge_index, num_sources, num_targets=num_targets, grouped=grouped)
        return RelationOps(edge_type, ops, 0)
    source, target = edge_index
    if not grouped:  # sorted by (target, source), repeats dropped, as GraphOps keeps edges
        key = torch.unique(target * num_sources + source)
        source, target = key % num_sources, key // num_sources
    # Between two types: GCN weighs an edge by both ends' degrees, the source's being its
    # out-degree in this relation (the bipartite graph's symmetric normalisation).
    degree = torch.cat([torch.bincount(target, minlength=num_targets), torch.bincount(source, minlength=num_sources)])
    ops = GraphOps(
        torch.stack([source + num_targets, target]),
        num_targets + num_sources,
        num_targets=num_targets,
        degree=degree,
        grouped=True,  # sources shifted past every target: no self-loops
    )
    return RelationOps(edge_type, ops, num_targets)


@dataclass
class TypedOps:
    """A typed graph (or one layer's block of a sampled batch, or a row slice) for typed layers:
    per relation its `RelationOps`, per node type its input rows (`num_nodes`) and the types a
    layer outputs with their output rows (`num_targets`, default every type's every node), from
    row `first_target` of the type on (a row slice; default 0)."""

    relations: dict[EdgeType, RelationOps]
    num_nodes: dict[str, int]
    num_targets: dict[str, int] = field(default_factory=dict)
    first_target: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.num_targets:
            self.num_targets = dict(self.num_nodes)

    def targets(self, node_type: str, x: Tensor) -> Tensor:
        """The output rows of a type among its input rows `x`."""
        first = self.first_target.get(node_type, 0)
        return x[first : first + self.num_targets[node_type]]

    def rows(
        self, node_type: str, start: int, end: int, prepared: Mapping[EdgeType, Tensor] | None = None
    ) -> TypedOps:
        """The row slice of `node_type`'s nodes `start` .. `end` - 1: only that type is output,
        from the relations into it, each sliced (`GraphOps.rows`: every node's rows stay inputs);
        `prepared` holds each relation's `RelationOps.inputs`, made once for all slices."""
        prepared = prepared or {}
        relations = {
            edge_type: RelationOps(edge_type, relation.ops.rows(start, end), relation.offset, prepared.get(edge_type))
            for edge_type, relation in self.relations.items()
            if relation.target_type == node_type
        }
        return TypedOps(relations, self.num_nodes, {node_type: end - start}, {node_type: start})

    def batch(self, node_type: str, rows: int) -> Tensor:
        """The graph of each of `rows` nodes of a type (one graph: zeros), for norms."""
        device = next(iter(self.relations.values())).ops.device if self.relations else torch.device("cpu")
        return torch.zeros(rows, dtype=torch.long, device=device)


def typed_ops(
    edge_index: Mapping[EdgeType, Tensor], num_nodes: Mapping[str, int], device: torch.device | None = None
) -> TypedOps:
    """The whole typed graph's `TypedOps` (every node a target), each relation's operators cached."""
    relations = {}
    for edge_type, edges in edge_index.items():
        edges = edges if device is None else edges.to(device)
        source_type, _, target_type = edge_type
        relations[edge_type] = relation_ops(edge_type, edges, num_nodes[source_type], num_nodes[target_type])
    return TypedOps(relations, dict(num_nodes))
