"""Planetoid citation graphs (Cora, CiteSeer, PubMed) through PyG's `Planetoid`, read safely.

Layout: raw files in `<root>/Planetoid/<Name>/raw/`, PyG's processed cache in
`<root>/Planetoid/<Name>/processed/data.pt` (PyG's own layout under the root `<root>/Planetoid`).
The root is `dataset.root`, else env `GNNTOOL_DATA`, else `data` (relative to the current directory).

Missing raw files are copied from `$GNNTOOL_MIRROR/Planetoid/<Name>/raw/` when that is set, else
downloaded (PyG's URL, PyG's `fs.cp`) unless `GNNTOOL_OFFLINE=1`; failing both, a `UserError` lists
the files and where to put them. Files only ever appear under their final name complete (copied or
downloaded elsewhere, then renamed), so an interrupted fetch cannot pass for data on a later run.

Safety, on top of PyG:
- the raw pickles are read with `safe_pickle.safe_load` (PyG's parsing, our unpickler), and
- the processed `data.pt` is read with `torch.load(weights_only=True)` only. PyG 2.8.1's
  `fs.torch_load` retries with `weights_only=False` when the safe load fails on a global, and
  `Dataset._process` reads `processed/pre_transform.pt` and `pre_filter.pt` with
  `weights_only=False`; `SafePlanetoid` overrides `load` and `_process` so neither happens. A
  processed file that does not load safely is rebuilt from the raw files.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import shutil
import tempfile
import threading
import types
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
import torch_geometric.io.planetoid as _pyg_planetoid_io
import torch_geometric.transforms as T
from torch_geometric.data import Data
from torch_geometric.data.data import BaseData
from torch_geometric.datasets import Planetoid
from torch_geometric.io import fs

from gnntool.config import DatasetConfig
from gnntool.data.safe_pickle import safe_load
from gnntool.errors import UserError

__all__ = ["SafePlanetoid", "data_root", "ensure_raw_files", "load_planetoid", "raw_dir", "raw_file_names"]

log = logging.getLogger(__name__)

_TRUE = {"1", "true", "yes", "on"}


# --- where the files are ------------------------------------------------------------------------


def data_root(config: DatasetConfig) -> Path:
    """`dataset.root`, else env GNNTOOL_DATA, else `data`; relative paths against the current dir."""
    root = config.root or os.environ.get("GNNTOOL_DATA") or "data"
    return Path(root).expanduser().absolute()


def raw_dir(root: Path, name: str) -> Path:
    return root / "Planetoid" / name / "raw"


def raw_file_names(name: str) -> list[str]:
    """PyG's list of Planetoid raw files for `name`: ind.<name>.x, ..., ind.<name>.test.index."""
    return list(Planetoid.raw_file_names.fget(types.SimpleNamespace(name=name)))


def _offline() -> bool:
    return os.environ.get("GNNTOOL_OFFLINE", "").strip().lower() in _TRUE


# --- getting the raw files ----------------------------------------------------------------------


def ensure_raw_files(name: str, root: Path) -> Path:
    """Make sure every raw file of `name` is in `<root>/Planetoid/<name>/raw`; return that folder."""
    folder = raw_dir(root, name)
    needed = raw_file_names(name)
    missing = [f for f in needed if not (folder / f).is_file()]
    if not missing:
        return folder
    mirror = os.environ.get("GNNTOOL_MIRROR")
    if mirror:
        _copy_from_mirror(name, Path(mirror).expanduser(), folder, missing)
    elif _offline():
        raise UserError(_missing_message(name, folder, missing, "GNNTOOL_OFFLINE=1 is set, so no download"))
    else:
        _download(name, folder, missing)
    still = [f for f in needed if not (folder / f).is_file()]
    if still:  # pragma: no cover - each path above either fills the folder or raises
        raise UserError(_missing_message(name, folder, still, "fetching them did not complete"))
    return folder


def _missing_message(name: str, folder: Path, missing: Sequence[str], why: str) -> str:
    return (
        f"{name}: raw files missing from {folder} ({why}).\n"
        f"  Needed there: {', '.join(missing)}\n"
        f"  Either put them in {folder} (they are at {Planetoid.url}),\n"
        f"  or set GNNTOOL_MIRROR to a folder laid out like the data root "
        f"(Planetoid/{name}/raw/{missing[0]}, ...) to copy them from,\n"
        f"  or run with network access (and without GNNTOOL_OFFLINE=1) to download them."
    )


@contextlib.contextmanager
def _created_dirs_removed_on_error(folder: Path) -> Iterator[None]:
    """Create `folder` (and parents); if the block fails, remove the ones created that are empty."""
    created = []
    probe = folder
    while not probe.exists():
        created.append(probe)
        if probe.parent == probe:
            break
        probe = probe.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"{folder}: cannot create the raw-data folder: {exc.strerror or exc}") from None
    try:
        yield
    except BaseException:
        for path in created:  # deepest first
            with contextlib.suppress(OSError):
                path.rmdir()
        raise


