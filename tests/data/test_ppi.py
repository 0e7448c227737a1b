"""Loading PPI: shapes and splits, the raw format PyG reads, the mirror, downloads, offline errors,
malformed raw files, and the processed cache read with weights_only=True.

PPI itself cannot be downloaded here, so the tests write tiny files in PyG's raw format: per split
prefix (train, valid, test) `<s>_feats.npy` (nodes × 50), `<s>_labels.npy` (nodes × 121, 0/1),
`<s>_graph_id.npy` (train 1..20, valid 21..22, test 23..24, as in the real data) and
`<s>_graph.json`, networkx's node-link JSON ({"directed", "multigraph", "graph", "nodes": [{"id"}],
"links": [{"source", "target"}]}) whose node ids are the rows of the arrays.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import TouchesFile
from torch_geometric.datasets import PPI
from torch_geometric.utils import coalesce

from gnntool.config import DatasetConfig
from gnntool.data.dataset import GraphDataset
from gnntool.data.ppi import load_ppi, raw_file_names
from gnntool.errors import UserError

PPI_FILES = raw_file_names()
GRAPH_SIZES = {  # nodes per graph, per raw split prefix
    "train": [5, 6, 7, 8, 9, 10, 5, 6, 7, 8, 9, 10, 5, 6, 7, 8, 9, 10, 5, 6],
    "valid": [6, 7],
    "test": [5, 8],
}
FIRST_GRAPH_ID = {"train": 1, "valid": 21, "test": 23}
FEATURES, LABELS = 50, 121


def write_ppi(raw: Path, *, isolated_first: bool = False, minimal_json: bool = False, seed: int = 0) -> dict:
    """The 12 raw files in `raw`; returns, per prefix, each graph's expected local edge set.

    Each graph is a ring (both directions) plus a self-loop and a repeated link (both dropped or
    merged by the reader); the JSON lists the nodes in a shuffled order. `isolated_first`: the
    first node of the first training graph has no edge. `minimal_json`: only "nodes" (without
    "id": a node's id is then its position) and "links", as networkx also accepts.
    """
    rng = np.random.default_rng(seed)
    raw.mkdir(parents=True, exist_ok=True)
    expected = {}
    for prefix, sizes in GRAPH_SIZES.items():
        n = sum(sizes)
        np.save(raw / f"{prefix}_feats.npy", rng.random((n, FEATURES)))
        np.save(raw / f"{prefix}_labels.npy", rng.integers(0, 2, (n, LABELS)))
        first = FIRST_GRAPH_ID[prefix]
        np.save(raw / f"{prefix}_graph_id.npy", np.repeat(np.arange(first, first + len(sizes)), sizes))
        links, expected[prefix], offset = [], [], 0
        for g, size in enumerate(sizes):
            ring = list(range(1 if isolated_first and prefix == "train" and g == 0 else 0, size))
            pairs = [(ring[i], ring[(i + 1) % len(ring)]) for i in range(len(ring))]
            links += [(offset + u, offset + v) for u, v in pairs]
            links += [(offset + ring[1], offset + ring[1]), (offset + ring[1], offset + ring[0])]
            expected[prefix].append({(u, v) for u, v in pairs} | {(v, u) for u, v in pairs})
            offset += size
        order = rng.permutation(n).tolist() if not minimal_json else list(range(n))
        if minimal_json:
            graph = {"nodes": [{} for _ in order], "links": [{"source": u, "target": v} for u, v in links]}
        else:
            graph = {
                "directed": False,
                "multigraph": False,
                "graph": {},
                "nodes": [{"id": i, "val": prefix == "valid", "test": prefix == "test"} for i in order],
                "links": [{"source": u, "target": v} for u, v in links],
            }
        (raw / f"{prefix}_graph.json").write_text(json.dumps(graph))
    return expected


def ppi(root: Path, normalize_features: bool = True) -> DatasetConfig:
    return DatasetConfig.model_construct(name="PPI", root=str(root), normalize_features=normalize_features)


def raw_of(root: Path) -> Path:
    return root / "PPI" / "raw"




@pytest.fixture(scope="module")
def ppi_root(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("ppi-root")
    return root, write_ppi(raw_of(root))


def edge_set(edge_index: torch.Tensor) -> set[tuple[int, int]]:
    return set(map(tuple, edge_index.t().tolist()))


def test_shapes_and_splits(ppi_root: tuple[Path, dict]) -> None:
    root, expected = ppi_root
    dataset = load_ppi(ppi(root), seed=0)
    assert isinstance(dataset, GraphDataset)
    assert dataset.multilabel and (dataset.num_features, dataset.num_classes) == (FEATURES, LABELS)
    assert [len(dataset.splits[s]) for s in ("train", "val", "test")] == [20, 2, 2]
    parts = dataset.splits["train"] + dataset.splits["val"] + dataset.splits["test"]
    assert [p.graph for p in parts] == dataset.graphs  # train, then val, then test graphs
    sizes = GRAPH_SIZES["train"] + GRAPH_SIZES["valid"] + GRAPH_SIZES["test"]
    edges = expected["train"] + expected["valid"] + expected["test"]
    raw = raw_of(root)
    all_x = {p: np.load(raw / f"{p}_feats.npy") for p in GRAPH_SIZES}
    all_y = {p: np.load(raw / f"{p}_labels.npy") for p in GRAPH_SIZES}
    for part, size, want in zip(parts, sizes, edges):
        g = part.graph
        assert g.x.shape == (size, FEATURES) and g.x.dtype == torch.float32
        assert g.y.shape == (size, LABELS) and g.y.dtype == torch.float32
        assert set(g.y.unique().tolist()) <= {0.0, 1.0}
        assert g.edge_index.dtype == torch.long and g.edge_index.is_contiguous()
        assert edge_set(g.edge_index) == want and g.edge_index.size(1) == len(want)  # no loops, no repeats
        assert torch.equal(g.edge_index, coalesce(g.edge_index, num_nodes=size))  # sorted by (source, target)
        assert part.mask.dtype == torch.bool and part.mask.shape == (size,) and bool(part.mask.all())
    # rows in file order: graph k of a split holds the next `size` rows of that split's arrays
    for prefix, split in (("train", "train"), ("valid", "val"), ("test", "test")):
        x = torch.cat([p.graph.x for p in dataset.splits[split]])
        y = torch.cat([p.graph.y for p in dataset.splits[split]])
        assert torch.equal(x, torch.from_numpy(all_x[prefix]).float())
        assert torch.equal(y, torch.from_numpy(all_y[prefix]).float())


def test_normalize_features_is_ignored(ppi_root: tuple[Path, dict]) -> None:
    root, _ = ppi_root
    a = load_ppi(ppi(root, normalize_features=True), seed=0)
    b = load_ppi(ppi(root, normalize_features=False), seed=1)
    for ga, gb in zip(a.graphs, b.graphs):
        assert torch.equal(ga.x, gb.x)


def test_isolated_first_node(tmp_path: Path) -> None:
    # PyG's PPI.process subtracts the smallest node id that has an edge, which would shift every
    # edge of this graph by one; nodes are numbered by their rank in the graph instead.
    expected = write_ppi(raw_of(tmp_path), isolated_first=True)
    graph = load_ppi(ppi(tmp_path), seed=0).graphs[0]
    assert edge_set(graph.edge_index) == expected["train"][0]
    assert 0 not in graph.edge_index


def test_graph_without_edges(tmp_path: Path) -> None:
    # PyG's PPI.process fails on such a graph (min() of an empty tensor)
    write_ppi(raw_of(tmp_path))
    _rewrite_json(
        raw_of(tmp_path) / "valid_graph.json",
        lambda g: g.update(links=[e for e in g["links"] if min(e["source"], e["target"]) >= 6]),
    )
    val = load_ppi(ppi(tmp_path), seed=0).splits["val"]
    assert val[0].graph.edge_index.shape == (2, 0) and val[0].graph.num_nodes == 6
    assert val[1].graph.edge_index.size(1) == 14


@pytest.mark.parametrize("minimal_json", [False, True])
def test_same_graphs_as_pyg(tmp_path: Path, minimal_json: bool) -> None:
    pytest.importorskip("networkx")  # PyG's own PPI.process needs it; ours does not
    write_ppi(raw_of(tmp_path / "ours"), minimal_json=minimal_json)
    shutil.copytree(tmp_path / "ours", tmp_path / "pyg")
    ours = load_ppi(ppi(tmp_path / "ours"), seed=0)
    for split in ("train", "val", "test"):
        theirs = list(PPI(str(tmp_path / "pyg" / "PPI"), split=split))
        assert len(theirs) == len(ours.splits[split])
        for part, graph in zip(ours.splits[split], theirs):
            assert torch.equal(part.graph.x, graph.x) and torch.equal(part.graph.y, graph.y)
            # the same edges: ours sorted by (source, target), PyG's in networkx's set order
            assert torch.equal(part.graph.edge_index, coalesce(graph.edge_index, num_nodes=graph.num_nodes))


def test_networkx_is_not_needed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "networkx", None)  # `import networkx` now fails
    write_ppi(raw_of(tmp_path))
    assert len(load_ppi(ppi(tmp_path), seed=0).graphs) == 24


def test_mirror(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_ppi(raw_of(tmp_path / "mirror"))
    root = tmp_path / "root"
    monkeypatch.setenv("GNNTOOL_MIRROR", str(tmp_path / "mirror"))
    monkeypatch.setenv("GNNTOOL_OFFLINE", "1")  # the mirror needs no network
    assert len(load_ppi(ppi(root), seed=0).graphs) == 24
    assert sorted(os.listdir(raw_of(root))) == sorted(PPI_FILES)  # all 12 copied, no partial files
    for file in PPI_FILES:
        assert (raw_of(root) / file).read_bytes() == (raw_of(tmp_path / "mirror") / file).read_bytes()


def test_mirror_missing_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_ppi(raw_of(tmp_path / "mirror"))
    (raw_of(tmp_path / "mirror") / "valid_graph.json").unlink()
    root = tmp_path / "root"
    monkeypatch.setenv("GNNTOOL_MIRROR", str(tmp_path / "mirror"))
    with pytest.raises(UserError, match="GNNTOOL_MIRROR") as info:
        load_ppi(ppi(root), seed=0)
    assert "valid_graph.json" in str(info.value)
    assert not root.exists()  # nothing half-copied


def test_missing_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GNNTOOL_OFFLINE", "1")
    with pytest.raises(UserError) as info:
        load_ppi(ppi(tmp_path), seed=0)
    message = str(info.value)
    assert str(raw_of(tmp_path)) in message
    assert len(PPI_FILES) == 12 and all(file in message for file in PPI_FILES)
    assert "train_feats.npy" in message and "test_labels.npy" in message
    assert "GNNTOOL_MIRROR" in message and "PPI/raw/train_feats.npy" in message
    assert PPI.url in message and "network" in message
    assert list(tmp_path.iterdir()) == []


def test_partial_raw_folder_lists_only_what_is_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_ppi(raw_of(tmp_path))
    (raw_of(tmp_path) / "test_graph_id.npy").unlink()
    monkeypatch.setenv("GNNTOOL_OFFLINE", "1")
    with pytest.raises(UserError, match="test_graph_id.npy") as info:
        load_ppi(ppi(tmp_path), seed=0)
    assert "train_feats.npy" not in str(info.value)


def test_download_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(PPI, "url", "http://127.0.0.1:9/ppi.zip")  # a closed port: no network
    started = time.monotonic()
    with pytest.raises(UserError) as info:
        load_ppi(ppi(tmp_path), seed=0)
    assert time.monotonic() - started < 10
    message = str(info.value)
    assert "download failed" in message and str(raw_of(tmp_path)) in message
    assert "train_feats.npy" in message and "GNNTOOL_MIRROR" in message
    assert list(tmp_path.iterdir()) == []  # no partial download, not even the folders


def test_download_unzips_pyg_archive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # PyG's PPI.download (download_url + extract_zip) from a local zip laid out like ppi.zip
    write_ppi(tmp_path / "files")
    archive = tmp_path / "server" / "ppi.zip"
    archive.parent.mkdir()
    with zipfile.ZipFile(archive, "w") as zf:
        for file in PPI_FILES:
            zf.write(tmp_path / "files" / file, file)
    monkeypatch.setattr(PPI, "url", archive.as_uri())
    root = tmp_path / "root"
    assert len(load_ppi(ppi(root), seed=0).graphs) == 24
    assert sorted(os.listdir(raw_of(root))) == sorted(PPI_FILES)  # no zip, no scratch folder left


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:60])


def _resave(path: Path, change) -> None:
    np.save(path, change(np.load(path)))


def _rewrite_json(path: Path, change) -> None:
    graph = json.loads(path.read_text())
    change(graph)
    path.write_text(json.dumps(graph))


def _set(array: np.ndarray, index, value) -> np.ndarray:
    array = array.astype(np.float64)
    array[index] = value
    return array


MALFORMED = {
    "truncated npy": ("train_feats.npy", _truncate, "not a readable .npy"),
    "pickled npy": (
        "train_labels.npy",
        lambda p: np.save(p, np.array([{"a": 1}] * 3, dtype=object), allow_pickle=True),
        "not a readable .npy",
    ),
    "labels rows": ("valid_labels.npy", lambda p: _resave(p, lambda a: a[:-1]), "rows"),
    "labels not 0/1": ("test_labels.npy", lambda p: _resave(p, lambda a: _set(a, (0, 0), 2)), "0 or 1"),
    "NaN features": ("train_feats.npy", lambda p: _resave(p, lambda a: _set(a, (3, 4), np.nan)), "NaN"),
    "feature width": ("valid_feats.npy", lambda p: _resave(p, lambda a: a[:, :49]), "columns"),
    "graph id length": ("train_graph_id.npy", lambda p: _resave(p, lambda a: a[1:]), "ids"),
    "graph id gap": ("train_graph_id.npy", lambda p: _resave(p, lambda a: np.where(a >= 5, a + 1, a)), "consecutive"),
    "json syntax": ("train_graph.json", lambda p: p.write_text('{"nodes": ['), "JSON"),
    "json not node-link": ("test_graph.json", lambda p: p.write_text('{"edges": []}'), "node-link"),
    "json node count": ("valid_graph.json", lambda p: _rewrite_json(p, lambda g: g["nodes"].pop()), "nodes"),
    "json node id": ("train_graph.json", lambda p: _rewrite_json(p, lambda g: g["nodes"][0].update(id="a")), "id"),
    "json link end": (
        "test_graph.json",
        lambda p: _rewrite_json(p, lambda g: g["links"].append({"source": 0, "target": 10_000})),
        "link",
    ),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_raw_file(tmp_path: Path, case: str) -> None:
    file, corrupt, words = MALFORMED[case]
    write_ppi(raw_of(tmp_path))
    corrupt(raw_of(tmp_path) / file)
    with pytest.raises(UserError, match=words) as info:
        load_ppi(ppi(tmp_path), seed=0)
    assert str(raw_of(tmp_path) / file) in str(info.value)
    processed = tmp_path / "PPI" / "processed"
    assert not processed.exists() or list(processed.iterdir()) == []  # no cache from bad data


def test_processed_cache_is_reused_and_read_safely(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_ppi(raw_of(tmp_path))
    first = load_ppi(ppi(tmp_path), seed=0)
    processed = tmp_path / "PPI" / "processed"
    assert sorted(os.listdir(processed)) == ["test.pt", "train.pt", "val.pt"]  # no partial files
    stamps = {p.name: p.stat().st_mtime_ns for p in processed.iterdir()}
    for file in PPI_FILES:  # the cache, not the raw files, is read the second time
        (raw_of(tmp_path) / file).write_bytes(b"corrupt")
    calls = []
    real_load = torch.load

    def spy(*args, **kwargs):
        calls.append(kwargs.get("weights_only"))
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    second = load_ppi(ppi(tmp_path), seed=0)
    assert len(calls) >= 3 and all(flag is True for flag in calls)
    assert {p.name: p.stat().st_mtime_ns for p in processed.iterdir()} == stamps
    for a, b in zip(first.graphs, second.graphs, strict=True):
        for key in ("x", "y", "edge_index"):
            assert torch.equal(a[key], b[key])


def test_hostile_processed_files_are_not_unpickled(tmp_path: Path) -> None:
    # PyG 2.8.1 would run these: fs.torch_load retries with weights_only=False, and
    # Dataset._process reads pre_transform.pt / pre_filter.pt with weights_only=False.
    write_ppi(raw_of(tmp_path))
    processed = tmp_path / "PPI" / "processed"
    processed.mkdir()
    markers = []
    for name in ("train.pt", "val.pt", "test.pt", "pre_transform.pt", "pre_filter.pt"):
        markers.append(tmp_path / f"pwned-{name}")
        torch.save(TouchesFile(markers[-1]), processed / name)
    assert len(load_ppi(ppi(tmp_path), seed=0).graphs) == 24
    assert not any(marker.exists() for marker in markers)
    for name in ("train.pt", "val.pt", "test.pt"):  # rebuilt from the raw files, safe to load
        assert isinstance(torch.load(processed / name, weights_only=True), tuple)
