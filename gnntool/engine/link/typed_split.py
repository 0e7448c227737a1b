"""Held-out edges of link prediction on a typed graph (`train.link_relation`).

The predicted relations are one relation of the graph, or every relation that is not a reverse
copy added by `dataset.add_reverse` (`all`). Each predicted relation's edges are split as
`gnntool.data.edge_split` splits a homogeneous graph: a relation within one type stored both ways
is split by unordered pair, any other by directed edge; `int(val · E)` pairs go to validation and
`int(test · E)` to test from one seeded permutation per relation. A knowledge-graph folder brings
its held-out triples instead (its valid.txt and test.txt), and its directed training triples
(`held_out["train"]`), which with the held-out ones are the known true triples that the filtered
ranking removes (the graph's edges may have been made symmetric for message passing).
Held-out pairs leave the message-passing graph, both directions of a symmetric relation, and
their copies in the reverse relation (`<dst>__rev_<rel>__<src>`, or the relation a predicted
`rev_` relation copies) too; training and validation pass messages over the rest,
test over the rest plus the validation pairs, as PyG's `RandomLinkSplit` does.

Node pairs live in one index space over every node type (type t's row i is `offset[t] + i`, in
the graph's type order), so that one decoder call scores pairs of every relation, each with its
relation's index. Negatives corrupt a positive: its target (or, for half of them, its source)
is replaced by a uniformly drawn node of the same type, redrawn while the pair is an edge of
that relation or a self-loop (as R-GCN's link model trains, Schlichtkrull et al. 2018, §4).
Validation and test get one fixed negative per positive, avoiding every known edge; training
negatives are drawn afresh per epoch, avoiding the message-passing graph's edges.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor

from gnntool.data.edge_split import contains, edge_keys, is_undirected, key_pairs
from gnntool.errors import UserError
from gnntool.relation_names import REVERSE_PREFIX, EdgeType, parse_relation, relation_name, reverse_relation

__all__ = ["LabelledPairs", "NodeSpace", "TypedEdgeSplit", "predicted_relations", "split_typed_edges"]

ALL = "all"
_MAX_REDRAWS = 1000  # rounds of redrawing negatives that hit an edge before giving up


class LabelledPairs(NamedTuple):
    """Node pairs (2 × P, global positions) and each pair's relation index (P)."""

    pairs: Tensor
    relation: Tensor

    def to(self, device: torch.device) -> LabelledPairs:
        return LabelledPairs(self.pairs.to(device), self.relation.to(device))


@dataclass
class NodeSpace:
    """One index space over every node type: type t's rows start at `offset[t]`."""

    num_nodes: dict[str, int]

    @property
    def offset(self) -> dict[str, int]:
        starts = torch.cumsum(torch.tensor([0, *self.num_nodes.values()]), 0).tolist()
        return dict(zip(self.num_nodes, starts))

    @property
    def total(self) -> int:
        return sum(self.num_nodes.values())

    def to_global(self, edge_type: EdgeType, edge_index: Tensor) -> Tensor:
        """`edge_index` (positions within the relation's types) as global positions."""
        offset = self.offset
        return edge_index + torch.tensor([[offset[edge_type[0]]], [offset[edge_type[2]]]])


def predicted_relations(relations: Sequence[EdgeType], link_relation: str | None, where: str) -> list[EdgeType]:
    """The relations a link run trains and scores: `link_relation`'s, or every relation but the
    reverse copies (`all`). A relation the graph lacks is a UserError naming it and the graph's."""
    reverses = {reverse_relation(edge_type) for edge_type in relations if edge_type[0] != edge_type[2]}
    forward = [edge_type for edge_type in relations if edge_type not in reverses]
    names = ", ".join(relation_name(edge_type) for edge_type in relations)
    if link_relation is None:
        raise UserError(
            f"{where}: link prediction on a typed graph needs train.link_relation: one of its relations "
            f"({names}) or all"
        )
    if link_relation == ALL:
        return forward
    edge_type = parse_relation(link_relation)
    if edge_type not in relations:
        raise UserError(f"train.link_relation: {link_relation} is not a relation of {where}; it has {names}")
    return [edge_type]


