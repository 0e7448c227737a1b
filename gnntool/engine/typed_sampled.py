"""Neighbour-sampled mini-batches of a typed graph's target nodes, as training steps.

Hop h takes, for every node first reached at hop h - 1 (the seeds, of the target type, for
h = 1), and for every relation into its type, a uniformly random subset of min(degree, fanout)
of its in-neighbours under that relation: `gnntool.data.sampler.UniformNeighborSampler.hop`,
one sampler per relation over that relation's CSR. A `train.fanout` list applies to every
relation; a mapping names relations (`src__rel__dst`) and a `default` for the others (all
neighbours without one). Every type's sampled nodes are ordered by the hop that first reached
them, so that, as on a graph of one type (`gnntool.engine.sampled.layer_blocks`), layer k runs
as a block whose targets are each type's nodes within L - 1 - k hops of the seeds.

Epochs, shards and per-batch generators are `SampledSteps`'s, and so are the background thread
that prepares the next batch while the current one trains and the recycled buffers that each
featured type's rows are gathered into (`gnntool.engine.runtime.buffers`).
"""

from __future__ import annotations

import torch
from torch import Tensor

from gnntool.config import FANOUT_DEFAULT, Config
from gnntool.data.sampler import UniformNeighborSampler
from gnntool.engine.runtime.buffers import SLOTS, GatherBuffers
from gnntool.engine.runtime.distributed import Ranks
from gnntool.engine.sampled import SampledSteps
from gnntool.engine.typed_inputs import TypedStep, TypedTask
from gnntool.errors import UserError
from gnntool.models.typed_ops import EdgeType, TypedOps, relation_ops
from gnntool.relation_names import relation_name

# Global id -> position in the batch as int32 (as `UniformNeighborSampler`'s: half the bytes of
# int64 for its random gathers); unseen is above every position, so `amin` keeps positions.
_LOCAL = torch.int32
_UNSEEN = torch.iinfo(_LOCAL).max  # a node not (yet) in the batch


def relation_fanouts(config: Config, relations: list[EdgeType]) -> dict[EdgeType, list[int]]:
    """Every relation's neighbours per hop, from `train.fanout` (null: all of them)."""
    fanout, layers = config.train.fanout, config.model.layers
    if not isinstance(fanout, dict):
        return {edge_type: list(fanout or [-1] * layers) for edge_type in relations}
    names = {relation_name(edge_type): edge_type for edge_type in relations}
    unknown = [name for name in fanout if name != FANOUT_DEFAULT and name not in names]
    if unknown:
        raise UserError(
            f"train.fanout: {', '.join(unknown)} is not a relation of the graph (its relations: {', '.join(names)})"
        )
    default = fanout.get(FANOUT_DEFAULT, [-1] * layers)
    return {edge_type: list(fanout.get(name, default)) for name, edge_type in names.items()}


class TypedSample:
    """One batch's sampled nodes per type (ordered by hop), how many each hop added per type, and
    per relation and hop its sampled edges as (source, target) positions within the batch's types."""

    def __init__(self, node_types: list[str], relations: list[EdgeType], hops: int) -> None:
        self.nodes: dict[str, list[Tensor]] = {node_type: [] for node_type in node_types}
        self.edges: dict[EdgeType, list[tuple[Tensor, Tensor]]] = {edge_type: [] for edge_type in relations}
        self.hops = hops

    def count(self, node_type: str, hops: int) -> int:
        """How many of a type's batch nodes lie within `hops` hops of the seeds."""
        return sum(part.numel() for part in self.nodes[node_type][: hops + 1])

    def node(self, node_type: str) -> Tensor:
        return torch.cat(self.nodes[node_type])

    def blocks(self) -> list[TypedOps]:
        """One `TypedOps` per layer: layer k outputs each type's nodes within hops - 1 - k hops
        and reads the edges of hops 1 .. hops - k (those into them)."""
        blocks = []
        for k in range(self.hops):
            hops = self.hops - k
            relations = {}
            for edge_type, by_hop in self.edges.items():
                source_type, _, target_type = edge_type
                source = torch.cat([edges[0] for edges in by_hop[:hops]])
                target = torch.cat([edges[1] for edges in by_hop[:hops]])
                # grouped: targets ascend hop by hop, each hop's grouped by target; no repeats.
                relations[edge_type] = relation_ops(
                    edge_type,
                    torch.stack([source, target]),
                    self.count(source_type, hops),
                    self.count(target_type, hops - 1),
                    grouped=True,
                )
            num_nodes = {node_type: self.count(node_type, hops) for node_type in self.nodes}
            num_targets = {node_type: self.count(node_type, hops - 1) for node_type in self.nodes}
            blocks.append(TypedOps(relations, num_nodes, num_targets))
        return blocks


