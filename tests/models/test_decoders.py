"""Decoders: the formulas in their docstrings, the registry, and resetting."""

from __future__ import annotations

import pytest
import torch

from gnntool.errors import UserError
from gnntool.models.decoders import DECODERS, build_decoder


def test_dot_is_the_inner_product() -> None:
    z = torch.randn(5, 3)
    pairs = torch.tensor([[0, 4, 2], [1, 4, 3]])
    logits = build_decoder("dot", 3)(z, pairs)
    assert torch.allclose(logits, torch.stack([z[u] @ z[v] for u, v in pairs.t().tolist()]))


def test_mlp_is_linear_relu_linear_on_the_product() -> None:
    torch.manual_seed(0)
    z = torch.randn(6, 4)
    pairs = torch.tensor([[0, 5], [2, 1]])
    decoder = build_decoder("mlp", 4)
    h = z[pairs[0]] * z[pairs[1]]
    want = torch.relu(h @ decoder.hidden.weight.t() + decoder.hidden.bias) @ decoder.out.weight.t() + decoder.out.bias
    assert decoder(z, pairs).shape == (2,)
    assert torch.allclose(decoder(z, pairs), want.view(-1))
    before = decoder.hidden.weight.clone()
    decoder.reset_parameters()
    assert not torch.equal(before, decoder.hidden.weight)


@pytest.mark.parametrize("name", sorted(DECODERS))
def test_every_decoder_scores_pairs_and_trains(name: str) -> None:
    torch.manual_seed(0)
    z = torch.randn(4, 8, requires_grad=True)
    decoder = build_decoder(name, 8)
    decoder.reset_parameters()
    logits = decoder(z, torch.tensor([[0, 1, 2], [3, 2, 1]]))
    assert logits.shape == (3,)
    logits.sum().backward()
    assert z.grad is not None and z.grad.abs().sum() > 0


def test_unknown_decoder() -> None:
    with pytest.raises(UserError, match="dot, mlp"):
        build_decoder("bilinear", 4)
