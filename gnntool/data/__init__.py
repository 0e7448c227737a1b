"""Datasets: the registry of loaders by `dataset.name`, and `load_dataset`.

The names, and what the schema must know of each dataset, are the torch-free table
`gnntool.traits.DATASETS`; each entry names its loader family in `LOADERS` here. A loader
takes the dataset section of the config and the run's seed (used for random splits only)
and returns a `GraphDataset`: the dataset's graphs and, per split, the graphs it runs on and the
nodes it scores.
Importing this package imports torch and PyG; the CLI imports it lazily.
"""

from __future__ import annotations

from collections.abc import Callable

from gnntool.config import DatasetConfig
from gnntool.data.dataset import GraphDataset
from gnntool.data.graphsets.dataset import GraphSet
from gnntool.data.graphsets.npz import load_graphs_npz
from gnntool.data.graphsets.ogbg import load_ogbg
from gnntool.data.graphsets.synthetic import load_synthetic_graphs
from gnntool.data.graphsets.tu import load_tu
from gnntool.data.ogb import load_ogb
from gnntool.data.planetoid import load_planetoid
from gnntool.data.ppi import load_ppi
from gnntool.data.splits import single_graph_dataset
from gnntool.data.synthetic import load_synthetic
from gnntool.data.usergraph import load_graph
from gnntool.errors import UserError
from gnntool.traits import DATASETS as TRAITS

__all__ = ["LOADERS", "LOADER_OF", "load_dataset"]


def planetoid(config: DatasetConfig, seed: int) -> GraphDataset:
    return single_graph_dataset(load_planetoid(config, seed), inductive=config.split == "inductive")


Loader = Callable[[DatasetConfig, int], GraphDataset | GraphSet]  # GraphSet: whole-graph sets (traits' graph_level)

LOADERS: dict[str, Loader] = {
    "planetoid": planetoid,
    "ppi": load_ppi,
    "graph": load_graph,
    "synthetic": load_synthetic,
    "ogb": load_ogb,
    "graphs": load_graphs_npz,
    "synthetic_graphs": load_synthetic_graphs,
    "tu": load_tu,
    "ogbg": load_ogbg,
}

# dataset name -> its loader (the names are the schema's table, `gnntool.traits.DATASETS`)
LOADER_OF: dict[str, Loader] = {name: LOADERS[traits.loader] for name, traits in TRAITS.items()}


def load_dataset(config: DatasetConfig, seed: int) -> GraphDataset | GraphSet:
    """The dataset named by `config.name`, split and normalised as the config says (a `GraphSet`
    for whole-graph sets, those whose traits say `graph_level`)."""
    try:
        loader = LOADER_OF[config.name]
    except KeyError:
        known = ", ".join(LOADER_OF)
        raise UserError(f"dataset.name: unknown dataset {config.name!r} (known: {known})") from None
    return loader(config, seed)
