"""Metrics per split: cross-entropy loss and accuracy over each split's labelled nodes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gnntool.data import load_dataset
from gnntool.engine.device import resolve_device
from gnntool.engine.inputs import SPLITS, GraphTensors, graph_tensors
from gnntool.engine.saved import load_model, load_run_config, model_paths


def split_metrics(logits: Tensor, y: Tensor, mask: Tensor) -> dict[str, float]:
    """Loss and accuracy of `logits` on the nodes in `mask`."""
    logits, y = logits[mask], y[mask]
    return {
        "accuracy": (logits.argmax(dim=-1) == y).float().mean().item(),
        "loss": F.cross_entropy(logits, y).item(),
    }


@torch.no_grad()
def evaluate(model: nn.Module, graph: GraphTensors, splits: tuple[str, ...] = SPLITS) -> dict[str, dict[str, float]]:
    """`{split: {metric: value}}` of the model in eval mode (no dropout, running statistics)."""
    model.eval()
    logits = model(graph.x, graph.ops)
    return {split: split_metrics(logits, graph.y, graph.masks[split]) for split in splits}


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
        graph = graph_tensors(load_dataset(config.dataset, saved.seed), device)
        runs.append({"seed": saved.seed, **evaluate(saved.model, graph, splits)})
    if len(runs) == 1:
        runs[0].pop("seed")
        return runs[0]
    return summarise(runs)
