"""The optimiser every run builds: its multi-tensor Adam takes the steps torch's default one does, bit for bit."""

from __future__ import annotations

import torch
from torch import nn

from gnntool.config import validate
from gnntool.engine.train import build_optimizer


def trained(optimizer_for) -> torch.Tensor:  # type: ignore[no-untyped-def]
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.BatchNorm1d(16), nn.Linear(16, 3))
    optimizer = optimizer_for(model)
    data = torch.Generator().manual_seed(1)
    for _ in range(30):
        optimizer.zero_grad(set_to_none=True)
        model(torch.randn(20, 6, generator=data)).pow(2).mean().backward()
        optimizer.step()
    return torch.cat([p.detach().view(-1) for p in model.parameters()])


def test_build_optimizer_steps_as_the_default_adam() -> None:
    train = validate({"dataset": {"name": "cora"}, "train": {"lr": 0.01, "weight_decay": 5e-4}}).train
    ours = trained(lambda model: build_optimizer(model, train))
    default = trained(lambda model: torch.optim.Adam(model.parameters(), lr=0.01, weight_decay=5e-4, foreach=False))
    assert torch.equal(ours, default)
    fused = trained(lambda model: torch.optim.Adam(model.parameters(), lr=0.01, weight_decay=5e-4, fused=True))
    assert not torch.equal(ours, fused)  # the comparison can tell implementations apart
