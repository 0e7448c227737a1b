"""A graph folder: `features.npy|csv`, `edges.csv|tsv`, optional `labels.npy|csv` and held-out
edge files, read with `TextTable` and checked with the validators."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from gnntool.data.graphfile.graph import GraphFile, build
from gnntool.data.graphfile.npz import load_npy
from gnntool.data.graphfile.text_table import IdLookup, TextTable, header_name
from gnntool.data.graphfile.validate import (
    check_features,
    check_labels,
    check_node_ids,
    check_positions,
    np_col,
)
from gnntool.errors import UserError

FEATURE_FILES = ("features.npy", "features.csv")
EDGE_FILES = ("edges.csv", "edges.tsv")
LABEL_FILES = ("labels.npy", "labels.csv")
_ID_LIKE = {"node_id", "nodeid", "node", "node id", "index", "idx", "name", "key", "node_index"}


def read_folder(folder: Path, num_features: int | None) -> GraphFile:
    """The graph of a folder of features, edges and (optionally) labels files."""
    features = pick(folder, FEATURE_FILES)
    edges = pick(folder, EDGE_FILES)
    labels = pick(folder, LABEL_FILES)
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
        x = check_features(load_npy(features), str(features), num_features, lambda r: f"row {r}", np_col)
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
            y = check_labels(load_npy(labels), n, str(labels), lambda r: f"row {r}", f"{features.name} has")
        else:
            table = TextTable.read(labels, ",")
            if table.header is not None and header_name(table.header[0]) in {"id"} | _ID_LIKE:
                raise UserError(
                    f"{labels} starts with an id column ('{table.header[0]}'); labels.csv has no ids: "
                    f"give one row per node in the order of {features.name} (a class id, or a 0/1 row)"
                )
            values = table.load(np.float64)
            y = check_labels(values, n, str(labels), table.where, f"{features.name} has", _text_col)

    return build(x, edge_index, y, node_id, {})


def read_folder_held_out(folder: Path, node_id: np.ndarray, names: Sequence[str]) -> dict[str, np.ndarray]:
    """The files `<name>.csv|tsv` of `names` that the folder holds, each as 2 × P row positions of
    the nodes it names by `node_id`."""
    found = {}
    for name in names:
        file = pick(folder, (f"{name}.csv", f"{name}.tsv"))
        if file is not None:
            found[name] = _read_pairs_by_id(file, node_id)
    return found


def pick(folder: Path, names: Sequence[str]) -> Path | None:
    """The one file of `names` in `folder`, None when there is none; two of them is an error."""
    present = [folder / name for name in names if (folder / name).is_file()]
    if len(present) > 1:
        raise UserError(
            f"graph folder {folder} holds both {present[0].name} and {present[1].name}; "
            "it is ambiguous which to read: keep only one of them"
        )
    return present[0] if present else None


def _text_col(c: int) -> str:
    return f"column {c + 1}"  # lines and columns of text files are 1-based, as editors show them


def _read_features_csv(path: Path, num_features: int | None) -> tuple[np.ndarray, np.ndarray | None]:
    table = TextTable.read(path, ",")
    first = header_name(table.header[0]) if table.header is not None else ""
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
    x = check_features(
        values,
        str(path),
        num_features,
        table.where,
        lambda c: _text_col(c + offset),
        lambda r, c: repr(table.token(r, c + offset)),
    )
    if ids is not None:
        ids = check_node_ids(ids, x.shape[0], f"{path} (id column)", table.where)
    return x, ids


def _pair_table(path: Path, needs: str) -> TextTable | None:
    """A two-column text file (tabs in .tsv, else commas); None when it is empty."""
    table = TextTable.read(path, "\t" if path.suffix == ".tsv" else ",")
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
        return check_positions(edges, n, str(path), table.where, f"{features.name} has")
    unknown = f"which is not in the id column of {features.name} (with an id column, edges name nodes by id)"
    return _positions_of_ids(pairs, ids, path, table, f"node id {{}}, {unknown}")


def _read_pairs_by_id(path: Path, node_id: np.ndarray) -> np.ndarray:
    """A two-column file of node ids as 2 × P row positions."""
    table = _pair_table(path, "it needs exactly two (source, target), one pair per line")
    if table is None:
        return np.empty((2, 0), dtype=np.int64)
    unknown = "node {}, which is not a node of the graph"
    return _positions_of_ids(table.integers("node id"), node_id, path, table, unknown)


def _positions_of_ids(pairs: np.ndarray, ids: np.ndarray, path: Path, table: TextTable, unknown: str) -> np.ndarray:
    """`pairs` (P × 2) of unique node `ids` as 2 × P row positions; an id not in `ids` is a
    UserError naming its line and saying `unknown.format(id)`."""
    positions, missing = IdLookup(ids).rows(pairs)
    if missing is not None:
        r, value = missing
        raise UserError(f"{path} {table.where(r)} names {unknown.format(value)}")
    return positions
