"""Scoring a classifier: loss and accuracy (or micro/macro-F1) of the nodes each split scores."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

from gnntool.engine.inference import Inference
from gnntool.engine.inputs import DevicePart, Task
from gnntool.engine.metrics import metric_sums, metrics_from_sums
from gnntool.engine.runtime.distributed import SINGLE, Ranks, sum_over_ranks
from gnntool.errors import UserError
from gnntool.models import GNN
from gnntool.traits import SPLITS


def split_outputs(parts: list[DevicePart], ranks: Ranks, outputs: Inference) -> tuple[Tensor, Tensor]:
    """Logits and labels of a split's masked nodes, every `world`-th one from this rank's on.
    `outputs` computes each graph's logits once, so splits sharing a graph (transductive) share
    one inference pass."""
    logits, labels = [], []
    for part in parts:
        nodes = part.mask.nonzero().view(-1)[ranks.rank :: ranks.world]
        logits.append(outputs.output(part.graph)[nodes])
        labels.append(part.graph.y[nodes])
    return torch.cat(logits), torch.cat(labels)


def split_sums(parts: list[DevicePart], multilabel: bool, ranks: Ranks, outputs: Inference) -> dict[str, Tensor]:
    """The metric sums of a split's masked nodes, over all ranks (each scores every `world`-th node)."""
    return sum_over_ranks(metric_sums(*split_outputs(parts, ranks, outputs), multilabel), ranks)


def split_metrics(task: Task, split: str, ranks: Ranks, outputs: Inference) -> dict[str, float]:
    """Loss and metrics of one split; a dataset's own scorer (OGB's Evaluator) sees all of the
    split's nodes at once, on every rank (each holds every node's logits)."""
    parts = task.splits[split]
    metrics = metrics_from_sums(split_sums(parts, task.multilabel, ranks, outputs))
    if task.dataset.scorer is not None:
        metrics.update(task.dataset.scorer(*split_outputs(parts, SINGLE, outputs)))
    return metrics


@torch.no_grad()
def evaluate(
    model: GNN, task: Task, splits: tuple[str, ...] = SPLITS, ranks: Ranks = SINGLE, outputs: Inference | None = None
) -> dict[str, dict[str, float]]:
    """`{split: {metric: value}}` of the model in eval mode (no dropout, running statistics)."""
    outputs = outputs or Inference(model, task.chunk_size)
    return {split: split_metrics(task, split, ranks, outputs) for split in splits}


def check_labels_fit(path: Path, y: Tensor, multilabel: bool, num_classes: int) -> None:
    """A graph's labels must be of the kind and number of classes the model predicts."""
    if multilabel != (y.dim() == 2):
        kind = "a 0/1 label matrix (multi-label)" if multilabel else "one class id per node"
        raise UserError(f"{path}: the model was trained on {kind}; the graph's labels are not")
    width = y.size(1) if y.dim() == 2 else int(y.max()) + 1
    if (y.dim() == 2 and width != num_classes) or width > num_classes:
        raise UserError(f"{path}: labels name {width} classes; the model predicts {num_classes}")
