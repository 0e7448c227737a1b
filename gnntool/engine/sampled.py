"""Neighbour-sampled mini-batches of one graph's training nodes, as training steps.

Each epoch visits the training nodes in a fresh order (the same on every rank under torchrun,
which then takes every `world`-th node, cut to equal shards so all ranks take the same number of
steps). The order comes from (training seed, epoch) and batch b's neighbour samples from (training
seed, epoch, b), never from the RNG that dropout draws from, so an epoch can resume at any step and
give the batches it would have given. Every batch of `batch_size` seed nodes gets a sampled neighbourhood
(`gnntool.data.sampler`) and runs as one block per layer, trimmed to the nodes that layer must
output: the first layer computes the seeds and all but the outermost hop, the last one the seeds
only, so no work is spent on rows that cannot reach a seed's logits.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.loader import NodeLoader

from gnntool.config import Config
from gnntool.data.sampler import neighbor_loader, neighbor_sampler
from gnntool.engine.distributed import Ranks
from gnntool.engine.inputs import Step, Task
from gnntool.models.graph_ops import GraphOps


def layer_blocks(
    edge_index: Tensor, num_sampled_nodes: list[int], num_sampled_edges: list[int], layers: int
) -> list[GraphOps]:
    """One block per layer of a sampled subgraph whose nodes and edges are ordered by hop.

    Layer k (0-based) outputs the nodes within ``layers - 1 - k`` hops of the seeds and reads
    the edges into them (hops 1 .. layers - k). Sources keep their in-degree in the whole
    sampled subgraph, so GCN's normalisation is the one the untrimmed subgraph would give.
    """
    num_nodes = sum(num_sampled_nodes)
    degree = torch.bincount(edge_index[1], minlength=num_nodes)
    blocks = []
    for k in range(layers):
        hops = layers - k
        num_sources = sum(num_sampled_nodes[: hops + 1])
        blocks.append(
            GraphOps(
                edge_index[:, : sum(num_sampled_edges[:hops])],
                num_sources,
                num_graphs=1,  # known: reading it off the batch vector would sync a GPU every step
                num_targets=sum(num_sampled_nodes[:hops]),
                degree=degree[:num_sources],
            )
        )
    return blocks


class SampledSteps:
    """The training steps of neighbour-sampled mini-batch training on one graph."""

    def __init__(self, config: Config, task: Task, ranks: Ranks, seed: int) -> None:
        (part,) = task.splits["train"]
        graph = part.graph
        self.layers = config.model.layers
        self.batch_size = config.train.batch_size
        self.seed = seed
        self.ranks = ranks
        self.seeds = part.mask.nonzero().view(-1)
        fanout = config.train.fanout or [-1] * self.layers
        # Node attributes only: the structure lives in the sampler, as CSR over targets that
        # GraphOps already holds, so a large graph is not copied again.
        self.data = Data(x=graph.x, y=graph.y, num_nodes=graph.num_nodes)
        self.sampler = neighbor_sampler(self.data, graph.ops.rowptr, graph.ops.source, fanout)

    def shard(self, epoch: int) -> Tensor:
        """This rank's seed nodes for `epoch`, in that epoch's order."""
        order = torch.randperm(
            self.seeds.numel(), generator=torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        )
        per_rank = self.seeds.numel() // self.ranks.world
        return self.seeds[order.to(self.seeds.device)[self.ranks.rank :: self.ranks.world][:per_rank]]

    def loader(self, epoch: int) -> NodeLoader:
        """The epoch's sampled mini-batches, as PyG's `NeighborLoader` yields them, from the global RNG
        (the benchmark's view of the loader)."""
        return neighbor_loader(self.data, self.sampler, self.shard(epoch), self.batch_size, shuffle=False)

    def num_batches(self, epoch: int) -> int:
        """Steps per epoch on this rank."""
        return -(-(self.seeds.numel() // self.ranks.world) // self.batch_size)

    def batch(self, nodes: Tensor, epoch: int, index: int) -> Data:
        """Mini-batch `index` of `epoch` (its seed `nodes`), as PyG's `NeighborLoader` yields it,
        sampled from a generator seeded by (seed, epoch, index)."""
        device = self.seeds.device
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed((self.seed * 1_000_003 + epoch) * 1_000_033 + index)
            loader = neighbor_loader(self.data, self.sampler, nodes, nodes.numel(), shuffle=False)
            return next(iter(loader))

    def steps(self, epoch: int, start: int = 0) -> Iterator[Step]:
        """The epoch's training steps from batch index `start`: each batch as one block per layer."""
        shard = self.shard(epoch)
        for index in range(start, self.num_batches(epoch)):
            batch = self.batch(shard[index * self.batch_size : (index + 1) * self.batch_size], epoch, index)
            blocks = layer_blocks(batch.edge_index, batch.num_sampled_nodes, batch.num_sampled_edges, self.layers)
            yield Step(x=batch.x, ops=blocks, y=batch.y[: batch.batch_size])
