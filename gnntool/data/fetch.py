"""Getting a dataset's raw files under the data root, and reading PyG's processed cache safely.

Shared by every PyG-backed loader (Planetoid, PPI):

- `data_root`: `dataset.root`, else env `GNNTOOL_DATA`, else `data` (relative to the current dir).
- `ensure_raw_files(spec, root)`: every file of `spec` in `<root>/<spec.subdir>`; missing ones are
  copied from `$GNNTOOL_MIRROR/<spec.subdir>/` when that is set, else from the package's own copy
  when it ships them (Cora, CiteSeer: `gnntool.shipped`), else downloaded with
  `spec.download` unless `GNNTOOL_OFFLINE=1`; failing both, a `UserError` lists the files and
  where to put them. Files only ever appear under their final name complete (copied or downloaded
  elsewhere, then renamed), so an interrupted fetch cannot pass for data on a later run.
- `SafeProcessedMixin`: for an `InMemoryDataset` subclass, reads the processed files with
  `torch.load(weights_only=True)` only. PyG 2.8.1's `fs.torch_load` retries with
  `weights_only=False` when the safe load fails on a global, and `Dataset._process` reads
  `processed/pre_transform.pt` and `pre_filter.pt` with `weights_only=False`; the mixin overrides
  `load` and `_process` so neither happens. A processed file that does not load safely is rebuilt
  from the raw files; processed files are written under a temporary name and renamed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch_geometric.data import Data
from torch_geometric.data.data import BaseData

from gnntool import log, shipped
from gnntool.config import DatasetConfig
from gnntool.errors import UserError

__all__ = [
    "RawFiles",
    "SafeProcessedMixin",
    "data_root",
    "ensure_raw_files",
    "missing_message",
    "no_downloads",
    "offline",
    "read_processed",
]


_TRUE = {"1", "true", "yes", "on"}


# --- where the files are ------------------------------------------------------------------------


def data_root(config: DatasetConfig) -> Path:
    """`dataset.root`, else env GNNTOOL_DATA, else `data`; relative paths against the current dir."""
    root = config.root or os.environ.get("GNNTOOL_DATA") or "data"
    return Path(root).expanduser().absolute()


def offline() -> bool:
    """Whether env GNNTOOL_OFFLINE forbids downloads (1, true, yes, on)."""
    return os.environ.get("GNNTOOL_OFFLINE", "").strip().lower() in _TRUE


_no_downloads: list[str] = []  # why downloads are refused inside `no_downloads` blocks


@contextlib.contextmanager
def no_downloads(why: str) -> Iterator[None]:
    """Inside the block, missing raw files are an error saying `why`, never a download."""
    _no_downloads.append(why)
    try:
        yield
    finally:
        _no_downloads.pop()


def _download_refused() -> str | None:
    """Why raw files may not be downloaded now, or None when they may."""
    if _no_downloads:
        return _no_downloads[-1]
    return "GNNTOOL_OFFLINE=1 is set, so no download" if offline() else None


@dataclass(frozen=True)
class RawFiles:
    """The raw files one dataset needs, where they go, and how to download them.

    `subdir` is the raw folder relative to the data root, and equally to the mirror
    (`Planetoid/Cora/raw`, `PPI/raw`). `source` says where the files come from, for messages
    ("they are at <url>"). `download(scratch, missing)` puts at least the `missing` files into the
    (empty, private) folder `scratch`; it may raise anything, which becomes a `UserError`.
    """

    name: str
    subdir: str
    files: tuple[str, ...]
    source: str
    download: Callable[[Path, Sequence[str]], None]

    def folder(self, root: Path) -> Path:
        return root / self.subdir


# --- getting the raw files ----------------------------------------------------------------------


def ensure_raw_files(spec: RawFiles, root: Path) -> Path:
    """Make sure every raw file of `spec` is in `<root>/<spec.subdir>`; return that folder."""
    folder = spec.folder(root)
    missing = [f for f in spec.files if not (folder / f).is_file()]
    if not missing:
        return folder
    mirror = os.environ.get("GNNTOOL_MIRROR")
    packaged = spec.folder(shipped.data_dir())
    if mirror:
        _copy_from_mirror(spec, Path(mirror).expanduser(), folder, missing)
    elif all((packaged / f).is_file() for f in missing):
        log.info(f"copying {spec.name} raw files from the package ({packaged})")
        _copy_files(packaged, folder, missing)
    elif refused := _download_refused():
        raise UserError(missing_message(spec, folder, missing, refused))
    else:
        _download(spec, folder, missing)
    still = [f for f in spec.files if not (folder / f).is_file()]
    if still:  # pragma: no cover - each path above either fills the folder or raises
        raise UserError(missing_message(spec, folder, still, "fetching them did not complete"))
    return folder


def missing_message(spec: RawFiles, folder: Path, missing: Sequence[str], why: str) -> str:
    """The error for raw files that are not there: which, where they go, and the three ways in."""
    return (
        f"{spec.name}: raw files missing from {folder} ({why}).\n"
        f"  Needed there: {', '.join(missing)}\n"
        f"  Either put them in {folder} ({spec.source}),\n"
        f"  or set GNNTOOL_MIRROR to a folder laid out like the data root "
        f"({spec.subdir}/{missing[0]}, ...) to copy them from,\n"
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


def _copy_from_mirror(spec: RawFiles, mirror: Path, folder: Path, missing: Sequence[str]) -> None:
    source = spec.folder(mirror)
    absent = [f for f in missing if not (source / f).is_file()]
    if absent:
        raise UserError(
            f"GNNTOOL_MIRROR={mirror}: {source / absent[0]} not found "
            f"(missing from the mirror: {', '.join(absent)}; needed for {spec.name} in {folder})"
        )
    log.info(f"copying {spec.name} raw files from {source}")
    _copy_files(source, folder, missing)


def _copy_files(source: Path, folder: Path, missing: Sequence[str]) -> None:
    """Copy `missing` from `source` into `folder`, each file appearing under its name only when complete."""
    with _created_dirs_removed_on_error(folder):
        for file in missing:  # a file may sit in a subfolder (OGB's raw/, split/)
            (folder / file).parent.mkdir(parents=True, exist_ok=True)
            partial = (folder / file).with_name(f".{Path(file).name}.{uuid.uuid4().hex}.part")
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


def _download(spec: RawFiles, folder: Path, missing: Sequence[str]) -> None:
    """`spec.download` into a scratch folder inside `folder`, moved in only when complete."""
    log.info(f"downloading {spec.name} raw files ({spec.source})")
    with _created_dirs_removed_on_error(folder):
        scratch = Path(tempfile.mkdtemp(prefix=".download-", dir=folder))
        try:
            try:
                spec.download(scratch, missing)
                for file in missing:
                    if not (scratch / file).is_file():
                        raise OSError(f"{file} did not arrive")
            except Exception as exc:
                reason = f"the download failed: {type(exc).__name__}: {exc}"
                raise UserError(missing_message(spec, folder, missing, reason)) from None
            for file in missing:
                (folder / file).parent.mkdir(parents=True, exist_ok=True)
                os.replace(scratch / file, folder / file)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)


# --- PyG's processed files, read safely ---------------------------------------------------------


def read_processed(path: str) -> tuple[BaseData, Any]:
    """A processed file written by `InMemoryDataset.save`, loaded with weights_only=True."""
    with open(path, "rb") as f:
        out = torch.load(f, map_location="cpu", weights_only=True)
    if not (isinstance(out, tuple) and len(out) == 3 and isinstance(out[0], dict)):
        raise ValueError("not a processed PyG dataset (expected (data dict, slices, data class))")
    data, slices, data_cls = out
    if not (isinstance(data_cls, type) and issubclass(data_cls, BaseData)):
        raise ValueError(f"not a processed PyG dataset (data class {data_cls!r})")
    return data_cls.from_dict(data), slices


class SafeProcessedMixin:
    """Put first in the bases of an `InMemoryDataset` subclass (`class X(SafeProcessedMixin, PyGX)`).

    The subclass gives `raw_spec()` (its `RawFiles`) and a `process` that writes every file of
    `processed_paths` through `self.save`. Raw files must already be in `raw_dir` (see
    `ensure_raw_files`): PyG's own download is never triggered from here.
    """

    # Provided by InMemoryDataset / the subclass:
    processed_dir: str
    processed_paths: list[str]
    raw_dir: str
    raw_file_names: Sequence[str]

    def raw_spec(self) -> RawFiles:  # pragma: no cover - every subclass defines it
        raise NotImplementedError

    def download(self) -> None:
        # `Dataset._download` calls this only when raw files are missing; fetching is
        # `ensure_raw_files`' job (mirror, offline, atomic moves), so reaching here is an error.
        missing = [f for f in self.raw_file_names if not os.path.isfile(os.path.join(self.raw_dir, f))]
        raise UserError(missing_message(self.raw_spec(), Path(self.raw_dir), missing, "they vanished"))

    def _process(self) -> None:
        # Replaces `Dataset._process`, which torch.loads processed/pre_transform.pt and
        # pre_filter.pt with weights_only=False. Our cache has no pre_transform/pre_filter.
        loaded: dict[str, tuple[BaseData, Any]] = {}
        for path in self.processed_paths:
            if not os.path.exists(path):
                break
            try:
                loaded[path] = read_processed(path)
            except Exception as exc:
                log.warn(f"{path} cannot be loaded safely ({exc}); rebuilding it from the raw files")
                break
        else:
            self._processed = loaded
            return
        self._processed = {}
        try:
            os.makedirs(self.processed_dir, exist_ok=True)
        except OSError as exc:
            raise UserError(
                f"{self.processed_dir}: cannot create the processed-data folder: {exc.strerror or exc} "
                "(point dataset.root or GNNTOOL_DATA at a writable copy of the data)"
            ) from None
        self.process()

    @classmethod
    def save(cls, data_list: Sequence[BaseData], path: str) -> None:
        # Written under a temporary name and renamed, so an interrupted run leaves no half file.
        partial = f"{path}.{uuid.uuid4().hex}.part"
        try:
            super().save(data_list, partial)  # type: ignore[misc]
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
        cached = self.__dict__.get("_processed") or {}
        processed = cached.pop(path, None)
        self.data, self.slices = processed if processed is not None else read_processed(path)
