"""Node embeddings: the representation entering the model's last layer, in eval mode."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from gnntool.data import load_dataset
from gnntool.engine.device import resolve_device
from gnntool.engine.inputs import GraphTensors, graph_tensors
from gnntool.engine.saved import load_model, load_run_config
from gnntool.models import GNN
from gnntool.outputs import MODEL


@torch.no_grad()
def node_embeddings(model: GNN, graph: GraphTensors) -> np.ndarray:
    """float32 array, one row per node of `graph`, in node order."""
    model.eval()
    return model.embed(graph.x, graph.ops).float().cpu().numpy()


def embed_run(run_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """Embeddings of the run's own graph by its (first seed's) model, and the node ids."""
    config = load_run_config(run_dir)
    device = resolve_device("auto")
    saved = load_model(run_dir / MODEL, device)
    graph = graph_tensors(load_dataset(config.dataset, saved.seed), device)
    return node_embeddings(saved.model, graph), np.arange(graph.num_nodes)
