"""Filtered ranking against a brute-force reference, straight from the definition."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gnntool.engine.link.filtered import filtered_metrics, filtered_ranks, ranking_metrics
from gnntool.errors import UserError


def brute_force_ranks(table: torch.Tensor, queries: list[tuple[int, int, int]], known: set) -> list[float]:
    """Rank of each tail, then of each head, by looping over every candidate entity."""
    n = table.size(0)
    tails, heads = [], []
    for h, r, t in queries:
        own = table[h, r, t].item()
        others = [table[h, r, c].item() for c in range(n) if c != t and (h, r, c) not in known]
        tails.append(1 + sum(s > own for s in others) + 0.5 * sum(s == own for s in others))
        own = table[h, r, t].item()
        others = [table[c, r, t].item() for c in range(n) if c != h and (c, r, t) not in known]
        heads.append(1 + sum(s > own for s in others) + 0.5 * sum(s == own for s in others))
    return tails + heads


@dataclass
class PairCandidates:
    """A `CandidateScorer` that scores each query's N candidate triples as pairs."""

    score: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]  # (heads, relations, tails) → scores
    num_entities: int

    def tails(self, heads: torch.Tensor, relations: torch.Tensor) -> torch.Tensor:
        n, b = self.num_entities, heads.numel()
        every = torch.arange(n).repeat(b)
        return self.score(heads.repeat_interleave(n), relations.repeat_interleave(n), every).view(b, n)

    def heads(self, tails: torch.Tensor, relations: torch.Tensor) -> torch.Tensor:
        n, b = self.num_entities, tails.numel()
        every = torch.arange(n).repeat(b)
        return self.score(every, relations.repeat_interleave(n), tails.repeat_interleave(n)).view(b, n)


def table_scorer(table: torch.Tensor) -> PairCandidates:
    """Scores looked up in a dense (head, relation, tail) table."""
    return PairCandidates(lambda h, r, t: table[h, r, t], table.size(0))


@st.composite
def graphs(draw):
    n = draw(st.integers(2, 7))
    r = draw(st.integers(1, 3))
    triple = st.tuples(st.integers(0, n - 1), st.integers(0, r - 1), st.integers(0, n - 1))
    known = draw(st.sets(triple, min_size=1, max_size=20))
    queries = draw(st.lists(st.sampled_from(sorted(known)), min_size=1, max_size=8))
    # Few distinct values so that ties are common.
    values = draw(st.lists(st.integers(0, 3), min_size=n * r * n, max_size=n * r * n))
    table = torch.tensor(values, dtype=torch.float32).view(n, r, n)
    return n, table, queries, known


@settings(max_examples=60, deadline=None)
@given(graphs(), st.integers(1, 40))
def test_filtered_ranks_match_brute_force(graph, max_scores: int) -> None:
    n, table, queries, known = graph
    got = filtered_ranks(
        table_scorer(table), torch.tensor(queries).t(), torch.tensor(sorted(known)).t(), n, max_scores=max_scores
    )
    assert got.tolist() == pytest.approx(brute_force_ranks(table, queries, known))


def test_metrics_of_ranks() -> None:
    metrics = ranking_metrics(torch.tensor([1.0, 2.0, 1.5, 10.0]))
    assert metrics["filtered_mrr"] == pytest.approx((1 + 0.5 + 1 / 1.5 + 0.1) / 4)
    assert metrics["filtered_hits@1"] == 0.25
    assert metrics["filtered_hits@3"] == 0.75
    assert metrics["filtered_hits@10"] == 1.0


def test_filtering_removes_other_true_answers_only() -> None:
    # Entity 2 outscores the answer 1 for (0, r0, ?): filtered when (0, 0, 2) is known, not otherwise.
    table = torch.zeros(4, 1, 4)
    table[0, 0] = torch.tensor([0.0, 5.0, 9.0, 1.0])
    table[:, 0, 1] = torch.tensor([5.0, 0.0, 0.0, 0.0])
    query = torch.tensor([[0], [0], [1]])
    with_other = filtered_ranks(table_scorer(table), query, torch.tensor([[0, 0], [0, 0], [1, 2]]), 4)
    alone = filtered_ranks(table_scorer(table), query, torch.tensor([[0], [0], [1]]), 4)
    assert with_other.tolist() == [1.0, 1.0]
    assert alone.tolist() == [2.0, 1.0]


def test_a_constant_model_ranks_in_the_middle() -> None:
    n = 9
    table = torch.zeros(n, 1, n)
    metrics = filtered_metrics(table_scorer(table), torch.tensor([[0], [0], [1]]), torch.tensor([[0], [0], [1]]), n)
    assert metrics["filtered_mrr"] == pytest.approx(1 / 5)  # 1 + 8 ties / 2
    assert metrics["filtered_hits@10"] == 1.0 and metrics["filtered_hits@1"] == 0.0


def test_no_triples_is_an_error() -> None:
    with pytest.raises(UserError, match="no"):
        filtered_metrics(table_scorer(torch.zeros(2, 1, 2)), torch.empty((3, 0), dtype=torch.long),
                         torch.tensor([[0], [0], [1]]), 2)
