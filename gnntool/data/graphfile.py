"""Read a user's graph (`--graph PATH`, `dataset.name: graph`) from an .npz file or a folder, validated.

Edges are taken as directed, source → target (row 0 of `edge_index`, or the first column of
`edges.csv`/`edges.tsv`, is the source whose message the target receives) and are never
symmetrised, so to describe an undirected graph list every edge in both directions.

Self-loops, duplicate edges and isolated nodes are accepted and kept as given (`GraphOps` drops
self-loops and duplicates later). Output rows keep the input's node order and ids.

Formats
-------
- `<name>.npz` (read with `allow_pickle=False`: pickled or object arrays are refused, never run):
  `x` (nodes × features, numeric), `edge_index` (2 × edges, integers, 0-based row positions of
  `x`), optional `y` (1-D class ids ≥ 0, or a nodes × classes 0/1 matrix for multi-label),
  optional `node_id` (one unique integer per node; `edge_index` still holds row positions),
  optional `train_mask`/`val_mask`/`test_mask` (boolean, one entry per node; 0/1 integers are
  accepted too). Other arrays in the file are ignored (and never loaded).
- a folder holding exactly one of `features.npy`/`features.csv`, exactly one of
  `edges.csv`/`edges.tsv`, and at most one of `labels.npy`/`labels.csv`. Two files for the same
  role (e.g. both `features.npy` and `features.csv`) is an error, never a silent choice.
- held-out edges for link prediction (`read_held_out_edges`, optional): in the .npz, arrays
  `val_edges`/`test_edges` (2 × edges, row positions like `edge_index`) and optionally
  `val_negatives`/`test_negatives`; in a folder, files `val_edges`, `test_edges`, `val_negatives`,
  `test_negatives` (each `.csv` or `.tsv`, two columns, nodes named as in `edges.*`).

Rules for the text files (comma-separated `.csv`, tab-separated `.tsv`, UTF-8 with or without BOM,
`"` quotes allowed, empty lines skipped):
- Header: the first non-empty line is a header when at least one of its fields is not a number
  (a name such as `id` or `f0`); otherwise it is data. A header of numbers only (e.g. `0,1,2`)
  therefore reads as a data row.
- Ids: when `features.csv`'s header names its first column `id` (any case), that column holds the
  node ids (integers, unique) and the remaining columns are the features; `edges.*` then names
  nodes by id. Otherwise nodes are numbered by row (0-based, after the header) and `edges.*`
  holds those row positions. A first column named like an id but not `id` (`node_id`, `node`,
  `index`, ...) is an error rather than silently becoming a feature. `features.npy` has no ids.
- `edges.*` has exactly two columns, source then target (no weights).
- `labels.*` has one row per node in the features' order: a single class-id column, or one 0/1
  column per class (multi-label). It has no id column. A single column (or an N × 1 array) is
  always read as class ids, a wider 0/1 matrix as multi-label.
- Edge, id and class-id values must be whole numbers; `3` and `3.0` are accepted, `3.5` is not.

Every problem is a `UserError` naming the file and, where useful, the line/row, column and value
(rows and columns of arrays count from 0; lines and columns of text files from 1, as editors do).
Parsing is vectorised (`numpy.loadtxt`); a slow line-by-line scan only runs once a file is known
to be bad, to say where.
"""

from __future__ import annotations

import csv
import warnings
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch_geometric.data import Data

from gnntool.errors import UserError

__all__ = ["GraphFile", "read_graph", "read_held_out_edges"]

MASKS = ("train_mask", "val_mask", "test_mask")
HELD_OUT = ("val_edges", "test_edges", "val_negatives", "test_negatives")
FEATURE_FILES = ("features.npy", "features.csv")
EDGE_FILES = ("edges.csv", "edges.tsv")
LABEL_FILES = ("labels.npy", "labels.csv")
_ID_LIKE = {"node_id", "nodeid", "node", "node id", "index", "idx", "name", "key", "node_index"}
_EXACT_FLOAT = 2**53  # whole-number floats beyond this cannot name an integer exactly

# row (0-based) -> where it is, for messages: "row 4" in arrays, "line 6" in text files
Where = Callable[[int], str]