class TypedNeighborSampler:
    """Uniform neighbour sampling of a typed graph: one `UniformNeighborSampler` per relation
    (its CSR over the target type's nodes, columns the source type's positions)."""

    def __init__(self, task: TypedTask, fanouts: dict[EdgeType, list[int]]) -> None:
        ops = task.graph.ops
        self.num_nodes = dict(ops.num_nodes)
        self.samplers = {}
        for edge_type, relation in ops.relations.items():
            rowptr = relation.ops.rowptr[: relation.num_targets + 1]
            sources = relation.ops.source - relation.offset  # positions within the source type
            self.samplers[edge_type] = UniformNeighborSampler(rowptr, sources, fanouts[edge_type])
        self.hops = len(next(iter(fanouts.values()))) if fanouts else 0
        self.device = next(iter(task.graph.node_ids.values())).device
        # global id -> position in the batch, per type; kept between batches (one call at a time)
        self.local: dict[str, Tensor] = {}

    def sample(self, seed_type: str, seeds: Tensor, generator: torch.Generator | None = None) -> TypedSample:
        """The sampled neighbourhood of `seeds` (nodes of `seed_type`), drawn from `generator`."""
        try:
            sample = self._sample(seed_type, seeds.to(self.device), generator)
        except BaseException:
            self.local = {}  # possibly left dirty: the next call starts clean tables
            raise
        for node_type, parts in sample.nodes.items():  # undo this batch's writes only: O(batch)
            for part in parts:
                self.local[node_type].index_fill_(0, part, _UNSEEN)
        return sample

    def _sample(self, seed_type: str, seeds: Tensor, generator: torch.Generator | None) -> TypedSample:
        sample = TypedSample(list(self.num_nodes), list(self.samplers), self.hops)
        sizes = dict.fromkeys(self.num_nodes, 0)

        def add(node_type: str, candidates: Tensor) -> None:
            """Give the candidates not yet in the batch the next positions, in order of first
            appearance (as `UniformNeighborSampler`: `amin` leaves in each unseen candidate's
            entry the index of its first occurrence, a temporary value replaced below)."""
            table = self.local.get(node_type)
            if table is None:
                table = self.local[node_type] = torch.full((self.num_nodes[node_type],), _UNSEEN, dtype=_LOCAL,
                                                           device=self.device)  # fmt: skip
            unseen = (table.index_select(0, candidates) == _UNSEEN).nonzero().view(-1)
            candidate = candidates.index_select(0, unseen)
            table.scatter_reduce_(0, candidate, unseen.to(_LOCAL), "amin")
            fresh = candidate.masked_select(table.index_select(0, candidate) == unseen)
            end = sizes[node_type] + fresh.numel()
            table.index_copy_(0, fresh, torch.arange(sizes[node_type], end, dtype=_LOCAL, device=self.device))
            sizes[node_type] = end
            sample.nodes[node_type].append(fresh)

        none = seeds.new_empty(0)
        for node_type in self.num_nodes:
            add(node_type, seeds if node_type == seed_type else none)
        for hop in range(self.hops):
            frontier = {node_type: parts[hop] for node_type, parts in sample.nodes.items()}
            begin = {node_type: sizes[node_type] - frontier[node_type].numel() for node_type in sizes}
            reached: dict[str, list[Tensor]] = {node_type: [] for node_type in self.num_nodes}
            sampled = {}
            for edge_type, sampler in self.samplers.items():
                target, position = sampler.hop(frontier[edge_type[2]], sampler.fanout[hop], generator)
                neighbour = sampler.col.index_select(0, position)
                sampled[edge_type] = (neighbour, target + begin[edge_type[2]])
                reached[edge_type[0]].append(neighbour)
            for node_type, parts in reached.items():
                add(node_type, torch.cat(parts) if parts else none)
            for edge_type, (neighbour, target) in sampled.items():
                sample.edges[edge_type].append((self.local[edge_type[0]].index_select(0, neighbour).long(), target))
        return sample


class TypedSampledSteps(SampledSteps):
    """The training steps of neighbour-sampled mini-batches of a typed graph's target nodes."""

    def __init__(self, config: Config, task: TypedTask, ranks: Ranks, seed: int) -> None:
        self.task = task
        self.graph = task.graph
        self.layers = config.model.layers
        self.batch_size = config.train.batch_size
        self.seed = seed
        self.ranks = ranks
        self.seeds = task.masks["train"].nonzero().view(-1)
        self.sampler = TypedNeighborSampler(task, relation_fanouts(config, list(task.graph.ops.relations)))
        self.buffers = GatherBuffers(SLOTS * max(1, len(task.graph.x)))  # a gather per featured type

    def step(self, shard: Tensor, epoch: int, batch: int) -> TypedStep:  # type: ignore[override]
        """Batch `batch` of `epoch`: per type its sampled nodes' features and ids, one block per
        layer, the seeds' labels."""
        seeds = shard[batch * self.batch_size : (batch + 1) * self.batch_size]
        sample = self.sampler.sample(self.task.target, seeds, self.generator(epoch, batch))
        node_ids = {node_type: sample.node(node_type) for node_type in sample.nodes}
        x = {}
        for node_type, features in self.graph.x.items():  # into recycled buffers, as `SampledSteps.step`
            ids = node_ids[node_type].to(features.device)
            x[node_type] = torch.index_select(features, 0, ids, out=self.buffers.rows(ids.numel(), features))
        return TypedStep(x, node_ids, sample.blocks(), self.graph.y[seeds.to(self.graph.y.device)])
