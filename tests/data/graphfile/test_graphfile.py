"""Reading users' graphs (`--graph PATH`, `dataset.name: graph`): formats, and every refusal."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from gnntool.data.graphfile import GraphFile, read_graph
from gnntool.errors import UserError

# directed (0→1 without 1→0), a self-loop (2→2), a duplicate (1→2 three times); node 3 is isolated
EDGES = np.array([[0, 1, 2, 2, 1, 1], [1, 2, 0, 2, 2, 2]])


def features(n: int = 4, width: int = 3) -> np.ndarray:
    return np.arange(n * width, dtype=np.float64).reshape(n, width) / 10


def write_npz(path: Path, **arrays) -> Path:
    arrays.setdefault("x", features())
    arrays.setdefault("edge_index", EDGES)
    np.savez(path, **arrays)
    return path


def folder(tmp_path: Path, files: dict[str, str | np.ndarray | bytes], name: str = "graph") -> Path:
    root = tmp_path / name
    root.mkdir()
    for filename, content in files.items():
        if isinstance(content, np.ndarray):
            np.save(root / filename, content)
        elif isinstance(content, bytes):
            (root / filename).write_bytes(content)
        else:
            (root / filename).write_text(content)
    return root


def fails(path: Path, *phrases: str, num_features: int | None = None) -> str:
    """read_graph refuses `path` with a UserError containing every phrase."""
    with pytest.raises(UserError) as info:
        read_graph(path, num_features)
    message = str(info.value)
    for phrase in phrases:
        assert phrase in message, message
    return message


FEATURES_CSV = "0.0,0.1,0.2\n0.3,0.4,0.5\n0.6,0.7,0.8\n0.9,1.0,1.1\n"
EDGES_CSV = "0,1\n1,2\n2,0\n2,2\n1,2\n1,2\n"


def assert_default_graph(graph: GraphFile) -> None:
    assert graph.data.x.dtype == torch.float32
    assert graph.data.x.shape == (4, 3)
    torch.testing.assert_close(graph.data.x, torch.tensor(features(), dtype=torch.float32))
    assert graph.data.edge_index.dtype == torch.int64
    assert graph.data.edge_index.tolist() == EDGES.tolist()


# --- .npz ---------------------------------------------------------------------------------------


def test_npz_minimal(tmp_path):
    graph = read_graph(write_npz(tmp_path / "g.npz"))
    assert_default_graph(graph)
    assert graph.node_id.dtype == np.int64 and graph.node_id.tolist() == [0, 1, 2, 3]
    assert not graph.has_labels and not graph.multilabel
    assert "y" not in graph.data and "train_mask" not in graph.data


def test_npz_with_labels_ids_and_masks(tmp_path):
    path = write_npz(
        tmp_path / "g.npz",
        y=np.array([0, 2, 1, 2], dtype=np.int32),
        node_id=np.array([40, 10, 30, 20]),
        train_mask=np.array([True, True, False, False]),
        val_mask=np.array([0, 0, 1, 0], dtype=np.uint8),
        test_mask=np.array([False, False, False, True]),
    )
    graph = read_graph(path, num_features=3)
    assert_default_graph(graph)  # edge_index stays row positions even with node ids
    assert graph.has_labels and not graph.multilabel
    assert graph.data.y.dtype == torch.int64 and graph.data.y.tolist() == [0, 2, 1, 2]
    assert graph.node_id.tolist() == [40, 10, 30, 20]
    assert graph.data.train_mask.dtype == torch.bool
    assert graph.data.train_mask.tolist() == [True, True, False, False]
    assert graph.data.val_mask.tolist() == [False, False, True, False]
    assert graph.data.test_mask.tolist() == [False, False, False, True]


def test_npz_multilabel_and_column_labels(tmp_path):
    multi = np.array([[1, 0, 1], [0, 0, 0], [1, 1, 1], [0, 1, 0]], dtype=np.int64)
    graph = read_graph(write_npz(tmp_path / "m.npz", y=multi))
    assert graph.has_labels and graph.multilabel
    assert graph.data.y.dtype == torch.float32 and graph.data.y.tolist() == multi.tolist()
    column = read_graph(write_npz(tmp_path / "c.npz", y=np.array([[1], [0], [3], [2]])))
    assert not column.multilabel and column.data.y.tolist() == [1, 0, 3, 2]


def test_npz_lenient_types(tmp_path):
    """Integer features, whole-number float edges and unsigned edges are accepted."""
    path = write_npz(
        tmp_path / "g.npz",
        x=np.ones((4, 2), dtype=np.int16),
        edge_index=EDGES.astype(np.float32),
        y=np.array([1.0, 0.0, 2.0, 0.0]),
    )
    graph = read_graph(path)
    assert graph.data.x.dtype == torch.float32
    assert graph.data.edge_index.dtype == torch.int64 and graph.data.edge_index.tolist() == EDGES.tolist()
    assert graph.data.y.dtype == torch.int64 and graph.data.y.tolist() == [1, 0, 2, 0]
    unsigned = read_graph(write_npz(tmp_path / "u.npz", edge_index=EDGES.astype(np.uint64)))
    assert unsigned.data.edge_index.tolist() == EDGES.tolist()


def test_edges_kept_as_given(tmp_path):
    """Directed lists, self-loops, duplicates and isolated nodes pass through unchanged."""
    graph = read_graph(write_npz(tmp_path / "g.npz", x=features(6)))  # nodes 3, 4, 5 isolated
    assert graph.data.edge_index.tolist() == EDGES.tolist()
    assert graph.data.num_nodes == 6
    no_edges = read_graph(write_npz(tmp_path / "e.npz", edge_index=np.zeros((2, 0), dtype=np.int64)))
    assert no_edges.data.edge_index.shape == (2, 0)


# --- folders ------------------------------------------------------------------------------------


def test_folder_npy_features_csv_edges(tmp_path):
    root = folder(tmp_path, {"features.npy": features(), "edges.csv": EDGES_CSV})
    graph = read_graph(root, num_features=3)
    assert_default_graph(graph)
    assert graph.node_id.tolist() == [0, 1, 2, 3] and not graph.has_labels


def test_folder_csv_features_without_header_tsv_edges_with_header(tmp_path):
    tsv = "source\ttarget\n" + EDGES_CSV.replace(",", "\t")
    graph = read_graph(folder(tmp_path, {"features.csv": FEATURES_CSV, "edges.tsv": tsv}))
    assert_default_graph(graph)
    assert graph.node_id.tolist() == [0, 1, 2, 3]


def test_folder_csv_features_with_header_no_ids(tmp_path):
    files = {"features.csv": "f0,f1,f2\n" + FEATURES_CSV, "edges.csv": "src,dst\n" + EDGES_CSV}
    graph = read_graph(folder(tmp_path, files))
    assert_default_graph(graph)
    assert graph.node_id.tolist() == [0, 1, 2, 3]


@pytest.mark.parametrize("suffix", ["csv", "tsv"])
def test_folder_ids_name_edges(tmp_path, suffix):
    ids = [40, 10, 30, 20]
    rows = "".join(f"{i},{line}\n" for i, line in zip(ids, FEATURES_CSV.splitlines()))
    sep = "," if suffix == "csv" else "\t"
    edges = "".join(f"{ids[s]}{sep}{ids[t]}\n" for s, t in EDGES.T)
    graph = read_graph(folder(tmp_path, {"features.csv": "ID,a,b,c\n" + rows, f"edges.{suffix}": edges}))
    assert_default_graph(graph)  # ids were mapped back to row positions
    assert graph.node_id.tolist() == ids


def test_folder_csv_details(tmp_path):
    """BOM, CRLF, quoted header, empty lines, spaces and whole-number floats in edges."""
    text = '\ufeff"id","a","b","c"\r\n' + "".join(
        f" {i} , {line}\r\n" for i, line in enumerate(FEATURES_CSV.splitlines())
    )
    edges = "\n" + EDGES_CSV.replace("0,1", "0.0,1.0") + "\n\n"
    text = text.replace("\r\n", "\r\n\r\n", 1)  # an empty line after the header
    graph = read_graph(folder(tmp_path, {"features.csv": text, "edges.csv": edges}))
    assert_default_graph(graph)
    assert graph.node_id.tolist() == [0, 1, 2, 3]


@pytest.mark.parametrize("edges", ["", "source,target\n", "\n\n"])
def test_folder_without_edges(tmp_path, edges):
    graph = read_graph(folder(tmp_path, {"features.csv": FEATURES_CSV, "edges.csv": edges}))
    assert graph.data.edge_index.shape == (2, 0) and graph.data.edge_index.dtype == torch.int64


@pytest.mark.parametrize(
    "labels, expected, multilabel",
    [
        (np.array([2, 0, 1, 1]), [2, 0, 1, 1], False),
        ("label\n2\n0\n1\n1\n", [2, 0, 1, 1], False),
        ("2\n0\n1.0\n1\n", [2, 0, 1, 1], False),
        ("a,b\n1,0\n0,0\n1,1\n0,1\n", [[1, 0], [0, 0], [1, 1], [0, 1]], True),
        (np.array([[1, 0], [0, 0], [1, 1], [0, 1]], dtype=bool), [[1, 0], [0, 0], [1, 1], [0, 1]], True),
    ],
)
def test_folder_labels(tmp_path, labels, expected, multilabel):
    name = "labels.npy" if isinstance(labels, np.ndarray) else "labels.csv"
    graph = read_graph(folder(tmp_path, {"features.csv": FEATURES_CSV, "edges.csv": EDGES_CSV, name: labels}))
    assert graph.has_labels and graph.multilabel == multilabel
    assert graph.data.y.dtype == (torch.float32 if multilabel else torch.int64)
    assert graph.data.y.tolist() == expected


# --- refusals: paths and layout -----------------------------------------------------------------


def test_missing_path(tmp_path):
    fails(tmp_path / "nope.npz", "nope.npz", "does not exist")


def test_neither_npz_nor_folder(tmp_path):
    path = tmp_path / "graph.json"
    path.write_text("{}")
    fails(path, "graph.json", "neither an .npz file nor a folder")
    root = folder(tmp_path, {"features.csv": FEATURES_CSV, "edges.csv": EDGES_CSV})
    fails(root / "features.csv", "give the folder")


def test_folder_missing_files(tmp_path):
    root = folder(tmp_path, {"notes.txt": "hi"})
    fails(root, str(root), "no features file (looked for features.npy, features.csv)",
          "no edges file (looked for edges.csv, edges.tsv)", "notes.txt")
    only_features = folder(tmp_path, {"features.npy": features()}, name="g2")
    message = fails(only_features, "no edges file")
    assert "no features file" not in message


@pytest.mark.parametrize(
    "files, phrase",
    [
        ({"features.npy": features(), "features.csv": FEATURES_CSV, "edges.csv": EDGES_CSV},
         "both features.npy and features.csv"),
        ({"features.csv": FEATURES_CSV, "edges.csv": EDGES_CSV, "edges.tsv": ""},
         "both edges.csv and edges.tsv"),
        ({"features.csv": FEATURES_CSV, "edges.csv": EDGES_CSV, "labels.npy": np.zeros(4, dtype=int),
          "labels.csv": "0\n0\n0\n0\n"}, "both labels.npy and labels.csv"),
    ],
)
def test_ambiguous_files(tmp_path, files, phrase):
    fails(folder(tmp_path, files), phrase, "keep only one")


# --- refusals: npz ------------------------------------------------------------------------------


def test_npz_missing_arrays(tmp_path):
    np.savez(tmp_path / "a.npz", edge_index=EDGES)
    fails(tmp_path / "a.npz", "a.npz", "has no x array")
    np.savez(tmp_path / "b.npz", x=features(), edges=EDGES)
    fails(tmp_path / "b.npz", "has no edge_index array", "edges")  # lists what it found
    np.savez(tmp_path / "c.npz", y=np.zeros(3))
    fails(tmp_path / "c.npz", "has no x and no edge_index array")


@pytest.mark.parametrize(
    "x, phrases",
    [
        (np.arange(4.0), ["array x", "must be 2-D", "(4,)"]),
        (np.array([["a", "b"], ["c", "d"]]), ["array x", "must hold numbers", "<U1"]),
        (np.zeros((0, 3)), ["array x", "has no nodes", "empty"]),
        (np.zeros((4, 0)), ["has 0 features per node"]),
    ],
)
def test_npz_bad_features(tmp_path, x, phrases):
    fails(write_npz(tmp_path / "g.npz", x=x, edge_index=np.zeros((2, 0), dtype=int)), "g.npz", *phrases)


def test_nan_and_infinite_features(tmp_path):
    x = features()
    x[1, 2] = np.nan
    x[3, 0] = np.inf
    fails(write_npz(tmp_path / "g.npz", x=x), "g.npz", "has 2 NaN or infinite feature values",
          "first at row 1, column 2")
    x = features()
    x[2, 1] = 1e300
    fails(write_npz(tmp_path / "h.npz", x=x), "h.npz", "too large for 32-bit floats", "row 2, column 1: 1e+300")


def test_feature_width_against_model(tmp_path):
    fails(write_npz(tmp_path / "g.npz", x=np.zeros((4, 32))), "g.npz",
          "has 32 features per node; the model was trained on 1433", num_features=1433)
    root = folder(tmp_path, {"features.csv": FEATURES_CSV, "edges.csv": EDGES_CSV})
    fails(root, "features.csv has 3 features per node; the model was trained on 5", num_features=5)


@pytest.mark.parametrize(
    "edge_index, phrases",
    [
        (np.zeros((3, 4), dtype=int), ["must have shape (2, edges)", "(3, 4)"]),
        (EDGES.T.copy(), ["must have shape (2, edges)", "transposed"]),
        (np.arange(4), ["must have shape (2, edges)"]),
        (np.array([[0, 1], [1.5, 2]]), ["holds 1.5 at edge 0", "must be an integer"]),
        (np.array([[0, np.nan], [1, 2]]), ["holds nan at edge 1", "must be an integer"]),
        (np.array([["0", "1"], ["1", "2"]]), ["must hold integer node positions"]),
        (np.array([[True], [False]]), ["must hold integer node positions", "bool"]),
        (np.array([[0, 1, 2], [1, 4, 9]]), ["node position 4 at edge 1", "out of range", "4 nodes", "0..3"]),
        (np.array([[0, -1], [1, 2]]), ["node position -1 at edge 1", "out of range"]),
        (np.array([[0, 1], [1, 2**63 + 5]], dtype=np.uint64), ["too large for a node position"]),
    ],
)
def test_npz_bad_edges(tmp_path, edge_index, phrases):
    fails(write_npz(tmp_path / "g.npz", edge_index=edge_index), "g.npz", "edge_index", *phrases)


def test_npz_bad_node_ids(tmp_path):
    fails(write_npz(tmp_path / "a.npz", node_id=np.array([5, 7, 9, 7])), "a.npz", "node_id",
          "duplicate node id 7 (at row 1 and row 3)")
    fails(write_npz(tmp_path / "b.npz", node_id=np.array([5, 7, 9])), "3 ids for 4 nodes")
    fails(write_npz(tmp_path / "c.npz", node_id=np.array([5, 7.5, 9, 1])), "holds 7.5 at row 1", "integer")


@pytest.mark.parametrize(
    "y, phrases",
    [
        (np.array([0, 1, 2]), ["has 3 labels, but x has 4 nodes"]),
        (np.array([0, -1, 2, 1]), ["class id -1 at row 1", "≥ 0"]),
        (np.array([0, 0.5, 2, 1]), ["holds 0.5 at row 1", "class id must be an integer"]),
        (np.array([[0, 1], [2, 0], [1, 1], [0, 0]]),
         ["neither class ids nor a 0/1 matrix", "holds 2 at row 1, column 0"]),
        (np.array([[0, 1], [np.nan, 0], [1, 1], [0, 0]]), ["neither class ids nor a 0/1 matrix", "nan"]),
        (np.zeros((4, 2, 2)), ["must be one class id per node (1-D) or a 0/1 matrix", "(4, 2, 2)"]),
        (np.array(["a", "b", "c", "d"]), ["must hold numbers"]),
    ],
)
def test_npz_bad_labels(tmp_path, y, phrases):
    fails(write_npz(tmp_path / "g.npz", y=y), "g.npz", "array y", *phrases)


def test_npz_bad_masks(tmp_path):
    fails(write_npz(tmp_path / "a.npz", train_mask=np.array([0, 1, 2])), "a.npz", "train_mask",
          "one entry per node (4)", "index lists")
    fails(write_npz(tmp_path / "b.npz", val_mask=np.array([0, 1, 2, 1])), "val_mask", "boolean mask")


class MakesDirectory:
    """Unpickling this creates a directory: the stand-in for running arbitrary code."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return (os.mkdir, (self.path,))