@dataclass
class GraphFile:
    """A graph read from a user's file.

    `data` has `x` (float32, nodes × features), `edge_index` (int64, 2 × edges, row positions),
    `y` when labels were given (long class ids, or a float 0/1 matrix when `multilabel`), and
    `train_mask`/`val_mask`/`test_mask` (bool) when the .npz holds them. `node_id` holds the
    input's node ids (.npz `node_id`, the csv `id` column), else `arange(nodes)`.
    """

    data: Data
    node_id: np.ndarray
    has_labels: bool
    multilabel: bool


def read_graph(path: Path | str, num_features: int | None = None) -> GraphFile:
    """Read and validate a graph from an .npz file or a folder; see the module docstring.

    `num_features`, when given, is the feature width the model was trained on: a file with
    another width is refused.
    """
    path = Path(path)
    if not path.exists():
        raise UserError(f"graph file {path} does not exist")
    if path.is_dir():
        return _read_folder(path, num_features)
    if path.suffix.lower() == ".npz":
        return _read_npz(path, num_features)
    hint = ""
    if path.name in FEATURE_FILES + EDGE_FILES + LABEL_FILES:
        hint = f" (to read a folder of csv/npy files, give the folder {path.parent}, not one file in it)"
    raise UserError(
        f"graph file {path} is neither an .npz file nor a folder{hint}; "
        "give an .npz with x and edge_index, or a folder with features.npy|csv and edges.csv|tsv"
    )


# --- .npz ---------------------------------------------------------------------------------------


def _read_npz(path: Path, num_features: int | None) -> GraphFile:
    archive = _np_load(path, "an .npz archive")
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
            return _npz_array(archive, path, key)

        def row(r: int) -> str:
            return f"row {r}"

        x = _check_features(get("x"), f"{path} (array x)", num_features, row, _np_col)
        n = x.shape[0]

        node_id = np.arange(n, dtype=np.int64)
        if "node_id" in keys:
            node_id = _check_node_ids(get("node_id"), n, f"{path} (array node_id)", row)

        raw_edges = get("edge_index")
        edge_index = _check_edge_array(raw_edges, n, path)

        y = None
        if "y" in keys:
            y = _check_labels(get("y"), n, f"{path} (array y)", row, "x has")
        masks = {name: _check_mask(get(name), n, path, name) for name in MASKS if name in keys}

    return _build(x, edge_index, y, node_id, masks)


def _npz_array(archive: np.lib.npyio.NpzFile, path: Path, key: str) -> np.ndarray:
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


def _np_col(c: int) -> str:
    return f"column {c}"  # array positions are 0-based


def _text_col(c: int) -> str:
    return f"column {c + 1}"  # lines and columns of text files are 1-based, as editors show them


def _check_edge_array(edges: np.ndarray, n: int, path: Path, key: str = "edge_index") -> np.ndarray:
    name = f"{path} (array {key})"
    if edges.ndim != 2 or edges.shape[0] != 2:
        hint = ""
        if edges.ndim == 2 and edges.shape[1] == 2:
            hint = f"; it looks transposed (edges × 2): store {key}.T"
        raise UserError(f"{name} must have shape (2, edges); got shape {tuple(edges.shape)}{hint}")
    if edges.dtype == np.bool_ or not _is_real(edges.dtype):
        raise UserError(f"{name} must hold integer node positions; got dtype {edges.dtype}")

    def where(e: int) -> str:
        return f"edge {e} (column {e})"

    edges = _whole_numbers(edges, name, where, "node position")
    return _check_positions(edges, n, name, where, "x has")


# --- folder -------------------------------------------------------------------------------------


def _read_folder(folder: Path, num_features: int | None) -> GraphFile:
    features = _pick(folder, FEATURE_FILES)
    edges = _pick(folder, EDGE_FILES)
    labels = _pick(folder, LABEL_FILES)
    lacking = []
    if features is None:
        lacking.append("no features file (looked for features.npy, features.csv)")
    if edges is None:
        lacking.append("no edges file (looked for edges.csv, edges.tsv)")
    if lacking:
        present = sorted(p.name for p in folder.iterdir())
        listing = ", ".join(present[:12]) + (", ..." if len(present) > 12 else "") if present else "nothing"
        raise UserError(f"graph folder {folder} has {' and '.join(lacking)}; it holds: {listing}")
    assert features is not None and edges is not None

    ids: np.ndarray | None = None
    if features.suffix == ".npy":
        x = _check_features(_load_npy(features), str(features), num_features, lambda r: f"row {r}", _np_col)
    else:
        x, ids = _read_features_csv(features, num_features)
    n = x.shape[0]

    if ids is None:
        node_id = np.arange(n, dtype=np.int64)
    else:
        node_id = ids

    edge_index = _read_edges(edges, n, ids, features)

    y = None
    if labels is not None:
        if labels.suffix == ".npy":
            y = _check_labels(_load_npy(labels), n, str(labels), lambda r: f"row {r}", f"{features.name} has")
        else:
            table = _Table.read(labels, ",")
            if table.header is not None and _norm(table.header[0]) in {"id"} | _ID_LIKE:
                raise UserError(
                    f"{labels} starts with an id column ('{table.header[0]}'); labels.csv has no ids: "
                    f"give one row per node in the order of {features.name} (a class id, or a 0/1 row)"
                )
            values = table.load(np.float64)
            y = _check_labels(values, n, str(labels), table.where, f"{features.name} has", _text_col)

    return _build(x, edge_index, y, node_id, {})


