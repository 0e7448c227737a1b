"""`dataset.name: graphs`: many graphs in one .npz, nodes in any order, every kind of target."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gnntool.config import validate
from gnntool.data import load_dataset
from gnntool.errors import UserError


def load(path: Path, seed: int = 0, **keys: object):
    config = validate({"dataset": {"name": "graphs", "path": str(path), "split": "random", **keys}})
    return load_dataset(config.dataset, seed)


def write(path: Path, **arrays: np.ndarray) -> Path:
    np.savez(path, **arrays)
    return path


def three_graphs(tmp_path: Path, **extra: np.ndarray) -> Path:
    """Graphs 0 (nodes 0, 3), 1 (nodes 1, 4, 5), 2 (node 2): nodes interleaved across graphs."""
    arrays = {
        "x": np.arange(12, dtype=np.float32).reshape(6, 2),
        "edge_index": np.array([[0, 3, 1, 4, 4, 5], [3, 0, 4, 1, 5, 4]]),
        "graph": np.array([0, 1, 2, 0, 1, 1]),
        "y": np.array([7, -1, 7]),
        "edge_attr": np.arange(6, dtype=np.float32),
    }
    return write(tmp_path / "g.npz", **{**arrays, **extra})


def test_nodes_are_sorted_by_graph_and_edges_follow(tmp_path: Path) -> None:
    graphs = load(three_graphs(tmp_path, graph_id=np.array(["a", "b", "c"])))
    assert graphs.node_ptr.tolist() == [0, 2, 5, 6] and graphs.edge_ptr.tolist() == [0, 2, 6, 6]
    # node rows 0, 3 | 1, 4, 5 | 2 -> the x rows of the original nodes in that order
    assert graphs.x[:, 0].tolist() == [0, 6, 2, 8, 10, 4]
    assert graphs.edge_index.tolist() == [[0, 1, 2, 3, 3, 4], [1, 0, 3, 2, 4, 3]]
    assert graphs.edge_attr.view(-1).tolist() == [0, 1, 2, 3, 4, 5]
    assert graphs.task == "classes" and graphs.y.tolist() == [1, 0, 1] and graphs.class_names.tolist() == [-1, 7]
    assert graphs.graph_id.tolist() == ["a", "b", "c"] and graphs.num_outputs == 2


def test_the_data_decides_the_task(tmp_path: Path) -> None:
    multi = np.array([[0, 1], [np.nan, 0], [1, 1]], dtype=np.float32)
    graphs = load(three_graphs(tmp_path, y=multi))
    assert graphs.task == "multilabel" and graphs.num_outputs == 2 and torch.isnan(graphs.y[1, 0])
    graphs = load(three_graphs(tmp_path, y=np.array([0.5, 1.5, -2.0])))
    assert graphs.task == "regression" and graphs.y.shape == (3, 1)
    with pytest.raises(UserError, match=r"array y\): target nan at row 1, column 1"):
        load(three_graphs(tmp_path, y=np.array([0.5, np.nan, -2.0])))


def test_without_x_every_node_gets_a_constant_feature(tmp_path: Path) -> None:
    path = three_graphs(tmp_path)
    arrays = dict(np.load(path))
    del arrays["x"]
    graphs = load(write(tmp_path / "nox.npz", **arrays))
    assert torch.equal(graphs.x, torch.ones(6, 1))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"edge_index": np.array([[0, 1], [3, 3]]), "edge_attr": np.ones(2)},
            r"array edge_index\): column 1 joins node 1 of graph 1 and node 3 of graph 0",
        ),
        ({"graph": np.array([0, 2, 2, 0, 2, 2])}, r"array graph\): graph 1 has no nodes"),
        ({"graph": np.array([0, 1, 3, 0, 1, 1])}, r"holds graph 3 at row 2; y has 3 rows: graphs 0..2"),
        ({"x": np.ones((5, 2))}, r"array x\) has 5 rows; array graph names the graph of 6 nodes"),
        ({"edge_attr": np.ones(4)}, r"array edge_attr\) must have one row per edge \(6\)"),
        ({"graph_id": np.array([1, 1, 2])}, "duplicate graph id 1"),
        ({"edge_index": np.array([[0, 9], [3, 0]]), "edge_attr": np.ones(2)}, "node position 9"),
    ],
)
def test_bad_archives_are_one_user_error_naming_the_array(tmp_path: Path, change: dict, message: str) -> None:
    with pytest.raises(UserError, match=message):
        load(three_graphs(tmp_path, **change))


def test_missing_arrays_are_named(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="has no graph array"):
        load(write(tmp_path / "bad.npz", x=np.ones((2, 1)), edge_index=np.zeros((2, 0), dtype=np.int64)))
    with pytest.raises(UserError, match="has no y array: training needs one target row per graph"):
        load(write(tmp_path / "noy.npz", edge_index=np.zeros((2, 0), dtype=np.int64), graph=np.array([0, 1, 1])))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sizes=st.lists(st.integers(1, 6), min_size=3, max_size=12), seed=st.integers(0, 1000))
def test_any_node_order_gives_the_same_graphs(tmp_path: Path, sizes: list[int], seed: int) -> None:
    """Shuffling the nodes of an archive (and renumbering its edges) changes nothing after sorting,
    as long as each graph keeps its own node order."""
    rng = np.random.default_rng(seed)
    graph = np.repeat(np.arange(len(sizes)), sizes)
    start = np.concatenate([[0], np.cumsum(sizes)])
    pairs = [(a, b) for a in range(max(sizes)) for b in range(max(sizes)) if a != b]
    edges = [(start[g] + a, start[g] + b) for g, n in enumerate(sizes) for a, b in pairs if max(a, b) < n]
    edges = np.array([edge for edge in edges if rng.random() < 0.5], dtype=np.int64).reshape(-1, 2).T
    x = rng.normal(size=(len(graph), 3)).astype(np.float32)
    y = rng.integers(0, 2, len(sizes))
    ordered = load(write(tmp_path / "a.npz", x=x, edge_index=edges, graph=graph, y=y))
    shuffle = rng.permutation(len(graph))
    position = np.empty_like(shuffle)
    position[shuffle] = np.arange(len(shuffle))
    mixed = load(write(tmp_path / "b.npz", x=x[shuffle], edge_index=position[edges], graph=graph[shuffle], y=y))
    assert torch.equal(mixed.node_ptr, ordered.node_ptr) and torch.equal(mixed.edge_ptr, ordered.edge_ptr)
    # the shuffle may reorder a graph's nodes: compare its feature rows as sets, and edges by their ends' rows
    for g in range(len(sizes)):
        a, b = (slice(int(s.node_ptr[g]), int(s.node_ptr[g + 1])) for s in (ordered, mixed))
        assert sorted(map(tuple, ordered.x[a].tolist())) == sorted(map(tuple, mixed.x[b].tolist()))

    def edge_rows(s):
        ends = torch.cat([s.x[s.edge_index[0]], s.x[s.edge_index[1]]], dim=1)
        return sorted(map(tuple, ends.tolist()))

    assert edge_rows(ordered) == edge_rows(mixed)
    assert (mixed.graph_of_node()[mixed.edge_index[0]] == mixed.graph_of_edge()).all()


def test_unseen_graphs_need_no_targets_and_get_no_split(tmp_path: Path) -> None:
    from gnntool.data.graphsets.assemble import degree_one_hot
    from gnntool.data.graphsets.unseen import read_graph_set

    path = write(tmp_path / "u.npz", edge_index=np.array([[0, 2], [2, 0]]), graph=np.array([1, 0, 1]),
                 graph_id=np.array([10, 20]))  # fmt: skip
    graphs = read_graph_set(path)
    assert graphs.y is None and graphs.task is None and graphs.splits == [] and graphs.num_outputs == 0
    assert graphs.node_ptr.tolist() == [0, 1, 3] and graphs.edge_index.tolist() == [[1, 2], [2, 1]]
    assert graphs.output_ids().tolist() == [10, 20]
    # degrees at a trained width: 0 and 1 here, a width of 2 puts degree ≥ 1 in the last column
    assert degree_one_hot(graphs.edge_index, 3, 2).tolist() == [[1, 0], [0, 1], [0, 1]]
    labelled = read_graph_set(three_graphs(tmp_path))
    assert labelled.task == "classes" and labelled.splits == [] and labelled.y.tolist() == [1, 0, 1]
    with pytest.raises(UserError, match="no such file or folder"):
        read_graph_set(tmp_path / "absent.npz")


def test_unseen_graphs_keep_the_runs_class_numbers_and_degree_width(tmp_path: Path) -> None:
    from gnntool.data.graphsets.unseen import read_graph_set

    path = three_graphs(tmp_path)  # labels 7, -1, 7; degrees 1, 1, 0, 1, 2, 1 after sorting
    graphs = read_graph_set(path, class_names=np.array([-1, 3, 7]), degree_width=2)
    assert graphs.y.tolist() == [2, 0, 2] and graphs.num_outputs == 3 and graphs.class_names.tolist() == [-1, 3, 7]
    assert graphs.num_features == 2 + 2 and graphs.degree_width == 2
    assert graphs.x[:, 2:].argmax(1).tolist() == [1, 1, 1, 1, 1, 0]  # degree 2 shares the last column
    with pytest.raises(UserError, match="label -1 is not one of the classes the model was trained on"):
        read_graph_set(path, class_names=np.array([7, 8]))
