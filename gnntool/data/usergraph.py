"""`dataset.name: graph`: train on a user's own graph file (the `--graph` npz or folder format)."""

from __future__ import annotations

from pathlib import Path

import torch_geometric.transforms as T

from gnntool.config import DatasetConfig
from gnntool.data.dataset import GraphDataset
from gnntool.data.graphfile import read_graph, read_held_out_edges
from gnntool.data.splits import check_masks, random_masks, single_graph_dataset
from gnntool.errors import UserError
from gnntool.traits import SPLITS


def load_graph(config: DatasetConfig, seed: int) -> GraphDataset:
    """Read `dataset.path`, split it by its own masks (`split: masks`) or at random (seeded by
    `seed`, with `train_frac` and `val_frac`), and keep its node ids for embed/predict output."""
    path = Path(config.path)
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
