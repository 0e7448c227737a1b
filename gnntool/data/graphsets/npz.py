"""`dataset: {name: graphs, path: FILE.npz}`: many graphs in one .npz archive.

Arrays (read with `allow_pickle=False`):

- `edge_index` (2 × E): node rows over all graphs;
- `graph` (N,): the graph of each node, 0-based; nodes may come in any order (they are sorted by
  graph, each graph keeping its own order);
- `y` (required to train): one row per graph (G rows): a class (integers), a 0/1 matrix with NaN for missing labels
  (multi-label), or real values (regression; `gnntool.data.graphsets.targets` decides);
- optional `x` (N × F; without it every node gets the constant feature 1), `graph_id` (G unique
  ids, shown in outputs) and `edge_attr` (E × D, or E: edge features).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gnntool.config import DatasetConfig
from gnntool.data.graphfile.npz import check_edge_array, np_load, npz_array
from gnntool.data.graphfile.validate import check_features, np_col, show, whole_numbers
from gnntool.data.graphsets.assemble import Naming, SortedGraphs, finish, sort_by_graph
from gnntool.data.graphsets.dataset import GraphSet
from gnntool.data.graphsets.targets import Targets, targets_of
from gnntool.errors import UserError

__all__ = ["load_graphs_npz", "read_graphs_npz", "read_npz_graphs"]

REQUIRED = ("edge_index", "graph")  # and y, to train


def _row(r: int) -> str:
    return f"row {r}"


def read_npz_graphs(path: Path) -> tuple[SortedGraphs, Targets | None, np.ndarray | None]:
    """The graphs of the archive at `path` sorted by graph, their targets (None without `y`) and
    their ids (None without `graph_id`). Without `y` the graphs are counted by `graph_id`, else by
    the largest graph index."""
    archive = np_load(path, "an .npz archive")
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise UserError(f"{path} is a single .npy array, not an .npz archive holding {', '.join(REQUIRED)}")
    with archive:
        missing = [key for key in REQUIRED if key not in archive.files]
        if missing:
            found = ", ".join(sorted(archive.files)) or "nothing"
            raise UserError(
                f"{path} has no {' and no '.join(missing)} array (it holds: {found}); a set of graphs needs "
                "edge_index (2 × edges), graph (the graph of each node) and, to train, y (one row per graph)"
            )
        arrays = {key: npz_array(archive, path, key) for key in archive.files}
    targets = targets_of(arrays["y"], f"{path} (array y)", _row) if "y" in arrays else None
    graph_id = arrays.get("graph_id")
    if targets is not None:
        num_graphs, counted = len(targets.y), f"y has {len(targets.y)} rows"
    elif graph_id is not None:
        num_graphs, counted = len(graph_id), f"graph_id has {len(graph_id)} ids"
    else:
        num_graphs, counted = None, ""
    graph = _graph_of_nodes(arrays["graph"], num_graphs, counted, path)
    num_graphs = int(graph.max()) + 1 if num_graphs is None else num_graphs
    n = len(graph)
    if "x" in arrays:
        x = check_features(arrays["x"], f"{path} (array x)", None, _row, np_col)
        if len(x) != n:
            raise UserError(f"{path} (array x) has {len(x)} rows; array graph names the graph of {n} nodes")
    else:
        x = np.ones((n, 1), dtype=np.float32)
    edge_index = check_edge_array(arrays["edge_index"], n, path)
    edge_attr = _edge_attr(arrays["edge_attr"], edge_index.shape[1], path) if "edge_attr" in arrays else None
    if graph_id is not None:
        graph_id = _graph_ids(graph_id, num_graphs, path)
    naming = Naming(
        f"{path} (array edge_index)", f"{path} (array graph)", edge=lambda e: f"column {e}", node=lambda i: f"node {i}"
    )
    return sort_by_graph(x, edge_index, graph, num_graphs, naming, edge_attr), targets, graph_id


def read_graphs_npz(path: Path, config: DatasetConfig, seed: int) -> GraphSet:
    """The graphs of the archive at `path`, split as `config` says (`y` required)."""
    graphs, targets, graph_id = read_npz_graphs(path)
    if targets is None:
        raise UserError(f"{path} has no y array: training needs one target row per graph")
    return finish(config, graphs, targets, seed, graph_id=graph_id)


def _graph_of_nodes(graph: np.ndarray, num_graphs: int | None, counted: str, path: Path) -> np.ndarray:
    """The graph of each node: 0..num_graphs-1 (`counted` says who counts them), or any index ≥ 0."""
    name = f"{path} (array graph)"
    if graph.ndim != 1 or len(graph) == 0:
        raise UserError(f"{name} must be 1-D, the graph of each node (at least one); got shape {tuple(graph.shape)}")
    graph = whole_numbers(graph, name, _row, "graph index")
    bad = (graph < 0) if num_graphs is None else (graph < 0) | (graph >= num_graphs)
    if bad.any():
        r = int(np.flatnonzero(bad)[0])
        within = "graph indices are 0, 1, ..." if num_graphs is None else f"{counted}: graphs 0..{num_graphs - 1}"
        raise UserError(f"{name} holds graph {int(graph[r])} at row {r}; {within}")
    return graph


def _edge_attr(edge_attr: np.ndarray, num_edges: int, path: Path) -> np.ndarray:
    name = f"{path} (array edge_attr)"
    if edge_attr.ndim == 1:
        edge_attr = edge_attr.reshape(-1, 1)
    if edge_attr.ndim != 2 or len(edge_attr) != num_edges:
        raise UserError(f"{name} must have one row per edge ({num_edges}); got shape {tuple(edge_attr.shape)}")
    if num_edges == 0:
        return edge_attr.astype(np.float32)
    return check_features(edge_attr, name, None, lambda e: f"edge {e}", np_col)


def _graph_ids(ids: np.ndarray, num_graphs: int, path: Path) -> np.ndarray:
    name = f"{path} (array graph_id)"
    if ids.ndim != 1 or len(ids) != num_graphs:
        raise UserError(
            f"{name} must hold one id per graph ({num_graphs}, as y has rows); got shape {tuple(ids.shape)}"
        )
    values, counts = np.unique(ids, return_counts=True)
    if (counts > 1).any():
        raise UserError(f"{name} has duplicate graph id {show(values[counts > 1][0])}; graph ids must be unique")
    return ids


def load_graphs_npz(config: DatasetConfig, seed: int) -> GraphSet:
    """`dataset.name: graphs`: the archive at `dataset.path`."""
    return read_graphs_npz(Path(str(config.path)).expanduser(), config, seed)
