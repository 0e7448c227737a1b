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

Modules: `npz.py` (the .npz archive and .npy arrays), `folder.py` (a folder of files),
`text_table.py` (csv/tsv tables, the number test and the id → row lookup, shared with
`gnntool.engine.link.pairs`), `validate.py` (the checks both formats share), `graph.py` (`GraphFile`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gnntool.data.graphfile.folder import EDGE_FILES, FEATURE_FILES, LABEL_FILES, read_folder, read_folder_held_out
from gnntool.data.graphfile.graph import GraphFile
from gnntool.data.graphfile.npz import read_npz, read_npz_held_out
from gnntool.errors import UserError

__all__ = ["GraphFile", "read_graph", "read_held_out_edges"]

HELD_OUT = ("val_edges", "test_edges", "val_negatives", "test_negatives")


def read_graph(path: Path | str, num_features: int | None = None) -> GraphFile:
    """Read and validate a graph from an .npz file or a folder; see the module docstring.

    `num_features`, when given, is the feature width the model was trained on: a file with
    another width is refused.
    """
    path = Path(path)
    if not path.exists():
        raise UserError(f"graph file {path} does not exist")
    if path.is_dir():
        return read_folder(path, num_features)
    if path.suffix.lower() == ".npz":
        return read_npz(path, num_features)
    hint = ""
    if path.name in FEATURE_FILES + EDGE_FILES + LABEL_FILES:
        hint = f" (to read a folder of csv/npy files, give the folder {path.parent}, not one file in it)"
    raise UserError(
        f"graph file {path} is neither an .npz file nor a folder{hint}; "
        "give an .npz with x and edge_index, or a folder with features.npy|csv and edges.csv|tsv"
    )


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
        found = read_folder_held_out(path, node_id, HELD_OUT)
    else:
        found = read_npz_held_out(path, len(node_id), HELD_OUT)
    for split in ("val", "test"):
        if f"{split}_negatives" in found and f"{split}_edges" not in found:
            raise UserError(f"{path} brings {split}_negatives but no {split}_edges (the positives they go with)")
    return found
