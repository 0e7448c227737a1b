"""R-GCN: the layer against its formula (Schlichtkrull et al. 2018, eq. 2 and 3) and against PyG's RGCNConv."""

from __future__ import annotations

import pytest
import torch
from torch_geometric.nn import RGCNConv as PyGRGCNConv

from gnntool.config import validate
from gnntool.models import build_model
from gnntool.models.graph_ops import GraphOps
from gnntool.models.rgcn import RGCNConv, TypedRGCN
from gnntool.models.typed_ops import typed_ops


def brute_force(x_target, x_by_relation, edges_by_relation, weights, root, bias):
    """h'_i = W_0 h_i + b + sum_r 1/|N_r(i)| sum_{j in N_r(i)} W_r h_j, one node at a time."""
    out = x_target @ root + bias
    for r, (x_source, edges) in enumerate(zip(x_by_relation, edges_by_relation)):
        for i in range(x_target.size(0)):
            sources = sorted({int(s) for s, t in edges.t().tolist() if t == i})
            if sources:
                out[i] += torch.stack([x_source[j] @ weights[r] for j in sources]).mean(0)
    return out


def random_edges(num_sources: int, num_targets: int, count: int, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    source = torch.randint(num_sources, (count,), generator=generator)
    target = torch.randint(num_targets, (count,), generator=generator)
    return torch.stack([source, target])


@pytest.mark.parametrize("num_bases", [None, 2])
def test_typed_layer_is_the_formula_and_pyg_rgcnconv(num_bases: int | None) -> None:
    torch.manual_seed(0)
    n = 12
    relations = [("a", "r0", "a"), ("a", "r1", "a"), ("a", "r2", "a")]
    edges = {rel: random_edges(n, n, 30, seed) for seed, rel in enumerate(relations)}
    edges = {rel: e[:, e[0] != e[1]] for rel, e in edges.items()}  # GraphOps drops self-loops; PyG keeps them
    edges = {rel: torch.unique(e, dim=1) for rel, e in edges.items()}  # and repeats
    x = torch.randn(n, 5)
    layer = TypedRGCN(RGCNConv(5, 4, len(relations), num_bases), relations)
    out = layer({"a": x}, typed_ops(edges, {"a": n}))["a"]
    weights, root, bias = layer.conv.relation_weights().detach(), layer.conv.root.detach(), layer.conv.bias.detach()
    expected = brute_force(x, [x] * 3, list(edges.values()), weights, root, bias)
    torch.testing.assert_close(out, expected)

    pyg = PyGRGCNConv(5, 4, len(relations), num_bases=num_bases, aggr="mean")
    with torch.no_grad():
        pyg.weight.copy_(layer.conv.weight)
        if num_bases is not None:
            pyg.comp.copy_(layer.conv.comp)
        pyg.root.copy_(layer.conv.root)
        pyg.bias.copy_(layer.conv.bias)
    edge_index = torch.cat(list(edges.values()), dim=1)
    edge_type = torch.cat([torch.full((e.size(1),), r) for r, e in enumerate(edges.values())])
    torch.testing.assert_close(out, pyg(x, edge_index, edge_type))


def test_relations_between_types_use_their_source_rows_and_every_type_keeps_its_self_term() -> None:
    torch.manual_seed(1)
    counts = {"user": 6, "item": 4, "tag": 3}
    relations = [("user", "buys", "item"), ("item", "rev_buys", "user"), ("item", "has", "item")]
    edges = {
        relations[0]: torch.unique(random_edges(6, 4, 12, 0), dim=1),
        relations[2]: torch.tensor([[0, 1, 2], [1, 2, 3]]),
    }
    edges[relations[1]] = edges[relations[0]].flip(0)
    x = {t: torch.randn(count, 3) for t, count in counts.items()}
    layer = TypedRGCN(RGCNConv(3, 2, 3), relations)
    out = layer(x, typed_ops(edges, counts))
    conv = layer.conv
    w, root, bias = conv.relation_weights().detach(), conv.root.detach(), conv.bias.detach()
    item = brute_force(x["item"], [x["user"], x["item"]], [edges[relations[0]], edges[relations[2]]], w[[0, 2]], root,
                       bias)  # fmt: skip
    user = brute_force(x["user"], [x["item"]], [edges[relations[1]]], w[[1]], root, bias)
    torch.testing.assert_close(out["item"], item)
    torch.testing.assert_close(out["user"], user)
    torch.testing.assert_close(out["tag"], x["tag"] @ root + bias)  # no relation into it: self term only


def test_on_a_homogeneous_graph_it_runs_as_one_relation() -> None:
    torch.manual_seed(2)
    edge_index = torch.unique(random_edges(10, 10, 40, 3), dim=1)
    edge_index = edge_index[:, edge_index[0] != edge_index[1]]
    x = torch.randn(10, 6)
    conv = RGCNConv(6, 3, 1)
    out = conv(x, GraphOps(edge_index, 10))
    expected = brute_force(x, [x], [edge_index], conv.weight.detach(), conv.root.detach(), conv.bias.detach())
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(conv(x.to_sparse_csr(), GraphOps(edge_index, 10)), out)  # sparse input too
    model = build_model(validate({"model": {"arch": "rgcn", "num_bases": 1, "hidden": 8}}).model, 6, 3)
    assert model(x, GraphOps(edge_index, 10)).shape == (10, 3)


def test_basis_decomposition_shares_bases() -> None:
    conv = RGCNConv(4, 3, num_relations=5, num_bases=2)
    assert conv.weight.shape == (2, 4, 3) and conv.comp.shape == (5, 2)
    weights = conv.relation_weights()
    torch.testing.assert_close(weights[3], conv.comp[3, 0] * conv.weight[0] + conv.comp[3, 1] * conv.weight[1])
