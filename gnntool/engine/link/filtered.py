"""Filtered ranking of knowledge-graph triples: `filtered_mrr` and `filtered_hits@K`.

The protocol of Bordes et al. (2013, "Translating Embeddings for Modeling Multi-relational Data")
as every knowledge-graph benchmark since reports it: a test triple (h, r, t) is ranked twice,
its tail t against every entity t' as (h, r, t'), and its head h against every entity h' as
(h', r, t). A candidate that forms another known true triple (in train, valid or test) is
removed before ranking ("filtered"), so a model is not penalised for ranking another right
answer first. The triple's rank is 1 + (candidates scored higher) + (candidates tied with it) / 2,
the mean of the optimistic and the pessimistic rank, as `gnntool.engine.link.metrics` ranks ties
(a model that scores everything alike then ranks in the middle, not first).

filtered_mrr is the mean of 1 / rank over both rankings of every triple; filtered_hits@K the
share of rankings with rank ≤ K (a tie-averaged rank of 1.5 is not a hit at 1).

Scores come a chunk of queries at a time: a `CandidateScorer` gives each query's scores of every
entity as one row (a matrix product for DistMult, or every pair decoded:
`gnntool.models.decoders.score_candidates`), at
most `max_scores` scores held at once, so memory stays bounded for any number of entities; the
known triples are looked up by binary search in their sorted keys.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

import torch
from torch import Tensor

from gnntool.errors import UserError

__all__ = [
    "FILTERED_HITS",
    "CandidateScorer",
    "filtered_metrics",
    "filtered_ranks",
    "ranking_metrics",
]

FILTERED_HITS = (1, 3, 10)  # the K of filtered_hits@K, as the benchmarks report
MAX_SCORES = 1 << 20

class CandidateScorer(Protocol):
    """Scores of every entity as the missing end of B queries (B × N, rows in query order)."""

    def tails(self, heads: Tensor, relations: Tensor) -> Tensor:
        """Row i: the score of (heads[i], relations[i], e) for every entity e."""

    def heads(self, tails: Tensor, relations: Tensor) -> Tensor:
        """Row i: the score of (e, relations[i], tails[i]) for every entity e."""


def filtered_metrics(
    score: CandidateScorer,
    queries: Tensor,
    known: Tensor,
    num_entities: int,
    hits_k: Sequence[int] = FILTERED_HITS,
    max_scores: int = MAX_SCORES,
) -> dict[str, float]:
    """`{"filtered_mrr", "filtered_hits@K"}` of the triples `queries` (3 × P: head, relation,
    tail), each ranked by tail and by head against all `num_entities` entities, every other triple
    of `known` (3 × K, every true triple: train, valid and test) filtered out. An empty
    `queries` is a UserError (a metric of nothing is not 0)."""
    return ranking_metrics(filtered_ranks(score, queries, known, num_entities, max_scores), hits_k)


def ranking_metrics(ranks: Tensor, hits_k: Sequence[int] = FILTERED_HITS) -> dict[str, float]:
    """Mean reciprocal rank and hits@K of tie-averaged `ranks`, named `filtered_...`."""
    if ranks.numel() == 0:
        raise UserError("filtered ranking needs held-out triples; the split has none")
    ranks = ranks.double()
    metrics = {"filtered_mrr": (1.0 / ranks).mean().item()}
    for k in hits_k:
        metrics[f"filtered_hits@{k}"] = (ranks <= k).double().mean().item()
    return metrics


def filtered_ranks(
    score: CandidateScorer, queries: Tensor, known: Tensor, num_entities: int, max_scores: int = MAX_SCORES
) -> Tensor:
    """The tie-averaged filtered ranks (float64, 2P): every query's tail rank, then every head rank."""
    heads, relations, tails = queries.cpu()
    known = known.cpu()
    tail_ranks = _ranks(score.tails, heads, relations, tails, known, num_entities, max_scores)
    head_ranks = _ranks(score.heads, tails, relations, heads, known[[2, 1, 0]], num_entities, max_scores)
    return torch.cat([tail_ranks, head_ranks])


def _ranks(
    candidates: Callable[[Tensor, Tensor], Tensor],
    anchors: Tensor,
    relations: Tensor,
    answers: Tensor,
    known: Tensor,
    n: int,
    max_scores: int,
) -> Tensor:
    """Rank of each `answers[i]` among all n candidates c, scored by row i of
    `candidates(anchors, relations)`, the other candidates c with (anchor, relation, c) in
    `known` left out."""
    num_relations = int(torch.cat([relations, known[1], relations.new_zeros(1)]).max()) + 1
    # Known triples sorted by (anchor, relation): each query's known answers are one run of them.
    group = known[0] * num_relations + known[1]
    order = torch.argsort(group * n + known[2])
    group, known_answers = group[order], known[2][order]
    ranks = torch.empty(anchors.numel(), dtype=torch.float64)
    chunk = max(1, max_scores // max(n, 1))
    for start in range(0, anchors.numel(), chunk):
        anchor, relation, answer = (t[start : start + chunk] for t in (anchors, relations, answers))
        b = anchor.numel()
        scores = candidates(anchor, relation).detach().double().cpu()
        # Mask the other known answers of each query: the run of its (anchor, relation) group.
        query_group = anchor * num_relations + relation
        first = torch.searchsorted(group, query_group)
        count = torch.searchsorted(group, query_group, right=True) - first
        rows = torch.repeat_interleave(torch.arange(b), count)
        offset = torch.arange(rows.numel()) - (torch.cumsum(count, 0) - count)[rows]
        ignored = torch.zeros((b, n), dtype=torch.bool)
        ignored[rows, known_answers[first[rows] + offset]] = True
        ignored[torch.arange(b), answer] = False
        own = scores[torch.arange(b), answer][:, None]
        higher = ((scores > own) & ~ignored).sum(1)
        tied = ((scores == own) & ~ignored).sum(1) - 1  # the answer ties with itself
        ranks[start : start + b] = 1.0 + higher.double() + 0.5 * tied.double()
    return ranks
