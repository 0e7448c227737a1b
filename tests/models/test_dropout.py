"""Dropout on large CPU tensors (mask from random bits, 1 to 16 a decision) against its definition."""

from __future__ import annotations

import math

import pytest
import torch

from gnntool.models.base import LARGE_DROPOUT, dropout

# One p for each width of a decision: 1, 2, 4 bits (a byte's decisions from a table), 8, 16 bits.
WIDTHS = [0.5, 0.25, 0.75, 1 / 16, 37 / 256, 0.3, 0.05]


@pytest.mark.parametrize("p", WIDTHS)
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


@pytest.mark.parametrize("p", [0.5, 0.25, 1 / 16, 37 / 256])
def test_masks_are_independent_across_neighbouring_entries(p: float) -> None:
    # Up to eight decisions come from one random byte, eight bytes from one 64-bit word: any two
    # of eight neighbouring entries must be uncorrelated (5 standard errors of the estimate).
    torch.manual_seed(1)
    kept = (dropout(torch.ones(LARGE_DROPOUT), p) != 0).float().view(-1, 8)
    centred = kept - kept.mean(0)
    correlation = (centred.T @ centred) / kept.size(0) / (p * (1 - p))
    off_diagonal = correlation - torch.diag(torch.diag(correlation))
    assert off_diagonal.abs().max() < 5 / math.sqrt(kept.size(0))


def test_p_zero_keeps_everything() -> None:
    for x in (torch.ones(8, 8), torch.ones(LARGE_DROPOUT)):
        assert torch.equal(dropout(x, 0.0), x)


def test_seeded_and_fresh_each_call() -> None:
    x = torch.ones(LARGE_DROPOUT)
    torch.manual_seed(3)
    first = dropout(x, 0.5)
    torch.manual_seed(3)
    assert torch.equal(dropout(x, 0.5), first)
    assert not torch.equal(dropout(x, 0.5), first)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float64])
@pytest.mark.parametrize("size", [LARGE_DROPOUT // 4, LARGE_DROPOUT])  # torch's path, then the bit-mask path
def test_keeps_the_input_dtype(dtype: torch.dtype, size: int) -> None:
    torch.manual_seed(0)
    x = torch.rand(size, dtype=dtype) + 0.5
    y = dropout(x, 0.5)
    assert y.dtype == dtype
    kept = y != 0
    torch.testing.assert_close(y[kept], x[kept] * 2)  # 2 is exact in every float dtype