@dataclass
class TypedEdgeSplit:
    """A typed graph's edges split for link prediction.

    - `relations`: the predicted relations; a pair's relation index points into it.
    - `message` / `test_message`: every relation's edges (local positions) that pass messages in
      training and validation / in test.
    - `positives`: per split ("train", "val", "test") the positive pairs; `negatives`: the fixed
      negatives of "val" and "test" (one per positive).
    - `known`: sorted keys (`key` of `NodeSpace`) of every true pair of the predicted relations,
      held-out ones included; `message_keys` those of the training message graph.
    """

    space: NodeSpace
    relations: list[EdgeType]
    message: dict[EdgeType, Tensor]
    test_message: dict[EdgeType, Tensor]
    positives: dict[str, LabelledPairs]
    negatives: dict[str, LabelledPairs]
    known: Tensor
    message_keys: Tensor

    def key(self, pairs: LabelledPairs) -> Tensor:
        """One int64 per (relation, source, target): relation · n² + source · n + target."""
        n = self.space.total
        return pairs.relation * (n * n) + pairs.pairs[0] * n + pairs.pairs[1]

    def corrupt(self, positives: LabelledPairs, avoid: Tensor, generator: torch.Generator) -> LabelledPairs:
        """One negative per positive: its target (odd positions: its source) redrawn among its
        type's nodes until the pair is neither in the sorted keys `avoid` nor a self-loop."""
        device = generator.device
        pairs = positives.pairs.to(device).clone()
        relation = positives.relation.to(device)
        offset, counts = self.space.offset, self.space.num_nodes
        side = torch.arange(relation.numel(), device=device) % 2  # 0: corrupt the target, 1: the source
        node_type = [[edge_type[2], edge_type[0]] for edge_type in self.relations]
        starts = torch.tensor([[offset[t] for t in types] for types in node_type], device=device)
        sizes = torch.tensor([[counts[t] for t in types] for types in node_type], device=device)
        start, size = starts[relation, side], sizes[relation, side]
        row = 1 - side
        avoid = avoid.to(device)
        bad = torch.arange(relation.numel(), device=device)
        for _ in range(_MAX_REDRAWS):
            if bad.numel() == 0:
                return LabelledPairs(pairs, relation)
            draw = torch.rand(bad.numel(), generator=generator, device=device)
            pairs[row[bad], bad] = start[bad] + (draw * size[bad]).long().clamp(max=size[bad] - 1)
            candidate = LabelledPairs(pairs[:, bad], relation[bad])
            hit = contains(avoid, self.key(candidate)) | (candidate.pairs[0] == candidate.pairs[1])
            bad = bad[hit]
        raise UserError("the graph has too few non-edges to draw negative pairs from (is a relation complete?)")


def split_typed_edges(
    edge_index: dict[EdgeType, Tensor],
    num_nodes: dict[str, int],
    relations: list[EdgeType],
    fractions: tuple[float, float],
    held_out: dict[str, dict[EdgeType, Tensor]] | None,
    generator: torch.Generator,
) -> TypedEdgeSplit:
    """Split the `relations` of a typed graph (`edge_index` per relation, local positions) with
    the `(val, test)` fractions, or along `held_out` (`{"val": {relation: 2 × P}, "test": ...}`)
    when given; see the module docstring. An empty validation or test split, or a predicted
    relation that the seeded split leaves without training edges, is a UserError."""
    space = NodeSpace(dict(num_nodes))
    message = dict(edge_index)
    test_message = dict(edge_index)
    parts_of: dict[str, list[Tensor]] = {name: [] for name in ("train", "val", "test", "all", "message")}
    for edge_type in relations:
        parts = _split_relation(edge_type, edge_index[edge_type], num_nodes, fractions, held_out, generator)
        message[edge_type], test_message[edge_type] = parts["message"], parts["test_message"]
        reverse = _copy_of(edge_type, edge_index)
        if edge_type[0] != edge_type[2] and reverse is not None:
            for graph, held in ((message, ("val", "test")), (test_message, ("test",))):
                leaving = torch.cat([parts[split] for split in held], dim=1).flip(0)
                graph[reverse] = _without(edge_index[reverse], leaving, num_nodes[edge_type[0]])
        for name, pairs in parts_of.items():
            pairs.append(space.to_global(edge_type, parts[name]))
    joined = {name: _labelled(pairs) for name, pairs in parts_of.items()}
    for name in ("val", "test"):
        if joined[name].relation.numel() == 0:
            raise UserError(
                f"the {name} split of {', '.join(map(relation_name, relations))} is empty; "
                "raise dataset.edge_split or use a larger graph"
            )
    positives = {name: joined[name] for name in ("train", "val", "test")}
    split = TypedEdgeSplit(space, relations, message, test_message, positives, {}, torch.empty(0), torch.empty(0))
    split.known = torch.unique(split.key(joined["all"]))
    split.message_keys = torch.unique(split.key(joined["message"]))
    split.negatives = {name: split.corrupt(positives[name], split.known, generator) for name in ("val", "test")}
    return split


