"""Whole-graph prediction end to end: the generated set is learned from its edges only, folds,
eval/embed/predict with --fold and --graph, dry-run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from ogbg_files import make_molecules

from gnntool.cli import app
from gnntool.config import validate
from gnntool.data import load_dataset


def write(path: Path, config: dict) -> Path:
    path.write_text(yaml.safe_dump(config))
    return path


def as_npz(path: Path, graphs, edges: bool) -> Path:  # type: ignore[no-untyped-def]
    """The set as a graphs .npz, with its edges or without any."""
    graph = np.repeat(np.arange(graphs.num_graphs), graphs.node_ptr.diff().numpy())
    edge_index = graphs.edge_index.numpy() if edges else np.zeros((2, 0), dtype=np.int64)
    np.savez(path, x=graphs.x.numpy(), edge_index=edge_index, graph=graph, y=graphs.y.numpy(),
             graph_id=np.arange(100, 100 + graphs.num_graphs))
    return path


GIN = {"arch": "gin", "hidden": 32, "layers": 4, "dropout": 0.0, "norm": "batch", "readout": "sum", "jump": "cat"}
TRAIN = {"objective": "graph", "epochs": 25, "patience": 25, "lr": 0.005, "weight_decay": 0.0, "batch_size": 32}


@pytest.mark.slow
def test_gin_learns_the_generated_set_from_its_edges_only(runner, tmp_path: Path) -> None:
    """>= 95% test accuracy with the edges; within 10 points of chance on the same graphs without them."""
    dataset = {"name": "synthetic_graphs", "graphs": 400, "split": "random"}
    config = write(tmp_path / "gin.yaml", {"seed": 0, "dataset": dataset, "model": GIN, "train": TRAIN})
    result = runner.invoke(app, ["train", str(config), "--out", str(tmp_path / "with"), "-q"])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "with" / "metrics.json").read_text())["test"]["accuracy"] >= 0.95

    graphs = load_dataset(validate({"dataset": dataset, "train": {"objective": "graph"}}).dataset, 0)
    npz = as_npz(tmp_path / "no_edges.npz", graphs, edges=False)
    bare = {"name": "graphs", "path": str(npz), "split": "random"}
    config = write(tmp_path / "bare.yaml", {"seed": 0, "dataset": bare, "model": GIN, "train": TRAIN})
    result = runner.invoke(app, ["train", str(config), "--out", str(tmp_path / "without"), "-q"])
    assert result.exit_code == 0, result.output
    accuracy = json.loads((tmp_path / "without" / "metrics.json").read_text())["test"]["accuracy"]
    chance = 1 / graphs.num_outputs
    assert abs(accuracy - chance) <= 0.10


def test_folds_then_eval_embed_predict_by_fold(runner, tmp_path: Path) -> None:
    graphs = load_dataset(
        validate({"dataset": {"name": "synthetic_graphs", "graphs": 120, "graph_nodes": 10},
                  "train": {"objective": "graph"}}).dataset, 0,
    )  # fmt: skip
    npz = as_npz(tmp_path / "graphs.npz", graphs, edges=True)
    dataset = {"name": "graphs", "path": str(npz), "split": "folds"}
    model = {"arch": "gin", "hidden": 8, "layers": 2}
    config = write(tmp_path / "c.yaml", {"dataset": dataset, "model": model, "train": {**TRAIN, "epochs": 2}})
    run = tmp_path / "run"
    dry = runner.invoke(app, ["train", str(config), "--dry-run"])
    assert dry.exit_code == 0 and "120 graphs" in dry.stdout and "nodes per graph" in dry.stdout
    result = runner.invoke(app, ["train", str(config), "--out", str(run), "-q"])
    assert result.exit_code == 0, result.output
    metrics = json.loads((run / "metrics.json").read_text())
    assert len(metrics["folds"]) == 10 and [fold["fold"] for fold in metrics["folds"]] == list(range(10))
    tests = [fold["test"]["accuracy"] for fold in metrics["folds"]]
    assert metrics["test"]["accuracy"] == pytest.approx(np.mean(tests))
    assert metrics["std"]["test"]["accuracy"] == pytest.approx(np.std(tests, ddof=1))
    assert all((run / f"fold-{k}" / "model.pt").is_file() for k in range(10))

    again = runner.invoke(app, ["eval", str(run), "--fold", "3", "--json", "--device", "cpu"])
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["test"] == pytest.approx(metrics["folds"][3]["test"], rel=1e-5)
    missing = runner.invoke(app, ["eval", str(run), "--fold", "10", "--device", "cpu"])
    assert missing.exit_code == 2 and "--fold 10" in missing.stderr

    embedded = runner.invoke(app, ["embed", str(run), "--fold", "2", "--device", "cpu"])
    rows = [line.split("\t") for line in embedded.stdout.splitlines()]
    assert len(rows) == 120 and [int(row[0]) for row in rows] == list(range(100, 220))  # one row per graph, its id
    predicted = runner.invoke(app, ["predict", str(run), "--graph", str(npz), "--header", "--device", "cpu"])
    assert predicted.exit_code == 0, predicted.output
    lines = predicted.stdout.splitlines()
    assert lines[0].split("\t")[:3] == ["id", "predicted", "p_0"] and len(lines) == 121
    scored = runner.invoke(app, ["eval", str(run), "--graph", str(npz), "--json", "--device", "cpu"])
    assert scored.exit_code == 0, scored.output
    assert set(json.loads(scored.stdout)["graph"]) == {"accuracy", "auc", "loss"}


def test_regression_defaults_to_mse_and_val_rmse_and_predicts_values(runner, tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    sizes = rng.integers(3, 7, 60)
    graph = np.repeat(np.arange(60), sizes)
    x = rng.normal(size=(sizes.sum(), 2)).astype(np.float32)
    y = np.stack([np.bincount(graph, weights=x[:, 0]), sizes.astype(float)], 1)  # per-graph sums: a sum readout's task
    npz = tmp_path / "values.npz"
    np.savez(npz, x=x, edge_index=np.zeros((2, 0), dtype=np.int64), graph=graph, y=y)
    dataset = {"name": "graphs", "path": str(npz), "split": "random"}
    model = {"arch": "gin", "hidden": 8, "layers": 2, "readout": "sum"}
    unset = write(tmp_path / "unset.yaml", {"dataset": dataset, "model": model, "train": {**TRAIN, "epochs": 2}})
    settled = runner.invoke(app, ["train", str(unset), "--out", str(tmp_path / "unset"), "-q"])
    assert settled.exit_code == 0, settled.output  # the data settles the monitor: val_rmse
    assert yaml.safe_load((tmp_path / "unset" / "config.yaml").read_text())["train"]["monitor"] == "val_rmse"
    train = {**TRAIN, "epochs": 2, "monitor": "val_rmse"}
    config = write(tmp_path / "r.yaml", {"dataset": dataset, "model": model, "train": train})
    result = runner.invoke(app, ["train", str(config), "--out", str(tmp_path / "run"), "-q"])
    assert result.exit_code == 0, result.output
    assert set(json.loads((tmp_path / "run" / "metrics.json").read_text())["test"]) == {"rmse", "mae", "loss"}
    predicted = runner.invoke(app, ["predict", str(tmp_path / "run"), "--header", "--device", "cpu"])
    assert predicted.stdout.splitlines()[0].split("\t") == ["id", "value_0", "value_1"]


def write_tu(folder: Path, graphs: int) -> Path:
    """A TU-format folder (NAME found from the files) of `graphs` rings and paths of 5-9 nodes,
    labelled -1 (path) or 1 (ring) as MUTAG's labels are, with node labels."""
    rng = np.random.default_rng(0)
    folder.mkdir()
    edges, indicator, labels, first = [], [], [], 1
    for g in range(graphs):
        n, ring = int(rng.integers(5, 10)), g % 2
        pairs = [(i, i + 1) for i in range(n - 1)] + [(n - 1, 0)] * ring
        edges += [(first + a, first + b) for a, b in pairs] + [(first + b, first + a) for a, b in pairs]
        indicator += [g + 1] * n
        labels.append(1 if ring else -1)
        first += n
    (folder / "RINGS_A.txt").write_text("".join(f"{a}, {b}\n" for a, b in edges))
    (folder / "RINGS_graph_indicator.txt").write_text("".join(f"{g}\n" for g in indicator))
    (folder / "RINGS_graph_labels.txt").write_text("".join(f"{label}\n" for label in labels))
    (folder / "RINGS_node_labels.txt").write_text("".join(f"{rng.integers(0, 3)}\n" for _ in indicator))
    return folder


