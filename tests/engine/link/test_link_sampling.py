"""Sampled link-prediction batches: exact with full neighbourhoods, repeatable, resumable."""

from __future__ import annotations

import pytest
import torch
from torch_geometric.utils import to_undirected

from gnntool.config import ModelConfig
from gnntool.engine.link.sampling import LinkSampledSteps
from gnntool.models import build_model
from gnntool.models.graph_ops import GraphOps

N = 60


def graph() -> tuple[torch.Tensor, GraphOps, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    edge_index = to_undirected(torch.randint(0, N, (2, 150), generator=g), num_nodes=N)
    x = torch.randn(N, 5, generator=g)
    positives = edge_index[:, edge_index[0] < edge_index[1]]
    return x, GraphOps(edge_index, N), positives


def steps(fanout: list[int], seed: int = 0, negatives: int = 2) -> LinkSampledSteps:
    x, ops, positives = graph()
    return LinkSampledSteps(x, ops, positives, fanout, batch_size=16, negatives=negatives, seed=seed)


@pytest.mark.parametrize("aggregator", ["mean", "gcn", "pool"])
@pytest.mark.parametrize("layers", [2, 3])
def test_full_fanout_gives_the_full_graph_embeddings(aggregator: str, layers: int) -> None:
    torch.manual_seed(0)
    model = build_model(ModelConfig(arch="sage", aggregator=aggregator, hidden=8, layers=layers), 5, 4).eval()
    link = steps([-1] * layers)
    x, ops, _ = graph()
    full = model(x, ops)
    for batch in list(link.steps(0))[:3]:
        out = model(batch.x, batch.blocks)
        assert out.size(0) == int(batch.pairs.max()) + 1  # one row per endpoint
        ends = batch.node_ids[batch.pairs]
        assert torch.allclose(out[batch.pairs], full[ends], atol=1e-5)


def test_batches_hold_positives_then_fresh_negatives() -> None:
    link = steps([3, 2], negatives=2)
    _, ops, positives = graph()
    known = set(map(tuple, positives.t().tolist()))
    edges = set(zip(ops.source.tolist(), ops.target.tolist()))
    seen = []
    for batch in link.steps(0):
        pairs = batch.node_ids[batch.pairs]
        positive = batch.labels == 1
        assert int(positive.sum()) * 2 == int((~positive).sum())
        assert all(tuple(p) in known for p in pairs[:, positive].t().tolist())
        assert not any(tuple(p) in edges or p[0] == p[1] for p in pairs[:, ~positive].t().tolist())
        assert len(batch.blocks) == 2 and batch.x.size(0) == batch.node_ids.numel()
        seen += pairs[:, positive].t().tolist()
    assert sorted(map(tuple, seen)) == sorted(known) and link.num_batches(0) == -(-len(known) // 16)


def test_repeatable_and_resumable() -> None:
    a, b = steps([2, 2]), steps([2, 2])
    torch.manual_seed(123)  # the global RNG plays no part
    first = list(a.steps(1))
    torch.manual_seed(7)
    resumed = list(b.steps(1, start=2))
    for x, y in zip(first[2:], resumed, strict=True):
        assert torch.equal(x.node_ids, y.node_ids) and torch.equal(x.pairs, y.pairs)
        assert all(
            torch.equal(p.source, q.source) and torch.equal(p.target, q.target) for p, q in zip(x.blocks, y.blocks)
        )
    other_epoch = next(a.steps(2))
    assert not torch.equal(other_epoch.node_ids, first[0].node_ids)
    assert not torch.equal(next(steps([2, 2], seed=1).steps(1)).node_ids, first[0].node_ids)
