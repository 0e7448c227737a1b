"""GIN (Xu et al. 2019, eq. 4.1) and GINE (Hu et al. 2020) against their definitions, brute force."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from gnntool.config import ModelConfig
from gnntool.models import build_model
from gnntool.models.gin import GINConv
from gnntool.models.graph_ops import GraphOps, self_plus_neighbour_sum


def brute_force(conv: GINConv, x: torch.Tensor, edge_index: torch.Tensor, edge: torch.Tensor | None) -> torch.Tensor:
    """MLP((1 + eps) h_v + sum over distinct in-edges u -> v, u != v, of h_u or ReLU(h_u + e_uv))."""
    rows = []
    seen = set()
    total = [torch.zeros(x.size(1), dtype=x.dtype) for _ in range(x.size(0))]
    for i, (u, v) in enumerate(edge_index.t().tolist()):
        if u == v or (u, v) in seen:
            continue
        seen.add((u, v))
        total[v] = total[v] + (x[u] if edge is None else F.relu(x[u] + edge[i]))
    for v in range(x.size(0)):
        z = (1 + conv.eps) * x[v] + total[v]
        rows.append(conv.lin2(F.relu(conv.lin1(z))))
    return torch.stack(rows)


def graph() -> tuple[torch.Tensor, torch.Tensor]:
    edge_index = torch.tensor([[0, 1, 1, 2, 3, 3, 2, 4], [1, 0, 2, 1, 2, 2, 2, 0]])  # a repeat and a self-loop
    return torch.randn(5, 4, dtype=torch.float64), edge_index


def test_gin_matches_its_definition() -> None:
    torch.manual_seed(0)
    x, edge_index = graph()
    conv = GINConv(4, 3).double()
    with torch.no_grad():
        conv.eps.fill_(0.3)
    ops = GraphOps(edge_index, 5)
    torch.testing.assert_close(conv(x, ops), brute_force(conv, x, edge_index, None))


def test_gine_adds_edge_embeddings_to_messages() -> None:
    torch.manual_seed(1)
    x, edge_index = graph()
    # canonical edges (what GraphOps keeps) in its order, each with its own embedding
    keep = [0, 1, 2, 3, 4, 7]
    canonical = edge_index[:, keep]
    order = torch.argsort(canonical[1] * 5 + canonical[0])
    canonical = canonical[:, order]
    edge = torch.randn(canonical.size(1), 4, dtype=torch.float64)
    conv = GINConv(4, 3).double()
    ops = GraphOps(canonical, 5, grouped=True)
    torch.testing.assert_close(conv(x, ops, edge), brute_force(conv, x, canonical, edge))


def test_gin_gradients_match_finite_differences() -> None:
    torch.manual_seed(2)
    x, edge_index = graph()
    x.requires_grad_(True)
    conv = GINConv(4, 2).double()
    ops = GraphOps(edge_index, 5)
    assert torch.autograd.gradcheck(lambda h: conv(h, ops), (x,))
    out = conv(x, ops).sum()
    out.backward()
    assert conv.eps.grad is not None and conv.eps.grad.abs().item() > 0  # eps is learned


def test_aggregation_gradients_match_finite_differences_on_slices_and_blocks() -> None:
    """The written-out backward of (1 + eps) x_v + sum of in-neighbours (x and eps) on a directed
    graph, a row slice of it and a block of it (fewer targets than nodes)."""
    torch.manual_seed(5)
    x, edge_index = graph()
    x.requires_grad_(True)
    eps = torch.tensor([0.3], dtype=torch.float64, requires_grad=True)
    whole = GraphOps(edge_index, 5)
    for ops in (whole, whole.rows(1, 4), whole.blocks(2)[1][1]):
        h = x if ops.num_nodes == 5 else x[: ops.num_nodes]
        assert torch.autograd.gradcheck(lambda h, e, ops=ops: self_plus_neighbour_sum(h, e, ops), (h, eps))
    out = self_plus_neighbour_sum(x, eps, whole.rows(1, 4))  # targets 1..3 only
    torch.testing.assert_close(out, (1 + eps) * x[1:4] + torch.stack([x[0] + x[2], x[1] + x[3], x.new_zeros(4)]))


def test_sparse_input_equals_dense() -> None:
    torch.manual_seed(3)
    x, edge_index = graph()
    x = x.float() * (torch.rand(5, 4) < 0.3)
    conv = GINConv(4, 3)
    ops = GraphOps(edge_index, 5)
    torch.testing.assert_close(conv(x.to_sparse_csr(), ops), conv(x, ops))


def test_gin_is_a_node_level_arch_too() -> None:
    torch.manual_seed(4)
    x, edge_index = graph()
    model = build_model(ModelConfig(arch="gin", hidden=8, layers=2, norm="batch"), 4, 3)
    assert model(x.float(), GraphOps(edge_index, 5)).shape == (5, 3)
