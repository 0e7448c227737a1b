"""embed/eval on graphs the model never saw (`--graph`): npz and folders, ids, errors, pipelines."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import DATA_ROOT

from gnntool.cli import app
from gnntool.config import validate
from gnntool.data import load_dataset
from gnntool.engine.inputs import feature_tensor
from gnntool.engine.runs.saved import load_model
from gnntool.models.graph_ops import GraphOps


@pytest.fixture(scope="module")
def cora():
    return load_dataset(validate({"dataset": {"root": str(DATA_ROOT)}}).dataset, 0).graphs[0]


def train_sage(runner, write_config, tmp_path: Path, aggregator: str = "mean") -> Path:
    run_dir = tmp_path / f"run-{aggregator}"
    config = write_config({"model": {"arch": "sage", "aggregator": aggregator}, "train": {"epochs": 3}})
    result = runner.invoke(app, ["train", str(config), "--out", str(run_dir), "-q"])
    assert result.exit_code == 0, result.output
    return run_dir


def save_npz(path: Path, x: torch.Tensor, edge_index: torch.Tensor, **extra) -> Path:
    np.savez(path, x=x.numpy(), edge_index=edge_index.numpy(), **{k: np.asarray(v) for k, v in extra.items()})
    return path


def piece_of(cora, nodes: int = 300):
    """The subgraph of Cora's first `nodes` nodes: a small graph with Cora's features."""
    sub = cora.subgraph(torch.arange(nodes))
    return sub.x, sub.edge_index, sub.y


def embed_npy(runner, run_dir: Path, graph: Path, out: Path) -> np.ndarray:
    result = runner.invoke(app, ["embed", str(run_dir), "--graph", str(graph), "--output", str(out)])
    assert result.exit_code == 0, result.output
    return np.load(out)


def test_the_runs_own_graph_from_a_file_gives_its_embeddings(runner, write_config, tmp_path, cora) -> None:
    run_dir = train_sage(runner, write_config, tmp_path)
    graph = save_npz(tmp_path / "cora.npz", cora.x, cora.edge_index, y=cora.y)
    got = embed_npy(runner, run_dir, graph, tmp_path / "e.npy")
    np.testing.assert_allclose(got, np.load(run_dir / "embeddings.npy"), rtol=1e-5, atol=1e-6)
    # eval --graph scores every node; compare with the model's own predictions over the whole graph
    result = runner.invoke(app, ["eval", str(run_dir), "--graph", str(graph), "--json"])
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)
    saved = load_model(run_dir / "model.pt", torch.device("cpu"))
    with torch.no_grad():
        predicted = saved.model(feature_tensor(cora.x), GraphOps(cora.edge_index, cora.num_nodes)).argmax(-1)
    assert list(metrics) == ["graph"]
    assert metrics["graph"]["accuracy"] == pytest.approx((predicted == cora.y).float().mean().item())


@pytest.mark.parametrize("aggregator", ["mean", "gcn", "pool"])
def test_relabelled_graph_gives_permuted_embeddings(runner, write_config, tmp_path, cora, aggregator) -> None:
    run_dir = train_sage(runner, write_config, tmp_path, aggregator)
    x, edge_index, _ = piece_of(cora)
    perm = torch.randperm(x.size(0), generator=torch.Generator().manual_seed(1))  # new position → old node
    new_position = torch.empty_like(perm)
    new_position[perm] = torch.arange(perm.numel())
    original = embed_npy(runner, run_dir, save_npz(tmp_path / "a.npz", x, edge_index), tmp_path / "a.npy")
    relabelled = embed_npy(
        runner, run_dir, save_npz(tmp_path / "b.npz", x[perm], new_position[edge_index]), tmp_path / "b.npy"
    )
    np.testing.assert_allclose(relabelled, original[perm.numpy()], rtol=1e-5, atol=1e-6)


def test_folder_with_ids_keeps_ids_and_order(runner, write_config, tmp_path, cora) -> None:
    run_dir = train_sage(runner, write_config, tmp_path)
    x, edge_index, _ = piece_of(cora, 50)
    ids = np.arange(50) * 7 + 1000
    folder = tmp_path / "mygraph"
    folder.mkdir()
    header = "id," + ",".join(f"f{i}" for i in range(x.size(1)))
    np.savetxt(folder / "features.csv", np.column_stack([ids, x.numpy()]), delimiter=",", header=header, comments="")
    np.savetxt(folder / "edges.tsv", ids[edge_index.t().numpy()], delimiter="\t", fmt="%d")
    result = runner.invoke(app, ["embed", str(run_dir), "--graph", str(folder), "--format", "tsv"])
    assert result.exit_code == 0, result.output
    rows = [line.split("\t") for line in result.stdout.splitlines()]
    assert [int(row[0]) for row in rows] == ids.tolist()
    npz = embed_npy(runner, run_dir, save_npz(tmp_path / "same.npz", x, edge_index), tmp_path / "same.npy")
    np.testing.assert_allclose(np.array([row[1:] for row in rows], dtype=np.float32), npz, rtol=1e-6, atol=1e-7)


def test_parquet_output(runner, write_config, tmp_path, cora) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    run_dir = train_sage(runner, write_config, tmp_path)
    x, edge_index, _ = piece_of(cora, 40)
    graph = save_npz(tmp_path / "g.npz", x, edge_index, node_id=np.arange(40) + 500)
    out = tmp_path / "e.parquet"
    assert runner.invoke(app, ["embed", str(run_dir), "--graph", str(graph), "--output", str(out)]).exit_code == 0
    table = pq.read_table(out)
    assert table.column_names[:2] == ["id", "dim_0"] and table.num_rows == 40
    assert table.column("id").to_pylist() == list(range(500, 540))
    assert runner.invoke(app, ["embed", str(run_dir), "--graph", str(graph), "--format", "parquet"]).exit_code == 2


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda x, e, y: {"x": x[:, :32], "edge_index": e}, "the model was trained on 1433"),
        (lambda x, e, y: {"x": np.where(np.arange(x.shape[1]) == 3, np.nan, x), "edge_index": e}, "NaN"),
        (lambda x, e, y: {"x": x, "edge_index": e + 0.5}, "must be an integer"),
        (lambda x, e, y: {"x": x, "edge_index": np.where(e == e.max(), 10_000, e)}, "out of range"),
        (lambda x, e, y: {"x": x, "edge_index": e[0]}, "edge_index"),
        (lambda x, e, y: {"edge_index": e}, "has no x"),
    ],
)
def test_bad_graphs_exit_2(runner, write_config, tmp_path, cora, make, message) -> None:
    run_dir = train_sage(runner, write_config, tmp_path)
    x, edge_index, y = (t.numpy() for t in piece_of(cora, 30))
    path = tmp_path / "bad.npz"
    np.savez(path, **make(x, edge_index, y))
    for command in (["embed", str(run_dir)], ["eval", str(run_dir)]):
        result = runner.invoke(app, [*command, "--graph", str(path)])
        assert result.exit_code == 2, result.output
        assert message in result.stderr and "Traceback" not in result.output and result.stdout == ""


def test_eval_needs_labels_and_matching_classes(runner, write_config, tmp_path, cora) -> None:
    run_dir = train_sage(runner, write_config, tmp_path)
    x, edge_index, y = piece_of(cora, 30)
    unlabelled = save_npz(tmp_path / "u.npz", x, edge_index)
    result = runner.invoke(app, ["eval", str(run_dir), "--graph", str(unlabelled)])
    assert result.exit_code == 2 and "has no labels" in result.stderr
    too_many = save_npz(tmp_path / "c.npz", x, edge_index, y=np.full(30, 9))
    result = runner.invoke(app, ["eval", str(run_dir), "--graph", str(too_many)])
    assert result.exit_code == 2 and "the model predicts 7" in result.stderr
    missing = runner.invoke(app, ["embed", str(run_dir), "--graph", str(tmp_path / "nope.npz")])
    assert missing.exit_code == 2


@pytest.mark.slow
def test_streaming_pipeline_in_a_shell(runner, write_config, tmp_path, cora) -> None:
    run_dir = train_sage(runner, write_config, tmp_path)
    x, edge_index, _ = piece_of(cora, 200)
    graph = save_npz(tmp_path / "g.npz", x, edge_index, node_id=np.arange(200) + 10)
    result = subprocess.run(
        f"{sys.executable} -m gnntool embed {run_dir} --graph {graph} --format tsv"
        " | sort -g -k2 | head -5; exit ${PIPESTATUS[0]}",  # gnntool's own status
        shell=True,
        executable="/bin/bash",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 5 and all(10 <= int(line.split("\t")[0]) < 210 for line in lines)
    second = [float(line.split("\t")[1]) for line in lines]
    assert second == sorted(second)
    assert result.stderr == ""
