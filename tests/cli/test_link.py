"""Link prediction end to end: training (full batch and sampled), metrics, eval, embed, predict."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from conftest import DATA_ROOT

from gnntool.cli import app
from gnntool.config import validate
from gnntool.errors import UserError

N = 80  # nodes of the tiny graph: two communities, ids 100..179
METRICS = {"auc", "ap", "hits@5", "hits@10", "mrr", "loss"}


def two_communities(path: Path, held_out: bool = False) -> Path:
    rng = np.random.default_rng(0)
    community = np.arange(N) % 2
    u, v = rng.integers(0, N, (2, 600))
    keep = (u != v) & ((community[u] == community[v]) | (rng.random(600) < 0.1))
    edges = np.unique(np.stack([u[keep], v[keep]]).T, axis=0).T
    edges = np.concatenate([edges, edges[::-1]], axis=1)
    x = (np.eye(2)[community] + 0.5 * rng.normal(size=(N, 2))).astype(np.float32)
    arrays = {"x": np.concatenate([x, rng.normal(size=(N, 6)).astype(np.float32)], 1), "edge_index": edges}
    if held_out:
        first = edges[:, edges[0] < edges[1]]
        arrays |= {"val_edges": first[:, :10], "test_edges": first[:, 10:25]}
    np.savez(path, node_id=np.arange(N) + 100, **arrays)
    return path


def link_config(tmp_path: Path, graph: Path, **train) -> Path:
    config = {
        "dataset": {"name": "graph", "path": str(graph), "edge_split": {"val": 0.1, "test": 0.2}},
        "model": {"arch": "sage", "hidden": 16, "dropout": 0.0},
        "train": {"objective": "link", "epochs": 15, "hits_k": [5, 10], **train},
    }
    path = tmp_path / "link.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    from typer.testing import CliRunner

    tmp = tmp_path_factory.mktemp("link")
    run_dir = tmp / "run"
    config = link_config(tmp, two_communities(tmp / "g.npz"))
    result = CliRunner().invoke(app, ["train", str(config), "--out", str(run_dir), "-q"])
    assert result.exit_code == 0, result.output
    return run_dir


def test_metrics_per_split_and_eval_repeats_them(runner, trained: Path) -> None:
    metrics = json.loads((trained / "metrics.json").read_text())
    for split in ("train", "val", "test"):
        assert set(metrics[split]) == METRICS
    assert metrics["test"]["auc"] > 0.7  # two communities: well above chance
    again = json.loads(runner.invoke(app, ["eval", str(trained), "--json"]).stdout)
    for split in ("train", "val", "test"):
        assert again[split] == pytest.approx(metrics[split], rel=1e-5)
    history = (trained / "history.csv").read_text().splitlines()[0].split(",")
    assert "val_auc" in history and "val_hits@5" in history


def test_embed_writes_the_encoder_output(runner, trained: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["embed", str(trained), "-o", str(tmp_path / "e.csv")])
    assert result.exit_code == 0, result.output
    rows = (tmp_path / "e.csv").read_text().splitlines()
    assert len(rows) == N and rows[0].split(",")[0] == "100" and len(rows[0].split(",")) == 17


def test_predict_pairs_in_input_order(runner, trained: Path, tmp_path: Path) -> None:
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("source,target\n100,102\n179,100\n101,101\n")
    result = runner.invoke(app, ["predict", str(trained), "--pairs", str(pairs), "--format", "csv", "--header"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "source,target,score"
    assert [line.split(",")[:2] for line in lines[1:]] == [["100", "102"], ["179", "100"], ["101", "101"]]
    assert all(0.0 < float(line.split(",")[2]) < 1.0 for line in lines[1:])


def test_predict_pairs_unknown_id_names_the_line(runner, trained: Path, tmp_path: Path) -> None:
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("100\t101\n100\t5\n")
    result = runner.invoke(app, ["predict", str(trained), "--pairs", str(pairs)])
    assert result.exit_code == 2 and "line 2" in result.stderr and result.stdout == ""


def test_predict_pairs_from_stdin(trained: Path) -> None:
    command = [sys.executable, "-m", "gnntool", "predict", str(trained), "--pairs", "-"]
    done = subprocess.run(command, input="100\t101\n102\t103\n104\t999\n", capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and "line 3" in done.stderr
    assert [line.split("\t")[:2] for line in done.stdout.splitlines()] == [["100", "101"], ["102", "103"]]


def test_predict_top_k_excludes_self_and_neighbours(runner, trained: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["predict", str(trained), "--top-k", "3", "--format", "csv"])
    assert result.exit_code == 0, result.output
    rows = [line.split(",") for line in result.stdout.splitlines()]
    edges = np.load(trained.parent / "g.npz")["edge_index"] + 100
    known = set(map(tuple, edges.T.tolist()))
    assert len(rows) == 3 * N
    assert [row[3] for row in rows[:3]] == ["1", "2", "3"]
    for source, target, score, _ in rows:
        assert source != target and (int(source), int(target)) not in known and 0 < float(score) < 1
    nodes = tmp_path / "nodes.txt"
    nodes.write_text("id\n150\n101\n")
    chosen = runner.invoke(app, ["predict", str(trained), "--top-k", "2", "--nodes", str(nodes)])
    assert [line.split("\t")[0] for line in chosen.stdout.splitlines()] == ["150", "150", "101", "101"]


@pytest.mark.parametrize("k", ["-1", "0", "1.5", "x"])
def test_bad_top_k_is_exit_2(runner, trained: Path, k: str) -> None:
    result = runner.invoke(app, ["predict", str(trained), "--top-k", k])
    assert result.exit_code == 2 and "--top-k" in result.stderr


def test_predict_needs_pairs_or_top_k(runner, trained: Path) -> None:
    result = runner.invoke(app, ["predict", str(trained)])
    assert result.exit_code == 2 and "--pairs" in result.stderr


def test_sampled_training_and_mlp_top_k_refusal(runner, tmp_path: Path) -> None:
    graph = two_communities(tmp_path / "g.npz")
    config = link_config(tmp_path, graph, epochs=3, batch_size=32, fanout=[5, 5])
    run_dir = tmp_path / "run"
    result = runner.invoke(app, ["train", str(config), "--out", str(run_dir), "-q", "--set", "model.decoder=mlp"])
    assert result.exit_code == 0, result.output
    assert set(json.loads((run_dir / "metrics.json").read_text())["test"]) == METRICS
    refused = runner.invoke(app, ["predict", str(run_dir), "--top-k", "5"])
    assert refused.exit_code == 2 and "mlp" in refused.stderr


def test_graph_file_brings_its_held_out_edges(runner, tmp_path: Path) -> None:
    graph = two_communities(tmp_path / "g.npz", held_out=True)
    run_dir = tmp_path / "run"
    result = runner.invoke(app, ["train", str(link_config(tmp_path, graph, epochs=3)), "--out", str(run_dir), "-q"])
    assert result.exit_code == 0, result.output
    scored = runner.invoke(app, ["eval", str(run_dir), "--graph", str(graph), "--json"])
    assert scored.exit_code == 0, scored.output
    assert set(json.loads(scored.stdout)["graph"]) == METRICS


def test_eval_graph_of_a_directed_run_removes_only_the_held_out_direction(runner, tmp_path: Path, monkeypatch) -> None:
    """As training does: a directed graph's test edge leaves message passing, its reverse stays."""
    from gnntool.engine.objectives.link import Link

    rng = np.random.default_rng(1)
    u, v = rng.integers(0, N, (2, 500))
    edges = np.unique(np.stack([u[u != v], v[u != v]]).T, axis=0).T  # directed: some pairs both ways
    listed = set(map(tuple, edges.T.tolist()))
    reciprocal = edges[:, [a < b and (b, a) in listed for a, b in edges.T.tolist()]]  # one direction each
    test_edges = reciprocal[:, :6]
    graph = tmp_path / "directed.npz"
    x = rng.normal(size=(N, 4)).astype(np.float32)
    np.savez(graph, x=x, edge_index=edges, val_edges=edges[:, -8:], test_edges=test_edges)
    run_dir = tmp_path / "run"
    result = runner.invoke(app, ["train", str(link_config(tmp_path, graph, epochs=2)), "--out", str(run_dir), "-q"])
    assert result.exit_code == 0, result.output

    seen = []
    message_graph = Link.message_graph
    spy = lambda self, edge_index: seen.append(edge_index) or message_graph(self, edge_index)  # noqa: E731
    monkeypatch.setattr(Link, "message_graph", spy)
    scored = runner.invoke(app, ["eval", str(run_dir), "--graph", str(graph), "--json"])
    assert scored.exit_code == 0, scored.output
    passed = set(map(tuple, seen[-1].t().tolist()))
    assert not passed & set(map(tuple, test_edges.T.tolist()))  # the held-out direction is gone ...
    assert set(map(tuple, test_edges[::-1].T.tolist())) <= passed  # ... and its reverse, an edge, stays
    assert len(passed) == edges.shape[1] - test_edges.shape[1]


