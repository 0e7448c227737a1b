"""model.input_dropout: the input's own dropout rate, model.dropout unless set."""

from __future__ import annotations

import pytest
import torch

from gnntool.config import ModelConfig
from gnntool.models import build_model
from gnntool.models.graph_ops import GraphOps


def first_conv_input(config: ModelConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """(x, what the first conv received) for one training-mode forward."""
    torch.manual_seed(0)
    model = build_model(config, 8, 3).train()
    seen = []
    model.convs[0].register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    x = torch.rand(10, 8) + 0.5
    model(x, GraphOps(torch.tensor([[0, 1, 2], [1, 2, 3]]), 10))
    return x, seen[0]


def test_default_drops_the_input_like_the_hidden_layers() -> None:
    config = ModelConfig(arch="sage", dropout=0.5)
    assert config.input_dropout is None and build_model(config, 8, 3).input_dropout == 0.5
    x, received = first_conv_input(config)
    assert (received == 0).any() and not torch.equal(received, x)


@pytest.mark.parametrize("arch", ["gcn", "sage"])
def test_zero_keeps_the_input_and_still_drops_hidden(arch: str) -> None:
    config = ModelConfig(arch=arch, dropout=0.5, input_dropout=0.0)
    x, received = first_conv_input(config)
    assert received is x
    model = build_model(config, 8, 3)
    assert model.input_dropout == 0.0 and model.dropout == 0.5


def test_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError, match="input_dropout"):
        ModelConfig(input_dropout=1.0)
