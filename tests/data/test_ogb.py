"""OGB node datasets: the real loader on small files written in OGB's own raw format."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from gnntool.config import DatasetConfig
from gnntool.data import load_dataset
from gnntool.data.ogb import ogb_spec
from gnntool.errors import UserError

REPO = Path(__file__).resolve().parents[2]
NODES, FEATURES, CLASSES = 60, 8, 40


def write_csv_gz(path: Path, rows: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = np.asarray(rows)
    rows = rows.reshape(len(rows), -1)
    with gzip.open(path, "wt") as handle:
        for row in rows:
            handle.write(",".join(str(value) for value in row) + "\n")


def write_split(folder: Path, split: str, nodes: int, rng: np.random.Generator) -> None:
    order = rng.permutation(nodes)
    parts = np.split(order, [nodes // 2, 3 * nodes // 4])
    for name, part in zip(("train", "valid", "test"), parts):
        write_csv_gz(folder / "split" / split / f"{name}.csv.gz", np.sort(part))


def make_arxiv(root: Path, seed: int = 0) -> Path:
    """A small ogbn-arxiv in OGB's layout: directed citations, 8 features, labels of 40 classes
    that the features and the neighbours both predict."""
    rng = np.random.default_rng(seed)
    folder = root / "ogbn_arxiv"
    y = rng.integers(0, 4, NODES)  # 4 of arxiv's 40 classes in use
    centroids = rng.normal(size=(CLASSES, FEATURES))
    x = centroids[y] + 0.5 * rng.normal(size=(NODES, FEATURES))
    same = np.array([rng.choice(np.flatnonzero(y == y[v])) for v in range(NODES) for _ in range(3)])
    edges = np.stack([np.repeat(np.arange(NODES), 3), same], axis=1)
    edges = edges[edges[:, 0] != edges[:, 1]]
    write_csv_gz(folder / "raw" / "edge.csv.gz", edges)
    write_csv_gz(folder / "raw" / "node-feat.csv.gz", np.round(x, 6))
    write_csv_gz(folder / "raw" / "node-label.csv.gz", y)
    write_csv_gz(folder / "raw" / "num-node-list.csv.gz", [NODES])
    write_csv_gz(folder / "raw" / "num-edge-list.csv.gz", [len(edges)])
    write_csv_gz(folder / "raw" / "node_year.csv.gz", rng.integers(1990, 2020, NODES))  # OGB ships it; unused
    write_split(folder, "time", NODES, rng)
    return folder


def make_proteins(root: Path) -> Path:
    rng = np.random.default_rng(1)
    folder = root / "ogbn_proteins"
    edges = np.array([[0, 1], [1, 2], [2, 3], [0, 3], [4, 5]] + [[v, v + 1] for v in range(5, 39)])
    write_csv_gz(folder / "raw" / "edge.csv.gz", edges)
    write_csv_gz(folder / "raw" / "edge-feat.csv.gz", np.round(rng.random((len(edges), 8)), 3))
    write_csv_gz(folder / "raw" / "node-label.csv.gz", rng.integers(0, 2, (40, 112)))
    write_csv_gz(folder / "raw" / "num-node-list.csv.gz", [40])
    write_csv_gz(folder / "raw" / "num-edge-list.csv.gz", [len(edges)])
    write_csv_gz(folder / "raw" / "node_species.csv.gz", np.full(40, 3702))
    write_split(folder, "species", 40, rng)
    return folder


def make_papers(root: Path) -> Path:
    rng = np.random.default_rng(2)
    folder = root / "ogbn_papers100M"
    (folder / "raw").mkdir(parents=True)
    edges = np.array([[0, 1, 2, 3, 4], [1, 2, 3, 4, 0]])
    np.savez(
        folder / "raw" / "data.npz",
        edge_index=edges, num_nodes_list=np.array([6]), num_edges_list=np.array([5]),
        node_feat=rng.random((6, 4)).astype(np.float32), node_year=np.arange(6).reshape(6, 1),
    )  # fmt: skip
    label = np.array([[3.0], [1.0], [np.nan], [171.0], [0.0], [2.0]])
    np.savez(folder / "raw" / "node-label.npz", node_label=label)
    for name, nodes in (("train", [0, 1]), ("valid", [3]), ("test", [4, 5])):
        write_csv_gz(folder / "split" / "time" / f"{name}.csv.gz", nodes)
    return folder


def config(name: str, root: Path, **options) -> DatasetConfig:
    return DatasetConfig(name=name, root=str(root), **options)


def test_arxiv_loads_with_ogb_split_and_undirected_edges(tmp_path: Path) -> None:
    folder = make_arxiv(tmp_path)
    dataset = load_dataset(config("ogbn-arxiv", tmp_path), 0)
    (graph,) = dataset.graphs
    assert dataset.num_classes == CLASSES and dataset.num_features == FEATURES and not dataset.multilabel
    raw = np.loadtxt(gzip.open(folder / "raw" / "edge.csv.gz"), delimiter=",", dtype=np.int64)
    pairs = {(int(s), int(t)) for s, t in raw} | {(int(t), int(s)) for s, t in raw}
    assert {tuple(edge) for edge in graph.edge_index.t().tolist()} == pairs  # both ways, once each
    train = np.loadtxt(gzip.open(folder / "split" / "time" / "train.csv.gz"), dtype=np.int64)
    assert torch.equal(graph.train_mask.nonzero().view(-1), torch.from_numpy(np.sort(train)))
    directed = load_dataset(config("ogbn-arxiv", tmp_path, to_undirected=False), 0).graphs[0]
    assert {tuple(edge) for edge in directed.edge_index.t().tolist()} == {(int(s), int(t)) for s, t in raw}
    assert (folder / "gnntool" / "undirected" / "x.npy").is_file()  # one .npy per array
    assert (folder / "gnntool" / "directed" / "edge_index.npy").is_file()


def test_cache_is_npy_read_without_pickles_and_mmap(tmp_path: Path, monkeypatch) -> None:
    make_arxiv(tmp_path)
    first = load_dataset(config("ogbn-arxiv", tmp_path), 0).graphs[0]
    from gnntool.data import ogb

    monkeypatch.setattr(ogb, "read_raw", lambda *a: pytest.fail("raw files read again: the cache was not used"))
    monkeypatch.setattr(torch, "load", lambda *a, **k: pytest.fail("torch.load on the cache"))
    again = load_dataset(config("ogbn-arxiv", tmp_path, mmap_features=True), 0).graphs[0]
    assert torch.equal(again.x, first.x) and torch.equal(again.edge_index, first.edge_index)
    maps = Path("/proc/self/maps").read_text()
    assert str(tmp_path / "ogbn_arxiv" / "gnntool" / "undirected" / "x.npy") in maps  # features mapped, not read in


def test_proteins_features_are_mean_incident_edge_features(tmp_path: Path) -> None:
    folder = make_proteins(tmp_path)
    dataset = load_dataset(config("ogbn-proteins", tmp_path), 0)
    graph = dataset.graphs[0]
    assert dataset.multilabel and dataset.num_classes == 112 and graph.y.shape == (40, 112)
    edges = np.loadtxt(gzip.open(folder / "raw" / "edge.csv.gz"), delimiter=",", dtype=np.int64)
    feats = np.loadtxt(gzip.open(folder / "raw" / "edge-feat.csv.gz"), delimiter=",", dtype=np.float32)
    incident = [(edges == 0).any(1), (edges == 39).any(1)]
    np.testing.assert_allclose(graph.x[0].numpy(), feats[incident[0]].mean(0), rtol=1e-5)
    np.testing.assert_allclose(graph.x[39].numpy(), feats[incident[1]].mean(0), rtol=1e-5)
    assert graph.edge_index.size(1) == 2 * len(edges)  # OGB adds the reverse of every edge
    logits = torch.randn(40, 112)
    scores = dataset.scorer(logits, graph.y)
    assert set(scores) == {"auc"} and 0.0 <= scores["auc"] <= 1.0


def test_papers100m_binary_layout(tmp_path: Path) -> None:
    make_papers(tmp_path)
    dataset = load_dataset(config("ogbn-papers100M", tmp_path), 0)
    graph = dataset.graphs[0]
    assert dataset.num_classes == 172 and graph.num_nodes == 6
    assert graph.y.tolist() == [3, 1, -1, 171, 0, 2]  # the unlabelled node, outside the split
    assert graph.edge_index.size(1) == 10  # to_undirected: true by default


def test_missing_ogb_names_the_install_command(tmp_path: Path, monkeypatch) -> None:
    make_arxiv(tmp_path)
    monkeypatch.setitem(sys.modules, "ogb.nodeproppred", None)
    with pytest.raises(UserError, match=r"pip install 'gnntool\[ogb\]'"):
        load_dataset(config("ogbn-arxiv", tmp_path), 0)


def test_missing_file_lists_every_file_and_the_folder(tmp_path: Path, monkeypatch) -> None:
    folder = make_arxiv(tmp_path)
    (folder / "split" / "time" / "valid.csv.gz").unlink()
    monkeypatch.setenv("GNNTOOL_OFFLINE", "1")
    with pytest.raises(UserError) as error:
        load_dataset(config("ogbn-arxiv", tmp_path), 0)
    assert "split/time/valid.csv.gz" in str(error.value) and str(folder) in str(error.value)


def test_missing_files_come_from_the_mirror(tmp_path: Path, monkeypatch) -> None:
    make_arxiv(tmp_path / "mirror")
    monkeypatch.setenv("GNNTOOL_MIRROR", str(tmp_path / "mirror"))
    dataset = load_dataset(config("ogbn-arxiv", tmp_path / "data"), 0)
    assert dataset.graphs[0].num_nodes == NODES
    assert (tmp_path / "data" / "ogbn_arxiv" / "split" / "time" / "test.csv.gz").is_file()


def corrupt_truncated(folder: Path) -> Path:
    path = folder / "raw" / "node-feat.csv.gz"
    path.write_bytes(path.read_bytes()[:-40])
    return path


def corrupt_columns(folder: Path) -> Path:
    path = folder / "raw" / "edge.csv.gz"
    write_csv_gz(path, np.array([[0, 1, 2], [1, 2, 3]]))
    return path


def corrupt_split(folder: Path) -> Path:
    path = folder / "split" / "time" / "test.csv.gz"
    write_csv_gz(path, [1, 2, NODES + 5])
    return path


def corrupt_ragged(folder: Path) -> Path:
    path = folder / "raw" / "edge.csv.gz"
    with gzip.open(path, "wt") as handle:
        handle.write("0,1\n1,2,3\n")
    return path


@pytest.mark.parametrize("corrupt", [corrupt_truncated, corrupt_columns, corrupt_split, corrupt_ragged])
def test_bad_raw_file_exits_2_naming_it(tmp_path: Path, runner, corrupt) -> None:
    from gnntool.cli import app

    folder = make_arxiv(tmp_path)
    bad = corrupt(folder)
    result = runner.invoke(
        app,
        [
            "train",
            str(REPO / "configs" / "sage_arxiv.yaml"),
            "--set",
            f"dataset.root={tmp_path}",
            "--out",
            str(tmp_path / "run"),
        ],
    )
    assert result.exit_code == 2, result.output
    assert str(bad) in result.output and "Traceback" not in result.output


def test_config_keys() -> None:
    assert DatasetConfig(name="OGBN-ARXIV").name == "ogbn-arxiv"
    assert DatasetConfig(name="ogbn-products").to_undirected is True
    assert DatasetConfig(name="ogbn-proteins", to_undirected=True).to_undirected is True
    for listed_once in ("ogbn-products", "ogbn-proteins"):  # the loader adds every reverse: false cannot hold
        with pytest.raises(ValueError, match="to_undirected: false cannot apply to " + listed_once):
            DatasetConfig(name=listed_once, to_undirected=False)
    assert DatasetConfig(name="ogbn-arxiv", to_undirected=False).to_undirected is False
    with pytest.raises(ValueError, match="split"):
        DatasetConfig(name="ogbn-arxiv", split="random")
    with pytest.raises(ValueError, match="to_undirected"):
        DatasetConfig(name="Cora", to_undirected=True)
    with pytest.raises(ValueError, match="mmap_features"):
        DatasetConfig(name="Cora", mmap_features=True)


def test_importing_ogb_starts_no_version_check() -> None:
    """ogb 1.3.6 starts a thread asking PyPI for its latest version at import: ours must not."""
    code = (
        "import socket, threading\n"
        "def refuse(*a, **k): raise SystemExit('network used')\n"
        "socket.socket.connect = refuse; socket.create_connection = refuse\n"
        "from gnntool.data.ogb import import_ogb\n"
        "import_ogb()\n"
        "import os; assert os.environ['OUTDATED_IGNORE'] == '1'\n"
        "print(sorted(t.name for t in threading.enumerate()))\n"
    )
    env = {key: value for key, value in os.environ.items() if key != "OUTDATED_IGNORE"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['MainThread']" and "out of date" not in done.stderr


@pytest.mark.slow
def test_sage_arxiv_config_trains_and_scores_with_ogb_evaluator(tmp_path: Path, runner, monkeypatch) -> None:
    """The shipped config, pointed at a small folder in ogbn-arxiv's layout, writes a run directory."""
    from gnntool.cli import app

    make_arxiv(tmp_path / "data")
    calls = []
    import ogb.nodeproppred

    original = ogb.nodeproppred.Evaluator.eval
    monkeypatch.setattr(
        ogb.nodeproppred.Evaluator, "eval", lambda self, d: calls.append(self.name) or original(self, d)
    )
    run = tmp_path / "run"
    result = runner.invoke(
        app,
        ["train", str(REPO / "configs" / "sage_arxiv.yaml"), "--out", str(run),
         "--set", f"dataset.root={tmp_path / 'data'}", "--set", "train.epochs=20", "--set", "model.hidden=32"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["test"]["accuracy"] > 0.5  # features and neighbours both tell the class
    assert set(calls) == {"ogbn-arxiv"} and len(calls) >= 20 + 3
    for name in ("config.yaml", "model.pt", "embeddings.npy", "history.csv", "run.json"):
        assert (run / name).is_file()
    assert "val_accuracy" in (run / "history.csv").read_text().splitlines()[0]
    assert np.load(run / "embeddings.npy").shape == (NODES, 32)


def test_ogb_spec_reads_ogbs_table() -> None:
    spec = ogb_spec("ogbn-products")
    assert spec.split == "sales_ranking" and spec.add_inverse_edge and spec.num_classes == 47
    assert ogb_spec("ogbn-papers100M").files()[:2] == ("raw/data.npz", "raw/node-label.npz")