@pytest.mark.parametrize(
    "raw, expected",
    [
        ({"dataset": {"name": "PPI"}, "train": {"objective": "link"}}, "runs on one graph"),
        ({"dataset": {"edge_split": {"val": 0.5, "test": 0.5}}, "train": {"objective": "link"}}, "training edges"),
        ({"train": {"objective": "link", "monitor": "val_accuracy"}}, "train.monitor"),
        ({"train": {"objective": "link", "hits_k": [0]}}, "hits_k"),
    ],
)
def test_config_errors(raw: dict, expected: str) -> None:
    with pytest.raises(UserError, match=expected):
        validate(raw)


@pytest.mark.parametrize(
    "config, expected",
    [
        ({"dataset": {"name": "PPI"}}, "runs on one graph"),
        ({"dataset": {"edge_split": {"val": 0.5, "test": 0.5}}}, "to leave training edges"),
        ({"dataset": {"edge_split": {"val": 0.0001, "test": 0.1}}}, "the val split is empty"),
    ],
)
def test_bad_link_runs_are_exit_2_before_training(runner, write_config, tmp_path: Path, config, expected) -> None:
    config["train"] = {"objective": "link"}
    run_dir = tmp_path / "run"
    result = runner.invoke(app, ["train", str(write_config(config)), "--out", str(run_dir), "-q"])
    assert result.exit_code == 2 and expected in result.stderr, result.output
    assert not (run_dir / "metrics.json").exists()


@pytest.mark.slow
def test_cora_link_accuracy(runner, tmp_path: Path) -> None:
    """configs/gcn_cora_link.yaml, seed 0 (test AUC 0.932, AP 0.937 measured; the 10-seed means
    0.939 / 0.943 in docs/link-prediction.md): at least issue 12's targets 0.920 / 0.925."""
    config = Path(__file__).resolve().parents[2] / "configs" / "gcn_cora_link.yaml"
    run_dir = tmp_path / "run"
    args = ["train", str(config), "--out", str(run_dir), "-q", "--set", f"dataset.root={DATA_ROOT}"]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # Cora-sized ops run faster on one thread, and far faster on a busy machine
    try:
        result = runner.invoke(app, args)
    finally:
        torch.set_num_threads(threads)
    assert result.exit_code == 0, result.output
    test = json.loads((run_dir / "metrics.json").read_text())["test"]
    assert test["auc"] >= 0.92 and test["ap"] >= 0.925, test
