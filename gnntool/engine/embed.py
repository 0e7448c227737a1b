"""Node embeddings: the representation entering the model's last layer, in eval mode."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gnntool.data import load_dataset
from gnntool.data.graphfile import read_graph
from gnntool.engine.device import resolve_device
from gnntool.engine.inference import infer
from gnntool.engine.inputs import GraphTensors, Task, graph_tensors, task_tensors
from gnntool.engine.saved import load_model, load_run_config
from gnntool.models import GNN
from gnntool.outputs import MODEL


def node_embeddings(model: GNN, graph: GraphTensors, final: bool = False, chunk_size: int | None = None) -> np.ndarray:
    """float32 array, one row per node of `graph`, in node order: the representation entering the
    last layer, or with `final` (unsupervised models, whose last layer outputs z) its output;
    layer-wise over chunks of `chunk_size` nodes when set."""
    return infer(model, graph, chunk_size, final).float().cpu().numpy()


def dataset_embeddings(model: GNN, task: Task, final: bool = False) -> np.ndarray:
    """One row per node of every graph of the dataset, in dataset order (each graph on its own)."""
    return np.concatenate(
        [node_embeddings(model, task.tensors(graph), final, task.chunk_size) for graph in task.dataset.graphs]
    )


def embed_run(run_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """Embeddings of the run's own graph by its (first seed's) model, and the node ids."""
    config = load_run_config(run_dir)
    device = resolve_device("auto")
    saved = load_model(run_dir / MODEL, device)
    dataset = load_dataset(config.dataset, saved.seed)
    task = task_tensors(dataset, device, config.inference_chunk)
    embeddings = dataset_embeddings(saved.model, task, final=saved.unsupervised)
    return embeddings, dataset.output_ids()


def embed_graph(run_dir: Path, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Embeddings of an unseen graph (npz or folder) by the run's model, and its node ids."""
    chunk_size = load_run_config(run_dir).inference_chunk
    device = resolve_device("auto")
    saved = load_model(run_dir / MODEL, device)
    graph_file = read_graph(path, num_features=saved.num_features)
    graph = graph_tensors(graph_file.data, device, sparse_features=chunk_size is None)
    embeddings = node_embeddings(saved.model, graph, final=saved.unsupervised, chunk_size=chunk_size)
    return embeddings, graph_file.node_id
