"""OGB graph property prediction: the real loader on small files written in OGB's raw layout."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import torch
from ogbg_files import ATOMS, BONDS, make_molecules, write_csv_gz
from sklearn.metrics import average_precision_score, roc_auc_score

from gnntool.config import validate
from gnntool.data import load_dataset
from gnntool.data.graphsets import ogbg
from gnntool.errors import UserError


def load(name: str, root: Path, **keys):
    return load_dataset(validate({"dataset": {"name": name, "root": str(root), **keys}}).dataset, 0)


def test_molhiv_reads_per_graph_ids_adds_reverse_bonds_and_keeps_categories(tmp_path: Path) -> None:
    folder = make_molecules(tmp_path, "ogbg-molhiv", 20, 1)
    graphs = load("ogbg-molhiv", tmp_path)
    sizes = np.loadtxt(gzip.open(folder / "raw" / "num-node-list.csv.gz"), dtype=np.int64)
    assert graphs.node_ptr.diff().tolist() == sizes.tolist()
    assert graphs.edge_ptr.diff().tolist() == (2 * (sizes - 1)).tolist()
    assert graphs.task == "multilabel" and graphs.num_outputs == 1 and graphs.y.shape == (20, 1)
    assert graphs.x.dtype == torch.long and graphs.node_vocab == ATOMS and graphs.edge_vocab == BONDS
    # graph 1's first bond joins its atoms 0 and 1, then its reverse, both with the bond's features
    start, first = int(graphs.node_ptr[1]), int(graphs.edge_ptr[1])
    assert graphs.edge_index[:, first : first + 2].tolist() == [[start, start + 1], [start + 1, start]]
    bond_x = np.loadtxt(gzip.open(folder / "raw" / "edge-feat.csv.gz"), delimiter=",", dtype=np.int64)
    assert torch.equal(graphs.edge_attr, torch.from_numpy(np.repeat(bond_x, 2, axis=0)))
    assert torch.equal(graphs.graph_of_node()[graphs.edge_index[0]], graphs.graph_of_edge())
    test = np.loadtxt(gzip.open(folder / "split" / "scaffold" / "test.csv.gz"), dtype=np.int64)
    assert len(graphs.splits) == 1 and graphs.splits[0]["test"].tolist() == sorted(test.tolist())


def test_the_evaluator_scores_auc_for_molhiv_and_ap_for_molpcba_masking_missing_labels(tmp_path: Path) -> None:
    make_molecules(tmp_path, "ogbg-molhiv", 20, 1)
    hiv = load("ogbg-molhiv", tmp_path)
    outputs = torch.randn(20, 1)
    assert hiv.scorer(outputs, hiv.y) == pytest.approx({"auc": roc_auc_score(hiv.y[:, 0], outputs[:, 0])})
    make_molecules(tmp_path, "ogbg-molpcba", 30, 128, seed=1)
    pcba = load("ogbg-molpcba", tmp_path)
    assert pcba.num_outputs == 128 and torch.isnan(pcba.y).any()
    outputs = torch.randn(30, 128)
    y = pcba.y.numpy()
    expected = []
    for task in range(128):
        known = ~np.isnan(y[:, task])
        if 0 < y[known, task].sum() < known.sum():
            expected.append(average_precision_score(y[known, task], outputs[known, task].numpy()))
    assert pcba.scorer(outputs, pcba.y) == pytest.approx({"ap": np.mean(expected)})
    assert validate({"dataset": {"name": "ogbg-molpcba"}}).dataset.split == "public"


def test_the_cache_is_used_and_degree_features_are_one_more_category(tmp_path: Path, monkeypatch) -> None:
    make_molecules(tmp_path, "ogbg-molhiv", 12, 1)
    first = load("ogbg-molhiv", tmp_path)
    monkeypatch.setattr(ogbg, "process", lambda *a: pytest.fail("raw files read again: the cache was not used"))
    again = load("ogbg-molhiv", tmp_path, degree_features=True)
    assert torch.equal(again.x[:, :-1], first.x) and again.node_vocab == [*ATOMS, 3]  # path graphs: degrees 1, 2
    assert again.x[:, -1].tolist() == torch.bincount(first.edge_index[1], minlength=len(first.x)).tolist()


def test_missing_files_are_listed(tmp_path: Path, monkeypatch) -> None:
    folder = make_molecules(tmp_path, "ogbg-molhiv", 12, 1)
    (folder / "raw" / "edge-feat.csv.gz").unlink()
    (folder / "split" / "scaffold" / "valid.csv.gz").unlink()
    monkeypatch.setenv("GNNTOOL_OFFLINE", "1")
    monkeypatch.delenv("GNNTOOL_MIRROR", raising=False)
    with pytest.raises(UserError, match=r"raw/edge-feat.csv.gz, split/scaffold/valid.csv.gz") as error:
        load("ogbg-molhiv", tmp_path)
    assert str(folder) in str(error.value)


def truncate_gzip(folder: Path) -> None:
    path = folder / "raw" / "node-feat.csv.gz"
    path.write_bytes(path.read_bytes()[:-30])


def drop_last_bond(folder: Path) -> None:
    path = folder / "raw" / "edge.csv.gz"
    rows = np.loadtxt(gzip.open(path), delimiter=",", dtype=np.int64)
    write_csv_gz(path, rows[:-1])


def bond_past_its_graph(folder: Path) -> None:
    path = folder / "raw" / "edge.csv.gz"
    rows = np.loadtxt(gzip.open(path), delimiter=",", dtype=np.int64)
    rows[0, 1] = 6  # graph 0 has at most 6 atoms: ids 0..5 at most
    write_csv_gz(path, rows)


def bad_category(folder: Path) -> None:
    path = folder / "raw" / "node-feat.csv.gz"
    rows = np.loadtxt(gzip.open(path), delimiter=",", dtype=np.int64)
    rows[2, 7] = 2
    write_csv_gz(path, rows)


@pytest.mark.parametrize(
    ("corrupt", "message"),
    [
        (truncate_gzip, r"node-feat.csv.gz: not a gzip-compressed CSV"),
        (drop_last_bond, r"edge.csv.gz: \d+ rows; .*num-edge-list.csv.gz adds up to \d+ \(truncated\?\)"),
        (bond_past_its_graph, r"edge.csv.gz: row 1 \(graph 0\) names node 6; graph 0 has \d nodes"),
        (bad_category, r"node-feat.csv.gz: row 3 holds 2 in column 8; OGB's features there are 0..1"),
    ],
)
def test_bad_files_are_one_user_error_naming_them(tmp_path: Path, corrupt, message: str) -> None:
    folder = make_molecules(tmp_path, "ogbg-molhiv", 12, 1)
    corrupt(folder)
    with pytest.raises(UserError, match=message):
        load("ogbg-molhiv", tmp_path)
