"""Neighbour-sampled mini-batches of one graph's training nodes, as training steps.

Each epoch visits the training nodes in a fresh order drawn from the training seed (the same on
every rank under torchrun, which then takes every `world`-th node, cut to equal shards so all
ranks take the same number of steps). Every batch of `batch_size` seed nodes gets a sampled
neighbourhood (`gnntool.data.sampler`) and runs as one block per layer, trimmed to the nodes
that layer must output: the first layer computes the seeds and all but the outermost hop, the
last one the seeds only, so no work is spent on rows that cannot reach a seed's logits.

Batch b of epoch e is sampled from its own generator, seeded by (training seed, rank, e, b) and
independent of the global RNG: a batch is the same whichever thread prepares it and whether or
not the epoch was resumed at b. The next batch is prepared (sampled, features gathered, blocks
built) in a background thread while the model trains on the current one; torch releases the
GIL in its operators, so the two overlap. The features are gathered into buffers the loader
recycles once the step that used them is gone (`gnntool.engine.runtime.buffers`).
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import torch
from torch import Tensor

from gnntool.config import Config
from gnntool.data.sampler import UniformNeighborSampler
from gnntool.engine.inputs import Step, Task
from gnntool.engine.runtime.buffers import GatherBuffers
from gnntool.engine.runtime.distributed import Ranks
from gnntool.engine.seeding import batch_seed, epoch_generator
from gnntool.errors import UserError
from gnntool.models.graph_ops import GraphOps


def layer_blocks(
    edge_index: Tensor,
    num_sampled_nodes: list[int],
    num_sampled_edges: list[int],
    layers: int,
    grouped: bool = False,
) -> list[GraphOps]:
    """One block per layer of a sampled subgraph whose nodes and edges are ordered by hop.

    Layer k (0-based) outputs the nodes within ``layers - 1 - k`` hops of the seeds and reads
    the edges into them (hops 1 .. layers - k). Sources keep their in-degree in the whole
    sampled subgraph, so GCN's normalisation is the one the untrimmed subgraph would give.
    `grouped`: the caller guarantees what `UniformNeighborSampler` returns on a `GraphOps`
    graph, edges in ascending target order, no repeats, no self-loops (see `GraphOps`); they are
    then used as they are, where otherwise one sort orders them.
    """
    num_nodes = sum(num_sampled_nodes)
    source, target = edge_index
    degree = torch.bincount(target, minlength=num_nodes)
    if not grouped:
        # Sorted by (target, source), as GraphOps keeps edges, the edges into the first t nodes
        # are a prefix (targets of hop h come before those of hop h+1): one sort serves every block.
        key = torch.sort(target * num_nodes + source).values
        edge_index = torch.stack([key % num_nodes, key // num_nodes])
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
                grouped=grouped,
            )
        )
    return blocks


def graph_fanout(config: Config) -> list[int]:
    """`train.fanout` on a graph of one edge type: its list (null: every neighbour at every hop).
    A mapping of relations is for typed graphs."""
    fanout = config.train.fanout
    if isinstance(fanout, dict):
        raise UserError(
            "train.fanout: a mapping of relations sets typed graphs' relations apart; this graph has one edge type, "
            f"give one list (neighbours per layer, {config.model.layers} entries)"
        )
    return fanout or [-1] * config.model.layers


class SampledSteps:
    """The training steps of neighbour-sampled mini-batch training on one graph, for `seed`."""

    def __init__(self, config: Config, task: Task, ranks: Ranks, seed: int) -> None:
        (part,) = task.splits["train"]
        self.graph = part.graph
        self.layers = config.model.layers
        self.batch_size = config.train.batch_size
        self.seed = seed
        self.ranks = ranks
        self.seeds = part.mask.nonzero().view(-1)
        fanout = graph_fanout(config)
        # The structure stays where GraphOps holds it (CSR over targets): a large graph is not copied.
        self.sampler = UniformNeighborSampler(self.graph.ops.rowptr, self.graph.ops.source, fanout)
        # The batches' features are gathered into recycled buffers: no fresh batch-sized mapping per step.
        self.buffers = GatherBuffers()

    def shard(self, epoch: int) -> Tensor:
        """This rank's seed nodes for `epoch`, in that epoch's order."""
        order = torch.randperm(self.seeds.numel(), generator=epoch_generator(self.seed, epoch))
        per_rank = self.seeds.numel() // self.ranks.world
        return self.seeds[order.to(self.seeds.device)[self.ranks.rank :: self.ranks.world][:per_rank]]

    def num_batches(self, epoch: int) -> int:
        """How many steps `epoch` has on this rank."""
        return -(-(self.seeds.numel() // self.ranks.world) // self.batch_size)

    def generator(self, epoch: int, batch: int) -> torch.Generator:
        """The generator that batch `batch` of `epoch` is sampled from."""
        key = batch_seed(self.seed, self.ranks.rank, epoch, batch)
        return torch.Generator(device=self.sampler.device).manual_seed(key)

    def blocks(self, shard: Tensor, epoch: int, batch: int) -> tuple[Tensor, list[GraphOps]]:
        """Batch `batch` of `epoch` (whose seed order is `shard`): the sampled nodes (seeds
        first) and one block per layer."""
        seeds = shard[batch * self.batch_size : (batch + 1) * self.batch_size]
        sample = self.sampler.sample(seeds, self.generator(epoch, batch))
        edge_index = torch.stack([sample.row, sample.col])
        # The sampler's edges come by target in ascending order, and the graph has no repeats or
        # self-loops (GraphOps removed them): the blocks need no sort.
        blocks = layer_blocks(edge_index, sample.num_sampled_nodes, sample.num_sampled_edges, self.layers, grouped=True)
        return sample.node, blocks

    def step(self, shard: Tensor, epoch: int, batch: int) -> Step:
        """Batch `batch` of `epoch` as a training step: blocks, the nodes' features, the seeds' labels."""
        node, blocks = self.blocks(shard, epoch, batch)
        node = node.to(self.graph.x.device)
        x = torch.index_select(self.graph.x, 0, node, out=self.buffers.rows(node.numel(), self.graph.x))
        return Step(x=x, ops=blocks, y=self.graph.y[node[: blocks[-1].num_targets]])

    def steps(self, epoch: int, start: int = 0) -> Iterator[Step]:
        """The epoch's training steps from batch `start` on, each prepared in a background thread
        while the one before trains."""
        shard = self.shard(epoch)
        count = self.num_batches(epoch)
        if start >= count:
            return
        try:
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="gnntool-batches") as pool:
                pending = pool.submit(self.step, shard, epoch, start)
                for batch in range(start, count):
                    step = pending.result()
                    if batch + 1 < count:
                        pending = pool.submit(self.step, shard, epoch, batch + 1)
                    yield step
        finally:
            # Validation and inference come next: they may use the memory (steps still held keep theirs).
            self.buffers.release()
