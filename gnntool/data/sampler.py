"""Uniform neighbour sampling in plain torch, behind PyG's sampler and loader interfaces.

PyG's `NeighborSampler` needs pyg-lib (or torch-sparse). `UniformNeighborSampler` does the same
homogeneous, directed, non-disjoint sampling with vectorised torch ops, on the device its CSR
lives on, and returns what PyG's sampler returns, so `NodeLoader` batches look like
`NeighborLoader` batches. Every sampled run uses it, whether or not pyg-lib is installed, so
that a run's numbers never depend on an optional package.

Hop k takes, for every node first reached at hop k-1 (the seeds for k = 1), a uniformly random
subset of min(deg, fanout[k]) of its in-neighbours, without replacement: every subset of that
size is equally likely. The subset comes from Floyd's algorithm (the one pyg-lib uses), run for
all nodes at once: step j = 0..k-1 draws t uniformly from [0, d-k+j] and takes t, or d-k+j if t
was taken already. Its cost is O(k²) per node whatever the degree, with no sort and no retry loop.
"""

from __future__ import annotations

import copy
from typing import NamedTuple

import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.loader import NodeLoader
from torch_geometric.sampler import (
    BaseSampler,
    EdgeSamplerInput,
    NegativeSampling,
    NodeSamplerInput,
    SamplerOutput,
)

__all__ = ["Sample", "UniformNeighborSampler", "neighbor_loader"]

# The global -> batch-local id buffer is int32: local ids (and a hop's edge indices) fit, and half
# the bytes of int64 make its random gathers measurably faster (~10% of a batch at 2.4M nodes).
_LOCAL = torch.int32
_UNSEEN = torch.iinfo(_LOCAL).max  # a node not (yet) in the batch; above every id, so `amin` keeps ids


class Sample(NamedTuple):
    """A sampled neighbourhood, laid out as pyg-lib's `SamplerOutput` (see `UniformNeighborSampler`)."""

    node: Tensor
    row: Tensor
    col: Tensor
    edge: Tensor
    num_sampled_nodes: list[int]
    num_sampled_edges: list[int]


def floyd_sample(degree: Tensor, k: int, generator: torch.Generator | None = None) -> Tensor:
    """`(k, len(degree))` offsets, step-major: column i a uniform random k-subset of [0, degree[i])
    (needs degree ≥ k), drawn from `generator` (default: the global RNG of `degree`'s device).

    Floyd's algorithm: after step j a column holds a uniform (j+1)-subset of [0, d-k+j]. Step j's
    draw t ∈ [0, d-k+j] is `r mod (d-k+j+1)` for r uniform on [0, 2^62): off uniform by less than
    (d-k+j+1) / 2^62. Step j keeps t unless an earlier step took it, and then takes d-k+j. Held
    step-major, each step works on contiguous memory.
    """
    upper = torch.arange(k, device=degree.device)[:, None] + (degree - k)  # (k, n): step j draws from [0, upper[j]]
    draw = torch.randint(0, 2**62, upper.shape, device=degree.device, generator=generator) % (upper + 1)
    if k and degree.numel() and int(degree.max()) <= SMALL_DEGREE:
        floyd_steps_on_bitsets(draw, upper)
    else:
        for j in range(1, k):
            taken = (draw[:j] == draw[j]).any(0)
            torch.where(taken, upper[j], draw[j], out=draw[j])
    return draw


SMALL_DEGREE = 63  # offsets up to 62: a row's taken offsets fit the bits of one int64


def floyd_steps_on_bitsets(draw: Tensor, upper: Tensor) -> None:
    """Floyd's steps over the step-major `draw` (see `floyd_sample`), in place, when every offset
    is below 63: the offsets a row has taken are the set bits of one integer, so "taken?" is a
    shift and a mask instead of a comparison with every earlier step (~3x fewer operations)."""
    one = torch.ones((), dtype=draw.dtype, device=draw.device)
    taken = one << draw[0]
    for j in range(1, draw.size(0)):
        clash = (taken >> draw[j]) & one
        torch.where(clash.bool(), upper[j], draw[j], out=draw[j])
        taken |= one << draw[j]


