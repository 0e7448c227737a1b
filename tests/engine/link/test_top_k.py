"""Exact top-k targets against brute force, chunked under a score budget."""

from __future__ import annotations

import pytest
import torch

from gnntool.engine.link.top_k import top_k_chunks
from gnntool.errors import UserError


def brute_force(
    z: torch.Tensor, k: int, edge_index: torch.Tensor, sources: list[int]
) -> list[tuple[int, int, float, int]]:
    known = set(map(tuple, edge_index.t().tolist()))
    rows = []
    for u in sources:
        candidates = [
            (float(z[u] @ z[v]), v) for v in range(z.size(0)) if v != u and (u, v) not in known and (v, u) not in known
        ]
        for rank, (score, v) in enumerate(sorted(candidates, reverse=True)[:k], start=1):
            rows.append((u, v, score, rank))
    return rows


def top_k_targets(
    z: torch.Tensor, k: int, edge_index: torch.Tensor, sources: torch.Tensor | None = None,
    max_scores: int | None = None,
) -> tuple[torch.Tensor, ...]:
    """Every chunk's rows joined, as flat (source, target, score, rank) tensors."""
    _, chunks = top_k_chunks(z, k, edge_index, sources, max_scores)
    parts = list(chunks)
    if not parts:
        empty = torch.empty(0, dtype=torch.long)
        return empty, empty, z.new_empty(0), empty
    return tuple(torch.cat(column) for column in zip(*parts))


def as_rows(result: tuple[torch.Tensor, ...]) -> list[tuple[int, int, float, int]]:
    source, target, score, rank = result
    return list(zip(source.tolist(), target.tolist(), score.tolist(), rank.tolist()))


@pytest.mark.parametrize("max_scores", [1, 7, 30, 1 << 26])  # one source per chunk ... all at once
@pytest.mark.parametrize("k", [1, 3, 20])
def test_matches_brute_force(max_scores: int, k: int) -> None:
    torch.manual_seed(0)
    n = 15
    z = torch.randn(n, 4, dtype=torch.float64)
    edge_index = torch.randint(0, n, (2, 40))  # directed, with self-loops and repeats
    sources = [3, 0, 14, 3]
    got = as_rows(top_k_targets(z, k, edge_index, torch.tensor(sources), max_scores=max_scores))
    want = brute_force(z, k, edge_index, sources)
    assert [(u, v, r) for u, v, _, r in got] == [(u, v, r) for u, v, _, r in want]
    assert [s for *_, s, _ in got] == pytest.approx([s for *_, s, _ in want])


def test_all_sources_and_short_rows() -> None:
    z = torch.randn(4, 2)
    edge_index = torch.tensor([[0, 0], [1, 2]])  # node 0 has one candidate left: node 3
    source, target, score, rank = top_k_targets(z, 5, edge_index)
    assert source.tolist().count(0) == 1 and target[source == 0].tolist() == [3]
    assert source.tolist().count(1) == 2 and rank[source == 1].tolist() == [1, 2]  # 2 and 3; 0 is a neighbour
    assert torch.all(score[:-1][source[:-1] == source[1:]] >= score[1:][source[:-1] == source[1:]])


def test_chunk_holds_at_most_the_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    shapes = []
    real_mm = torch.mm

    def spy(a: torch.Tensor, b: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        shapes.append(out.shape)
        return real_mm(a, b, out=out)

    monkeypatch.setattr(torch, "mm", spy)
    top_k_targets(torch.randn(100, 3), 2, torch.empty((2, 0), dtype=torch.long), max_scores=1000)
    assert len(shapes) == 10 and all(rows * cols <= 1000 for rows, cols in shapes)


@pytest.mark.parametrize("k", [0, -3, 2.5, True])
def test_bad_k(k: object) -> None:
    with pytest.raises(UserError, match="K ≥ 1"):
        top_k_targets(torch.randn(3, 2), k, torch.empty((2, 0), dtype=torch.long))  # type: ignore[arg-type]


def test_row_count_is_announced_before_the_search() -> None:
    z = torch.randn(6, 3)
    edge_index = torch.tensor([[0, 0, 1, 5], [1, 2, 0, 5]])  # 0 has 2 neighbours, 1 has 1; a self-loop
    rows, chunks = top_k_chunks(z, 4, edge_index, max_scores=12)
    parts = list(chunks)
    assert rows == 3 + 4 * 5 == sum(part.source.numel() for part in parts)
    assert len(parts) == 3  # two sources (12 scores) per chunk
    assert top_k_chunks(z, 9, edge_index, torch.tensor([0, 3]))[0] == 3 + 5


def test_targets_of_another_node_type_exclude_only_the_sources_edges() -> None:
    torch.manual_seed(0)
    sources, targets = torch.randn(5, 4), torch.randn(7, 4)
    edges = torch.tensor([[0, 0, 2, 4], [1, 3, 0, 6]])
    rows, chunks = top_k_chunks(sources, 3, edges, targets=targets, max_scores=14)
    found = [row for chunk in chunks for row in zip(*(t.tolist() for t in chunk))]
    assert rows == len(found) == 15
    linked = set(zip(*edges.tolist()))
    for u in range(5):
        # u and target u are different nodes: target u is a candidate unless u has an edge to it
        scores = {v: (sources[u] @ targets[v]).item() for v in range(7) if (u, v) not in linked}
        best = sorted(scores, key=scores.get, reverse=True)[:3]
        got = [(v, rank) for s, v, _, rank in found if s == u]
        assert got == [(v, rank) for rank, v in enumerate(best, 1)]


def test_query_rows_search_distmult_exactly() -> None:
    from gnntool.models.decoders import build_decoder

    torch.manual_seed(1)
    z = torch.randn(9, 5)
    decoder = build_decoder("distmult", 5, num_relations=2)
    edges = torch.tensor([[0, 3, 4], [1, 0, 8]])
    with torch.no_grad():
        queries = decoder.search_queries(z, 1)
        _, chunks = top_k_chunks(z, 2, edges, queries=queries, max_scores=20)
        found = [row for chunk in chunks for row in zip(*(t.tolist() for t in chunk))]
        linked = {(u, v) for u, v in zip(*edges.tolist())} | {(v, u) for u, v in zip(*edges.tolist())}
        for u in range(9):
            scores = {}
            for v in range(9):
                if v != u and (u, v) not in linked:
                    scores[v] = decoder(z, torch.tensor([[u], [v]]), torch.tensor([1])).item()
            best = sorted(scores, key=scores.get, reverse=True)[:2]
            assert [(v, rank) for s, v, _, rank in found if s == u] == [(v, rank) for rank, v in enumerate(best, 1)]