def test_npz_object_array_is_refused_not_run(tmp_path):
    marker = tmp_path / "pwned"
    hostile = np.array([MakesDirectory(marker), 1.0], dtype=object)
    path = write_npz(tmp_path / "g.npz", x=hostile)
    with np.load(path, allow_pickle=True) as archive:  # the payload is live...
        archive["x"]
    assert marker.is_dir()
    marker.rmdir()
    fails(path, "g.npz", "'x' holds Python objects (dtype=object)", "never unpickles")  # ...and not run
    assert not marker.exists()
    fails(write_npz(tmp_path / "y.npz", y=hostile), "'y' holds Python objects")
    assert not marker.exists()


def test_pickle_or_garbage_named_npz(tmp_path):
    marker = tmp_path / "pwned"
    disguised = tmp_path / "pickle.npz"
    disguised.write_bytes(pickle.dumps({"x": MakesDirectory(marker)}))
    fails(disguised, "pickle.npz", "unpickling, which gnntool never does")
    assert not marker.exists()
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"PK\x03\x04 this is not really a zip archive")
    fails(garbage, "garbage.npz", "not a readable")
    np.save(tmp_path / "single.npy", features())
    (tmp_path / "single.npy").rename(tmp_path / "single.npz")
    fails(tmp_path / "single.npz", "single.npz", "single .npy array")


