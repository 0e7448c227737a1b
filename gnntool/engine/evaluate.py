"""Scoring a model: metrics per split of its dataset, of a saved run, or on an unseen graph."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from gnntool.data import load_dataset
from gnntool.data.dataset import SPLITS
from gnntool.data.graphfile import read_graph
from gnntool.engine.device import resolve_device
from gnntool.engine.distributed import SINGLE, Ranks, sum_over_ranks
from gnntool.engine.inference import infer
from gnntool.engine.inputs import Part, Task, graph_tensors, task_tensors
from gnntool.engine.metrics import metric_sums, metrics_from_sums, summarise
from gnntool.engine.saved import SavedModel, load_model, load_run_config, model_paths
from gnntool.engine.unsupervised import evaluate_unsupervised
from gnntool.errors import UserError
from gnntool.models import GNN


def split_sums(
    model: GNN, parts: list[Part], multilabel: bool, chunk_size: int | None, ranks: Ranks, outputs: dict[int, Tensor]
) -> dict[str, Tensor]:
    """The metric sums of a split's masked nodes, over all ranks (each scores every
    `world`-th node). `outputs` caches each graph's logits, so splits sharing a graph
    (transductive) share one inference pass."""
    logits, labels = [], []
    for part in parts:
        if id(part.graph) not in outputs:
            outputs[id(part.graph)] = infer(model, part.graph, chunk_size)
        nodes = part.mask.nonzero().view(-1)[ranks.rank :: ranks.world]
        logits.append(outputs[id(part.graph)][nodes])
        labels.append(part.graph.y[nodes])
    return sum_over_ranks(metric_sums(torch.cat(logits), torch.cat(labels), multilabel), ranks)


@torch.no_grad()
def evaluate(
    model: GNN, task: Task, splits: tuple[str, ...] = SPLITS, ranks: Ranks = SINGLE
) -> dict[str, dict[str, float]]:
    """`{split: {metric: value}}` of the model in eval mode (no dropout, running statistics)."""
    outputs: dict[int, Tensor] = {}
    return {
        split: metrics_from_sums(
            split_sums(model, task.splits[split], task.multilabel, task.chunk_size, ranks, outputs)
        )
        for split in splits
    }


def evaluate_run(run_dir: Path, splits: tuple[str, ...]) -> dict[str, Any]:
    """Recompute a run's metrics from its saved model(s), in metrics.json's shape."""
    config = load_run_config(run_dir)
    device = resolve_device("auto")
    runs = []
    for path in model_paths(run_dir):
        saved = load_model(path, device)
        task = task_tensors(load_dataset(config.dataset, saved.seed), device, config.inference_chunk)
        if saved.unsupervised:
            runs.append(
                {"seed": saved.seed, **evaluate_unsupervised(saved.model, task, config.train, saved.seed, splits)}
            )
        else:
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
    chunk_size = load_run_config(run_dir).inference_chunk  # also a clear error if this is no run directory
    device = resolve_device("auto")
    saved_models = [load_model(model_path, device) for model_path in model_paths(run_dir)]
    if saved_models[0].unsupervised:
        raise UserError(f"{run_dir}: trained without labels (unsupervised): it has no classifier to score on a graph")
    graph_file = read_graph(path, num_features=saved_models[0].num_features)
    if not graph_file.has_labels:
        raise UserError(f"{path}: has no labels (y, or labels.npy/csv); eval --graph needs them — embed it instead")
    check_labels_fit(path, graph_file.data.y, saved_models[0])
    graph = graph_tensors(graph_file.data, device, sparse_features=chunk_size is None)
    part = Part(graph, torch.ones(graph.num_nodes, dtype=torch.bool, device=device))
    runs = []
    for saved in saved_models:
        sums = split_sums(saved.model, [part], saved.multilabel, chunk_size, SINGLE, outputs={})
        runs.append({"seed": saved.seed, "graph": metrics_from_sums(sums)})
    if len(runs) == 1:
        return {"graph": runs[0]["graph"]}
    return summarise(runs)
