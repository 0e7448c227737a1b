"""Datasets: the registry of loaders by `dataset.name`, and `load_dataset`.

A loader takes the dataset section of the config and the run's seed (used for random splits only)
and returns one `torch_geometric.data.Data` with x, edge_index, y and train/val/test masks.
Importing this package imports torch and PyG; the CLI imports it lazily.
"""

from __future__ import annotations

from typing import Callable

from torch_geometric.data import Data

from gnntool.config import DatasetConfig
from gnntool.data.planetoid import load_planetoid
from gnntool.errors import UserError

__all__ = ["DATASETS", "load_dataset", "load_planetoid"]

DATASETS: dict[str, Callable[[DatasetConfig, int], Data]] = {
    "Cora": load_planetoid,
    "CiteSeer": load_planetoid,
    "PubMed": load_planetoid,
}


def load_dataset(config: DatasetConfig, seed: int) -> Data:
    """The dataset named by `config.name`, split and normalised as the config says."""
    try:
        loader = DATASETS[config.name]
    except KeyError:
        known = ", ".join(DATASETS)
        raise UserError(f"dataset.name: unknown dataset {config.name!r} (known: {known})") from None
    return loader(config, seed)