def test_folder_npy_object_array_refused(tmp_path):
    marker = tmp_path / "pwned"
    root = folder(tmp_path, {"edges.csv": EDGES_CSV})
    np.save(root / "features.npy", np.array([MakesDirectory(marker)], dtype=object), allow_pickle=True)
    fails(root, "features.npy", "unpickling")
    assert not marker.exists()


# --- refusals: folders --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "features_csv, phrases",
    [
        ("1,2,3\n4,5\n", ["features.csv line 2 has 2 columns but line 1 has 3"]),
        ("a,b,c\n1,2,3\n\n4,5,6,7\n", ["line 4 has 4 columns but line 2 has 3"]),
        ("1,2,3\n4,abc,6\n", ["features.csv line 2, column 2: 'abc' is not a number"]),
        ("1,2,3\n4,,6\n", ["line 2, column 2 is empty"]),
        ("1 2 3\n4,5,6\n", ["the header (line 1) names 1 column but the rows have 3", "separated by ','"]),
        ("1,2\n3 4\n", ["line 2 has 1 column but line 1 has 2", "separated by ','"]),
        ("1,2,3\n   \n4,5,6\n", ["line 2 holds only whitespace"]),
        ("f0,f1\n1,2\n3,4,5\n", ["line 3 has 3 columns but line 2 has 2"]),
        ("f0,f1,f2\n1,2\n3,4\n", ["the header (line 1) names 3 columns but the rows have 2"]),
        ("1,2\nnan,3\n4,inf\n", ["features.csv has 2 NaN or infinite", "first at line 2, column 1: 'nan'"]),
        ("id,a\n7,1\n8,2e40\n", ["too large for 32-bit floats", "line 3, column 2: '2e40'"]),
        ("", ["features.csv", "has no nodes"]),
        ("a,b,c\n", ["has no nodes"]),
        ("id,a,b\n", ["has no nodes"]),
        ("id\n1\n2\n", ["has an id column but no feature columns"]),
        ("id,a\n1,0.5\n2.5,0.5\n", ["line 3, column 1: '2.5' is not an integer node id"]),
        ("id,a\nn1,0.5\nn2,0.5\n", ["line 2, column 1: 'n1' is not an integer node id"]),
        ("id,a\n1,0.5\n2,0.1\n1,0.5\n", ["duplicate node id 1 (at line 2 and line 4)"]),
        ("node_id,a\n1,0.5\n", ["first column is named 'node_id'", "name it 'id'"]),
    ],
)
def test_bad_features_csv(tmp_path, features_csv, phrases):
    fails(folder(tmp_path, {"features.csv": features_csv, "edges.csv": ""}), "features.csv", *phrases)


