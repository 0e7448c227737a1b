"""Per-graph operators that layers share, each built once per graph on first use and cached.

A model never sees `edge_index` directly: it gets a `GraphOps`, so that the renormalised GCN
adjacency, the mean-aggregation matrix and the neighbour lists are computed once per graph
(pre-processing), never once per epoch or per layer.
"""

from __future__ import annotations

import warnings
from functools import cached_property

import torch
from torch import Tensor

# torch marks sparse CSR as beta; we rely only on its stable matmul path.
warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")


def sparse_csr(row: Tensor, col: Tensor, value: Tensor, num_nodes: int) -> Tensor:
    """A `num_nodes × num_nodes` CSR matrix with `value` at (row, col); duplicates are summed."""
    matrix = torch.sparse_coo_tensor(
        torch.stack([row, col]), value, (num_nodes, num_nodes), check_invariants=False
    ).coalesce()
    return matrix.to_sparse_csr()


class GraphOps:
    """The structure of one graph (or a batch of disjoint graphs) as layers consume it.

    `edge_index` follows PyG's source-to-target convention: row 0 holds sources, row 1 targets,
    and a node aggregates over its incoming edges. `batch` maps every node to its graph (all
    zeros for a single graph) so that normalisation layers can take per-graph statistics.
    Self-loops and duplicate edges in `edge_index` are dropped: every operator defines its own
    treatment of the node itself.
    """

    def __init__(
        self,
        edge_index: Tensor,
        num_nodes: int,
        batch: Tensor | None = None,
        num_graphs: int | None = None,
    ) -> None:
        source, target = edge_index
        keep = source != target
        key = torch.unique(target[keep] * num_nodes + source[keep])  # sorted by target, then source
        self.source = key % num_nodes
        self.target = key // num_nodes
        self.num_nodes = num_nodes
        device = edge_index.device
        self.batch = batch if batch is not None else torch.zeros(num_nodes, dtype=torch.long, device=device)
        self.num_graphs = num_graphs if num_graphs is not None else int(self.batch.max()) + 1 if num_nodes else 0

    @property
    def device(self) -> torch.device:
        return self.source.device

    @cached_property
    def in_degree(self) -> Tensor:
        """Number of distinct in-neighbours of every node (self excluded)."""
        return torch.bincount(self.target, minlength=self.num_nodes)

    @cached_property
    def rowptr(self) -> Tensor:
        """CSR row pointers over targets: the in-neighbours of v are `source[rowptr[v]:rowptr[v+1]]`."""
        rowptr = torch.zeros(self.num_nodes + 1, dtype=torch.long, device=self.device)
        torch.cumsum(self.in_degree, 0, out=rowptr[1:])
        return rowptr

    @cached_property
    def gcn_adjacency(self) -> Tensor:
        """Â = D~^{-1/2} (A + I) D~^{-1/2} (Kipf & Welling's renormalisation trick), sparse CSR."""
        loops = torch.arange(self.num_nodes, device=self.device)
        row = torch.cat([self.target, loops])
        col = torch.cat([self.source, loops])
        deg_inv_sqrt = (self.in_degree + 1).to(torch.float).rsqrt()
        value = deg_inv_sqrt[row] * deg_inv_sqrt[col]
        return sparse_csr(row, col, value, self.num_nodes)

    @cached_property
    def mean_adjacency(self) -> Tensor:
        """Row-normalised A: (M h)_v is the mean of v's in-neighbours' h; zero without neighbours."""
        value = 1.0 / self.in_degree[self.target].to(torch.float)
        return sparse_csr(self.target, self.source, value, self.num_nodes)

    @cached_property
    def gcn_mean_adjacency(self) -> Tensor:
        """(M h)_v = mean of {h_v} ∪ {h_u : u ∈ N(v)} (GraphSAGE's gcn aggregator), sparse CSR."""
        loops = torch.arange(self.num_nodes, device=self.device)
        row = torch.cat([self.target, loops])
        col = torch.cat([self.source, loops])
        value = 1.0 / (self.in_degree[row] + 1).to(torch.float)
        return sparse_csr(row, col, value, self.num_nodes)
