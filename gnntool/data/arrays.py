"""A processed dataset as a folder of `.npy` files, one per array, read without unpickling.

`np.load(allow_pickle=False)` reads nothing but numbers, and an `.npy` file can be memory-mapped
(`np.load(mmap_mode=...)` cannot map the members of an `.npz`). Each array is written under a
temporary name and renamed; the manifest (`arrays.json`: what the arrays were made from, and
every array's shape and dtype) is written last, so a folder without one, or with one that does
not match, is rebuilt rather than read.

An array too large to build in memory is written by a `Fill`: the file is created at its final
size and memory-mapped, and `Fill.write` fills it in pieces.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gnntool import log
from gnntool.errors import UserError
from gnntool.rundir.layout import read_json, write_json

__all__ = ["MANIFEST", "Fill", "load_arrays", "save_arrays"]

MANIFEST = "arrays.json"


@dataclass(frozen=True)
class Fill:
    """An array of `shape` and `dtype` that `write(out)` fills in place (`out`: a writable map)."""

    shape: tuple[int, ...]
    dtype: np.dtype
    write: Callable[[np.ndarray], None]


def save_arrays(folder: Path, arrays: Mapping[str, np.ndarray | Fill], source: Mapping[str, Any]) -> None:
    """Write every array as `<folder>/<name>.npy`, then the manifest naming `source`.

    An `OSError` (read-only or full disk) is raised as it is, for the caller to report.
    """
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MANIFEST).unlink(missing_ok=True)  # the folder is incomplete until the new one is written
    shapes = {}
    for name, array in arrays.items():
        partial = folder / f".{name}.{uuid.uuid4().hex}.npy"
        try:
            if isinstance(array, Fill):
                out = np.lib.format.open_memmap(partial, mode="w+", dtype=array.dtype, shape=array.shape)
                array.write(out)
                out.flush()
                shape, dtype = array.shape, np.dtype(array.dtype)
                del out
            else:
                np.save(partial, array, allow_pickle=False)
                shape, dtype = array.shape, array.dtype
            os.replace(partial, folder / f"{name}.npy")
        finally:
            with contextlib.suppress(OSError):
                partial.unlink()
        shapes[name] = {"shape": list(shape), "dtype": dtype.str}
    write_json(folder / MANIFEST, {"source": dict(source), "arrays": shapes})


def load_arrays(
    folder: Path, names: Iterable[str], source: Mapping[str, Any], mmap: Iterable[str] = ()
) -> dict[str, np.ndarray] | None:
    """The arrays `names` of `folder`, or None when the folder holds no complete cache of `source`
    (missing, another source, a file of the wrong shape: logged when something was there).

    Arrays in `mmap` are memory-mapped copy-on-write (`mmap_mode="c"`): pages are read from the
    file on first use and count as file-backed memory; a write (nothing here writes) would go to
    private memory, never to the file.
    """
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        return None
    try:
        manifest = _read_manifest(manifest_path)
    except UserError as exc:
        log.warn(f"{exc}; rebuilding the processed files")
        return None
    if manifest.get("source") != dict(source):
        log.info(f"{folder}: processed from other settings; rebuilding it")
        return None
    mapped = set(mmap)
    arrays = {}
    for name in names:
        path = folder / f"{name}.npy"
        expected = manifest.get("arrays", {}).get(name)
        try:
            array = np.load(path, mmap_mode="c" if name in mapped else None, allow_pickle=False)
        except (OSError, ValueError) as exc:
            log.warn(f"{path}: cannot be read ({exc}); rebuilding the processed files")
            return None
        if expected != {"shape": list(array.shape), "dtype": array.dtype.str}:
            log.warn(f"{path}: not the array the manifest describes; rebuilding the processed files")
            return None
        arrays[name] = array
    return arrays


def _read_manifest(path: Path) -> dict[str, Any]:
    manifest = read_json(path)
    if not isinstance(manifest, dict):
        raise UserError(f"{path}: not a manifest of processed arrays")
    return manifest
