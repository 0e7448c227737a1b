"""The TU-format reader on small folders written in exactly the TU Dortmund collection's layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gnntool.config import validate
from gnntool.data import load_dataset
from gnntool.data.graphsets.tu import find_name
from gnntool.errors import UserError


def write_lines(path: Path, rows) -> None:
    path.write_text("".join(", ".join(str(v) for v in np.atleast_1d(row)) + "\n" for row in rows))


def write_tu(folder: Path, name: str, sizes: list[int], edges: list[tuple[int, int]], labels: list[int],
             order: np.ndarray | None = None, **parts) -> Path:  # fmt: skip
    """A TU folder: graphs of `sizes` nodes, `edges` as 1-based (row, col) over all nodes, one label
    per graph; `order` permutes the nodes' lines (ids follow the lines); `parts`: extra files by
    their suffix (node_labels=..., edge_attributes=...)."""
    folder.mkdir(parents=True, exist_ok=True)
    indicator = np.repeat(np.arange(1, len(sizes) + 1), sizes)
    if order is not None:
        indicator = indicator[order]
    write_lines(folder / f"{name}_A.txt", edges)
    write_lines(folder / f"{name}_graph_indicator.txt", indicator)
    if labels is not None:
        write_lines(folder / f"{name}_graph_labels.txt", labels)
    for part, rows in parts.items():
        write_lines(folder / f"{name}_{part}.txt", rows)
    return folder


def load(folder: Path, seed: int = 0, **keys):
    config = validate({"dataset": {"name": "tu", "path": str(folder), **keys}})
    return load_dataset(config.dataset, seed)


def mutag_like(folder: Path, **parts) -> Path:
    """Graph 1: a triangle (nodes 1-3), graph 2: an edge (4-5), graph 3: a path (6-8); labels -1, 1, -1."""
    edges = [(1, 2), (2, 1), (2, 3), (3, 2), (1, 3), (3, 1), (4, 5), (5, 4), (6, 7), (7, 6), (7, 8), (8, 7)]
    return write_tu(folder, "MUTAG", [3, 2, 3], edges, [-1, 1, -1], **parts)


def test_labels_map_to_sorted_classes_and_features_concatenate(tmp_path: Path) -> None:
    folder = mutag_like(
        tmp_path / "m",
        node_labels=[0, 2, 0, 1, 1, 0, 2, 2],
        node_attributes=[[0.5, 1.0]] * 8,
        edge_labels=[0, 0, 1, 1, 0, 0, 2, 2, 0, 0, 1, 1],
    )
    graphs = load(folder, split="random")
    assert graphs.task == "classes" and graphs.y.tolist() == [0, 1, 0] and graphs.class_names.tolist() == [-1, 1]
    assert graphs.node_ptr.tolist() == [0, 3, 5, 8] and graphs.edge_ptr.tolist() == [0, 6, 8, 12]
    assert graphs.x.shape == (8, 3 + 2)  # node labels 0, 1, 2 one-hot, then the two attributes
    assert graphs.x[:, :3].argmax(1).tolist() == [0, 2, 0, 1, 1, 0, 2, 2]
    assert torch.equal(graphs.x[:, 3:], torch.tensor([[0.5, 1.0]] * 8))
    assert graphs.edge_attr.argmax(1).tolist() == [0, 0, 1, 1, 0, 0, 2, 2, 0, 0, 1, 1]
    assert graphs.edge_index[:, 6:8].tolist() == [[3, 4], [4, 3]]
    assert graphs.graph_id.tolist() == [1, 2, 3]


def test_neither_labels_nor_attributes_gives_a_constant_feature_and_degrees_on_request(tmp_path: Path) -> None:
    folder = mutag_like(tmp_path / "m")
    assert torch.equal(load(folder, split="random").x, torch.ones(8, 1))
    graphs = load(folder, split="random", degree_features=True)
    assert graphs.x[:, 1:].argmax(1).tolist() == [2, 2, 2, 1, 1, 1, 2, 1]


def test_normalized_features_sum_to_one_before_degrees_are_added(tmp_path: Path) -> None:
    folder = mutag_like(tmp_path / "m", node_attributes=[[0.0, 1.0, 3.0]] * 8)
    graphs = load(folder, split="random", normalize_features=True, degree_features=True)
    assert torch.allclose(graphs.x[:, :3], torch.tensor([[0.0, 0.25, 0.75]] * 8))  # PyG's NormalizeFeatures
    assert torch.equal(graphs.x[:, 3:].sum(1), torch.ones(8))


def test_graph_attributes_are_regression_targets(tmp_path: Path) -> None:
    folder = mutag_like(tmp_path / "m", graph_attributes=[[0.5, 1], [1.5, 2], [-1, 0]])
    graphs = load(folder, split="random")
    assert graphs.task == "regression" and graphs.y.tolist() == [[0.5, 1], [1.5, 2], [-1, 0]]


def test_folds_are_the_default_and_cover_every_graph(tmp_path: Path) -> None:
    sizes = [3] * 40
    edges = [(3 * g + 1, 3 * g + 2) for g in range(40)]
    graphs = load(write_tu(tmp_path / "f", "F", sizes, edges, [g % 2 for g in range(40)]))
    assert len(graphs.splits) == 10
    assert sorted(torch.cat([fold["test"] for fold in graphs.splits]).tolist()) == list(range(40))
    with pytest.raises(UserError, match="class 0 has 20"):
        load(tmp_path / "f", folds=21)


BAD = [
    ({"node_labels": [0] * 7}, "MUTAG_node_labels.txt: 7 lines; expected 8, one per node"),
    ({"node_attributes": [1.0] * 9}, "MUTAG_node_attributes.txt: 9 lines; expected 8, one per node"),
    ({"edge_labels": [0] * 11}, "MUTAG_edge_labels.txt: 11 lines; expected 12, one per edge"),
    ({"edge_attributes": [1.0] * 13}, "MUTAG_edge_attributes.txt: 13 lines; expected 12, one per edge"),
    ({"graph_labels": [1, -1]}, r"MUTAG_graph_labels.txt: 2 lines; expected 3, one per graph \(3 in"),
    ({"A": [(1, 2), (2, 9)]}, r"MUTAG_A.txt: line 2 names node 9; MUTAG_graph_indicator.txt has 8 nodes"),
    ({"A": [(1, 2), (3, 4)]}, r"MUTAG_A.txt: line 2 joins node 3 of graph 1 and node 4 of graph 2"),
    ({"graph_indicator": [1, 1, 1, 3, 3, 3, 3, 3]}, r"MUTAG_graph_indicator.txt: graph 2 has no nodes"),
    ({"graph_indicator": [1, 1, 1, 0, 2, 3, 3, 3]}, r"MUTAG_graph_indicator.txt: line 4 names graph 0"),
    ({"graph_attributes": [1.0, "nan", 2.0]}, r"MUTAG_graph_attributes.txt: line 2 has 'nan' in column 1"),
    ({"graph_labels": [1, "nan", -1]}, r"MUTAG_graph_labels.txt: line 2 has 'nan' in column 1; expected an integer"),
    ({"node_attributes": ["1.0"] * 4 + ["x"] + ["1.0"] * 3}, r"node_attributes.txt: line 5 has 'x' in column 1"),
    ({"A": [(1, 2), (2, 1, 3)]}, r"MUTAG_A.txt: not comma-separated rows of equal length"),
    ({"A": [(1, 2), 2]}, r"MUTAG_A.txt: line 2 has 'nothing' in column 2"),
]


@pytest.mark.parametrize(("files", "message"), BAD, ids=[message[:40] for _, message in BAD])
def test_bad_input_is_one_user_error_naming_file_and_line(tmp_path: Path, files: dict, message: str) -> None:
    folder = mutag_like(tmp_path / "m")
    for part, rows in files.items():
        write_lines(folder / f"MUTAG_{part}.txt", rows)
    with pytest.raises(UserError, match=message):
        load(folder, split="random")


def test_the_name_comes_from_the_files(tmp_path: Path) -> None:
    assert find_name(mutag_like(tmp_path / "m")) == "MUTAG"
    with pytest.raises(UserError, match="exactly one <NAME>_graph_indicator.txt"):
        find_name(tmp_path)
    (tmp_path / "m" / "MUTAG_graph_labels.txt").unlink()
    with pytest.raises(UserError, match="neither MUTAG_graph_labels.txt"):
        load(tmp_path / "m", split="random")
    from gnntool.data.graphsets.unseen import read_graph_set

    unseen = read_graph_set(tmp_path / "m")  # graphs to run a model on need no labels
    assert unseen.y is None and unseen.num_graphs == 3 and unseen.graph_id.tolist() == [1, 2, 3]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    sizes=st.lists(st.integers(1, 5), min_size=3, max_size=10),
    labels=st.lists(st.sampled_from([-1, 1, 3, 10]), min_size=10, max_size=10),
    data=st.data(),
)
def test_any_tu_folder_reads_back(tmp_path_factory, sizes: list[int], labels: list[int], data) -> None:
    """Random graphs with nodes in any line order: each node keeps its graph, attributes and edges."""
    folder = tmp_path_factory.mktemp("tu")
    labels = labels[: len(sizes)]
    order = np.array(data.draw(st.permutations(range(sum(sizes)))))
    graph_of_line = np.repeat(np.arange(len(sizes)), sizes)[order]
    lines_of = [np.flatnonzero(graph_of_line == g) for g in range(len(sizes))]
    edges = [(int(a) + 1, int(b) + 1) for lines in lines_of for a in lines for b in lines
             if a != b and data.draw(st.booleans())]  # fmt: skip
    attributes = np.arange(sum(sizes), dtype=float)  # line i's attribute is i: it names the node
    write_tu(folder, "RANDOM", sizes, edges, labels, order=order, node_attributes=attributes)
    graphs = load(folder, split="random")
    assert graphs.node_ptr.diff().tolist() == sizes
    assert graphs.class_names[graphs.y].tolist() == labels
    line = graphs.x[:, 0].long()
    assert graph_of_line[line.numpy()].tolist() == graphs.graph_of_node().tolist()
    read_back = sorted(zip((line[graphs.edge_index[0]] + 1).tolist(), (line[graphs.edge_index[1]] + 1).tolist()))
    assert read_back == sorted(edges)
