"""Losses and metrics: accuracy for single-label tasks, micro/macro-F1 for multi-label ones."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from gnntool.errors import UserError


def loss_fn(logits: Tensor, y: Tensor, multilabel: bool) -> Tensor:
    """Cross-entropy for class ids; per-class binary cross-entropy for a 0/1 label matrix."""
    if multilabel:
        return F.binary_cross_entropy_with_logits(logits, y.float())
    return F.cross_entropy(logits, y)


def f1_scores(predicted: Tensor, target: Tensor) -> dict[str, float]:
    """Micro-F1 (counts pooled over every node and label) and macro-F1 (mean of per-label F1)."""
    return f1_from_counts(*label_counts(predicted, target))


def label_counts(predicted: Tensor, target: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """True positives, false positives and false negatives per label."""
    predicted, target = predicted.bool(), target.bool()
    tp = (predicted & target).sum(0).double()
    fp = (predicted & ~target).sum(0).double()
    fn = (~predicted & target).sum(0).double()
    return tp, fp, fn


def f1_from_counts(tp: Tensor, fp: Tensor, fn: Tensor) -> dict[str, float]:
    """Micro- and macro-F1 from per-label counts. A label with no positives and no positive
    predictions scores 0, as scikit-learn's default."""
    micro = 2 * tp.sum() / (2 * tp.sum() + fp.sum() + fn.sum()).clamp(min=1)
    per_label = 2 * tp / (2 * tp + fp + fn).clamp(min=1)
    return {"micro_f1": micro.item(), "macro_f1": per_label.mean().item()}


def metric_sums(logits: Tensor, y: Tensor, multilabel: bool) -> dict[str, Tensor]:
    """What the metrics are computed from, as sums over nodes: shards of the nodes (ranks under
    torchrun) add their sums and get exactly the metrics of all nodes."""
    sums = {"nodes": torch.tensor(float(y.size(0)), device=logits.device)}
    if multilabel:
        sums["loss"] = F.binary_cross_entropy_with_logits(logits, y.float(), reduction="sum") / y.size(1)
        sums["tp"], sums["fp"], sums["fn"] = label_counts(logits > 0, y)
    else:
        sums["loss"] = F.cross_entropy(logits, y, reduction="sum")
        sums["correct"] = (logits.argmax(-1) == y).sum().double()
    return sums


def metrics_from_sums(sums: dict[str, Tensor]) -> dict[str, float]:
    """Loss plus accuracy (single-label) or micro/macro-F1 (multi-label); an error for no node,
    whose metrics are undefined (not 0)."""
    nodes = sums["nodes"]
    if nodes.item() == 0:
        raise UserError("no node to score: the metrics of an empty split are undefined")
    if "correct" in sums:
        scores = {"accuracy": (sums["correct"] / nodes).item()}
    else:
        scores = f1_from_counts(sums["tp"], sums["fp"], sums["fn"])
    return {**scores, "loss": (sums["loss"] / nodes).item()}


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Means per split and metric, plus `std` (sample std, 0 for one seed) and every run."""
    summary: dict[str, Any] = {}
    std: dict[str, dict[str, float]] = {}
    for split in (key for key in runs[0] if key != "seed"):
        summary[split], std[split] = {}, {}
        for metric in runs[0][split]:
            values = np.array([run[split][metric] for run in runs])
            summary[split][metric] = float(values.mean())
            std[split][metric] = float(values.std(ddof=1)) if len(values) > 1 else 0.0
    return {**summary, "std": std, "runs": runs}
