"""`dataset.name: graph`: train on a user's own graph file (the `--graph` npz or folder format), or
on a typed folder (`gnntool.data.typed`: one holding `edges/`, or a knowledge graph's `train.txt`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch_geometric.transforms as T

from gnntool.config import DatasetConfig
from gnntool.data.dataset import GraphDataset
from gnntool.data.graphfile import read_graph, read_held_out_edges
from gnntool.data.splits import check_masks, random_masks, single_graph_dataset
from gnntool.data.typed.dataset import TypedDataset
from gnntool.data.typed.folder import load_typed_folder
from gnntool.data.typed.knowledge_graph import load_knowledge_graph
from gnntool.errors import UserError
from gnntool.traits import SPLITS

# A folder holding one of these is a typed graph, read by its loader; anything else is read as one
# node and one edge type (`gnntool.data.graphfile`).
TYPED_LAYOUTS: dict[str, Callable[[DatasetConfig, int], TypedDataset]] = {
    "edges": load_typed_folder,
    "train.txt": load_knowledge_graph,
}


def typed_layout(path: Path) -> Callable[[DatasetConfig, int], TypedDataset] | None:
    """The loader of the typed layout `path` holds, or None for a homogeneous graph file."""
    return next((load for marker, load in TYPED_LAYOUTS.items() if path.is_dir() and (path / marker).exists()), None)


def load_graph(config: DatasetConfig, seed: int) -> GraphDataset | TypedDataset:
    """Read `dataset.path`, split it by its own masks (`split: masks`) or at random (seeded by
    `seed`, with `train_frac` and `val_frac`), and keep its node ids for embed/predict output.
    A typed folder (`TYPED_LAYOUTS`) goes to its own loader."""
    path = Path(config.path)
    typed = typed_layout(path)
    if typed is not None:
        return typed(config, seed)
    for key in ("target", "add_reverse"):
        if getattr(config, key) is not None:
            raise UserError(
                f"dataset.{key} is for typed graphs; {path} is a graph of one node and one edge type "
                "(a typed folder holds edges/, a knowledge graph train.txt)"
            )
    graph_file = read_graph(path)
    data = graph_file.data
    if config.split == "masks":
        missing = [f"{split}_mask" for split in SPLITS if getattr(data, f"{split}_mask", None) is None]
        if missing:
            raise UserError(
                f"{path}: has no {', '.join(missing)} (split masks are read from an .npz only); "
                "set dataset.split: random (with dataset.train_frac and dataset.val_frac)"
            )
        check_masks(data, str(path))
    else:
        random_masks(data, config.train_frac, config.val_frac, seed)
        check_masks(data, f"{path} ({data.num_nodes} nodes split by dataset.train_frac and dataset.val_frac)")
    if config.normalize_features:
        data = T.NormalizeFeatures()(data)
    dataset = single_graph_dataset(data, multilabel=graph_file.multilabel)
    dataset.node_id = graph_file.node_id
    dataset.held_out = read_held_out_edges(path, graph_file.node_id) or None
    return dataset
