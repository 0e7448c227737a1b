"""Per-graph operators that layers share, each built once per graph on first use and cached.

A model never sees `edge_index` directly: it gets a `GraphOps`, so that the renormalised GCN
adjacency, the mean-aggregation matrix and the neighbour lists are computed once per graph
(pre-processing), never once per epoch or per layer.
"""

from __future__ import annotations

import warnings
from functools import cached_property

import torch
import torch.nn.functional as F
from torch import Tensor

# torch marks sparse CSR as beta; we rely only on its stable matmul path.
warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")


def sparse_csr(row: Tensor, col: Tensor, value: Tensor, shape: tuple[int, int]) -> Tensor:
    """A CSR matrix of `shape` with `value` at (row, col); duplicates are summed."""
    matrix = torch.sparse_coo_tensor(torch.stack([row, col]), value, shape, check_invariants=False).coalesce()
    return matrix.to_sparse_csr()


class CSRTranspose:
    """The transpose of a sparse CSR matrix as a fixed structure and a permutation of the values:
    a matrix with that structure and any values (dropout's) is transposed by one gather, where
    torch's own `A.t().to_sparse_csr()` sorts the entries again every time."""

    def __init__(self, matrix: Tensor) -> None:
        numbered = torch.sparse_csr_tensor(
            matrix.crow_indices(), matrix.col_indices(), torch.arange(matrix.values().numel(), dtype=torch.float64,
            device=matrix.device), matrix.shape, check_invariants=False,
        )  # fmt: skip
        transposed = numbered.t().to_sparse_csr()  # values < 2^53: exact in float64
        self.crow, self.col = transposed.crow_indices(), transposed.col_indices()
        self.permutation = transposed.values().long()
        self.shape = transposed.shape

    def __call__(self, values: Tensor) -> Tensor:
        """The transpose of the matrix of this structure holding `values`."""
        permuted = values.index_select(0, self.permutation)  # (not aten::index)
        return torch.sparse_csr_tensor(self.crow, self.col, permuted, self.shape, check_invariants=False)


_PLAN = "_gnntool_csr_transpose"  # where a sparse CSR tensor keeps its CSRTranspose


def transpose_plan(matrix: Tensor) -> CSRTranspose:
    """`matrix`'s `CSRTranspose`, built on first use and kept on the tensor itself (its lifetime)."""
    plan = getattr(matrix, _PLAN, None)
    if plan is None:
        plan = CSRTranspose(matrix)
        setattr(matrix, _PLAN, plan)
    return plan


def share_transpose_plan(source: Tensor, target: Tensor) -> Tensor:
    """`target` (same structure as the sparse CSR `source`, other values) using `source`'s plan."""
    setattr(target, _PLAN, transpose_plan(source))
    return target


class _ConstantSparseMatmul(torch.autograd.Function):
    """`matrix @ dense` for a sparse CSR `matrix` that needs no gradient; the backward's
    `matrixᵀ @ grad` takes the transpose from the matrix's cached `CSRTranspose`. Same
    arithmetic as torch's own backward, without its per-call transpose (a sort of every entry)."""

    @staticmethod
    def forward(ctx, dense: Tensor, matrix: Tensor) -> Tensor:
        ctx.matrix = matrix
        return torch.sparse.mm(matrix, dense)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None]:
        matrix = ctx.matrix
        return torch.sparse.mm(transpose_plan(matrix)(matrix.values()), grad), None


def sparse_matmul(matrix: Tensor, dense: Tensor) -> Tensor:
    """`matrix @ dense` for a constant sparse CSR `matrix` (an adjacency, or input features), with
    the transpose for the backward cached (see `transpose_plan`)."""
    if not dense.requires_grad or not torch.is_grad_enabled():
        return torch.sparse.mm(matrix, dense)
    return _ConstantSparseMatmul.apply(dense, matrix)


