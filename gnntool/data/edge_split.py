"""Held-out edges for link prediction: a seeded split of a graph's edges, and negative pairs.

The split follows PyG's `RandomLinkSplit` (`is_undirected` when the graph is): a graph whose
every edge also appears reversed is *undirected* and split by unordered pair {u, v}; both
directions of a held-out pair leave the message-passing graph. Any other graph is split by
directed edge. Self-loops and repeated edges are dropped first (`GraphOps` drops them anyway).
With E pairs, `int(val_frac · E)` go to validation, `int(test_frac · E)` to test, the rest train,
from one random permutation, as PyG does. As in PyG, the test split is scored on the training
edges plus the validation edges (`EdgeSplit.test_edge_index`), the validation split on the
training edges only.

Validation and test get one negative pair per positive: distinct pairs (unordered in an undirected
graph) that are neither self-loops nor edges of the full graph (held-out edges included), drawn
uniformly at random. Training negatives are drawn afresh per step by `NegativeSampler`.

A graph file may bring its own held-out edges (`gnntool.data.graphfile.read_held_out_edges`);
`split_held_out` builds the same `EdgeSplit` from them.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from gnntool.errors import UserError

__all__ = ["EdgeSplit", "NegativeSampler", "edge_keys", "is_undirected", "split_edges", "split_held_out"]

# Up to this many node pairs (n²), distinct negatives are drawn from the list of all non-edges.
_ENUMERATE_PAIRS = 1 << 22


@dataclass
class EdgeSplit:
    """A graph's edges split for link prediction; every tensor is int64 node positions.

    - `edge_index` (2 × E_mp): the message-passing graph for training and validation: the
      training edges (both directions of each pair in an undirected graph).
    - `test_edge_index` (2 × E_mp'): the message-passing graph for test: `edge_index` plus the
      validation edges (both directions when undirected), as PyG's `RandomLinkSplit`.
    - `train_pos` (2 × P): the training positives, each directed edge once, or each unordered
      pair once (as (u, v) with u < v) in an undirected graph.
    - `val_pos`/`test_pos` (2 × P_val, 2 × P_test): held-out positives; `val_neg`/`test_neg`:
      as many negatives each, fixed by the generator (or brought by the graph file).
    - `undirected`: whether the graph was split by unordered pair.
    """

    edge_index: Tensor
    test_edge_index: Tensor
    train_pos: Tensor
    val_pos: Tensor
    val_neg: Tensor
    test_pos: Tensor
    test_neg: Tensor
    undirected: bool


def edge_keys(edge_index: Tensor, num_nodes: int) -> Tensor:
    """The edges as sorted unique keys `source · num_nodes + target`, self-loops dropped."""
    source, target = edge_index
    keep = source != target
    return torch.unique(source[keep] * num_nodes + target[keep])


def contains(sorted_keys: Tensor, keys: Tensor) -> Tensor:
    """Which of `keys` occur in the sorted 1-D tensor `sorted_keys` (a bool per key).

    The queries are sorted first: binary searches in order touch memory in order, ~3x faster
    than random queries into a large key array, sort included (400k into 850k keys)."""
    if sorted_keys.numel() == 0:
        return torch.zeros_like(keys, dtype=torch.bool)
    queries, order = keys.sort()
    slot = torch.searchsorted(sorted_keys, queries).clamp(max=sorted_keys.numel() - 1)
    found = torch.empty_like(keys, dtype=torch.bool)
    found[order] = sorted_keys[slot] == queries
    return found


def key_pairs(keys: Tensor, num_nodes: int) -> Tensor:
    """Keys `source · num_nodes + target` back as 2 × P pairs."""
    return torch.stack([keys // num_nodes, keys % num_nodes])


def _both_ways(keys: Tensor, num_nodes: int) -> Tensor:
    """Sorted keys of the pairs and their reverses."""
    return torch.unique(torch.cat([keys, (keys % num_nodes) * num_nodes + keys // num_nodes]))


def is_undirected(keys: Tensor, num_nodes: int) -> bool:
    """Whether the edges of sorted `keys` (see `edge_keys`) all appear in both directions."""
    return bool(keys.numel()) and torch.equal(_both_ways(keys, num_nodes), keys)


def split_edges(
    edge_index: Tensor, num_nodes: int, val_frac: float, test_frac: float, generator: torch.Generator
) -> EdgeSplit:
    """Split `edge_index` (2 × E, node positions) into training, validation and test edges with
    negatives, drawn from `generator` alone; see the module docstring for the rules.

    A UserError when the fractions are out of range, leave no training edges, or leave the
    validation or test split empty.
    """
    if val_frac < 0 or test_frac < 0 or val_frac + test_frac >= 1:
        raise UserError(
            f"dataset.edge_split: val ({val_frac}) and test ({test_frac}) must be ≥ 0 and sum to less than 1, "
            "so that training edges remain"
        )
    keys = edge_keys(edge_index, num_nodes)
    undirected = is_undirected(keys, num_nodes)
    pairs = keys[keys // num_nodes < keys % num_nodes] if undirected else keys
    total = pairs.numel()
    num_val, num_test = int(val_frac * total), int(test_frac * total)
    num_train = total - num_val - num_test  # ≥ 1 when there are edges: val_frac + test_frac < 1
    kind = "undirected pairs" if undirected else "directed edges"
    if total == 0:
        raise UserError("the graph has no edges (self-loops aside) to split for link prediction")
    for split, count, frac in (("val", num_val, val_frac), ("test", num_test, test_frac)):
        if count == 0:
            raise UserError(
                f"dataset.edge_split: the {split} split is empty ({split} {frac} of {total} {kind} "
                f"is less than one); raise the fraction or use a larger graph"
            )
    perm = torch.randperm(total, generator=generator, device=generator.device).to(pairs.device)
    train, val, test = pairs[perm].split([num_train, num_val, num_test])
    val_pairs, test_pairs = key_pairs(val, num_nodes), key_pairs(test, num_nodes)
    return _assemble(keys, train, val_pairs, test_pairs, {}, num_nodes, undirected, generator)


def split_held_out(
    edge_index: Tensor, num_nodes: int, held_out: dict[str, Tensor], generator: torch.Generator
) -> EdgeSplit:
    """The split a graph file brings: `held_out` has `val_edges` and `test_edges` (2 × P, node
    positions), optionally `val_negatives`/`test_negatives` (else drawn from `generator`).

    Held-out edges may or may not also be listed in `edge_index`: either way they leave the
    message-passing graph (both directions when the graph is undirected) and count as edges of
    the full graph, which negatives must avoid. Given negatives that are edges or self-loops, an
    empty held-out split, or no training edge left, are a UserError.
    """
    keys = edge_keys(edge_index, num_nodes)
    undirected = is_undirected(keys, num_nodes)
    held = {}
    for split in ("val", "test"):
        pos = held_out.get(f"{split}_edges")
        if pos is None or pos.size(1) == 0:
            raise UserError(
                f"the graph file brings no {split}_edges (it needs both val_edges and test_edges, non-empty)"
            )
        held[split] = pos.to(keys.device)
    held_keys = torch.cat([edge_keys(pos, num_nodes) for pos in held.values()])
    if undirected:
        held_keys = _both_ways(held_keys, num_nodes)
    train = keys[~contains(torch.unique(held_keys), keys)]
    if undirected:
        train = train[train // num_nodes < train % num_nodes]
    if train.numel() == 0:
        raise UserError("the graph file's held-out edges leave no training edges")
    full = torch.unique(torch.cat([keys, held_keys]))
    given: dict[str, Tensor] = {}
    for split in ("val", "test"):
        negatives = held_out.get(f"{split}_negatives")
        if negatives is not None:
            negatives = negatives.to(keys.device)
            bad = (negatives[0] == negatives[1]) | contains(full, negatives[0] * num_nodes + negatives[1])
            if bad.any():
                u, v = negatives[:, int(bad.nonzero()[0])].tolist()
                what = "a self-loop" if u == v else "an edge of the graph"
                raise UserError(f"the graph file's {split}_negatives hold pair ({u}, {v}) (node positions), {what}")
            given[split] = negatives
    return _assemble(full, train, held["val"], held["test"], given, num_nodes, undirected, generator)


def _assemble(
    full: Tensor,
    train: Tensor,
    val_pos: Tensor,
    test_pos: Tensor,
    negatives: dict[str, Tensor],
    num_nodes: int,
    undirected: bool,
    generator: torch.Generator,
) -> EdgeSplit:
    """The split from the sorted keys of every edge (`full`, which negatives avoid), the training
    pairs' keys, the held-out pairs (2 × P) and the negatives given per split (others drawn)."""
    missing = {split: pos.size(1) for split, pos in (("val", val_pos), ("test", test_pos)) if split not in negatives}
    if missing:
        drawn = distinct_negatives(full, num_nodes, sum(missing.values()), generator, undirected)
        negatives = {**negatives, **dict(zip(missing, drawn.to(full.device).split(list(missing.values()), dim=1)))}
    message = _both_ways(train, num_nodes) if undirected else train
    with_val = torch.unique(torch.cat([train, edge_keys(val_pos, num_nodes)]))
    test_message = _both_ways(with_val, num_nodes) if undirected else with_val
    return EdgeSplit(
        edge_index=key_pairs(message, num_nodes),
        test_edge_index=key_pairs(test_message, num_nodes),
        train_pos=key_pairs(train, num_nodes),
        val_pos=val_pos,
        val_neg=negatives["val"],
        test_pos=test_pos,
        test_neg=negatives["test"],
        undirected=undirected,
    )


def distinct_negatives(
    full: Tensor, num_nodes: int, count: int, generator: torch.Generator, undirected: bool
) -> Tensor:
    """`count` distinct node pairs (2 × count), uniformly at random among those that are neither
    self-loops nor in the sorted keys `full`; unordered pairs, as (u, v) with u < v, when
    `undirected`. A UserError when the graph has fewer such pairs."""
    n = num_nodes
    available = n * (n - 1) - full.numel()
    if undirected:
        available //= 2
    if count > available:
        raise UserError(f"the graph has {available} non-edges, too few for {count} negative pairs")
    device = generator.device
    full = full.to(device)
    if n * n <= _ENUMERATE_PAIRS:
        candidates = torch.arange(n * n, device=device)
        u, v = candidates // n, candidates % n
        candidates = candidates[(u < v if undirected else u != v) & ~contains(full, candidates)]
        chosen = candidates[torch.randperm(candidates.numel(), generator=generator, device=device)[:count]]
    else:
        # Uniform draws, repeats and edges rejected; the distinct survivors in a random order
        # are a uniformly random set (every non-edge is alike to the procedure).
        chosen = full.new_empty(0)
        while chosen.numel() < count:
            want = 2 * (count - chosen.numel()) + 16
            u = torch.randint(0, n, (want,), generator=generator, device=device)
            v = torch.randint(0, n, (want,), generator=generator, device=device)
            if undirected:
                u, v = torch.minimum(u, v), torch.maximum(u, v)
            fresh = torch.unique((u * n + v)[u != v])
            fresh = fresh[~contains(full, fresh) & ~torch.isin(fresh, chosen)]
            fresh = fresh[torch.randperm(fresh.numel(), generator=generator, device=device)]
            chosen = torch.cat([chosen, fresh[: count - chosen.numel()]])
    return key_pairs(chosen, n)


class NegativeSampler:
    """Training negatives: node pairs drawn uniformly among the non-edges of a graph (usually the
    message-passing graph, as PyG's link-prediction example), with replacement, fresh per call.

    Built once per graph (it sorts the edge keys); a call costs O(count · log E): uniform pairs,
    then the few that hit an edge or a self-loop redrawn until none does.
    """

    def __init__(self, edge_index: Tensor, num_nodes: int) -> None:
        self.keys = edge_keys(edge_index, num_nodes)
        self.num_nodes = num_nodes
        self._keys_on: dict[torch.device, Tensor] = {}  # the keys on each generator's device
        if self.keys.numel() >= num_nodes * (num_nodes - 1):
            raise UserError(f"the graph ({num_nodes} nodes) is complete: it has no non-edges to draw negatives from")

    def __call__(self, count: int, generator: torch.Generator) -> Tensor:
        """`count` negative pairs (2 × count, int64) on the edges' device, drawn from `generator`
        (on its device)."""
        n, device = self.num_nodes, generator.device
        keys = self._keys_on.setdefault(device, self.keys.to(device))
        pairs = torch.empty((2, count), dtype=torch.long, device=device)
        bad = torch.arange(count, device=device)
        while bad.numel():
            pairs[:, bad] = torch.randint(0, n, (2, bad.numel()), generator=generator, device=device)
            u, v = pairs[:, bad]
            bad = bad[(u == v) | contains(keys, u * n + v)]
        return pairs.to(self.keys.device)
