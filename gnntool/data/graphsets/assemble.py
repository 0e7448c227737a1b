"""Arrays as a reader finds them (nodes in any order, the graph of each node) -> a `GraphSet`.

Every reader (TU folder, .npz, OGB, generated) ends here: nodes are sorted by graph (stably, so
each graph keeps its own node order) and edges by the graph they lie in; an edge joining two
graphs, or a graph without nodes, is one UserError naming the file and the place. Then the
config's `dataset.normalize_features`, `dataset.degree_features` (after it: degrees stay one-hot)
and `dataset.split` apply.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.transforms import NormalizeFeatures

from gnntool.config import DatasetConfig
from gnntool.data.graphsets.dataset import GraphSet
from gnntool.data.graphsets.folds import graph_folds, random_split
from gnntool.data.graphsets.targets import Targets
from gnntool.errors import UserError

__all__ = ["Naming", "SortedGraphs", "add_degree_features", "build", "degree_one_hot", "finish", "sort_by_graph"]


@dataclass(frozen=True)
class Naming:
    """How a reader's messages name things: the files, a node, a graph, and where an edge is."""

    edges_file: str  # where the edges are (and the edge's place: `edge(e)`)
    graphs_file: str  # where the graph of each node is
    edge: Callable[[int], str] = lambda e: f"edge {e}"
    node: Callable[[int], str] = lambda i: f"node {i}"
    graph: Callable[[int], str] = lambda g: f"graph {g}"


@dataclass
class SortedGraphs:
    """Nodes sorted by graph and edges by the graph they lie in (`edge_index` renumbered)."""

    x: np.ndarray
    edge_index: np.ndarray
    node_ptr: np.ndarray
    edge_ptr: np.ndarray
    edge_attr: np.ndarray | None


def sort_by_graph(
    x: np.ndarray,
    edge_index: np.ndarray,
    graph: np.ndarray,
    num_graphs: int,
    naming: Naming,
    edge_attr: np.ndarray | None = None,
) -> SortedGraphs:
    """Sort nodes by `graph` (0-based, one per node, already checked to lie in 0..num_graphs-1) and
    edges (2 × E over the input's node rows) by their graph; check that every graph has a node and
    no edge joins two graphs."""
    counts = np.bincount(graph, minlength=num_graphs)
    if (counts == 0).any():
        empty = int(np.flatnonzero(counts == 0)[0])
        raise UserError(
            f"{naming.graphs_file}: {naming.graph(empty)} has no nodes ({int((counts == 0).sum())} graph(s) without "
            "nodes); every graph needs at least one"
        )
    source, target = graph[edge_index[0]], graph[edge_index[1]]
    across = source != target
    if across.any():
        e = int(np.flatnonzero(across)[0])
        raise UserError(
            f"{naming.edges_file}: {naming.edge(e)} joins {naming.node(int(edge_index[0, e]))} of "
            f"{naming.graph(int(source[e]))} and {naming.node(int(edge_index[1, e]))} of "
            f"{naming.graph(int(target[e]))}; an edge must stay inside one graph"
        )
    order = np.argsort(graph, kind="stable")
    row = np.empty_like(order)
    row[order] = np.arange(len(order))
    edge_order = np.argsort(source, kind="stable")
    return SortedGraphs(
        x=x[order],
        edge_index=row[edge_index[:, edge_order]],
        node_ptr=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
        edge_ptr=np.concatenate([[0], np.cumsum(np.bincount(source, minlength=num_graphs))]).astype(np.int64),
        edge_attr=None if edge_attr is None else edge_attr[edge_order],
    )


def degree_one_hot(edge_index: Tensor, num_nodes: int, width: int) -> Tensor:
    """N × width float: each node's degree (its entries in edge_index's second row) one-hot, degrees
    of `width - 1` and more sharing the last column."""
    degree = torch.bincount(edge_index[1], minlength=num_nodes).clamp(max=width - 1)
    return torch.nn.functional.one_hot(degree, width).float()


def add_degree_features(graphs: GraphSet, width: int | None = None) -> None:
    """Append each node's degree: `width` one-hot columns to float features, or one more categorical
    column of `width` values (degrees of `width - 1` and more share the last); `width` None: the
    set's largest degree + 1. `graphs.degree_width` records it, for graphs read later."""
    degree = torch.bincount(graphs.edge_index[1], minlength=len(graphs.x))
    if width is None:
        width = int(degree.max()) + 1 if len(degree) else 1
    if graphs.node_vocab is not None:
        graphs.x = torch.cat([graphs.x, degree.clamp(max=width - 1).view(-1, 1)], dim=1)
        graphs.node_vocab = [*graphs.node_vocab, width]
    else:
        graphs.x = torch.cat([graphs.x, degree_one_hot(graphs.edge_index, len(graphs.x), width)], dim=1)
    graphs.degree_width = width


def splits_of(config: DatasetConfig, targets: Targets, seed: int) -> list[dict[str, Tensor]]:
    """The folds, or the one random split, that `config.split` asks for."""
    if config.split == "folds":
        return graph_folds(targets.y, targets.task, int(config.folds or 0), seed)
    if config.split == "random":
        return [random_split(targets.y, targets.task, config.train_frac, config.val_frac, seed)]
    raise UserError(f"dataset.split: {config.name} has no {config.split!r} split")  # pragma: no cover - schema


def _tensor(array: np.ndarray) -> Tensor:
    return torch.from_numpy(np.ascontiguousarray(array))


def finish(
    config: DatasetConfig,
    graphs: SortedGraphs,
    targets: Targets,
    seed: int,
    *,
    public: dict[str, np.ndarray] | None = None,
    node_vocab: list[int] | None = None,
    edge_vocab: list[int] | None = None,
    graph_id: np.ndarray | None = None,
) -> GraphSet:
    """The GraphSet of sorted arrays and targets, with degree features and the split the config asks
    for (`public`: the dataset's own train/val/test graph indices, for `split: public`)."""
    if config.split == "public" and public is not None:
        splits = [{part: _tensor(np.sort(ids.astype(np.int64))) for part, ids in public.items()}]
    else:
        splits = splits_of(config, targets, seed)
    graph_set = build(graphs, targets, splits, node_vocab=node_vocab, edge_vocab=edge_vocab, graph_id=graph_id)
    if config.normalize_features:
        if node_vocab is not None:
            raise UserError(f"dataset.normalize_features: {config.name}'s node features are categories, not amounts")
        graph_set.x = NormalizeFeatures()(Data(x=graph_set.x)).x  # as for every other dataset: PyG's transform
    if config.degree_features:
        add_degree_features(graph_set)
    return graph_set


def build(
    graphs: SortedGraphs,
    targets: Targets | None,
    splits: list[dict[str, Tensor]],
    *,
    node_vocab: list[int] | None = None,
    edge_vocab: list[int] | None = None,
    graph_id: np.ndarray | None = None,
) -> GraphSet:
    """The GraphSet of sorted arrays, targets (None: graphs without targets) and splits, as they are."""
    return GraphSet(
        x=_tensor(graphs.x),
        edge_index=_tensor(graphs.edge_index),
        node_ptr=_tensor(graphs.node_ptr),
        edge_ptr=_tensor(graphs.edge_ptr),
        y=None if targets is None else targets.y,
        task=None if targets is None else targets.task,
        num_outputs=0 if targets is None else targets.num_outputs,
        splits=splits,
        edge_attr=None if graphs.edge_attr is None else _tensor(graphs.edge_attr),
        node_vocab=node_vocab,
        edge_vocab=edge_vocab,
        graph_id=graph_id,
        class_names=None if targets is None else targets.class_names,
    )