def _copy_of(edge_type: EdgeType, relations: dict[EdgeType, Tensor]) -> EdgeType | None:
    """The relation holding `edge_type`'s edges reversed: its `rev_` copy, or (for a copy) the
    relation it copies; None when the graph has neither."""
    source, name, target = edge_type
    for other in (reverse_relation(edge_type), (target, name.removeprefix(REVERSE_PREFIX), source)):
        if other != edge_type and other in relations:
            return other
    return None


def _labelled(per_relation: list[Tensor]) -> LabelledPairs:
    """The pairs of every relation (in relation order) joined, each labelled with its relation's index."""
    relation = [torch.full((pairs.size(1),), index, dtype=torch.long) for index, pairs in enumerate(per_relation)]
    return LabelledPairs(torch.cat(per_relation, 1), torch.cat(relation))


def _split_relation(
    edge_type: EdgeType,
    edges: Tensor,
    num_nodes: dict[str, int],
    fractions: tuple[float, float],
    held_out: dict[str, dict[EdgeType, Tensor]] | None,
    generator: torch.Generator,
) -> dict[str, Tensor]:
    """One relation's train/val/test positives, its message graphs and all its true pairs
    ("all"), local positions."""
    n_source, n_target = num_nodes[edge_type[0]], num_nodes[edge_type[2]]
    same_type = edge_type[0] == edge_type[2]
    keys = edge_keys(edges, n_source) if same_type else torch.unique(edges[0] * n_target + edges[1])
    undirected = same_type and is_undirected(keys, n_source)
    pairs = keys[keys // n_target < keys % n_target] if undirected else keys
    none = torch.empty((2, 0), dtype=torch.long)
    if held_out is not None:
        val, test = (held_out.get(split, {}).get(edge_type, none) for split in ("val", "test"))
        held = torch.cat([val, test], dim=1)
        held_keys = held[0] * n_target + held[1]
        if undirected:
            held_keys = torch.cat([held_keys, held[1] * n_target + held[0]])
        train = pairs[~torch.isin(pairs, held_keys)]
    else:
        total = pairs.numel()
        num_val, num_test = int(fractions[0] * total), int(fractions[1] * total)
        perm = torch.randperm(total, generator=generator, device=generator.device).to(pairs.device)
        train, val_keys, test_keys = pairs[perm].split([total - num_val - num_test, num_val, num_test])
        val, test = key_pairs(val_keys, n_target), key_pairs(test_keys, n_target)
    if train.numel() == 0 and held_out is None:  # (a knowledge graph's relation may be in valid/test only)
        raise UserError(f"relation {relation_name(edge_type)} has no training edges left after holding some out")
    train_pairs = key_pairs(train, n_target)
    message = torch.cat([train_pairs, train_pairs.flip(0)], 1) if undirected else train_pairs
    test_message = torch.cat([message, val, val.flip(0)] if undirected else [message, val], 1)
    if held_out is not None and "train" in held_out:  # a knowledge graph's directed triples
        every = torch.cat([held_out["train"].get(edge_type, none), val, test], 1)
    else:
        every = torch.cat([key_pairs(keys, n_target), val, test], 1)
        if undirected:
            every = torch.cat([every, every.flip(0)], 1)
    return {
        "train": train_pairs, "val": val, "test": test, "message": message, "test_message": test_message, "all": every
    }


def _without(edges: Tensor, leaving: Tensor, n_target: int) -> Tensor:
    """`edges` without the pairs `leaving` (local positions, 2 × P; targets below `n_target`)."""
    keep = ~torch.isin(edges[0] * n_target + edges[1], leaving[0] * n_target + leaving[1])
    return edges[:, keep]
