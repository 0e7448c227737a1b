"""Dropout on large CPU tensors (mask from random 16-bit integers) against its definition."""

from __future__ import annotations

import math

import pytest
import torch

from gnntool.models.base import LARGE_DROPOUT, dropout


@pytest.mark.parametrize("p", [0.5, 0.3, 0.05])
def test_keep_rate_scale_and_gradient(p: float) -> None:
    torch.manual_seed(0)
    x = (torch.rand(LARGE_DROPOUT // 512, 512) + 0.5).requires_grad_()
    y = dropout(x, p)
    kept = y != 0
    n = kept.numel()
    # Keep rate within 6 binomial standard deviations of 1 - p (a biased mask is far outside).
    assert abs(kept.float().mean().item() - (1 - p)) < 6 * math.sqrt(p * (1 - p) / n)
    scale = 65536 / round((1 - p) * 65536)
    torch.testing.assert_close(y[kept], x[kept] * scale)
    y.sum().backward()
    torch.testing.assert_close(x.grad, kept.float() * scale)


def test_masks_are_independent_across_neighbouring_entries() -> None:
    # Four mask entries come from one 64-bit word: they must not be correlated.
    torch.manual_seed(1)
    kept = (dropout(torch.ones(LARGE_DROPOUT), 0.5) != 0).float().view(-1, 4)
    centred = kept - kept.mean(0)
    correlation = (centred.T @ centred) / kept.size(0) / 0.25
    off_diagonal = correlation - torch.diag(torch.diag(correlation))
    assert off_diagonal.abs().max() < 0.01
    assert torch.equal(dropout(torch.ones(8, 8), 0.0), torch.ones(8, 8))


def test_seeded_and_fresh_each_call() -> None:
    x = torch.ones(LARGE_DROPOUT)
    torch.manual_seed(3)
    first = dropout(x, 0.5)
    torch.manual_seed(3)
    assert torch.equal(dropout(x, 0.5), first)
    assert not torch.equal(dropout(x, 0.5), first)
