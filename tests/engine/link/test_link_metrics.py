"""Link metrics against scikit-learn and brute-force definitions, on random and tied scores."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import average_precision_score, roc_auc_score

from gnntool.engine.link.metrics import link_metrics
from gnntool.errors import UserError

# Few distinct values, so that ties (within and across the two sets) are common.
scores = st.lists(st.integers(-4, 4).map(float) | st.floats(-3, 3, allow_nan=False, width=32), min_size=1, max_size=40)


def brute_force(pos: list[float], neg: list[float], ks: list[int]) -> dict[str, float]:
    pairs = [(p > n) + 0.5 * (p == n) for p in pos for n in neg]
    out = {"auc": sum(pairs) / len(pairs)}
    ranked = sorted(neg, reverse=True)
    for k in ks:
        out[f"hits@{k}"] = 1.0 if len(neg) < k else sum(p > ranked[k - 1] for p in pos) / len(pos)
    # OGB's evaluator: the mean of the optimistic (ties below) and pessimistic (ties above) rank.
    optimistic = [1 + sum(n > p for n in neg) for p in pos]
    pessimistic = [1 + sum(n >= p for n in neg) for p in pos]
    out["mrr"] = float(np.mean([2 / (o + q) for o, q in zip(optimistic, pessimistic)]))
    return out


@settings(max_examples=60, deadline=None)
@given(pos=scores, neg=scores, ks=st.lists(st.integers(1, 50), min_size=1, max_size=4, unique=True))
def test_matches_sklearn_and_definitions(pos: list[float], neg: list[float], ks: list[int]) -> None:
    got = link_metrics(torch.tensor(pos), torch.tensor(neg), ks)
    y = np.r_[np.ones(len(pos)), np.zeros(len(neg))]
    s = np.r_[np.float32(pos), np.float32(neg)]
    want = brute_force(list(np.float32(pos)), list(np.float32(neg)), ks)
    assert got["auc"] == pytest.approx(roc_auc_score(y, s)) == pytest.approx(want["auc"])
    assert got["ap"] == pytest.approx(average_precision_score(y, s))
    assert got["mrr"] == pytest.approx(want["mrr"])
    for k in ks:
        assert got[f"hits@{k}"] == pytest.approx(want[f"hits@{k}"])
    assert set(got) == {"auc", "ap", "mrr"} | {f"hits@{k}" for k in ks}


def test_by_hand() -> None:
    got = link_metrics(torch.tensor([3.0, 1.0]), torch.tensor([2.0, 1.0, 0.0]), [1, 2, 4])
    assert got["auc"] == pytest.approx((3 + 1.5) / 6)  # 3 beats all; 1 beats 0, ties 1
    assert got["hits@1"] == 0.5  # only 3 > 2
    assert got["hits@2"] == 0.5  # 1 is not strictly above the 2nd negative (1)
    assert got["hits@4"] == 1.0  # fewer than 4 negatives: OGB returns 1
    assert got["mrr"] == pytest.approx((1 + 1 / 2.5) / 2)  # 3: none higher; 1: 2 higher, 1 tied (rank 2.5)
    # AP: thresholds 3 (P=1, R=.5), 2 (no recall gain), 1 (P=2/4, R=1), 0: 0.5·1 + 0.5·0.5
    assert got["ap"] == pytest.approx(0.75)


def test_perfect_and_reversed() -> None:
    perfect = link_metrics(torch.tensor([5.0, 4.0]), torch.tensor([1.0, 0.0]), [1])
    assert perfect == {"auc": 1.0, "ap": 1.0, "hits@1": 1.0, "mrr": 1.0}
    worst = link_metrics(torch.tensor([0.0]), torch.tensor([1.0, 2.0]), [1])
    assert worst["auc"] == 0.0 and worst["hits@1"] == 0.0 and worst["mrr"] == pytest.approx(1 / 3)


@pytest.mark.parametrize(("n_pos", "n_neg"), [(1, 1), (3, 10), (50, 1000)])
def test_constant_scores_rank_in_the_middle_not_first(n_pos: int, n_neg: int) -> None:
    # A collapsed decoder (every pair scored alike) is no better than chance: rank 1 + n_neg / 2.
    got = link_metrics(torch.zeros(n_pos), torch.zeros(n_neg), [1])
    assert got["mrr"] == pytest.approx(1 / (1 + n_neg / 2))
    assert got["auc"] == 0.5 and got["hits@1"] == 0.0


@settings(max_examples=60, deadline=None)
@given(
    pos=st.lists(st.integers(0, 2).map(float), min_size=1, max_size=30),
    neg=st.lists(st.integers(0, 2).map(float), min_size=1, max_size=30),
)
def test_tie_heavy_scores_match_the_brute_force_mrr(pos: list[float], neg: list[float]) -> None:
    got = link_metrics(torch.tensor(pos), torch.tensor(neg), [1])
    assert got["mrr"] == pytest.approx(brute_force(pos, neg, [1])["mrr"])


@pytest.mark.parametrize("pos, neg", [([], [1.0]), ([1.0], []), ([], [])])
def test_empty_split_is_an_error_not_zero(pos: list[float], neg: list[float]) -> None:
    with pytest.raises(UserError, match="positive and negative"):
        link_metrics(torch.tensor(pos), torch.tensor(neg), [1])


def test_k_below_one_is_an_error() -> None:
    with pytest.raises(UserError, match="K ≥ 1"):
        link_metrics(torch.tensor([1.0]), torch.tensor([0.0]), [0])
