"""Typed layers and the typed stack: one homogeneous layer per relation combined per node type (as
PyG's HeteroConv), per-type inputs, norms per node type."""

from __future__ import annotations

import pytest
import torch
from torch_geometric.nn import HeteroConv, SAGEConv

from gnntool import traits
from gnntool.config import validate
from gnntool.errors import UserError
from gnntool.models import TYPED_LAYERS, build_typed_model
from gnntool.models.typed import RELATION_AGGREGATIONS
from gnntool.models.typed_ops import TypedSchema, typed_ops
from gnntool.traits import MODELS

COUNTS = {"user": 7, "item": 5}
RELATIONS = [("user", "buys", "item"), ("item", "rev_buys", "user"), ("user", "knows", "user")]


def graph() -> dict[tuple[str, str, str], torch.Tensor]:
    buys = torch.tensor([[0, 1, 1, 2, 3, 4, 6, 6], [0, 0, 1, 2, 2, 3, 3, 4]])
    knows = torch.tensor([[0, 1, 2, 3, 4, 5], [1, 0, 3, 2, 5, 4]])
    return {RELATIONS[0]: buys, RELATIONS[1]: buys.flip(0), RELATIONS[2]: knows}


def model_config(**model: object):
    return validate({"model": {"hidden": 8, **model}}).model


@pytest.mark.parametrize("aggr", list(RELATION_AGGREGATIONS))
def test_typed_sage_mean_equals_pyg_heteroconv_of_sageconv(aggr: str) -> None:
    torch.manual_seed(0)
    config = model_config(arch="sage", relation_aggr=aggr)
    layer = TYPED_LAYERS["sage"](3, 4, config, RELATIONS)
    x = {"user": torch.randn(7, 3), "item": torch.randn(5, 3)}
    out = layer(x, typed_ops(graph(), COUNTS))
    pyg = HeteroConv({rel: SAGEConv(3, 4, aggr="mean") for rel in RELATIONS}, aggr=aggr)
    with torch.no_grad():
        for rel in RELATIONS:
            ours = layer.convs["__".join(rel)]
            pyg.convs[rel].lin_l.weight.copy_(ours.lin_neighbour.weight)  # neighbours
            pyg.convs[rel].lin_l.bias.copy_(ours.lin_root.bias)
            pyg.convs[rel].lin_r.weight.copy_(ours.lin_root.weight)  # the node itself
    expected = pyg(x, graph())
    for node_type in COUNTS:
        torch.testing.assert_close(out[node_type], expected[node_type])


@pytest.mark.parametrize("options", [{"arch": "gcn"}, *({"arch": "sage", "aggregator": a} for a in
                                                         ("mean", "gcn", "lstm", "pool"))])  # fmt: skip
def test_every_typed_layer_outputs_each_type_and_trains(options: dict[str, str]) -> None:
    torch.manual_seed(1)
    schema = TypedSchema(dict(COUNTS), {"user": 3, "item": 3}, RELATIONS)
    model = build_typed_model(model_config(**options), schema, 2)
    x = {"user": torch.randn(7, 3), "item": torch.randn(5, 3)}
    ids = {t: torch.arange(n) for t, n in COUNTS.items()}
    out = model(x, ids, typed_ops(graph(), COUNTS))
    assert {t: o.shape for t, o in out.items()} == {"user": (7, 2), "item": (5, 2)}
    out["item"].sum().backward()
    assert all(p.grad is not None for p in model.convs[0].parameters() if p.requires_grad)


def test_a_relation_changes_only_the_types_it_points_into() -> None:
    torch.manual_seed(2)
    schema = TypedSchema(dict(COUNTS), {"user": 3, "item": 3}, RELATIONS)
    model = build_typed_model(model_config(arch="sage", layers=2), schema, 2).eval()
    x = {"user": torch.randn(7, 3), "item": torch.randn(5, 3)}
    ids = {t: torch.arange(n) for t, n in COUNTS.items()}
    edges = graph()
    before = model.embed(x, ids, typed_ops(edges, COUNTS))
    edges[RELATIONS[2]] = edges[RELATIONS[2]][:, :2]  # fewer user-user edges
    after = model.embed(x, ids, typed_ops(edges, COUNTS))
    torch.testing.assert_close(before["item"], after["item"])
    assert not torch.allclose(before["user"], after["user"])


