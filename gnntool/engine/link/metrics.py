"""Link-prediction metrics of one split: ROC-AUC, average precision, Hits@K and MRR.

Every metric compares the split's positive pairs' scores with its negative pairs' scores; the
scores may be logits or probabilities (only their order matters). Computed in float64 from sorted
scores: O((P + N) log(P + N)), no P × N comparison matrix.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from gnntool.errors import UserError


def link_metrics(pos_scores: Tensor, neg_scores: Tensor, hits_k: Sequence[int]) -> dict[str, float]:
    """`{"auc", "ap", "hits@K" for K in hits_k, "mrr"}` of 1-D positive and negative scores.

    - auc: ROC-AUC, the probability that a random positive outscores a random negative, a tie
      counting one half (scikit-learn's `roc_auc_score`).
    - ap: average precision, Σ_n (R_n − R_{n−1}) P_n over the distinct scores from the highest
      down, tied scores forming one threshold (scikit-learn's `average_precision_score`).
    - hits@K: OGB's definition, the share of positives scored strictly above the K-th highest
      negative; 1.0 when there are fewer than K negatives (as OGB's evaluator).
    - mrr: the mean over positives of 1 / rank, where rank = 1 + (negatives scored higher) +
      (negatives tied with it) / 2: the mean of the optimistic and the pessimistic rank, as OGB's
      evaluator ranks ties. (Counting ties in the positive's favour would give a collapsed model
      that scores every pair alike an MRR of 1.)

    hits@K and mrr rank each positive against the split's whole pool of negatives, not against
    negatives drawn for that positive (OGB's per-positive protocol), so they fall as the pool grows
    and are comparable only between splits with as many negatives.

    Empty positives or negatives, or K < 1, are a UserError (a metric of nothing is not 0).
    """
    if pos_scores.numel() == 0 or neg_scores.numel() == 0:
        raise UserError(
            f"link metrics need positive and negative pairs; got {pos_scores.numel()} positive and "
            f"{neg_scores.numel()} negative (is a split empty?)"
        )
    bad = [k for k in hits_k if k < 1]
    if bad:
        raise UserError(f"hits@K needs K ≥ 1; got {bad[0]}")
    pos = pos_scores.detach().reshape(-1).double().cpu()
    neg = neg_scores.detach().reshape(-1).double().cpu()
    neg_sorted = neg.sort().values
    below = torch.searchsorted(neg_sorted, pos, right=False)  # negatives < p
    not_above = torch.searchsorted(neg_sorted, pos, right=True)  # negatives ≤ p
    auc = (below + not_above).double().sum() / (2.0 * pos.numel() * neg.numel())
    metrics = {"auc": auc.item(), "ap": average_precision(pos, neg)}
    for k in hits_k:
        if neg.numel() < k:
            metrics[f"hits@{k}"] = 1.0
        else:
            kth = neg_sorted[neg.numel() - k]
            metrics[f"hits@{k}"] = (pos > kth).double().mean().item()
    higher = neg.numel() - not_above
    tied = not_above - below
    metrics["mrr"] = (1.0 / (1.0 + higher.double() + 0.5 * tied.double())).mean().item()
    return metrics


def average_precision(pos: Tensor, neg: Tensor) -> float:
    """Σ_n (R_n − R_{n−1}) P_n over thresholds at the distinct scores, highest first."""
    scores = torch.cat([pos, neg])
    labels = torch.cat([torch.ones_like(pos), torch.zeros_like(neg)])
    order = torch.argsort(scores, descending=True)
    scores, labels = scores[order], labels[order]
    # The last position of every run of equal scores closes one threshold.
    last = torch.ones_like(scores, dtype=torch.bool)
    last[:-1] = scores[1:] != scores[:-1]
    tp = torch.cumsum(labels, 0)[last]
    predicted = (torch.nonzero(last).view(-1) + 1).double()
    recall_step = torch.diff(tp, prepend=tp.new_zeros(1)) / pos.numel()
    return (recall_step * tp / predicted).sum().item()
