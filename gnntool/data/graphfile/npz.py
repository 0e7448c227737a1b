"""Numpy files: the `.npz` graph archive, its held-out edges, and single `.npy` arrays.

Every file is read with `allow_pickle=False`: pickled or object arrays are refused, never run.
"""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from gnntool.data.graphfile.graph import GraphFile, build
from gnntool.data.graphfile.validate import (
    check_features,
    check_labels,
    check_node_ids,
    check_positions,
    is_real,
    np_col,
    whole_numbers,
)
from gnntool.errors import UserError

MASKS = ("train_mask", "val_mask", "test_mask")


def read_npz(path: Path, num_features: int | None) -> GraphFile:
    """The graph of an .npz archive (`x`, `edge_index`, optional `y`, `node_id` and masks)."""
    archive = np_load(path, "an .npz archive")
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise UserError(f"{path} is a single .npy array, not an .npz archive holding x and edge_index")
    with archive:
        keys = set(archive.files)
        missing = [key for key in ("x", "edge_index") if key not in keys]
        if missing:
            found = ", ".join(sorted(keys)) or "nothing"
            raise UserError(
                f"{path} has no {' and no '.join(missing)} array (it holds: {found}); an .npz graph "
                "needs x (nodes × features) and edge_index (2 × edges)"
            )

        def get(key: str) -> np.ndarray:
            return npz_array(archive, path, key)

        def row(r: int) -> str:
            return f"row {r}"

        x = check_features(get("x"), f"{path} (array x)", num_features, row, np_col)
        n = x.shape[0]

        node_id = np.arange(n, dtype=np.int64)
        if "node_id" in keys:
            node_id = check_node_ids(get("node_id"), n, f"{path} (array node_id)", row)

        raw_edges = get("edge_index")
        edge_index = check_edge_array(raw_edges, n, path)

        y = None
        if "y" in keys:
            y = check_labels(get("y"), n, f"{path} (array y)", row, "x has")
        masks = {name: _check_mask(get(name), n, path, name) for name in MASKS if name in keys}

    return build(x, edge_index, y, node_id, masks)


def read_npz_held_out(path: Path, n: int, names: Sequence[str]) -> dict[str, np.ndarray]:
    """The arrays `names` that the archive holds, each checked as 2 × P row positions of `n` nodes."""
    archive = np_load(path, "an .npz archive")
    assert isinstance(archive, np.lib.npyio.NpzFile)  # read_graph has checked the file
    with archive:
        return {
            name: check_edge_array(npz_array(archive, path, name), n, path, name)
            for name in names
            if name in archive.files
        }


def load_npy(path: Path) -> np.ndarray:
    """The single array of a `.npy` file (an .npz archive or an object array is refused)."""
    array = np_load(path, "a .npy array")
    if isinstance(array, np.lib.npyio.NpzFile):
        array.close()
        raise UserError(f"{path} is an .npz archive; a {path.name} file must be a single .npy array")
    assert isinstance(array, np.ndarray)
    if array.dtype == object:  # np.load refuses these already; kept as a guard
        raise UserError(f"{path} holds Python objects (dtype=object); save a numeric array")
    return array


def np_load(path: Path, what: str) -> object:
    """`numpy.load` without unpickling; an unreadable file is a UserError saying it is not `what`."""
    try:
        return np.load(path, allow_pickle=False)
    except ValueError as error:
        if "pickle" in str(error):
            raise UserError(
                f"{path} is not {what} of plain arrays (it would need unpickling, which gnntool never "
                "does); save it with numpy.save/numpy.savez"
            ) from None
        raise UserError(f"{path} is not a readable {what}: {error}") from None
    except (OSError, EOFError, zipfile.BadZipFile) as error:
        raise UserError(f"{path} is not a readable {what}: {error}") from None


def npz_array(archive: np.lib.npyio.NpzFile, path: Path, key: str) -> np.ndarray:
    try:
        return archive[key]
    except ValueError as error:
        if "allow_pickle" in str(error) or "Object arrays" in str(error):
            raise UserError(
                f"{path}: array '{key}' holds Python objects (dtype=object), which gnntool "
                "never unpickles; save plain numeric arrays"
            ) from None
        raise UserError(f"{path}: cannot read array '{key}': {error}") from None
    except Exception as error:  # corrupt member: zlib / zip / header errors
        raise UserError(f"{path}: cannot read array '{key}': {error}") from None


def check_edge_array(edges: np.ndarray, n: int, path: Path, key: str = "edge_index") -> np.ndarray:
    name = f"{path} (array {key})"
    if edges.ndim != 2 or edges.shape[0] != 2:
        hint = ""
        if edges.ndim == 2 and edges.shape[1] == 2:
            hint = f"; it looks transposed (edges × 2): store {key}.T"
        raise UserError(f"{name} must have shape (2, edges); got shape {tuple(edges.shape)}{hint}")

    def where(e: int) -> str:
        return f"edge {e} (column {e})"

    edges = whole_numbers(edges, name, where, "node position")
    return check_positions(edges, n, name, where, "x has")


def _check_mask(mask: np.ndarray, n: int, path: Path, key: str) -> np.ndarray:
    name = f"{path} (array {key})"
    if mask.ndim != 1 or len(mask) != n:
        raise UserError(
            f"{name} must be a boolean mask with one entry per node ({n}); got shape {tuple(mask.shape)}"
            " (index lists are not accepted: turn them into a mask)"
        )
    if mask.dtype == np.bool_:
        return mask
    if not is_real(mask.dtype) or not ((mask == 0) | (mask == 1)).all():
        raise UserError(f"{name} must be a boolean mask (True/False or 0/1); got dtype {mask.dtype}")
    return mask.astype(np.bool_)
