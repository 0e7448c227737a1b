"""Planetoid citation graphs (Cora, CiteSeer, PubMed) through PyG's `Planetoid`, read safely.

Layout: raw files in `<root>/Planetoid/<Name>/raw/`, PyG's processed cache in
`<root>/Planetoid/<Name>/processed/data.pt` (PyG's own layout under the root `<root>/Planetoid`).
The root is `dataset.root`, else env `GNNTOOL_DATA`, else `data` (relative to the current directory).

Missing raw files are copied from `$GNNTOOL_MIRROR/Planetoid/<Name>/raw/` when that is set, else
downloaded (PyG's URL, PyG's `fs.cp`) unless `GNNTOOL_OFFLINE=1`; failing both, a `UserError` lists
the files and where to put them (all of that is `gnntool.data.fetch`, shared with PPI).

Safety, on top of PyG:
- the raw pickles are read with `safe_pickle.safe_load` (PyG's parsing, our unpickler), and
- the processed `data.pt` is read with `torch.load(weights_only=True)` only
  (`fetch.SafeProcessedMixin`: PyG 2.8.1 would fall back to weights_only=False). A processed file
  that does not load safely is rebuilt from the raw files.
"""

from __future__ import annotations

import contextlib
import pickle
import threading
import types
from collections.abc import Iterator, Sequence
from pathlib import Path

import torch
import torch_geometric.io.planetoid as _pyg_planetoid_io
import torch_geometric.transforms as T
from torch_geometric.data import Data
from torch_geometric.datasets import Planetoid
from torch_geometric.io import fs

from gnntool.config import DatasetConfig
from gnntool.data import fetch
from gnntool.data.fetch import RawFiles, SafeProcessedMixin, data_root
from gnntool.data.safe_pickle import safe_load
from gnntool.errors import UserError

__all__ = [
    "SafePlanetoid",
    "data_root",
    "ensure_raw_files",
    "load_planetoid",
    "raw_dir",
    "raw_file_names",
    "raw_files",
]

# --- where the files are ------------------------------------------------------------------------


def raw_dir(root: Path, name: str) -> Path:
    return root / "Planetoid" / name / "raw"  # = raw_files(name).folder(root)


def raw_file_names(name: str) -> list[str]:
    """PyG's list of Planetoid raw files for `name`: ind.<name>.x, ..., ind.<name>.test.index."""
    return list(Planetoid.raw_file_names.fget(types.SimpleNamespace(name=name)))


def _download_files(scratch: Path, missing: Sequence[str]) -> None:
    """PyG's download: each file from its URL with its `fs.cp` (the URL is read at call time)."""
    for file in missing:
        fs.cp(f"{Planetoid.url}/{file}", str(scratch), log=False)


def raw_files(name: str) -> RawFiles:
    """What `fetch.ensure_raw_files` needs to know about the raw files of `name`."""
    return RawFiles(
        name=name,
        subdir=f"Planetoid/{name}/raw",
        files=tuple(raw_file_names(name)),
        source=f"they are at {Planetoid.url}",
        download=_download_files,
    )


def ensure_raw_files(name: str, root: Path) -> Path:
    """Make sure every raw file of `name` is in `<root>/Planetoid/<name>/raw`; return that folder."""
    return fetch.ensure_raw_files(raw_files(name), root)


# --- PyG's Planetoid, read safely ---------------------------------------------------------------

_SWAP_LOCK = threading.RLock()


@contextlib.contextmanager
def _pyg_reads_pickles_safely() -> Iterator[None]:
    """Make `torch_geometric.io.planetoid.read_file` unpickle with `safe_load`, for this block.

    `read_file` calls `pickle.load(f, encoding='latin1')` through its module's global `pickle`;
    the block swaps that global for a namespace whose `load` is `safe_load`, and restores it after.
    """
    with _SWAP_LOCK:
        original = getattr(_pyg_planetoid_io, "pickle", None)
        if original is not pickle:  # PyG changed how it reads the files: do not read them unsafely
            raise RuntimeError(
                "torch_geometric.io.planetoid no longer reads the raw files through its `pickle` "
                "global; gnntool's safe-unpickling hook needs updating"
            )
        _pyg_planetoid_io.pickle = types.SimpleNamespace(load=safe_load)
        try:
            yield
        finally:
            _pyg_planetoid_io.pickle = original


