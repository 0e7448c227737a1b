"""Batches of whole graphs as one block-diagonal graph, built by index gathers.

A `GraphSet` keeps every graph's nodes and edges contiguous (`node_ptr`, `edge_ptr`). The edges
are put once into the order `GraphOps` keeps (by target, then source; self-loops and repeats
dropped), so a batch is: the chosen graphs' node rows and edge columns gathered with one index
each, the edges' ends shifted to the batch's numbering, and a `GraphOps` that takes them as they
are (`grouped`): no Python loop over graphs, no sort per batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from gnntool.data.graphsets.dataset import GraphSet
from gnntool.models.graph_ops import GraphOps


@dataclass
class GraphBatch:
    """Some graphs of a set as one disjoint union: features, structure, edge features, targets."""

    x: Tensor
    ops: GraphOps
    edge_attr: Tensor | None
    y: Tensor | None  # None: graphs without targets (embed, predict)
    graphs: Tensor  # the set's indices of the batch's graphs, in batch order


def canonical_edges(edge_index: Tensor, num_nodes: int) -> Tensor:
    """The positions of the edges to keep, in `GraphOps` order: sorted by (target, source), no
    self-loop, one edge of each repeated pair (its first)."""
    source, target = edge_index
    position = torch.nonzero(source != target).view(-1)
    key = target[position] * num_nodes + source[position]
    key, order = torch.sort(key, stable=True)
    first = torch.ones_like(key, dtype=torch.bool)
    first[1:] = key[1:] != key[:-1]
    return position[order[first]]


def segments(ptr: Tensor, chosen: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """For the `chosen` segments of `ptr`: (the rows to gather, in order; each segment's shift from
    the set's numbering to the batch's; the segments' lengths)."""
    start = ptr[chosen]
    length = ptr[chosen + 1] - start
    shift = start - (torch.cumsum(length, 0) - length)
    total = int(length.sum())
    rows = torch.arange(total, device=ptr.device) + torch.repeat_interleave(shift, length, output_size=total)
    return rows, shift, length


class GraphBatcher:
    """A `GraphSet` on a device, ready to cut into batches of graphs."""

    def __init__(self, graphs: GraphSet, device: torch.device) -> None:
        keep = canonical_edges(graphs.edge_index, int(graphs.x.size(0)))  # sorted by (target, source)
        source, target = graphs.edge_index[:, keep]
        nodes = int(graphs.x.size(0))
        # every edge's reverse present (undirected graphs): the adjacency is its own transpose
        self.symmetric = torch.equal(torch.sort(source * nodes + target).values, target * nodes + source)
        graph_of_edge = graphs.graph_of_node()[target]
        edge_ptr = torch.zeros(graphs.num_graphs + 1, dtype=torch.long)
        torch.cumsum(torch.bincount(graph_of_edge, minlength=graphs.num_graphs), 0, out=edge_ptr[1:])
        self.x = graphs.x.to(device) if graphs.node_vocab else graphs.x.to(device, torch.float)
        self.source, self.target = source.to(device), target.to(device)
        self.edge_attr = None if graphs.edge_attr is None else graphs.edge_attr[keep].to(device)
        if self.edge_attr is not None and not graphs.edge_vocab:
            self.edge_attr = self.edge_attr.float()
        self.node_ptr = graphs.node_ptr.to(device)
        self.edge_ptr = edge_ptr.to(device)
        self.y = None if graphs.y is None else graphs.y.to(device)
        self.device = device

    def batch(self, chosen: Tensor) -> GraphBatch:
        """Graphs `chosen` (set indices) as one batch, in that order."""
        chosen = chosen.to(self.device)
        rows, node_shift, nodes = segments(self.node_ptr, chosen)
        columns, _, edges = segments(self.edge_ptr, chosen)
        # an edge's ends shift as its graph's nodes do
        end_shift = torch.repeat_interleave(node_shift, edges, output_size=columns.numel())
        edge_index = torch.stack([self.source[columns] - end_shift, self.target[columns] - end_shift])
        count = chosen.numel()
        positions = torch.arange(count, device=self.device)
        graph_of_node = torch.repeat_interleave(positions, nodes, output_size=rows.numel())
        ops = GraphOps(
            edge_index, rows.numel(), batch=graph_of_node, num_graphs=count, grouped=True, symmetric=self.symmetric
        )
        edge_attr = None if self.edge_attr is None else self.edge_attr[columns]
        y = None if self.y is None else self.y[chosen]
        return GraphBatch(self.x[rows], ops, edge_attr, y, chosen)