def _pick(folder: Path, names: Sequence[str]) -> Path | None:
    present = [folder / name for name in names if (folder / name).is_file()]
    if len(present) > 1:
        raise UserError(
            f"graph folder {folder} holds both {present[0].name} and {present[1].name}; "
            "it is ambiguous which to read: keep only one of them"
        )
    return present[0] if present else None


def _read_features_csv(path: Path, num_features: int | None) -> tuple[np.ndarray, np.ndarray | None]:
    table = _Table.read(path, ",")
    first = _norm(table.header[0]) if table.header is not None else ""
    if first in _ID_LIKE:
        raise UserError(
            f"{path}: the first column is named '{table.header[0]}'; to give node ids name it 'id' "
            "(if it is a feature, rename it)"
        )
    ids = table.integer_column(0, "node id") if first == "id" else None
    values = table.load(np.float32)  # float32 directly: half the memory of float64 for big files
    offset = 0
    if ids is not None:
        offset = 1
        values = values[:, 1:]
        if values.shape[0] and values.shape[1] == 0:
            raise UserError(f"{path} has an id column but no feature columns")
    x = _check_features(
        values,
        str(path),
        num_features,
        table.where,
        lambda c: _text_col(c + offset),
        lambda r, c: repr(table.token(r, c + offset)),
    )
    if ids is not None:
        ids = _check_node_ids(ids, x.shape[0], f"{path} (id column)", table.where)
    return x, ids


def _pair_table(path: Path, needs: str) -> _Table | None:
    """A two-column text file (tabs in .tsv, else commas); None when it is empty."""
    table = _Table.read(path, "\t" if path.suffix == ".tsv" else ",")
    if table.empty:
        return None
    if table.ncols != 2:
        raise UserError(f"{path} has {table.ncols} column{'s' if table.ncols != 1 else ''}; {needs}")
    return table


def _read_edges(path: Path, n: int, ids: np.ndarray | None, features: Path) -> np.ndarray:
    needs = "an edges file needs exactly two (source, target), one edge per line (edge weights are not supported)"
    table = _pair_table(path, needs)
    if table is None:
        return np.empty((2, 0), dtype=np.int64)
    kind = "node id" if ids is not None else "node position"
    pairs = table.integers(kind)  # (edges, 2)
    if ids is None:
        edges = np.ascontiguousarray(pairs.T)
        return _check_positions(edges, n, str(path), table.where, f"{features.name} has")
    unknown = f"which is not in the id column of {features.name} (with an id column, edges name nodes by id)"
    return _positions_of_ids(pairs, ids, path, table, f"node id {{}}, {unknown}")


def _positions_of_ids(pairs: np.ndarray, ids: np.ndarray, path: Path, table: _Table, unknown: str) -> np.ndarray:
    """`pairs` (P × 2) of unique node `ids` as 2 × P row positions; an id not in `ids` is a
    UserError naming its line and saying `unknown.format(id)`."""
    order = np.argsort(ids, kind="stable")
    sorted_ids = ids[order]
    slot = np.minimum(np.searchsorted(sorted_ids, pairs), max(len(ids) - 1, 0))
    found = sorted_ids[slot] == pairs if len(ids) else np.zeros(pairs.shape, dtype=bool)
    if not found.all():
        r = int(np.flatnonzero(~found.all(axis=1))[0])
        value = int(pairs[r, 0] if not found[r, 0] else pairs[r, 1])
        raise UserError(f"{path} {table.where(r)} names {unknown.format(value)}")
    return np.ascontiguousarray(order[slot].T)


