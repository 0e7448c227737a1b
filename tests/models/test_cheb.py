"""Chebyshev filters against their definition, with the Laplacian built densely."""

from __future__ import annotations

import pytest
import torch

from gnntool.config import ModelConfig
from gnntool.models.cheb import ChebLayer, make_conv
from gnntool.models.graph_ops import GraphOps

NUM_NODES = 6
# An undirected graph (both directions listed) with an isolated node, 5.
UNDIRECTED = [(0, 1), (0, 2), (1, 2), (2, 3), (3, 4), (0, 4)]
IN_DIM, OUT_DIM = 4, 3


def graph() -> GraphOps:
    pairs = UNDIRECTED + [(t, s) for s, t in UNDIRECTED]
    return GraphOps(torch.tensor(pairs).t(), NUM_NODES)


def features(seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(NUM_NODES, IN_DIM, generator=g)
    return x * (torch.rand(NUM_NODES, IN_DIM, generator=g) < 0.6)


def scaled_laplacian() -> torch.Tensor:
    """L~ = 2L/λ_max - I = L - I for λ_max = 2, L = I - D^{-1/2} A D^{-1/2} (0/0 → 0)."""
    adjacency = torch.zeros(NUM_NODES, NUM_NODES)
    for s, t in UNDIRECTED:
        adjacency[s, t] = adjacency[t, s] = 1.0
    deg_inv_sqrt = adjacency.sum(1).pow(-0.5)
    deg_inv_sqrt[torch.isinf(deg_inv_sqrt)] = 0.0
    laplacian = torch.eye(NUM_NODES) - deg_inv_sqrt[:, None] * adjacency * deg_inv_sqrt[None, :]
    return laplacian - torch.eye(NUM_NODES)


def build(k: int) -> ChebLayer:
    torch.manual_seed(0)
    layer = ChebLayer(IN_DIM, OUT_DIM, k)
    with torch.no_grad():
        layer.conv.bias.normal_()  # zero at initialisation: make it count
    return layer


def thetas(layer: ChebLayer) -> list[torch.Tensor]:
    return [lin.weight.t() for lin in layer.conv.lins]  # θ_k: in × out


def test_k1_is_a_linear_map_of_each_node() -> None:
    layer, x = build(1), features()
    expected = torch.stack([x[v] @ thetas(layer)[0] + layer.conv.bias for v in range(NUM_NODES)])
    torch.testing.assert_close(layer(x, graph()), expected)


def test_k2_matches_definition() -> None:
    layer, x = build(2), features()
    lt = scaled_laplacian()
    theta = thetas(layer)
    expected = x @ theta[0] + (lt @ x) @ theta[1] + layer.conv.bias
    torch.testing.assert_close(layer(x, graph()), expected, rtol=1e-5, atol=1e-6)


def test_k3_matches_recurrence() -> None:
    layer, x = build(3), features()
    lt = scaled_laplacian()
    t0, t1 = torch.eye(NUM_NODES), lt
    t2 = 2 * lt @ t1 - t0
    theta = thetas(layer)
    expected = t0 @ x @ theta[0] + t1 @ x @ theta[1] + t2 @ x @ theta[2] + layer.conv.bias
    torch.testing.assert_close(layer(x, graph()), expected, rtol=1e-5, atol=1e-6)


def test_isolated_node_gets_its_own_terms_only() -> None:
    # L~ has a zero row for an isolated node: T_1 x vanishes there, T_2 x = -x.
    layer, x = build(3), features()
    theta = thetas(layer)
    expected = x[5] @ theta[0] - x[5] @ theta[2] + layer.conv.bias
    torch.testing.assert_close(layer(x, graph())[5], expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_sparse_input_equals_dense(k: int) -> None:
    layer, x = build(k), features()
    torch.testing.assert_close(layer(x.to_sparse_csr(), graph()), layer(x, graph()))


@pytest.mark.parametrize("k", [1, 2, 3])
def test_gradients_flow(k: int) -> None:
    layer = build(k)
    x = features().requires_grad_()
    layer(x, graph()).pow(2).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    for name, param in layer.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name


def test_make_conv_uses_k_terms() -> None:
    conv = make_conv(IN_DIM, OUT_DIM, ModelConfig(arch="cheb", k=3))
    assert isinstance(conv, ChebLayer) and len(conv.conv.lins) == 3
    assert conv(features(), graph()).shape == (NUM_NODES, OUT_DIM)
    assert "K=3" in repr(conv)
    conv.reset_parameters()
    assert torch.equal(conv.conv.bias, torch.zeros(OUT_DIM))


# A directed graph: node 3 has in-edges (from 0 and 2) and no out-edges; node 4 only sends.
DIRECTED = [(0, 1), (1, 2), (2, 0), (0, 3), (2, 3), (4, 1)]


def directed_laplacian(lambda_max: float) -> torch.Tensor:
    """L~ = 2L/λ - I with L = I - D^{-1/2} A D^{-1/2}, A[t, s] = 1 for an edge s → t and D the
    in-degrees (GCN's convention), 0/0 → 0."""
    adjacency = torch.zeros(NUM_NODES, NUM_NODES)
    for s, t in DIRECTED:
        adjacency[t, s] = 1.0
    deg_inv_sqrt = adjacency.sum(1).pow(-0.5)
    deg_inv_sqrt[torch.isinf(deg_inv_sqrt)] = 0.0
    laplacian = torch.eye(NUM_NODES) - deg_inv_sqrt[:, None] * adjacency * deg_inv_sqrt[None, :]
    return 2 * laplacian / lambda_max - torch.eye(NUM_NODES)


@pytest.mark.parametrize("lambda_max", [2.0, 1.5])
def test_directed_graph_uses_in_degrees(lambda_max: float) -> None:
    torch.manual_seed(0)
    layer = ChebLayer(IN_DIM, OUT_DIM, 3, lambda_max=lambda_max)
    ops = GraphOps(torch.tensor(DIRECTED).t(), NUM_NODES)
    x = features()
    lt = directed_laplacian(lambda_max)
    theta = thetas(layer)
    expected = x @ theta[0] + lt @ x @ theta[1] + (2 * lt @ lt - torch.eye(NUM_NODES)) @ x @ theta[2]
    torch.testing.assert_close(layer(x, ops), expected + layer.conv.bias, rtol=1e-5, atol=1e-6)


def test_a_node_without_out_edges_hears_its_in_neighbours() -> None:
    """PyG's get_laplacian normalises by out-degree: node 3 (no out-edges) would get weight 0."""
    torch.manual_seed(0)
    layer = ChebLayer(IN_DIM, OUT_DIM, 2)
    ops = GraphOps(torch.tensor(DIRECTED).t(), NUM_NODES)
    x = features()
    moved = x.clone()
    moved[0] += 1.0  # an in-neighbour of node 3
    assert not torch.allclose(layer(x, ops)[3], layer(moved, ops)[3])
    moved = x.clone()
    moved[1] += 1.0  # not a neighbour of node 3
    torch.testing.assert_close(layer(x, ops)[3], layer(moved, ops)[3])
