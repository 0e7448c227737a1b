"""Edge splits for link prediction (RandomLinkSplit semantics), negatives, and held-out edges
brought by a graph file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch_geometric.data import Data
from torch_geometric.transforms import RandomLinkSplit
from torch_geometric.utils import to_undirected

from gnntool.data import edge_split
from gnntool.data.edge_split import (
    NegativeSampler,
    distinct_negatives,
    edge_keys,
    split_edges,
    split_held_out,
)
from gnntool.data.graphfile import read_graph, read_held_out_edges
from gnntool.errors import UserError


def random_graph(n: int, m: int, seed: int, undirected: bool) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    edges = torch.randint(0, n, (2, m), generator=g)
    return to_undirected(edges, num_nodes=n) if undirected else edges


def pair_set(pairs: torch.Tensor, undirected: bool) -> set[tuple[int, int]]:
    return {(min(u, v), max(u, v)) if undirected else (u, v) for u, v in pairs.t().tolist()}


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("undirected", [True, False])
def test_split_partitions_the_edges_and_holds_out_both_directions(undirected: bool) -> None:
    n = 60
    edge_index = random_graph(n, 300, 1, undirected)
    split = split_edges(edge_index, n, 0.1, 0.2, gen())
    assert split.undirected is undirected
    everything = pair_set(edge_index[:, edge_index[0] != edge_index[1]], undirected)
    train, val, test = (pair_set(p, undirected) for p in (split.train_pos, split.val_pos, split.test_pos))
    assert train | val | test == everything and len(train) + len(val) + len(test) == len(everything)
    assert (len(val), len(test)) == (int(0.1 * len(everything)), int(0.2 * len(everything)))
    assert split.train_pos.size(1) == len(train)  # each pair once
    if undirected:
        assert bool((split.train_pos[0] < split.train_pos[1]).all())
    message = set(map(tuple, split.edge_index.t().tolist()))
    directed_train = {(u, v) for u, v in train} | ({(v, u) for u, v in train} if undirected else set())
    assert message == directed_train  # held-out edges left in both directions
    with_val = set(map(tuple, split.test_edge_index.t().tolist()))
    assert with_val == directed_train | {(u, v) for u, v in val} | ({(v, u) for u, v in val} if undirected else set())
    full = set(map(tuple, edge_index.t().tolist()))
    for pos, neg in ((split.val_pos, split.val_neg), (split.test_pos, split.test_neg)):
        assert neg.shape == pos.shape
        assert not any((u, v) in full or u == v for u, v in neg.t().tolist())
    negatives = torch.cat([split.val_neg, split.test_neg], 1)
    assert len(pair_set(negatives, undirected)) == negatives.size(1)  # distinct (unordered if undirected)


def test_split_is_fixed_by_the_generator() -> None:
    edge_index = random_graph(50, 200, 2, True)
    a, b, c = (split_edges(edge_index, 50, 0.1, 0.1, gen(s)) for s in (3, 3, 4))
    assert all(torch.equal(getattr(a, f), getattr(b, f)) for f in ("edge_index", "val_pos", "val_neg", "test_neg"))
    assert not torch.equal(a.val_pos, c.val_pos)


def test_counts_match_pyg_random_link_split() -> None:
    edge_index = random_graph(80, 400, 5, True)
    edge_index = edge_index[:, edge_index[0] != edge_index[1]]  # PyG would hold out self-loops too
    ours = split_edges(edge_index, 80, 0.05, 0.1, gen())
    theirs = RandomLinkSplit(num_val=0.05, num_test=0.1, is_undirected=True, add_negative_train_samples=False)
    train, val, test = theirs(Data(edge_index=edge_index, num_nodes=80))
    assert ours.val_pos.size(1) == int(val.edge_label.sum()) and ours.val_neg.size(1) == int(
        (val.edge_label == 0).sum()
    )
    assert ours.test_pos.size(1) == int(test.edge_label.sum())
    assert ours.edge_index.size(1) == train.edge_index.size(1)
    assert ours.test_edge_index.size(1) == test.edge_index.size(1)


@pytest.mark.parametrize(
    "val, test, phrase",
    [
        (0.5, 0.5, "sum to less than 1"),
        (-0.1, 0.2, "≥ 0"),
        (0.001, 0.1, "val split is empty"),
        (0.1, 0.0, "test split is empty"),
    ],
)
def test_bad_fractions(val: float, test: float, phrase: str) -> None:
    with pytest.raises(UserError, match=phrase):
        split_edges(random_graph(30, 60, 0, True), 30, val, test, gen())


def test_no_training_edges_left() -> None:
    edge_index = torch.tensor([[0, 1], [1, 0]])
    with pytest.raises(UserError, match="training edges remain"):
        split_edges(edge_index, 3, 0.6, 0.4, gen())
    with pytest.raises(UserError, match="has no edges"):
        split_edges(torch.tensor([[0], [0]]), 3, 0.1, 0.1, gen())  # a self-loop only


def test_too_dense_for_negatives() -> None:
    complete = torch.tensor([(u, v) for u in range(4) for v in range(4) if u != v]).t()
    with pytest.raises(UserError, match="non-edges"):
        split_edges(complete, 4, 0.2, 0.2, gen())
    with pytest.raises(UserError, match="complete"):
        NegativeSampler(complete, 4)


@pytest.mark.parametrize("enumerate_all", [True, False])
def test_distinct_negatives_are_uniform(monkeypatch: pytest.MonkeyPatch, enumerate_all: bool) -> None:
    if not enumerate_all:
        monkeypatch.setattr(edge_split, "_ENUMERATE_PAIRS", 0)  # the rejection path
    full = edge_keys(torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]]), 4)  # path 0-1-2, node 3 alone
    counts: dict[tuple[int, int], int] = {}
    for seed in range(400):
        for pair in distinct_negatives(full, 4, 2, gen(seed), undirected=True).t().tolist():
            counts[tuple(pair)] = counts.get(tuple(pair), 0) + 1
    assert set(counts) == {(0, 2), (0, 3), (1, 3), (2, 3)}  # the 4 unordered non-edges, u < v
    assert max(counts.values()) < 1.25 * min(counts.values())  # each drawn ~200 times


def test_negative_sampler_avoids_edges_and_is_repeatable() -> None:
    edge_index = random_graph(20, 120, 7, False)
    sampler = NegativeSampler(edge_index, 20)
    pairs = sampler(5000, gen(1))
    edges = set(map(tuple, edge_index.t().tolist()))
    assert pairs.shape == (2, 5000) and not any((u, v) in edges or u == v for u, v in pairs.t().tolist())
    assert torch.equal(pairs, sampler(5000, gen(1))) and not torch.equal(pairs, sampler(5000, gen(2)))
    hits = torch.bincount(pairs[0] * 20 + pairs[1], minlength=400).float()
    allowed = hits[
        torch.tensor(
            [u * 20 + v not in {a * 20 + b for a, b in edges} and u != v for u in range(20) for v in range(20)]
        )
    ]
    assert allowed.min() > 0  # every non-edge can be drawn


# --- held-out edges brought by the graph ----------------------------------------------------------


@pytest.mark.parametrize("listed", [True, False])
def test_held_out_edges_leave_the_message_graph(listed: bool) -> None:
    n = 40
    edge_index = random_graph(n, 150, 3, True)
    reference = split_edges(edge_index, n, 0.1, 0.1, gen())
    given = reference.test_edge_index if not listed else edge_index
    if not listed:  # the file lists only training + validation edges ... and test edges apart
        given = torch.cat([reference.edge_index, reference.val_pos, reference.val_pos.flip(0)], 1)
    held = {"val_edges": reference.val_pos, "test_edges": reference.test_pos, "test_negatives": reference.test_neg}
    split = split_held_out(given, n, held, gen(1))
    assert split.undirected
    assert pair_set(split.edge_index, True) == pair_set(reference.edge_index, True)
    assert torch.equal(split.test_neg, reference.test_neg)
    full = set(map(tuple, edge_index.t().tolist()))
    assert split.val_neg.shape == reference.val_pos.shape
    assert not any((u, v) in full or u == v for u, v in split.val_neg.t().tolist())


def test_held_out_errors() -> None:
    edge_index = random_graph(20, 60, 3, True)
    val = edge_index[:, :2]
    with pytest.raises(UserError, match="no test_edges"):
        split_held_out(edge_index, 20, {"val_edges": val}, gen())
    bad_negatives = {"val_edges": val, "test_edges": val, "val_negatives": edge_index[:, 5:6]}
    with pytest.raises(UserError, match="val_negatives hold pair .* an edge of the graph"):
        split_held_out(edge_index, 20, bad_negatives, gen())
    everything = {"val_edges": edge_index, "test_edges": edge_index}
    with pytest.raises(UserError, match="no training edges"):
        split_held_out(edge_index, 20, everything, gen())


def test_read_held_out_from_npz_and_folder(tmp_path: Path) -> None:
    x = np.zeros((5, 2), dtype=np.float32)
    edges = np.array([[0, 1, 2], [1, 2, 3]])
    np.savez(tmp_path / "g.npz", x=x, edge_index=edges, val_edges=np.array([[3], [4]]), test_edges=np.array([[0], [4]]))
    held = read_held_out_edges(tmp_path / "g.npz", read_graph(tmp_path / "g.npz").node_id)
    assert set(held) == {"val_edges", "test_edges"} and held["val_edges"].tolist() == [[3], [4]]

    root = tmp_path / "folder"
    root.mkdir()
    (root / "features.csv").write_text("id,a\n10,0\n20,1\n30,2\n40,3\n")
    (root / "edges.csv").write_text("10,20\n20,30\n")
    (root / "val_edges.csv").write_text("source,target\n30,40\n")
    (root / "test_edges.tsv").write_text("40\t10\n")
    (root / "test_negatives.csv").write_text("20,40\n")
    held = read_held_out_edges(root, read_graph(root).node_id)
    assert held["val_edges"].tolist() == [[2], [3]] and held["test_negatives"].tolist() == [[1], [3]]
    assert (
        read_held_out_edges(tmp_path / "g.npz", np.arange(5)) != {}
        and read_held_out_edges(_plain(tmp_path), np.arange(2)) == {}
    )


def _plain(tmp_path: Path) -> Path:
    np.savez(tmp_path / "plain.npz", x=np.zeros((2, 1)), edge_index=np.array([[0], [1]]))
    return tmp_path / "plain.npz"


@pytest.mark.parametrize(
    "files, phrase",
    [
        ({"val_edges.csv": "1,99\n"}, r"val_edges.csv line 1 names node 99, which is not a node"),
        ({"val_edges.csv": "1,2,3\n"}, "val_edges.csv has 3 columns"),
        ({"val_edges.csv": "1,2\n1,x2\n"}, "val_edges.csv line 2"),
        ({"val_negatives.csv": "1,2\n"}, "val_negatives but no val_edges"),
        ({"test_edges.csv": "1,2\n", "test_edges.tsv": "1\t2\n"}, "holds both test_edges.csv and test_edges.tsv"),
    ],
)
def test_folder_held_out_errors(tmp_path: Path, files: dict[str, str], phrase: str) -> None:
    root = tmp_path / "g"
    root.mkdir()
    np.save(root / "features.npy", np.zeros((3, 1)))
    for name, text in files.items():
        (root / name).write_text(text)
    with pytest.raises(UserError, match=phrase):
        read_held_out_edges(root, np.arange(3))


@pytest.mark.parametrize(
    "array, phrase",
    [(np.array([[0, 1]]), r"array val_edges\) must have shape \(2, edges\)"), (np.array([[0], [7]]), "out of range")],
)
def test_npz_held_out_errors(tmp_path: Path, array: np.ndarray, phrase: str) -> None:
    np.savez(tmp_path / "g.npz", x=np.zeros((3, 1)), edge_index=np.array([[0], [1]]), val_edges=array)
    with pytest.raises(UserError, match=phrase):
        read_held_out_edges(tmp_path / "g.npz", np.arange(3))