# --- checks shared by both formats --------------------------------------------------------------


def _check_features(
    x: np.ndarray,
    name: str,
    num_features: int | None,
    where: Where,
    col: Callable[[int], str],
    text: Callable[[int, int], str] | None = None,
) -> np.ndarray:
    """`x` as float32 after checking shape, type, width and values; `text(r, c)` shows a value."""
    if x.ndim != 2:
        raise UserError(f"{name} must be 2-D (nodes × features); got shape {tuple(x.shape)}")
    if not _is_real(x.dtype):
        raise UserError(f"{name} must hold numbers; got dtype {x.dtype}")
    n, width = x.shape
    if n == 0:
        raise UserError(f"{name} has no nodes (0 rows): the graph is empty")
    if width == 0:
        raise UserError(f"{name} has 0 features per node")
    if num_features is not None and width != num_features:
        raise UserError(
            f"{name} has {width} features per node; the model was trained on {num_features}"
        )
    bad: np.ndarray | None = None
    if np.issubdtype(x.dtype, np.floating):
        finite = np.isfinite(x)
        if not finite.all():
            bad = ~finite
    with np.errstate(over="ignore"):
        out = x.astype(np.float32, copy=False)
    if bad is None and out is not x and np.issubdtype(x.dtype, np.floating):
        finite = np.isfinite(out)
        if not finite.all():  # finite float64 values beyond float32's range
            r, c = np.argwhere(~finite)[0]
            raise UserError(
                f"{name} has {int((~finite).sum())} feature values too large for 32-bit floats "
                f"(first at {where(int(r))}, {col(int(c))}: {_show(x[r, c])})"
            )
    if bad is not None:
        r, c = np.argwhere(bad)[0]
        kind = "NaN or infinite" if text is None else "NaN or infinite (or too large for 32-bit floats)"
        raise UserError(
            f"{name} has {int(bad.sum())} {kind} feature values "
            f"(first at {where(int(r))}, {col(int(c))}: {text(int(r), int(c)) if text else _show(x[r, c])})"
        )
    return np.ascontiguousarray(out)


def _check_node_ids(ids: np.ndarray, n: int, name: str, where: Where) -> np.ndarray:
    if ids.ndim != 1:
        raise UserError(f"{name} must be 1-D (one id per node); got shape {tuple(ids.shape)}")
    if len(ids) != n:
        raise UserError(f"{name} has {len(ids)} ids for {n} nodes (one id per node)")
    if ids.dtype == np.bool_ or not _is_real(ids.dtype):
        raise UserError(f"{name} must hold integer node ids; got dtype {ids.dtype}")
    ids = _whole_numbers(ids, name, where, "node id")
    order = np.argsort(ids, kind="stable")
    sorted_ids = ids[order]
    same = np.flatnonzero(sorted_ids[1:] == sorted_ids[:-1])
    if len(same):
        value = int(sorted_ids[same[0]])
        rows = np.sort(order[same[0] : same[0] + 2])
        raise UserError(
            f"{name} has duplicate node id {value} (at {where(int(rows[0]))} and {where(int(rows[1]))}); "
            "node ids must be unique"
        )
    return ids


def _check_positions(edges: np.ndarray, n: int, name: str, where: Where, has: str) -> np.ndarray:
    """`edges` (2 × E, int64) must hold row positions 0..n-1."""
    bad = (edges < 0) | (edges >= n)
    if bad.any():
        e = int(np.flatnonzero(bad.any(axis=0))[0])
        value = int(edges[0, e] if bad[0, e] else edges[1, e])
        raise UserError(
            f"{name} names node position {value} at {where(e)}, out of range: {has} {n} nodes "
            f"(valid positions 0..{n - 1})"
        )
    return edges