def test_a_tu_folder_trains_ten_folds_and_predicts_its_own_labels(runner, tmp_path: Path) -> None:
    folder = write_tu(tmp_path / "rings", 100)
    model = {"arch": "gin", "hidden": 8, "layers": 2}
    dataset = {"name": "tu", "path": str(folder), "split": "folds"}
    config = write(tmp_path / "tu.yaml", {"dataset": dataset, "model": model, "train": {**TRAIN, "epochs": 2}})
    run = tmp_path / "run"
    result = runner.invoke(app, ["train", str(config), "--out", str(run), "-q"])
    assert result.exit_code == 0, result.output
    metrics = json.loads((run / "metrics.json").read_text())
    assert len(metrics["folds"]) == 10 and {"accuracy", "auc", "loss"} <= set(metrics["test"])
    assert yaml.safe_load((run / "config.yaml").read_text())["train"]["monitor"] == "val_accuracy"  # its classes'
    predicted = runner.invoke(app, ["predict", str(run), "--fold", "1", "--device", "cpu"])
    assert predicted.exit_code == 0, predicted.output
    assert {line.split("\t")[1] for line in predicted.stdout.splitlines()} <= {"-1", "1"}  # the original labels


def test_ogbg_molhiv_raw_layout_trains_with_bond_features_scored_by_the_evaluator(runner, tmp_path: Path) -> None:
    pytest.importorskip("ogb")
    folder = make_molecules(tmp_path, "ogbg-molhiv", 40, 1)
    model = {"arch": "gin", "hidden": 8, "layers": 2, "edge_features": True}
    dataset = {"name": "ogbg-molhiv", "root": str(tmp_path)}
    config = write(tmp_path / "hiv.yaml", {"dataset": dataset, "model": model, "train": {**TRAIN, "epochs": 2}})
    result = runner.invoke(app, ["train", str(config), "--out", str(tmp_path / "run"), "-q"])
    assert result.exit_code == 0, result.output
    assert validate(yaml.safe_load(config.read_text())).train.monitor == "val_auc"
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert set(metrics["test"]) >= {"auc", "ap", "loss"}
    (folder / "raw" / "edge-feat.csv.gz").unlink()
    missing = runner.invoke(app, ["train", str(config), "--out", str(tmp_path / "again"), "-q"])
    assert missing.exit_code == 2