class UniformNeighborSampler(BaseSampler):
    """PyG's homogeneous, directed `NeighborSampler` (without replacement) in torch alone.

    `rowptr`, `col`: CSR over targets, the in-neighbours of v being `col[rowptr[v]:rowptr[v+1]]`
    (`GraphOps.rowptr`, `GraphOps.source`: held, not copied). `fanout[k]` neighbours per node at
    hop k+1, -1 for all. `edge_id` maps a CSR position to the id that `SamplerOutput.edge` reports
    (default: the position itself); give it when the loader's data holds edge attributes, whose
    rows `filter_data` selects by that id. Sampling runs where `rowptr` lives, drawing from the
    generator given to `sample` or else that device's global RNG (`torch.manual_seed` fixes it).
    Not thread-safe: a call uses a per-sampler buffer (one call at a time, from any thread).

    The output is pyg-lib's: `node` holds the seeds (input order), then the nodes first reached
    at hop 1, hop 2, ..., each hop in order of first appearance; edge i carries a message from
    `row[i]` (the sampled neighbour) to `col[i]` (the node it was sampled for), edges grouped
    by hop, then by `col`. A seed that occurs several times keeps every slot (so `node[:batch]`
    still lines up with the input), each slot gets its own sample, and a node reached later
    maps to the seed's first slot. pyg-lib keeps and samples every slot too, but its id mapper
    does not count the repeats, so the nodes after them get ids one slot too low per repeat
    and some edges point at the wrong node; here the ids stay consistent.
    """

    def __init__(self, rowptr: Tensor, col: Tensor, fanout: list[int], edge_id: Tensor | None = None) -> None:
        self.rowptr = rowptr
        self.col = col
        self.fanout = list(fanout)
        self.edge_id = edge_id
        self.num_nodes = rowptr.numel() - 1
        self._local: Tensor | None = None  # global id -> local id within the batch being sampled

    @property
    def device(self) -> torch.device:
        return self.rowptr.device

    def sample(self, seeds: Tensor, generator: torch.Generator | None = None) -> Sample:
        """The sampled neighbourhood of `seeds` (global ids), drawn from `generator` (default: the
        global RNG of the sampler's device)."""
        seeds = seeds.to(self.device, torch.long)
        if self._local is None:
            self._local = torch.full((self.num_nodes,), _UNSEEN, dtype=_LOCAL, device=self.device)
        try:
            sample = self._sample(seeds, self._local, generator)
        except BaseException:
            self._local = None  # possibly left dirty: the next call starts a clean one
            raise
        self._local.index_fill_(0, sample.node, _UNSEEN)  # undo only this batch's writes: O(batch), not O(num_nodes)
        return sample

    def sample_from_nodes(self, index: NodeSamplerInput, **kwargs) -> SamplerOutput:
        sample = self.sample(index.node, kwargs.get("generator"))
        return SamplerOutput(
            node=sample.node,
            row=sample.row,
            col=sample.col,
            edge=sample.edge,
            num_sampled_nodes=sample.num_sampled_nodes,
            num_sampled_edges=sample.num_sampled_edges,
            metadata=(index.input_id, index.time),
        )

    def _sample(self, seeds: Tensor, local: Tensor, generator: torch.Generator | None) -> Sample:
        device = self.device
        slots = torch.arange(seeds.numel(), dtype=_LOCAL, device=device)
        local.scatter_reduce_(0, seeds, slots, "amin")  # a duplicated seed maps to its first slot
        none = seeds.new_empty(0)  # so that zero hops still concatenate
        nodes, rows, cols, edges = [seeds], [none], [none], [none]
        num_nodes, num_edges = [seeds.numel()], []
        begin = 0
        frontier = seeds
        for k in self.fanout:
            target, pos = self.hop(frontier, k, generator)
            neighbour = self.col.index_select(0, pos).long()
            # New nodes in order of first appearance: `amin` leaves in each unseen neighbour's
            # entry the first edge that reaches it (a temporary value, replaced below).
            unseen = (local.index_select(0, neighbour) == _UNSEEN).nonzero().view(-1)
            candidate = neighbour.index_select(0, unseen)
            local.scatter_reduce_(0, candidate, unseen.to(_LOCAL), "amin")
            fresh = candidate.masked_select(local.index_select(0, candidate) == unseen)
            end = begin + frontier.numel()
            local.index_copy_(0, fresh, torch.arange(end, end + fresh.numel(), dtype=_LOCAL, device=device))
            nodes.append(fresh)
            rows.append(local.index_select(0, neighbour).long())
            cols.append(target + begin)
            edges.append(pos if self.edge_id is None else self.edge_id.index_select(0, pos))
            num_nodes.append(fresh.numel())
            num_edges.append(pos.numel())
            begin, frontier = end, fresh
        return Sample(torch.cat(nodes), torch.cat(rows), torch.cat(cols), torch.cat(edges), num_nodes, num_edges)

    def hop(self, frontier: Tensor, k: int, generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
        """The sampled edges into `frontier` (global ids), as (index into frontier, CSR position).

        Edges come grouped by frontier node, in frontier order (the order pyg-lib emits them).
        """
        device = self.device
        start = self.rowptr.index_select(0, frontier)
        degree = self.rowptr.index_select(0, frontier + 1) - start
        count = degree if k < 0 else degree.clamp(max=k)
        first = torch.cumsum(count, 0) - count  # where each node's edges start in the output
        total = int(count.sum())
        target = torch.repeat_interleave(torch.arange(frontier.numel(), device=device), count, output_size=total)
        pos = torch.arange(total, device=device) + (start - first).index_select(0, target)  # all: start, start+1, ..
        if k >= 0:
            sampled = (degree > k).nonzero().view(-1)
            if sampled.numel():
                # Step-major (k, rows), as floyd_sample draws them: no transposing copy.
                slots = torch.arange(k, device=device)[:, None] + first.index_select(0, sampled)
                offsets = floyd_sample(degree.index_select(0, sampled), k, generator)
                pos.index_copy_(0, slots.view(-1), (offsets + start.index_select(0, sampled)).view(-1))
        return target, pos

    def sample_from_edges(self, index: EdgeSamplerInput, neg_sampling: NegativeSampling | None = None) -> SamplerOutput:
        raise NotImplementedError(f"{type(self).__name__} samples from nodes only")


def neighbor_loader(
    data: Data, sampler: BaseSampler, input_nodes: Tensor, batch_size: int, shuffle: bool
) -> NodeLoader:
    """Mini-batches of `input_nodes` (ids or a mask) as `NeighborLoader` yields them.

    A batch holds `data`'s node attributes at `n_id`, `edge_index` (local, row → col), `n_id`,
    `e_id`, `batch_size`, `num_sampled_nodes`, `num_sampled_edges`, `input_id` (the seeds'
    positions in `input_nodes`, or their ids when it is a mask) and the seeds first.
    Shuffling draws from torch's global RNG.

    `filter_data` writes `edge_index` only into a batch whose `data` has one, on that one's device.
    `data` may hold none (the structure lives in the sampler): the loader then gets a shallow
    copy of `data` with an empty `edge_index` on the device of `data.x`, so that the batch's edges
    land with its features. Index tensors stay on the sampler's device.
    """
    if "edge_index" not in data:
        device = data.x.device if "x" in data else torch.device("cpu")
        data = copy.copy(data)
        data.edge_index = torch.empty(2, 0, dtype=torch.long, device=device)
    return NodeLoader(data, sampler, input_nodes=input_nodes, batch_size=batch_size, shuffle=shuffle)