def _check_labels(
    y: np.ndarray, n: int, name: str, where: Where, has: str, col: Callable[[int], str] = _np_col
) -> np.ndarray:
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim not in (1, 2):
        raise UserError(
            f"{name} must be one class id per node (1-D) or a 0/1 matrix (nodes × classes); "
            f"got shape {tuple(y.shape)}"
        )
    if len(y) != n:
        raise UserError(f"{name} has {len(y)} labels, but {has} {n} nodes (one label per node)")
    if not _is_real(y.dtype):
        raise UserError(f"{name} must hold numbers (class ids or 0/1); got dtype {y.dtype}")
    if y.ndim == 2:
        if y.shape[1] == 0:
            raise UserError(f"{name} has 0 label columns")
        ok = (y == 0) | (y == 1)
        if not ok.all():
            r, c = np.argwhere(~ok)[0]
            raise UserError(
                f"{name} is neither class ids nor a 0/1 matrix: it has {y.shape[1]} columns but holds "
                f"{_show(y[r, c])} at {where(int(r))}, {col(int(c))}; a multi-label matrix holds only "
                "0 and 1 (for class ids, give a single column)"
            )
        return y.astype(np.float32)
    if y.dtype == np.bool_:
        return y.astype(np.int64)
    y = _whole_numbers(y, name, where, "class id")
    if (y < 0).any():
        r = int(np.flatnonzero(y < 0)[0])
        raise UserError(
            f"{name} holds class id {int(y[r])} at {where(r)}; class ids must be integers ≥ 0 "
            "(every node needs a label)"
        )
    return y


def _check_mask(mask: np.ndarray, n: int, path: Path, key: str) -> np.ndarray:
    name = f"{path} (array {key})"
    if mask.ndim != 1 or len(mask) != n:
        raise UserError(
            f"{name} must be a boolean mask with one entry per node ({n}); got shape {tuple(mask.shape)}"
            " (index lists are not accepted: turn them into a mask)"
        )
    if mask.dtype == np.bool_:
        return mask
    if not _is_real(mask.dtype) or not ((mask == 0) | (mask == 1)).all():
        raise UserError(f"{name} must be a boolean mask (True/False or 0/1); got dtype {mask.dtype}")
    return mask.astype(np.bool_)


def _whole_numbers(a: np.ndarray, name: str, where: Where, what: str) -> np.ndarray:
    """`a` as int64; floats must be finite whole numbers, unsigned values must fit int64.

    `a` is 1-D (`where` gets a row) or 2 × E edges (`where` gets the edge, a column).
    """

    def first(bad: np.ndarray) -> tuple[int, object]:
        if a.ndim == 1:
            i = int(np.flatnonzero(bad)[0])
            return i, a[i]
        e = int(np.flatnonzero(bad.any(axis=0))[0])
        return e, a[0, e] if bad[0, e] else a[1, e]

    if np.issubdtype(a.dtype, np.floating):
        bad = ~np.isfinite(a) | (a != np.floor(a)) | (np.abs(a) > _EXACT_FLOAT)
        if bad.any():
            i, value = first(bad)
            raise UserError(f"{name} holds {_show(value)} at {where(i)}: a {what} must be an integer")
    elif np.issubdtype(a.dtype, np.unsignedinteger) and a.dtype.itemsize >= 8:
        bad = a > np.iinfo(np.int64).max
        if bad.any():
            i, value = first(bad)
            raise UserError(f"{name} holds {value} at {where(i)}: too large for a {what}")
    return a.astype(np.int64)


def _build(
    x: np.ndarray,
    edge_index: np.ndarray,
    y: np.ndarray | None,
    node_id: np.ndarray,
    masks: dict[str, np.ndarray],
) -> GraphFile:
    data = Data(
        x=torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)),
        edge_index=torch.from_numpy(np.ascontiguousarray(edge_index, dtype=np.int64)),
    )
    if y is not None:
        data.y = torch.from_numpy(np.ascontiguousarray(y))
    for key, mask in masks.items():
        data[key] = torch.from_numpy(np.ascontiguousarray(mask, dtype=np.bool_))
    return GraphFile(
        data=data,
        node_id=np.ascontiguousarray(node_id, dtype=np.int64),
        has_labels=y is not None,
        multilabel=y is not None and y.ndim == 2,
    )


# --- held-out edges (link prediction) -----------------------------------------------------------