class SafePlanetoid(SafeProcessedMixin, Planetoid):
    """PyG's `Planetoid` that never unpickles untrusted bytes unsafely and never downloads itself.

    Raw files must already be in `raw_dir` (see `ensure_raw_files`). Splits: "public" and "full"
    as in PyG (random splits are made by `load_planetoid` with its own generator).
    """

    def __init__(self, root: str, name: str, split: str = "public") -> None:
        if split not in ("public", "full"):
            raise ValueError(f"SafePlanetoid supports the public and full splits, not {split!r}")
        super().__init__(root, name, split=split)

    def raw_spec(self) -> RawFiles:
        return raw_files(self.name)

    def process(self) -> None:
        with _pyg_reads_pickles_safely():
            try:
                super().process()
            except UserError:
                raise
            except Exception as exc:
                raise UserError(
                    f"{self.raw_dir}: the raw files are not in the Planetoid format "
                    f"({type(exc).__name__}: {exc})"
                ) from None


# --- the loader ---------------------------------------------------------------------------------


def _random_split(data: Data, config: DatasetConfig, seed: int) -> None:
    """`train_per_class` training nodes per class, then `num_val` and `num_test` from the rest.

    PyG's random split, drawn from a local generator seeded with `seed` (the global RNG is untouched).
    """
    generator = torch.Generator().manual_seed(seed)
    y = data.y
    num_nodes = y.size(0)
    train_mask = torch.zeros(num_nodes, dtype=torch.bool)
    for c in range(int(y.max()) + 1):
        idx = (y == c).nonzero(as_tuple=False).view(-1)
        if idx.numel() < config.train_per_class:
            raise UserError(
                f"dataset.train_per_class: {config.name} has only {idx.numel()} nodes of class {c} "
                f"(got {config.train_per_class})"
            )
        idx = idx[torch.randperm(idx.numel(), generator=generator)[: config.train_per_class]]
        train_mask[idx] = True

    remaining = (~train_mask).nonzero(as_tuple=False).view(-1)
    if config.num_val + config.num_test > remaining.numel():
        raise UserError(
            f"dataset.num_val + dataset.num_test: {config.name} has {remaining.numel()} nodes left "
            f"after the training nodes (got {config.num_val} + {config.num_test})"
        )
    remaining = remaining[torch.randperm(remaining.numel(), generator=generator)]
    val_mask = torch.zeros(num_nodes, dtype=torch.bool)
    val_mask[remaining[: config.num_val]] = True
    test_mask = torch.zeros(num_nodes, dtype=torch.bool)
    test_mask[remaining[config.num_val : config.num_val + config.num_test]] = True
    data.train_mask, data.val_mask, data.test_mask = train_mask, val_mask, test_mask


def load_planetoid(config: DatasetConfig, seed: int) -> Data:
    """Cora, CiteSeer or PubMed as one `Data`: x (float32, dense), edge_index, y and the split masks.

    `seed` draws the random split (only). Features are row-normalised (`T.NormalizeFeatures`)
    when `config.normalize_features`.
    """
    root = data_root(config)
    ensure_raw_files(config.name, root)
    pyg_split = "full" if config.split == "full" else "public"
    dataset = SafePlanetoid(str(root / "Planetoid"), config.name, split=pyg_split)
    loaded = dataset[0]
    data = Data(
        x=loaded.x.to(torch.float32),
        edge_index=loaded.edge_index,
        y=loaded.y,
        train_mask=loaded.train_mask,
        val_mask=loaded.val_mask,
        test_mask=loaded.test_mask,
    )
    if config.split == "random":
        _random_split(data, config, seed)
    if config.normalize_features:
        data = T.NormalizeFeatures()(data)
    return data
