"""Readouts, categorical encoders and the whole-graph model, against brute force."""

from __future__ import annotations

import pytest
import torch

from gnntool.config import ModelConfig
from gnntool.models import build_graph_model
from gnntool.models.encoders import CategoricalEncoder
from gnntool.models.graph_ops import GraphOps
from gnntool.models.readout import READOUTS, pool


@pytest.mark.parametrize("readout", READOUTS)
def test_pool_matches_per_graph_reduction(readout: str) -> None:
    torch.manual_seed(0)
    x = torch.randn(9, 3)
    batch = torch.tensor([0, 0, 1, 1, 1, 1, 3, 3, 3])  # graph 2 has no node
    expected = []
    for g in range(4):
        rows = x[batch == g]
        if rows.numel() == 0:
            expected.append(torch.zeros(3))
        else:
            expected.append({"sum": rows.sum(0), "mean": rows.mean(0), "max": rows.max(0).values}[readout])
    torch.testing.assert_close(pool(x, batch, 4, readout), torch.stack(expected))


def test_categorical_encoder_sums_one_table_per_column() -> None:
    torch.manual_seed(1)
    encoder = CategoricalEncoder([3, 5, 2], 4)
    x = torch.tensor([[0, 4, 1], [2, 0, 0], [1, 3, 1]])
    tables = encoder.weight.split([3, 5, 2])
    expected = sum(tables[c][x[:, c]] for c in range(3))
    torch.testing.assert_close(encoder(x), expected)


def two_graphs() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    x = torch.randn(7, 3)
    edge_index = torch.tensor([[1, 0, 2, 1, 4, 3, 5, 4, 6, 5], [0, 1, 1, 2, 3, 4, 4, 5, 5, 6]])
    batch = torch.tensor([0, 0, 0, 1, 1, 1, 1])
    return x, edge_index, batch


@pytest.mark.parametrize("arch", ["gin", "gcn", "sage", "cheb"])
@pytest.mark.parametrize("jump", ["last", "cat"])
def test_one_output_per_graph_independent_of_the_batch(arch: str, jump: str) -> None:
    """A graph's output in eval mode is the same alone as batched with another (block-diagonal)."""
    torch.manual_seed(2)
    x, edge_index, batch = two_graphs()
    config = ModelConfig(arch=arch, hidden=8, layers=3, norm="batch", jump=jump, readout="mean",
                         k=2 if arch == "cheb" else None)
    model = build_graph_model(config, 3, 2).eval()
    together = model(x, GraphOps(edge_index, 7, batch=batch, num_graphs=2))
    assert together.shape == (2, 2)
    second = edge_index[:, 4:] - 3
    alone = model(x[3:], GraphOps(second, 4, batch=torch.zeros(4, dtype=torch.long), num_graphs=1))
    torch.testing.assert_close(together[1:], alone, rtol=1e-5, atol=1e-6)
    pooled = model.embed(x, GraphOps(edge_index, 7, batch=batch, num_graphs=2))
    assert pooled.shape == (2, 8 * (3 if jump == "cat" else 1))


def test_edge_features_need_gin() -> None:
    with pytest.raises(ValueError, match="edge_features"):
        ModelConfig(arch="gcn", edge_features=True)


def test_gine_model_embeds_categorical_nodes_and_edges() -> None:
    torch.manual_seed(3)
    _, edge_index, batch = two_graphs()
    x = torch.randint(0, 3, (7, 2))
    edge_attr = torch.randint(0, 4, (10, 1))
    model = build_graph_model(ModelConfig(arch="gin", hidden=8, layers=2, edge_features=True), 2, 1, [3, 3], [4])
    out = model(x, GraphOps(edge_index, 7, batch=batch, num_graphs=2, grouped=True), edge_attr)
    assert out.shape == (2, 1)
    out.sum().backward()
    assert model.edge_encoders[0].weight.grad.abs().sum() > 0  # the edge embeddings reach the loss


@pytest.mark.parametrize("norm", ["none", "batch", "batchrenorm", "layer", "instance", "group"])
def test_every_norm_trains_in_a_graph_model(norm: str) -> None:
    torch.manual_seed(4)
    x, edge_index, batch = two_graphs()
    model = build_graph_model(ModelConfig(arch="gin", hidden=8, layers=2, norm=norm), 3, 2)
    model(x, GraphOps(edge_index, 7, batch=batch, num_graphs=2)).sum().backward()
    assert all(p.grad is not None for p in model.convs.parameters())