def read_held_out_edges(path: Path | str, node_id: np.ndarray) -> dict[str, np.ndarray]:
    """The held-out edges a graph file brings for link prediction (see Formats), validated:
    `{name: 2 × P int64 row positions}` for each of `val_edges`, `test_edges`, `val_negatives`,
    `test_negatives` present; empty when the file brings none.

    `node_id` is the graph's (`GraphFile.node_id`): folder files name nodes by it (row positions
    unless `features.csv` has an id column), .npz arrays hold row positions. Negatives without
    their split's edges are an error.
    """
    path = Path(path)
    if path.is_dir():
        found = {}
        for name in HELD_OUT:
            file = _pick(path, (f"{name}.csv", f"{name}.tsv"))
            if file is not None:
                found[name] = _read_pairs_by_id(file, node_id)
    else:
        archive = _np_load(path, "an .npz archive")
        assert isinstance(archive, np.lib.npyio.NpzFile)  # read_graph has checked the file
        with archive:
            found = {
                name: _check_edge_array(_npz_array(archive, path, name), len(node_id), path, name)
                for name in HELD_OUT
                if name in archive.files
            }
    for split in ("val", "test"):
        if f"{split}_negatives" in found and f"{split}_edges" not in found:
            raise UserError(f"{path} brings {split}_negatives but no {split}_edges (the positives they go with)")
    return found


def _read_pairs_by_id(path: Path, node_id: np.ndarray) -> np.ndarray:
    """A two-column file of node ids as 2 × P row positions."""
    table = _pair_table(path, "it needs exactly two (source, target), one pair per line")
    if table is None:
        return np.empty((2, 0), dtype=np.int64)
    unknown = "node {}, which is not a node of the graph"
    return _positions_of_ids(table.integers("node id"), node_id, path, table, unknown)


# --- file reading -------------------------------------------------------------------------------


def _np_load(path: Path, what: str) -> object:
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


def _load_npy(path: Path) -> np.ndarray:
    array = _np_load(path, "a .npy array")
    if isinstance(array, np.lib.npyio.NpzFile):
        array.close()
        raise UserError(f"{path} is an .npz archive; a {path.name} file must be a single .npy array")
    assert isinstance(array, np.ndarray)
    if array.dtype == object:  # np.load refuses these already; kept as a guard
        raise UserError(f"{path} holds Python objects (dtype=object); save a numeric array")
    return array


def _norm(field: str) -> str:
    return field.strip().strip('"').strip().lower()


def _is_real(dtype: np.dtype) -> bool:
    return dtype == np.bool_ or np.issubdtype(dtype, np.integer) or np.issubdtype(dtype, np.floating)


def _show(value: object) -> str:
    if isinstance(value, (float, np.floating)):
        value = float(value)
        whole = np.isfinite(value) and value == int(value) and abs(value) < 1e15
        return str(int(value)) if whole else repr(value)
    if isinstance(value, (str, np.str_)):
        return repr(str(value))
    return str(value)


def _is_number(field: str) -> bool:
    text = field.strip()
    if not text or "_" in text:
        return False
    try:
        float(text)
    except ValueError:
        return False
    return True


def _is_integer(field: str) -> bool:
    if not _is_number(field):
        return False
    value = float(field)
    return value == int(value) if np.isfinite(value) else False