def test_features_csv_not_text(tmp_path):
    root = folder(tmp_path, {"features.csv": b"\xff\xfe\x00\x81binary\x00", "edges.csv": ""})
    fails(root, "features.csv", "not a UTF-8 text file")


@pytest.mark.parametrize(
    "edges, phrases",
    [
        ("0,1\n1,5\n",
         ["edges.csv names node position 5 at line 2", "out of range", "features.csv has 4 nodes", "0..3"]),
        ("src,dst\n0,1\n-1,2\n", ["node position -1 at line 3"]),
        ("0,1\n1,2.5\n", ["edges.csv line 2, column 2: '2.5' is not an integer node position"]),
        ("0,1\n1,b\n", ["line 2, column 2: 'b' is not an integer node position"]),
        ("0,1,0.5\n1,2,0.5\n", ["edges.csv has 3 columns", "exactly two (source, target)"]),
        ("0\n1\n", ["edges.csv has 1 column;"]),
        ("0,1\n1,2,3\n", ["line 2 has 3 columns but line 1 has 2"]),
        ("0,1\n1 2\n", ["line 2 has 1 column but line 1 has 2", "separated by ','"]),
    ],
)
def test_bad_edges_by_position(tmp_path, edges, phrases):
    fails(folder(tmp_path, {"features.csv": FEATURES_CSV, "edges.csv": edges}), *phrases)


