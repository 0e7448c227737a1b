"""Metrics against hand computations: accuracy, and micro/macro-F1 for multi-label tasks."""

from __future__ import annotations

import pytest
import torch

from gnntool.engine.metrics import f1_scores, metric_sums, metrics_from_sums, summarise


def test_f1_by_hand() -> None:
    # 3 nodes × 3 labels. Label 0: TP=2, FP=0, FN=1; label 1: TP=0, FP=1, FN=0; label 2: TP=1, FP=1, FN=0.
    target = torch.tensor([[1, 0, 1], [1, 0, 0], [1, 0, 0]])
    predicted = torch.tensor([[1, 1, 1], [1, 0, 1], [0, 0, 0]])
    scores = f1_scores(predicted, target)
    # micro: TP=3, FP=2, FN=1 → 2·3 / (2·3 + 2 + 1) = 6/9
    assert scores["micro_f1"] == pytest.approx(6 / 9)
    # macro: mean of 2·2/(4+1) = 0.8, 0, 2·1/(2+1) = 2/3
    assert scores["macro_f1"] == pytest.approx((0.8 + 0.0 + 2 / 3) / 3)


def test_label_never_present_nor_predicted_scores_zero() -> None:
    scores = f1_scores(torch.tensor([[1, 0]]), torch.tensor([[1, 0]]))
    assert scores["micro_f1"] == 1.0 and scores["macro_f1"] == 0.5


def scores(logits: torch.Tensor, y: torch.Tensor, multilabel: bool) -> dict[str, float]:
    """The metrics of one split as evaluation computes them: sums (per rank), then the metrics."""
    return metrics_from_sums(metric_sums(logits, y, multilabel))


def test_multilabel_metrics_threshold_logits_at_zero() -> None:
    logits = torch.tensor([[2.0, -1.0], [-0.5, 0.5]])
    y = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    metrics = scores(logits, y, multilabel=True)
    assert metrics["micro_f1"] == 1.0 and metrics["macro_f1"] == 1.0
    expected_loss = torch.nn.functional.binary_cross_entropy(torch.sigmoid(logits), y).item()
    assert metrics["loss"] == pytest.approx(expected_loss, rel=1e-6)


def test_accuracy() -> None:
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [3.0, 1.0]])
    metrics = scores(logits, torch.tensor([0, 1, 1]), multilabel=False)
    assert metrics["accuracy"] == pytest.approx(2 / 3) and "micro_f1" not in metrics


def test_summarise_means_and_sample_std() -> None:
    runs = [{"seed": 0, "test": {"accuracy": 0.8}}, {"seed": 1, "test": {"accuracy": 0.9}}]
    summary = summarise(runs)
    assert summary["test"]["accuracy"] == pytest.approx(0.85)
    assert summary["std"]["test"]["accuracy"] == pytest.approx(0.0707107, rel=1e-5)
    assert summary["runs"] == runs
