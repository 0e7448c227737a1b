"""Losses and metrics of whole-graph prediction, one row of outputs per graph.

Targets are class ids (`classes`), a 0/1 matrix with NaN for a missing label (`multilabel`) or
real values, NaN for a missing one (`regression`); missing entries count in no loss and no metric.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from gnntool.engine.link.metrics import link_metrics
from gnntool.errors import UserError


def masked(outputs: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """The entries of `outputs` and float `y` whose target is present (not NaN)."""
    y = y.to(outputs.dtype)
    present = ~torch.isnan(y)
    return outputs[present], y[present]


def bce(outputs: Tensor, y: Tensor) -> Tensor:
    return F.binary_cross_entropy_with_logits(*masked(outputs, y))


def mse(outputs: Tensor, y: Tensor) -> Tensor:
    return F.mse_loss(*masked(outputs, y))


def mae(outputs: Tensor, y: Tensor) -> Tensor:
    return F.l1_loss(*masked(outputs, y))


Loss = Callable[[Tensor, Tensor], Tensor]

# train.loss -> (the targets it fits, the function)
LOSSES: dict[str, tuple[str, Loss]] = {
    "cross_entropy": ("classes", F.cross_entropy),
    "bce": ("multilabel", bce),
    "mse": ("regression", mse),
    "mae": ("regression", mae),
}
DEFAULT_LOSS = {"classes": "cross_entropy", "multilabel": "bce", "regression": "mse"}  # what the data decides


def resolve_loss(chosen: str | None, targets: str) -> tuple[str, str]:
    """(loss name, the kind of targets it treats them as): `train.loss`, else the data's default.

    A 0/1 label matrix may be regressed (mse, mae); class ids only classified.
    """
    name = chosen or DEFAULT_LOSS[targets]
    kind = LOSSES[name][0]
    if kind != targets and not (kind == "regression" and targets == "multilabel"):
        raise UserError(f"train.loss: {name} fits {kind} targets; the dataset's targets are {targets}")
    return name, kind


def label_scores(outputs: Tensor, y: Tensor) -> dict[str, float]:
    """ROC-AUC and average precision per label, over its present targets, averaged over the labels
    that have both a positive and a negative graph (as OGB's Evaluator averages them)."""
    aucs, aps = [], []
    for label in range(y.size(1)):
        present = ~torch.isnan(y[:, label])
        target, score = y[present, label], outputs[present, label]
        if bool((target == 1).any()) and bool((target == 0).any()):
            scores = link_metrics(score[target == 1], score[target == 0], ())
            aucs.append(scores["auc"])
            aps.append(scores["ap"])
    if not aucs:
        raise UserError("no label has both a positive and a negative graph in this split: AUC and AP are undefined")
    return {"auc": sum(aucs) / len(aucs), "ap": sum(aps) / len(aps)}


def graph_metrics(outputs: Tensor, y: Tensor, kind: str, loss: Loss) -> dict[str, float]:
    """`loss` and the metrics of `kind`'s targets: accuracy (and auc for two classes); auc and ap
    per label; rmse and mae. An empty split is an error, never 0."""
    if y.size(0) == 0:
        raise UserError("no graph to score: the metrics of an empty split are undefined")
    outputs = outputs.double()
    metrics: dict[str, float] = {}
    if kind == "classes":
        metrics["accuracy"] = (outputs.argmax(1) == y).double().mean().item()
        if outputs.size(1) == 2:
            margin = outputs[:, 1] - outputs[:, 0]
            metrics |= {"auc": label_scores(margin.unsqueeze(1), y.unsqueeze(1).double())["auc"]}
    elif kind == "multilabel":
        metrics |= label_scores(outputs, y.double())
    else:
        error = torch.sub(*masked(outputs, y.view_as(outputs)))
        metrics |= {"rmse": error.square().mean().sqrt().item(), "mae": error.abs().mean().item()}
    return {**metrics, "loss": loss(outputs, y.view_as(outputs) if kind != "classes" else y).item()}


REPORTED = {"classes": ("accuracy", "loss"), "multilabel": ("auc", "ap", "loss"), "regression": ("rmse", "mae", "loss")}


def reported(kind: str, outputs: int) -> tuple[str, ...]:
    """The metrics `graph_metrics` reports for `kind` with `outputs` columns."""
    return ("auc", *REPORTED[kind]) if kind == "classes" and outputs == 2 else REPORTED[kind]