def _copy_from_mirror(name: str, mirror: Path, folder: Path, missing: Sequence[str]) -> None:
    source = raw_dir(mirror, name)
    absent = [f for f in missing if not (source / f).is_file()]
    if absent:
        raise UserError(
            f"GNNTOOL_MIRROR={mirror}: {source / absent[0]} not found "
            f"(missing from the mirror: {', '.join(absent)}; needed for {name} in {folder})"
        )
    log.info("copying %s raw files from %s", name, source)
    with _created_dirs_removed_on_error(folder):
        for file in missing:
            partial = folder / f".{file}.{uuid.uuid4().hex}.part"
            try:
                shutil.copyfile(source / file, partial)
                os.replace(partial, folder / file)
            except OSError as exc:
                raise UserError(
                    f"copying {source / file} to {folder}: {exc.strerror or exc}"
                ) from None
            finally:
                with contextlib.suppress(OSError):
                    partial.unlink()


def _download(name: str, folder: Path, missing: Sequence[str]) -> None:
    """PyG's download (its URL, its `fs.cp`) into a scratch folder, moved in only when complete."""
    log.info("downloading %s raw files from %s", name, Planetoid.url)
    with _created_dirs_removed_on_error(folder):
        scratch = Path(tempfile.mkdtemp(prefix=".download-", dir=folder))
        try:
            try:
                for file in missing:
                    fs.cp(f"{Planetoid.url}/{file}", str(scratch), log=False)
                for file in missing:
                    if not (scratch / file).is_file():
                        raise OSError(f"{file} did not arrive")
            except Exception as exc:
                reason = f"the download failed: {type(exc).__name__}: {exc}"
                raise UserError(_missing_message(name, folder, missing, reason)) from None
            for file in missing:
                os.replace(scratch / file, folder / file)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)


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


def _read_processed(path: str) -> tuple[BaseData, Any]:
    """PyG's processed `data.pt` (written by `InMemoryDataset.save`), loaded with weights_only."""
    with open(path, "rb") as f:
        out = torch.load(f, map_location="cpu", weights_only=True)
    if not (isinstance(out, tuple) and len(out) == 3 and isinstance(out[0], dict)):
        raise ValueError("not a processed PyG dataset (expected (data dict, slices, data class))")
    data, slices, data_cls = out
    if not (isinstance(data_cls, type) and issubclass(data_cls, BaseData)):
        raise ValueError(f"not a processed PyG dataset (data class {data_cls!r})")
    return data_cls.from_dict(data), slices


class SafePlanetoid(Planetoid):
    """PyG's `Planetoid` that never unpickles untrusted bytes unsafely and never downloads itself.

    Raw files must already be in `raw_dir` (see `ensure_raw_files`). Splits: "public" and "full"
    as in PyG (random splits are made by `load_planetoid` with its own generator).
    """

    def __init__(self, root: str, name: str, split: str = "public") -> None:
        if split not in ("public", "full"):
            raise ValueError(f"SafePlanetoid supports the public and full splits, not {split!r}")
        self._processed: tuple[BaseData, Any] | None = None
        super().__init__(root, name, split=split)

    def download(self) -> None:
        # `Dataset._download` calls this only when raw files are missing; fetching is
        # `ensure_raw_files`' job (mirror, offline, atomic moves), so reaching here is an error.
        missing = [f for f in self.raw_file_names if not os.path.isfile(os.path.join(self.raw_dir, f))]
        raise UserError(_missing_message(self.name, Path(self.raw_dir), missing, "they vanished"))

    def _process(self) -> None:
        # Replaces `Dataset._process`, which torch.loads processed/pre_transform.pt and
        # pre_filter.pt with weights_only=False. Our cache has no pre_transform/pre_filter.
        path = self.processed_paths[0]
        if os.path.exists(path):
            try:
                self._processed = _read_processed(path)
                return
            except Exception as exc:
                log.warning("%s cannot be loaded safely (%s); rebuilding it from the raw files", path, exc)
        try:
            os.makedirs(self.processed_dir, exist_ok=True)
        except OSError as exc:
            raise UserError(
                f"{self.processed_dir}: cannot create the processed-data folder: {exc.strerror or exc} "
                "(point dataset.root or GNNTOOL_DATA at a writable copy of the data)"
            ) from None
        self.process()

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

    @classmethod
    def save(cls, data_list: Sequence[BaseData], path: str) -> None:
        # Written under a temporary name and renamed, so an interrupted run leaves no half file.
        partial = f"{path}.{uuid.uuid4().hex}.part"
        try:
            super().save(data_list, partial)
            os.replace(partial, path)
        except OSError as exc:
            raise UserError(
                f"{path}: cannot write the processed dataset: {exc.strerror or exc} "
                "(point dataset.root or GNNTOOL_DATA at a writable copy of the data)"
            ) from None
        finally:
            with contextlib.suppress(OSError):
                os.unlink(partial)

    def load(self, path: str, data_cls: type[BaseData] = Data) -> None:
        # Replaces `InMemoryDataset.load`, whose `fs.torch_load` falls back to weights_only=False.
        processed, self._processed = self._processed, None
        self.data, self.slices = processed if processed is not None else _read_processed(path)


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