class _Table:
    """A delimited text file: header detection, vectorised parsing (numpy), precise errors.

    Data rows are numbered from 0 after the header, skipping empty lines (as `numpy.loadtxt`
    does); `where(row)` turns a row into "line N" of the file (a scan, only on the error path).
    """

    def __init__(self, path: Path, delimiter: str) -> None:
        self.path = path
        self.delimiter = delimiter
        self.header: list[str] | None = None
        self.skip = 0  # physical lines before the data (the header and empty lines before it)
        self.ncols = 0
        self.empty = True  # no non-empty line at all

    @classmethod
    def read(cls, path: Path, delimiter: str) -> _Table:
        """Open the file far enough to find the header and count the columns."""
        table = cls(path, delimiter)
        for number, line in table._lines():
            if not line:
                continue
            fields = table._split(line)
            if any(field and not _is_number(field) for field in fields):
                table.header = fields
                table.skip = number
            else:
                table.skip = number - 1
            table.ncols = len(fields)
            table.empty = False
            break
        return table

    def load(self, dtype: type, column: int | None = None, what: str = "number") -> np.ndarray:
        """Every data row (or one column) as a 2-D `dtype` array; malformed rows are UserErrors."""
        try:
            values = self._loadtxt(dtype, column)
        except ValueError as error:
            self._diagnose(column, what)
            raise UserError(f"{self.path} is malformed: {error}") from None
        return self._shaped(values, column)

    def integers(self, what: str) -> np.ndarray:
        """All values as int64 (whole-number floats such as `3.0` accepted)."""
        return self._integers(None, what)

    def integer_column(self, column: int, what: str) -> np.ndarray:
        return self._integers(column, what)[:, 0]

    def where(self, row: int) -> str:
        found = self._row(row)
        return f"line {found[0]}" if found else f"data row {row}"

    def token(self, row: int, column: int) -> str:
        """The text of one value, as written in the file."""
        found = self._row(row)
        if found is None:
            return ""
        fields = self._split(found[1])
        return fields[column] if column < len(fields) else ""

    # --- internals ---

    def _lines(self):
        try:
            with open(self.path, encoding="utf-8-sig") as f:
                for number, line in enumerate(f, start=1):
                    yield number, line.rstrip("\r\n")
        except UnicodeDecodeError:
            raise UserError(f"{self.path} is not a UTF-8 text file") from None
        except OSError as error:
            raise UserError(f"cannot read {self.path}: {error}") from None

    def _row(self, row: int) -> tuple[int, str] | None:
        seen = -1
        for number, line in self._lines():
            if number <= self.skip or not line:
                continue
            seen += 1
            if seen == row:
                return number, line
        return None

    def _split(self, line: str) -> list[str]:
        return [field.strip() for field in next(csv.reader([line], delimiter=self.delimiter, quotechar='"'))]

    def _loadtxt(self, dtype: type, column: int | None) -> np.ndarray:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "input contained no data"
                return np.loadtxt(
                    self.path,
                    delimiter=self.delimiter,
                    dtype=dtype,
                    ndmin=2,
                    skiprows=self.skip,
                    usecols=column,
                    quotechar='"',
                    comments=None,
                    encoding="utf-8-sig",
                )
        except UnicodeDecodeError:
            raise UserError(f"{self.path} is not a UTF-8 text file") from None

    def _shaped(self, values: np.ndarray, column: int | None) -> np.ndarray:
        if values.size == 0:
            return np.empty((0, self.ncols if column is None else 1), dtype=values.dtype)
        if column is None:
            if self.header is not None and values.shape[1] != len(self.header):
                named = len(self.header)
                hint = ""
                if named == 1:
                    sep = "tabs" if self.delimiter == "\t" else f"'{self.delimiter}'"
                    hint = f" (columns must be separated by {sep})"
                raise UserError(
                    f"{self.path}: the header (line {self.skip}) names {named} "
                    f"column{'s' if named != 1 else ''} but the rows have {values.shape[1]}{hint}"
                )
            self.ncols = values.shape[1]
        return values

    def _integers(self, column: int | None, what: str) -> np.ndarray:
        try:
            values = self._loadtxt(np.int64, column)
        except ValueError:
            # maybe written as floats ("3.0"): accept whole numbers only
            values = self.load(np.float64, column, what)
            bad = ~np.isfinite(values) | (values != np.floor(values)) | (np.abs(values) > _EXACT_FLOAT)
            if bad.any():
                r, c = np.argwhere(bad)[0]
                c = int(c) if column is None else column
                raise UserError(
                    f"{self.path} {self.where(int(r))}, column {c + 1}: {self.token(int(r), c)!r} is not an "
                    f"integer {what}"
                ) from None
            return values.astype(np.int64)
        return self._shaped(values, column)

    def _diagnose(self, column: int | None, what: str) -> None:
        """Find the first bad line and raise a UserError saying what is wrong with it."""
        expected = first = 0
        integer = what != "number"
        for number, line in self._lines():
            if number <= self.skip or not line:
                continue
            if not line.strip():
                raise UserError(f"{self.path} line {number} holds only whitespace; remove it")
            fields = self._split(line)
            if not first:
                expected, first = len(fields), number
            elif len(fields) != expected:
                hint = ""
                if self.delimiter not in line:
                    sep = "tabs" if self.delimiter == "\t" else f"'{self.delimiter}'"
                    hint = f" (columns must be separated by {sep})"
                raise UserError(
                    f"{self.path} line {number} has {len(fields)} column{'s' if len(fields) != 1 else ''} "
                    f"but line {first} has {expected}: every row needs the same number of columns{hint}"
                )
            for c in range(len(fields)) if column is None else [column]:
                if c >= len(fields):
                    continue
                field = fields[c]
                if not field:
                    raise UserError(f"{self.path} line {number}, column {c + 1} is empty")
                if integer and not _is_integer(field):
                    raise UserError(
                        f"{self.path} line {number}, column {c + 1}: {field!r} is not an integer {what}"
                    )
                if not _is_number(field):
                    raise UserError(f"{self.path} line {number}, column {c + 1}: {field!r} is not a number")
