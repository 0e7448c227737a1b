"""`dataset: {name: tu, path: DIR}`: a folder in the TU Dortmund graph collection's layout.

Every file is `DIR/<NAME>_<part>.txt` with one NAME (found from `<NAME>_graph_indicator.txt`):
`_A.txt` (`row, col` per line: 1-based node ids over all graphs), `_graph_indicator.txt` (the
1-based graph of each node), `_graph_labels.txt` (one class per graph), and optionally
`_node_labels.txt` (one-hot into the features), `_node_attributes.txt` (real features),
`_edge_labels.txt` (one-hot) and `_edge_attributes.txt` (together: `edge_attr`), and
`_graph_attributes.txt` (real values: regression targets, which then replace the labels).

A set with neither node labels nor attributes gets the constant feature 1. Every mismatch is one
UserError naming the file and the line (`docs/graph-level.md` lists them).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gnntool.config import DatasetConfig
from gnntool.data.graphfile.validate import not_whole
from gnntool.data.graphsets.assemble import Naming, SortedGraphs, finish, sort_by_graph
from gnntool.data.graphsets.dataset import GraphSet
from gnntool.data.graphsets.targets import Targets, class_targets, regression_targets
from gnntool.errors import UserError

__all__ = ["find_name", "load_tu", "read_table", "read_tu", "read_tu_graphs"]

INDICATOR = "_graph_indicator.txt"


def _line(row: int) -> str:
    return f"line {row + 1}"


def find_name(folder: Path) -> str:
    """The NAME of the one `<NAME>_graph_indicator.txt` in `folder`."""
    if not folder.is_dir():
        raise UserError(f"{folder}: not a folder (dataset.path of a TU-format set is the folder of its .txt files)")
    names = sorted(path.name.removesuffix(INDICATOR) for path in folder.glob(f"*{INDICATOR}"))
    if len(names) != 1:
        found = "none" if not names else ", ".join(f"{name}{INDICATOR}" for name in names)
        raise UserError(
            f"{folder}: a TU-format folder holds exactly one <NAME>{INDICATOR} (found: {found}); "
            "see docs/graph-level.md#layouts"
        )
    return names[0]


def read_table(path: Path, integers: bool, columns: int | None = None) -> np.ndarray:
    """A comma-separated text file of numbers, one row per line, as a 2-D int64 (`integers`) or
    float32 array; a bad line is a UserError naming the file and the line."""
    import pandas as pd

    options = {"header": None, "sep": ",", "skipinitialspace": True, "skip_blank_lines": False}
    try:
        try:  # the fast path: every value a number
            values = pd.read_csv(path, dtype=np.float64, **options).to_numpy()
            text = None
        except ValueError:  # not numbers somewhere: read as text, to name the line
            text = pd.read_csv(path, dtype=str, keep_default_na=False, **options).to_numpy()
            values = np.stack([pd.to_numeric(text[:, c], errors="coerce") for c in range(text.shape[1])], axis=1)
    except pd.errors.EmptyDataError:
        raise UserError(f"{path}: empty (a TU file has one line per item)") from None
    except pd.errors.ParserError as exc:  # a line with more values than the first
        raise UserError(f"{path}: not comma-separated rows of equal length ({str(exc).strip()})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read: {exc}") from None
    values = values.astype(np.float64)
    end = len(values)
    while end and np.isnan(values[end - 1]).all() and (text is None or (text[end - 1] == "").all()):
        end -= 1  # blank lines at the end
    values = values[:end]
    if columns is not None and values.shape[1] != columns:
        raise UserError(f"{path}: {values.shape[1]} values per line; expected {columns}")
    bad = ~np.isfinite(values) | (not_whole(values) if integers else False)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        if text is None:  # read it again as text, to show the value as written
            text = pd.read_csv(path, dtype=str, keep_default_na=False, **options).to_numpy()
        shown = text[row, col].strip() or "nothing"
        kind = "an integer" if integers else "a finite number"
        raise UserError(f"{path}: {_line(int(row))} has {shown!r} in column {int(col) + 1}; expected {kind}")
    return values.astype(np.int64) if integers else values.astype(np.float32)


def _count_must_match(path: Path, table: np.ndarray, expected: int, of: str) -> None:
    if len(table) != expected:
        raise UserError(f"{path}: {len(table)} lines; expected {expected}, one per {of}")


def _one_hot(labels: np.ndarray) -> np.ndarray:
    """Each integer column one-hot over its own sorted values, the columns side by side (float32)."""
    blocks = []
    for column in labels.T:
        values, index = np.unique(column, return_inverse=True)
        blocks.append(np.eye(len(values), dtype=np.float32)[index.reshape(-1)])
    return np.concatenate(blocks, axis=1)


def _optional_features(folder: Path, name: str, kind: str, count: int, of: str) -> np.ndarray | None:
    """`<NAME>_<kind>_labels.txt` one-hot and `_<kind>_attributes.txt` side by side, or None without both."""
    blocks = []
    for part, integers in (("labels", True), ("attributes", False)):
        path = folder / f"{name}_{kind}_{part}.txt"
        if path.is_file():
            table = read_table(path, integers)
            _count_must_match(path, table, count, of)
            blocks.append(_one_hot(table) if integers else table)
    return np.concatenate(blocks, axis=1) if blocks else None


def _targets(folder: Path, name: str, num_graphs: int) -> Targets | None:
    """Regression targets from `_graph_attributes.txt`, else classes from `_graph_labels.txt`, else None."""
    attributes, labels = folder / f"{name}_graph_attributes.txt", folder / f"{name}_graph_labels.txt"
    if attributes.is_file():
        path, table = attributes, read_table(attributes, integers=False)
    elif labels.is_file():
        path, table = labels, read_table(labels, integers=True, columns=1)
    else:
        return None
    _count_must_match(path, table, num_graphs, f"graph ({num_graphs} in {name}{INDICATOR})")
    if path == attributes:
        return regression_targets(table, str(path), _line)
    return class_targets(table, str(path), _line)


def read_tu_graphs(folder: Path) -> tuple[SortedGraphs, Targets | None, np.ndarray]:
    """The graphs of the TU-format folder sorted by graph, their targets (None without a graph label
    or attribute file) and their ids (1-based, as the files count them)."""
    name = find_name(folder)
    indicator_path, edges_path = folder / f"{name}{INDICATOR}", folder / f"{name}_A.txt"
    if not edges_path.is_file():
        raise UserError(f"{folder}: no {edges_path.name} (the edges: `row, col` per line, 1-based node ids)")
    graph = read_table(indicator_path, integers=True, columns=1).reshape(-1)
    if (graph < 1).any():
        row = int(np.flatnonzero(graph < 1)[0])
        raise UserError(f"{indicator_path}: {_line(row)} names graph {int(graph[row])}; graph ids start at 1")
    num_nodes, num_graphs = len(graph), int(graph.max())
    edges = read_table(edges_path, integers=True, columns=2) if edges_path.stat().st_size else np.zeros((0, 2), int)
    outside = (edges < 1) | (edges > num_nodes)
    if outside.any():
        row, col = np.argwhere(outside)[0]
        raise UserError(
            f"{edges_path}: {_line(int(row))} names node {int(edges[row, col])}; {indicator_path.name} has "
            f"{num_nodes} nodes (ids 1..{num_nodes})"
        )
    x = _optional_features(folder, name, "node", num_nodes, f"node ({num_nodes} in {indicator_path.name})")
    if x is None:
        x = np.ones((num_nodes, 1), dtype=np.float32)
    edge_attr = _optional_features(folder, name, "edge", len(edges), f"edge ({len(edges)} in {edges_path.name})")
    targets = _targets(folder, name, num_graphs)
    naming = Naming(str(edges_path), str(indicator_path), edge=_line, node=lambda i: f"node {i + 1}",
                    graph=lambda g: f"graph {g + 1}")  # fmt: skip
    sorted_graphs = sort_by_graph(x, edges.T - 1, graph - 1, num_graphs, naming, edge_attr)
    return sorted_graphs, targets, np.arange(1, num_graphs + 1)


def read_tu(folder: Path, config: DatasetConfig, seed: int) -> GraphSet:
    """The TU-format set in `folder`, split as `config` says."""
    graphs, targets, graph_id = read_tu_graphs(folder)
    if targets is None:
        name = find_name(folder)
        raise UserError(
            f"{folder}: neither {name}_graph_labels.txt (classes) nor {name}_graph_attributes.txt (regression targets)"
        )
    return finish(config, graphs, targets, seed, graph_id=graph_id)


def load_tu(config: DatasetConfig, seed: int) -> GraphSet:
    """`dataset.name: tu`: the folder at `dataset.path`."""
    return read_tu(Path(str(config.path)).expanduser(), config, seed)