def test_bad_edges_tsv_hint(tmp_path):
    root = folder(tmp_path, {"features.csv": FEATURES_CSV, "edges.tsv": "0\t1\n1,2\n"})
    fails(root, "edges.tsv line 2 has 1 column but line 1 has 2", "separated by tabs")


def test_edges_name_unknown_id(tmp_path):
    files = {"features.csv": "id,a\n10,0.1\n20,0.2\n30,0.3\n", "edges.csv": "10,20\n20,99\n"}
    fails(folder(tmp_path, files), "edges.csv line 2 names node id 99",
          "not in the id column of features.csv")
    files["edges.csv"] = "0,1\n"  # positions where ids are expected
    fails(folder(tmp_path, files, name="g2"), "names node id 0")


@pytest.mark.parametrize(
    "labels, phrases",
    [
        ("0\n1\n2\n", ["labels.csv has 3 labels, but features.csv has 4 nodes"]),
        (np.array([0, 1, 2, 3, 4]), ["labels.npy has 5 labels, but features.csv has 4 nodes"]),
        ("0\n1\n-2\n1\n", ["labels.csv holds class id -2 at line 3", "≥ 0"]),
        ("0\n1\n0.5\n1\n", ["labels.csv holds 0.5 at line 3", "class id must be an integer"]),
        ("0,1\n1,1\n0,3\n1,0\n",
         ["labels.csv is neither class ids nor a 0/1 matrix", "holds 3 at line 3, column 2"]),
        ("0\n1\ncat\n1\n", ["labels.csv line 3, column 1: 'cat' is not a number"]),
        ("0,1\n1\n0,1\n1,0\n", ["labels.csv line 2 has 1 column but line 1 has 2"]),
        ("id,label\n0,1\n1,1\n2,0\n3,1\n",
         ["labels.csv starts with an id column", "in the order of features.csv"]),
        (np.array([[[0]]] * 4), ["labels.npy must be one class id per node (1-D) or a 0/1 matrix"]),
    ],
)
def test_bad_labels_in_folder(tmp_path, labels, phrases):
    name = "labels.npy" if isinstance(labels, np.ndarray) else "labels.csv"
    fails(folder(tmp_path, {"features.csv": FEATURES_CSV, "edges.csv": EDGES_CSV, name: labels}), *phrases)


def test_bad_features_npy(tmp_path):
    fails(folder(tmp_path, {"features.npy": np.arange(3.0), "edges.csv": ""}), "features.npy must be 2-D")
    fails(folder(tmp_path, {"features.npy": np.zeros((0, 2)), "edges.csv": ""}, name="g2"),
          "features.npy has no nodes")
    root = folder(tmp_path, {"edges.csv": ""}, name="g3")
    np.savez(root / "features.npy", x=features())  # an archive under an .npy name
    (root / "features.npy.npz").rename(root / "features.npy")
    fails(root, "features.npy is an .npz archive")
