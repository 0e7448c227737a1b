"""Neighbour-sampled mini-batches for link prediction (PyG's `LinkLoader` semantics).

An epoch visits the training positives in a fresh order, `batch_size` per step. Each step adds
`negatives` negative pairs per positive, drawn afresh (`NegativeSampler`: uniform non-edges of
the message-passing graph), samples the neighbourhoods of the union of all pairs' endpoints with
gnntool's neighbour sampler (`gnntool.data.sampler`, whether or not pyg-lib is installed), and
runs the model as one block per layer (`layer_blocks`, trimmed as in node-level sampled
training), so the last block outputs exactly the endpoints' rows.

Randomness: batch b of epoch e draws its negatives and its neighbourhood sample from its own
generator, seeded from (seed, e, b) alone, and the epoch's order from (seed, e): a run is
repeatable and a resumed epoch continues with the same batches, whatever ran before.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import Tensor
from torch_geometric.sampler import NodeSamplerInput

from gnntool.data.edge_split import NegativeSampler
from gnntool.data.sampler import UniformNeighborSampler
from gnntool.engine.sampled import layer_blocks
from gnntool.engine.seeding import mixed_generator
from gnntool.models.graph_ops import GraphOps

__all__ = ["LinkBatch", "LinkSampledSteps"]


@dataclass
class LinkBatch:
    """One sampled step.

    - `x`: the features of the sampled nodes (rows of the graph's `x` at `node_ids`).
    - `node_ids`: the sampled nodes' positions in the graph; the pairs' endpoints come first.
    - `blocks`: one `GraphOps` per layer; `model(x, blocks)` returns one row per endpoint.
    - `pairs` (2 × B): the pairs as indices into those rows (positives first, then negatives).
    - `labels` (B, float): 1 for a positive pair, 0 for a negative one.
    """

    x: Tensor
    node_ids: Tensor
    blocks: list[GraphOps]
    pairs: Tensor
    labels: Tensor


class LinkSampledSteps:
    """The sampled link-prediction steps of one graph.

    `x`: node features (dense, rows gathered per batch); `ops`: the message-passing graph (its
    CSR `rowptr`/`source` feeds the sampler, its edges the negative sampler); `positives`
    (2 × P): the training pairs; `fanout[k]` neighbours per node at hop k + 1 (-1: all);
    `negatives`: negative pairs per positive.
    """

    def __init__(
        self,
        x: Tensor,
        ops: GraphOps,
        positives: Tensor,
        fanout: list[int],
        batch_size: int,
        negatives: int,
        seed: int,
    ) -> None:
        self.x = x
        self.positives = positives
        self.layers = len(fanout)
        self.batch_size = batch_size
        self.negatives = negatives
        self.seed = seed
        self.device = ops.device  # where the sampler draws
        # Always gnntool's sampler, pyg-lib installed or not: a run's numbers must not depend on
        # an optional package.
        self.sampler = UniformNeighborSampler(ops.rowptr, ops.source, fanout)
        self.negative_sampler = NegativeSampler(torch.stack([ops.source, ops.target]), ops.num_nodes)

    def num_batches(self, epoch: int) -> int:
        """The number of steps of `epoch` (the same for every epoch)."""
        return -(-self.positives.size(1) // self.batch_size)

    def order(self, epoch: int) -> Tensor:
        """The epoch's order of the positives (indices into their columns)."""
        order = torch.randperm(self.positives.size(1), generator=mixed_generator(self.seed, epoch))
        return order.to(self.positives.device)

    def steps(self, epoch: int, start: int = 0) -> Iterator[LinkBatch]:
        """The epoch's batches from batch index `start` on."""
        order = self.order(epoch)
        for index in range(start, self.num_batches(epoch)):
            chosen = order[index * self.batch_size : (index + 1) * self.batch_size]
            generator = mixed_generator(self.seed, epoch, index)
            negatives = self.negative_sampler(chosen.numel() * self.negatives, generator)
            pairs = torch.cat([self.positives[:, chosen], negatives.to(self.positives.device)], 1)
            labels = torch.cat([torch.ones(chosen.numel()), torch.zeros(negatives.size(1))]).to(self.x.device)
            yield self.sample(pairs, labels, generator)

    def sample(self, pairs: Tensor, labels: Tensor, generator: torch.Generator) -> LinkBatch:
        """The batch around given `pairs` (2 × B, graph positions) with their `labels`; the
        neighbourhood sample is drawn from `generator` (also usable to score held-out pairs)."""
        endpoints, local = torch.unique(pairs.reshape(-1), return_inverse=True)
        device = self.device
        seed = int(torch.randint(0, 2**62, (), generator=generator))
        sampler_generator = torch.Generator(device=device).manual_seed(seed)
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(seed)  # for a sampler that draws from the global RNG: fixed for this batch only
            index = NodeSamplerInput(input_id=None, node=endpoints)
            out = self.sampler.sample_from_nodes(index, generator=sampler_generator)
        edge_index = torch.stack([out.row, out.col])
        blocks = layer_blocks(edge_index, out.num_sampled_nodes, out.num_sampled_edges, self.layers)
        node = out.node.to(self.x.device)
        return LinkBatch(self.x.index_select(0, node), node, blocks, local.view(2, -1), labels)