class _SelfPlusNeighbourSum(torch.autograd.Function):
    """`(1 + eps) x_v + Σ_{u ∈ N(v)} x_u` for the ops' targets, the neighbour sums as an
    `embedding_bag` over the CSR-ordered sources (one gather-and-add kernel, several times faster
    than a sparse CSR product at small widths; the same additions in the same order). The backward
    is written out: `Aᵀ grad + (1 + eps) grad` with the cached transposed bags, and the dot product
    of grad and x for eps, with no temporaries for autograd to keep."""

    @staticmethod
    def forward(ctx, x: Tensor, eps: Tensor, ops: GraphOps) -> Tensor:
        ctx.ops = ops
        ctx.save_for_backward(x, eps)
        return self_plus_neighbour_sum(x, eps, ops)  # (grad mode is off here)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor | None, Tensor | None, None]:
        x, eps = ctx.saved_tensors
        ops: GraphOps = ctx.ops
        grad_x = grad_eps = None
        if ctx.needs_input_grad[0]:
            index, offsets = ops.sum_bags_t
            grad_x = F.embedding_bag(index, grad, offsets, mode="sum")
            ops.targets(grad_x).addcmul_(grad, 1 + eps)
        if ctx.needs_input_grad[1]:
            grad_eps = torch.dot(grad.reshape(-1), ops.targets(x).reshape(-1).to(grad.dtype)).view(1)  # (autocast)
        return grad_x, grad_eps, None


def self_plus_neighbour_sum(x: Tensor, eps: Tensor, ops: GraphOps) -> Tensor:
    """`(1 + eps) x_v + the sum of v's in-neighbours' x` for every target v of `ops` (GIN's
    aggregation; `eps` a one-element tensor)."""
    if torch.is_grad_enabled() and (x.requires_grad or eps.requires_grad):
        return _SelfPlusNeighbourSum.apply(x, eps, ops)
    index, offsets = ops.sum_bags
    # detached: a weight that requires grad, even with grad mode off, takes embedding_bag's slower
    # kernel, the one that also prepares its own backward
    return F.embedding_bag(index, x.detach(), offsets, mode="sum").addcmul_(ops.targets(x), 1 + eps)


def is_canonical(source: Tensor, target: Tensor, num_nodes: int, chunk: int = 1 << 24) -> bool:
    """Are the edges already as GraphOps keeps them: sorted by (target, source), no repeats, no
    self-loops? Checked in chunks, so that a large graph needs no graph-sized temporaries."""
    for start in range(0, source.numel(), chunk):
        end = min(start + chunk + 1, source.numel())  # one edge of overlap: order across chunks
        key = target[start:end] * num_nodes + source[start:end]
        if bool((key[1:] <= key[:-1]).any()) or bool((source[start:end] == target[start:end]).any()):
            return False
    return True