def test_featureless_types_get_an_embedding_or_a_constant_and_widths_a_projection() -> None:
    schema = TypedSchema(dict(COUNTS), {"user": 0, "item": 3}, RELATIONS)
    embedded = build_typed_model(model_config(arch="rgcn"), schema, 2)
    assert embedded.inputs.embeddings["user"].weight.shape == (7, 8)
    assert set(embedded.inputs.projections) == {"item"}  # 3 wide, the embeddings 8: item projected to 8
    constant = build_typed_model(model_config(arch="rgcn", featureless="none"), schema, 2)
    assert not constant.inputs.embeddings and set(constant.inputs.projections) == {"user", "item"}
    ids = {t: torch.arange(n) for t, n in COUNTS.items()}
    for model in (embedded, constant):
        out = model({"item": torch.randn(5, 3)}, ids, typed_ops(graph(), COUNTS))
        assert out["user"].shape == (7, 2)
    same = build_typed_model(model_config(arch="rgcn"), TypedSchema(dict(COUNTS), {"user": 3, "item": 3},
                                                                    RELATIONS), 2)  # fmt: skip
    assert not same.inputs.projections and same.inputs.width == 3


def test_norms_are_per_node_type() -> None:
    schema = TypedSchema(dict(COUNTS), {"user": 3, "item": 3}, RELATIONS)
    model = build_typed_model(model_config(arch="gcn", norm="batch", layers=3), schema, 2)
    assert [set(norms) for norms in model.norms] == [{"user", "item"}] * 2
    assert model.norms[0]["user"] is not model.norms[0]["item"]


def test_typed_registry_and_traits_agree_and_refusals() -> None:
    assert set(TYPED_LAYERS) == {name for name, known in traits.MODELS.items() if known.typed}
    schema = TypedSchema(dict(COUNTS), {"user": 3, "item": 3}, RELATIONS)
    untyped = [name for name, known in MODELS.items() if not known.typed]
    for arch in untyped:
        with pytest.raises(UserError, match="does not run on typed graphs"):
            build_typed_model(model_config(arch=arch, **{"k": 2} if "k" in MODELS[arch].options else {}), schema, 2)
    one_way = TypedSchema(dict(COUNTS), {"user": 3, "item": 3}, [RELATIONS[0]])
    with pytest.raises(UserError, match="no relation points into user"):
        build_typed_model(model_config(arch="sage"), one_way, 2)
    assert build_typed_model(model_config(arch="rgcn"), one_way, 2)  # R-GCN's self term reaches every type


def test_typed_gcn_between_two_types_is_the_bipartite_renormalised_adjacency() -> None:
    """h'_v = sum_{u -> v} W x_u / sqrt((d_v + 1)(d_u + 1)) + W x_v / (d_v + 1) + b, d_v the
    target's in-degree and d_u the source's out-degree in the relation."""
    torch.manual_seed(3)
    layer = TYPED_LAYERS["gcn"](3, 2, model_config(arch="gcn"), [RELATIONS[0]])
    conv = layer.convs["user__buys__item"]
    x = {"user": torch.randn(7, 3), "item": torch.randn(5, 3)}
    buys = graph()[RELATIONS[0]]
    out = layer(x, typed_ops({RELATIONS[0]: buys}, COUNTS))["item"]
    w, b = conv.lin.weight.detach(), conv.bias.detach()
    d_in = torch.bincount(buys[1], minlength=5).float()
    d_out = torch.bincount(buys[0], minlength=7).float()
    expected = (x["item"] @ w.t()) / (d_in + 1)[:, None] + b
    for u, v in buys.t().tolist():
        expected[v] += (x["user"][u] @ w.t()) / torch.sqrt((d_in[v] + 1) * (d_out[u] + 1))
    torch.testing.assert_close(out, expected)
