"""Per-node class probabilities from a trained classifier, on the run's graph or an unseen one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from gnntool.config import validate
from gnntool.data import load_dataset
from gnntool.data.graphfile import read_graph
from gnntool.engine.device import resolve_device
from gnntool.engine.inference import infer
from gnntool.engine.inputs import GraphTensors, graph_tensors
from gnntool.engine.saved import SavedModel, load_model
from gnntool.errors import UserError
from gnntool.outputs import MODEL, load_torch


def probabilities(saved: SavedModel, graph: GraphTensors, chunk_size: int | None) -> np.ndarray:
    """Softmax over classes, or per-label sigmoid for a multi-label model; nodes × classes."""
    logits = infer(saved.model, graph, chunk_size)
    return (torch.sigmoid(logits) if saved.multilabel else torch.softmax(logits, dim=-1)).cpu().numpy()


def predict_run(run_dir: Path, graph_path: Path | None) -> tuple[np.ndarray, np.ndarray, bool]:
    """(node ids, probabilities, multilabel) of the run's (first seed's) model."""
    if not run_dir.is_dir():
        raise UserError(f"{run_dir}: no such run directory")
    config = validate(load_torch(run_dir / MODEL)["config"])
    if config.train.objective == "unsupervised":
        raise UserError(
            f"{run_dir}: trained without labels (train.objective: unsupervised), so it has no classifier "
            "to predict with; use `gnntool embed` (its metrics.json holds a linear probe's scores)"
        )
    device = resolve_device("auto")
    saved = load_model(run_dir / MODEL, device)
    chunk_size = config.inference_chunk
    sparse = chunk_size is None
    if graph_path is not None:
        graph_file = read_graph(graph_path, num_features=saved.num_features)
        graph = graph_tensors(graph_file.data, device, sparse_features=sparse)
        return graph_file.node_id, probabilities(saved, graph, chunk_size), saved.multilabel
    dataset = load_dataset(config.dataset, saved.seed)
    rows = [probabilities(saved, graph_tensors(graph, device, sparse), chunk_size) for graph in dataset.graphs]
    return dataset.output_ids(), np.concatenate(rows), saved.multilabel