class GraphOps:
    """The structure of one graph (or a batch of disjoint graphs) as layers consume it.

    `edge_index` follows PyG's source-to-target convention: row 0 holds sources, row 1 targets,
    and a node aggregates over its incoming edges. `batch` maps every node to its graph (all
    zeros for a single graph) so that normalisation layers can take per-graph statistics.
    Self-loops and duplicate edges in `edge_index` are dropped: every operator defines its own
    treatment of the node itself.

    A *block* computes outputs for part of the nodes only (layer-wise inference over chunks, or
    the shrinking receptive field of a sampled mini-batch): the first `num_targets` nodes are the
    targets, every edge points into one of them, operators are `num_targets × num_nodes` and a
    layer returns `num_targets` rows. `degree` then gives every node's in-degree in the whole
    graph, for operators that weigh an edge by its source's degree (GCN), and `node_ids` the
    nodes' ids in the whole graph, for anything that must not depend on how nodes were chunked.

    `symmetric=True` (the caller guarantees every edge's reverse present) lets the 0/1 adjacency be
    its own transpose in the backward, with nothing sorted.

    `grouped=True` takes the edges as they are, unchecked: the caller guarantees them in ascending
    target order, with no repeats and no self-loops, but sources in any order within a target (a
    sampled block, whose sources come in sampled order). Nothing here depends on that order: CSR
    operators need the rows grouped only, and the COO-built ones (GCN, gcn-mean) sort anyway.

    A *row slice* (`rows`) keeps every node and the whole graph's ids: its targets are the
    `num_targets` consecutive nodes from `first_target` on, its edges the ones into them, and its
    aggregation operators those rows of the whole graph's (what mean and GCN layers need to compute
    the targets' rows straight from every node's features, with nothing gathered or cached).
    """

    def __init__(
        self,
        edge_index: Tensor,
        num_nodes: int,
        batch: Tensor | None = None,
        num_graphs: int | None = None,
        num_targets: int | None = None,
        degree: Tensor | None = None,
        node_ids: Tensor | None = None,
        first_target: int = 0,
        grouped: bool = False,
        symmetric: bool = False,
    ) -> None:
        source, target = edge_index
        if grouped or is_canonical(source, target, num_nodes):
            self.source, self.target = source, target  # views: a large graph is not copied
        else:
            keep = source != target
            key = torch.unique(target[keep] * num_nodes + source[keep])  # sorted by target, then source
            self.source = key % num_nodes
            self.target = key // num_nodes
        self.num_nodes = num_nodes
        self.num_targets = num_nodes if num_targets is None else num_targets
        self.first_target = first_target
        self._batch = batch
        if num_graphs is None:
            num_graphs = int(batch.max()) + 1 if batch is not None and num_nodes else 1 if num_nodes else 0
        self.num_graphs = num_graphs
        self._degree = degree
        self._node_ids = node_ids
        self.symmetric = symmetric
        self._blocks: dict[int, list[tuple[Tensor, GraphOps]]] = {}

    @property
    def device(self) -> torch.device:
        return self.source.device

    @cached_property
    def batch(self) -> Tensor:
        """The graph of every node (all zeros for one graph), made on first use only."""
        if self._batch is not None:
            return self._batch
        return torch.zeros(self.num_nodes, dtype=torch.long, device=self.device)

    @cached_property
    def node_ids(self) -> Tensor:
        """Every node's id in the whole graph (its position, unless given)."""
        if self._node_ids is not None:
            return self._node_ids
        return torch.arange(self.num_nodes, device=self.device)

    @property
    def shape(self) -> tuple[int, int]:
        """(targets, nodes): the shape of every aggregation operator."""
        return self.num_targets, self.num_nodes

    def targets(self, x: Tensor) -> Tensor:
        """The rows of per-node features `x` that belong to the targets."""
        return x if self.num_targets == x.size(0) else x[self.first_target : self.first_target + self.num_targets]

    def _with_loops(self) -> tuple[Tensor, Tensor]:
        """(row, col) of every edge plus each target's self-loop; row counts from the first target."""
        loops = torch.arange(self.first_target, self.first_target + self.num_targets, device=self.device)
        return torch.cat([self.target, loops]) - self.first_target, torch.cat([self.source, loops])

    @property
    def degree(self) -> Tensor:
        """In-degree of every node in the whole graph (in this edge set unless given)."""
        return self._degree if self._degree is not None else self.in_degree

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

    def csr(self, value: Tensor) -> Tensor:
        """The `targets × nodes` sparse CSR matrix with `value[i]` at edge i's (target, source):
        the edges are already in CSR order, so nothing is sorted."""
        crow = self.rowptr[self.first_target : self.first_target + self.num_targets + 1]  # no edges before them
        return torch.sparse_csr_tensor(crow, self.source, value, self.shape, check_invariants=False)

    @cached_property
    def gcn_adjacency(self) -> Tensor:
        """Â = D~^{-1/2} (A + I) D~^{-1/2} (Kipf & Welling's renormalisation trick), sparse CSR."""
        row, col = self._with_loops()
        deg_inv_sqrt = (self.degree + 1).to(torch.float).rsqrt()
        value = deg_inv_sqrt[row + self.first_target] * deg_inv_sqrt[col]
        return sparse_csr(row, col, value, self.shape)

    @cached_property
    def sum_bags(self) -> tuple[Tensor, Tensor]:
        """(sources, offsets): target v's in-neighbours are `sources[offsets[v]:offsets[v+1]]` (the
        last to the end), what `embedding_bag` takes to sum them (A h, A the 0/1 adjacency)."""
        return self.source, self.rowptr[self.first_target : self.first_target + self.num_targets]

    @cached_property
    def sum_bags_t(self) -> tuple[Tensor, Tensor]:
        """The bags of Aᵀ (a node's out-neighbours among the targets, counted from the first
        target), for the backward of `sum_bags`. On a `symmetric` graph (every edge's reverse
        present) A is its own transpose and its bags are used as they are, with nothing sorted."""
        if self.symmetric and self.num_targets == self.num_nodes:
            return self.sum_bags
        order = torch.argsort(self.source, stable=True)
        offsets = torch.zeros(self.num_nodes, dtype=torch.long, device=self.device)
        torch.cumsum(torch.bincount(self.source, minlength=self.num_nodes)[:-1], 0, out=offsets[1:])
        return (self.target - self.first_target)[order], offsets

    @cached_property
    def sym_adjacency(self) -> Tensor:
        """D^{-1/2} A D^{-1/2} without self-loops, D the in-degree (GCN's convention, so a node with
        in-edges and no out-edges still hears its neighbours); a node of in-degree 0 has zero weights."""
        deg_inv_sqrt = self.degree.to(torch.float).rsqrt().masked_fill_(self.degree == 0, 0.0)
        return self.csr(deg_inv_sqrt[self.target] * deg_inv_sqrt[self.source])

    @cached_property
    def mean_adjacency(self) -> Tensor:
        """Row-normalised A: (M h)_v is the mean of v's in-neighbours' h; zero without neighbours."""
        return self.csr(1.0 / self.in_degree[self.target].to(torch.float))

    @cached_property
    def gcn_mean_adjacency(self) -> Tensor:
        """(M h)_v = mean of {h_v} ∪ {h_u : u ∈ N(v)} (GraphSAGE's gcn aggregator), sparse CSR."""
        row, col = self._with_loops()
        value = 1.0 / (self.in_degree[row + self.first_target] + 1).to(torch.float)
        return sparse_csr(row, col, value, self.shape)

    def rows(self, start: int, end: int) -> GraphOps:
        """The row slice of targets `start` .. `end` - 1 (see the class docstring); not cached."""
        low, high = int(self.rowptr[start]), int(self.rowptr[end])  # the rows' edges are contiguous
        return GraphOps(
            torch.stack([self.source[low:high], self.target[low:high]]),
            self.num_nodes,
            batch=self._batch,
            num_graphs=self.num_graphs,
            num_targets=end - start,
            degree=self.degree,
            node_ids=self._node_ids,
            first_target=start,
        )

    def blocks(self, chunk_size: int) -> list[tuple[Tensor, GraphOps]]:
        """The graph cut into blocks of `chunk_size` consecutive target nodes, for layer-wise
        inference; built once per chunk size and cached.

        Each block is ``(nodes, ops)``: `nodes` are indices into this graph, the chunk's nodes
        first, then their in-neighbours outside the chunk; `ops` holds every edge into the chunk,
        so a layer applied to ``h[nodes]`` gives exactly the chunk's rows of the whole-graph layer.
        """
        if chunk_size not in self._blocks:
            self._blocks[chunk_size] = [
                self._block(start, min(start + chunk_size, self.num_nodes))
                for start in range(0, self.num_nodes, chunk_size)
            ]
        return self._blocks[chunk_size]

    def _block(self, start: int, end: int) -> tuple[Tensor, GraphOps]:
        low, high = int(self.rowptr[start]), int(self.rowptr[end])  # the chunk's edges are contiguous
        source, target = self.source[low:high], self.target[low:high] - start
        inside = (source >= start) & (source < end)
        outside, outside_local = torch.unique(source[~inside], return_inverse=True)
        local_source = torch.where(inside, source - start, 0)
        local_source[~inside] = outside_local + (end - start)
        nodes = torch.cat([torch.arange(start, end, device=self.device), outside])
        ops = GraphOps(
            torch.stack([local_source, target]),
            nodes.numel(),
            batch=None if self._batch is None else self._batch[nodes],
            num_graphs=self.num_graphs,
            num_targets=end - start,
            degree=self.degree[nodes],
            node_ids=nodes if self._node_ids is None else self._node_ids[nodes],
        )
        return nodes, ops
