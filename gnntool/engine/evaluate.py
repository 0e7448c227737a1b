"""Losses and metrics per split: accuracy for single-label tasks, micro/macro-F1 for multi-label."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gnntool.data import load_dataset
from gnntool.data.dataset import SPLITS
from gnntool.engine.device import resolve_device
from gnntool.data.graphfile import read_graph
from gnntool.engine.inputs import Part, Task, graph_tensors, task_tensors
from gnntool.engine.saved import SavedModel, load_model, load_run_config, model_paths
from gnntool.errors import UserError


def loss_fn(logits: Tensor, y: Tensor, multilabel: bool) -> Tensor:
    """Cross-entropy for class ids; per-class binary cross-entropy for a 0/1 label matrix."""
    if multilabel:
        return F.binary_cross_entropy_with_logits(logits, y.float())
    return F.cross_entropy(logits, y)


def f1_scores(predicted: Tensor, target: Tensor) -> dict[str, float]:
    """Micro-F1 (counts pooled over every node and label) and macro-F1 (mean of per-label F1).

    A label with no positives and no positive predictions scores 0, as scikit-learn's default.
    """
    predicted, target = predicted.bool(), target.bool()
    tp = (predicted & target).sum(0).double()
    fp = (predicted & ~target).sum(0).double()
    fn = (~predicted & target).sum(0).double()
    micro = 2 * tp.sum() / (2 * tp.sum() + fp.sum() + fn.sum()).clamp(min=1)
    per_label = 2 * tp / (2 * tp + fp + fn).clamp(min=1)
    return {"micro_f1": micro.item(), "macro_f1": per_label.mean().item()}


def main_metric(multilabel: bool) -> str:
    """The metric results are quoted in: micro-F1 for multi-label tasks (as the literature), else accuracy."""
    return "micro_f1" if multilabel else "accuracy"


def metrics_of(logits: Tensor, y: Tensor, multilabel: bool) -> dict[str, float]:
    """Loss plus accuracy (single-label) or micro/macro-F1 (multi-label, logits > 0 predicted)."""
    scores = f1_scores(logits > 0, y) if multilabel else {"accuracy": (logits.argmax(-1) == y).float().mean().item()}
    return {**scores, "loss": loss_fn(logits, y, multilabel).item()}


@torch.no_grad()
def masked_outputs(model: nn.Module, parts: list[Part]) -> tuple[Tensor, Tensor]:
    """Logits and labels of the masked nodes of every part, concatenated."""
    logits = [model(part.graph.x, part.graph.ops)[part.mask] for part in parts]
    labels = [part.graph.y[part.mask] for part in parts]
    return torch.cat(logits), torch.cat(labels)


@torch.no_grad()
def evaluate(model: nn.Module, task: Task, splits: tuple[str, ...] = SPLITS) -> dict[str, dict[str, float]]:
    """`{split: {metric: value}}` of the model in eval mode (no dropout, running statistics)."""
    model.eval()
    results = {}
    for split in splits:
        logits, y = masked_outputs(model, task.splits[split])
        results[split] = metrics_of(logits, y, task.multilabel)
    return results


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


def evaluate_run(run_dir: Path, splits: tuple[str, ...]) -> dict[str, Any]:
    """Recompute a run's metrics from its saved model(s), in metrics.json's shape."""
    config = load_run_config(run_dir)
    device = resolve_device("auto")
    runs = []
    for path in model_paths(run_dir):
        saved = load_model(path, device)
        task = task_tensors(load_dataset(config.dataset, saved.seed), device)
        runs.append({"seed": saved.seed, **evaluate(saved.model, task, splits)})
    if len(runs) == 1:
        runs[0].pop("seed")
        return runs[0]
    return summarise(runs)


def check_labels_fit(path: Path, y: Tensor, saved: SavedModel) -> None:
    """The graph's labels must be of the kind and number of classes the model predicts."""
    if saved.multilabel != (y.dim() == 2):
        kind = "a 0/1 label matrix (multi-label)" if saved.multilabel else "one class id per node"
        raise UserError(f"{path}: the model was trained on {kind}; the graph's labels are not")
    width = y.size(1) if y.dim() == 2 else int(y.max()) + 1
    if (y.dim() == 2 and width != saved.num_classes) or width > saved.num_classes:
        raise UserError(f"{path}: labels name {width} classes; the model predicts {saved.num_classes}")


def evaluate_graph(run_dir: Path, path: Path) -> dict[str, Any]:
    """Metrics of the run's model(s) on every node of an unseen labelled graph, as `{"graph": {...}}`."""
    load_run_config(run_dir)  # a clear error if this is no run directory
    device = resolve_device("auto")
    saved_models = [load_model(model_path, device) for model_path in model_paths(run_dir)]
    graph_file = read_graph(path, num_features=saved_models[0].num_features)
    if not graph_file.has_labels:
        raise UserError(f"{path}: has no labels (y, or labels.npy/csv); eval --graph needs them — embed it instead")
    check_labels_fit(path, graph_file.data.y, saved_models[0])
    graph = graph_tensors(graph_file.data, device)
    part = Part(graph, torch.ones(graph.num_nodes, dtype=torch.bool, device=device))
    runs = []
    for saved in saved_models:
        saved.model.eval()
        logits, y = masked_outputs(saved.model, [part])
        runs.append({"seed": saved.seed, "graph": metrics_of(logits, y, saved.multilabel)})
    if len(runs) == 1:
        return {"graph": runs[0]["graph"]}
    return summarise(runs)
