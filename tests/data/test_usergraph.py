"""`dataset.name: graph` (train on your own files) and `gnntool predict`."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from conftest import DATA_ROOT

from gnntool.cli import app
from gnntool.config import validate
from gnntool.data import load_dataset


@pytest.fixture(scope="module")
def cora():
    return load_dataset(validate({"dataset": {"root": str(DATA_ROOT)}}).dataset, 0).graphs[0]


def export_npz(data, path: Path, **extra) -> Path:
    arrays = {"x": data.x.numpy(), "edge_index": data.edge_index.numpy(), "y": data.y.numpy()}
    arrays |= {f"{s}_mask": data[f"{s}_mask"].numpy() for s in ("train", "val", "test")}
    np.savez(path, **(arrays | extra))
    return path


def export_folder(data, folder: Path, ids: np.ndarray | None = None) -> Path:
    folder.mkdir()
    x = data.x.numpy()
    if ids is None:
        np.save(folder / "features.npy", x)
        edges = data.edge_index.t().numpy()
    else:
        header = "id," + ",".join(f"f{i}" for i in range(x.shape[1]))
        np.savetxt(folder / "features.csv", np.column_stack([ids, x]), delimiter=",", header=header,
                   comments="", fmt=["%d"] + ["%.9g"] * x.shape[1])
        edges = ids[data.edge_index.t().numpy()]
    np.savetxt(folder / "edges.csv", edges, delimiter=",", fmt="%d", header="source,target", comments="")
    np.savetxt(folder / "labels.csv", data.y.numpy(), fmt="%d")
    return folder


def train(runner, tmp_path: Path, dataset: dict, name: str, **train) -> Path:
    config = tmp_path / f"{name}.yaml"
    config.write_text(yaml.safe_dump({"dataset": dataset, "model": {"arch": "sage"}, "train": {"epochs": 8, **train}}))
    run_dir = tmp_path / name
    result = runner.invoke(app, ["train", str(config), "--out", str(run_dir), "-q"])
    assert result.exit_code == 0, result.output
    return run_dir


def metrics(run_dir: Path) -> dict:
    return json.loads((run_dir / "metrics.json").read_text())


def test_npz_with_masks_trains_the_same_model_as_planetoid(runner, tmp_path, cora) -> None:
    reference = train(runner, tmp_path, {"name": "Cora", "root": str(DATA_ROOT)}, "planetoid")
    npz = export_npz(cora, tmp_path / "cora.npz")
    via_file = train(runner, tmp_path, {"name": "graph", "path": str(npz)}, "file")  # split: masks by default
    assert metrics(via_file) == metrics(reference)
    np.testing.assert_array_equal(np.load(via_file / "embeddings.npy"), np.load(reference / "embeddings.npy"))


def test_folder_with_and_without_ids(runner, tmp_path, cora) -> None:
    npz = export_npz(cora, tmp_path / "cora.npz")
    dataset = {"name": "graph", "split": "random", "train_frac": 0.5, "val_frac": 0.2}
    from_npz = train(runner, tmp_path, {**dataset, "path": str(npz)}, "npz")
    plain = train(runner, tmp_path, {**dataset, "path": str(export_folder(cora, tmp_path / "plain"))}, "plain")
    ids = np.arange(cora.num_nodes) * 3 + 7
    with_ids = train(runner, tmp_path, {**dataset, "path": str(export_folder(cora, tmp_path / "ids", ids))}, "ids")
    assert metrics(plain) == metrics(from_npz) == metrics(with_ids)
    embedded = runner.invoke(app, ["embed", str(with_ids)]).stdout.splitlines()
    assert [int(line.split("\t")[0]) for line in embedded] == ids.tolist()  # the input's ids come back


def test_random_split_is_seeded_and_complete(tmp_path, cora) -> None:
    npz = export_npz(cora, tmp_path / "cora.npz")
    config = validate({"dataset": {"name": "graph", "path": str(npz), "split": "random"}}).dataset
    first, again, other = (load_dataset(config, seed).graphs[0] for seed in (0, 0, 1))
    assert (first.train_mask == again.train_mask).all() and (first.train_mask != other.train_mask).any()
    assert int(first.train_mask.sum()) == round(0.6 * cora.num_nodes)
    assert (first.train_mask.int() + first.val_mask.int() + first.test_mask.int() == 1).all()


def test_multilabel_labels_switch_loss_and_metrics(runner, tmp_path, cora) -> None:
    rng = np.random.default_rng(0)
    y = (rng.random((cora.num_nodes, 5)) < 0.3).astype(np.int64)
    npz = export_npz(cora, tmp_path / "ml.npz", y=y)
    run_dir = train(runner, tmp_path, {"name": "graph", "path": str(npz)}, "ml", monitor="val_micro_f1")
    assert set(metrics(run_dir)["test"]) == {"micro_f1", "macro_f1", "loss"}
    refused = runner.invoke(app, ["train", str(tmp_path / "ml.yaml"), "--out", str(tmp_path / "x"),
                                  "--set", "train.monitor=val_accuracy"])
    assert refused.exit_code == 2 and "multi-label" in refused.stderr
    lines = runner.invoke(app, ["predict", str(run_dir), "--header"]).stdout.splitlines()
    assert lines[0] == "id\tpredicted\tp_0\tp_1\tp_2\tp_3\tp_4"
    probabilities = np.array([line.split("\t")[2:] for line in lines[1:]], dtype=float)
    chosen = [line.split("\t")[1] for line in lines[1:]]
    assert chosen == [";".join(str(c) for c in np.flatnonzero(p > 0.5)) for p in probabilities]


def test_predict_reproduces_eval_accuracy(runner, tmp_path, cora) -> None:
    run_dir = train(runner, tmp_path, {"name": "Cora", "root": str(DATA_ROOT)}, "cora")
    result = runner.invoke(app, ["predict", str(run_dir), "--format", "csv"])
    assert result.exit_code == 0, result.output
    rows = [line.split(",") for line in result.stdout.splitlines()]
    predicted = np.array([int(row[1]) for row in rows])
    probabilities = np.array([row[2:] for row in rows], dtype=float)
    np.testing.assert_allclose(probabilities.sum(1), 1.0, atol=1e-5)
    assert (predicted == probabilities.argmax(1)).all()
    for split in ("train", "val", "test"):
        mask = cora[f"{split}_mask"].numpy()
        accuracy = (predicted[mask] == cora.y.numpy()[mask]).mean()
        assert accuracy == pytest.approx(metrics(run_dir)[split]["accuracy"], abs=1e-6)


def test_predict_on_an_unseen_graph_and_formats(runner, tmp_path, cora) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    run_dir = train(runner, tmp_path, {"name": "Cora", "root": str(DATA_ROOT)}, "cora")
    sub = cora.subgraph(torch.arange(40))
    graph = tmp_path / "g.npz"
    np.savez(graph, x=sub.x.numpy(), edge_index=sub.edge_index.numpy(), node_id=np.arange(40) + 9000)
    out = tmp_path / "p.npy"
    assert runner.invoke(app, ["predict", str(run_dir), "--graph", str(graph), "--output", str(out)]).exit_code == 0
    array = np.load(out)
    assert array["id"].tolist() == list(range(9000, 9040)) and array["probability"].shape == (40, 7)
    assert (array["predicted"] == array["probability"].argmax(1)).all()
    parquet = tmp_path / "p.parquet"
    assert runner.invoke(app, ["predict", str(run_dir), "--graph", str(graph), "--output", str(parquet)]).exit_code == 0
    assert pq.read_table(parquet).column_names[:3] == ["id", "predicted", "p_0"]
    assert runner.invoke(app, ["predict", str(run_dir), "--format", "npy"]).exit_code == 2  # binary to stdout


def test_unlabelled_graph_needs_the_unsupervised_objective(runner, tmp_path, cora) -> None:
    path = tmp_path / "u.npz"
    np.savez(path, x=cora.x.numpy(), edge_index=cora.edge_index.numpy())
    config = tmp_path / "u.yaml"
    config.write_text(yaml.safe_dump({"dataset": {"name": "graph", "path": str(path), "split": "random"}}))
    result = runner.invoke(app, ["train", str(config), "--out", str(tmp_path / "u")])
    assert result.exit_code == 2 and "has no labels" in result.stderr and "unsupervised" in result.stderr
    masks = runner.invoke(app, ["train", str(config), "--out", str(tmp_path / "m"), "--set", "dataset.split=masks"])
    assert masks.exit_code == 2 and "has no train_mask" in masks.stderr


def test_shipped_graph_example_runs_and_is_reproducible(runner, tmp_path, monkeypatch) -> None:
    repo = DATA_ROOT.parent
    spec = importlib.util.spec_from_file_location("make_tiny_graph", repo / "examples" / "make_tiny_graph.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    shipped = np.load(repo / "examples" / "tiny_graph.npz")
    for name, array in module.tiny_graph().items():  # the committed file is what the script writes
        np.testing.assert_array_equal(shipped[name], array)
    monkeypatch.chdir(repo)  # the config's path is relative to the repository root
    run_dir = tmp_path / "example"
    result = runner.invoke(app, ["train", "examples/graph_example.yaml", "--out", str(run_dir), "-q"])
    assert result.exit_code == 0, result.output
    assert metrics(run_dir)["test"]["accuracy"] > 0.8  # three well-separated communities
    lines = runner.invoke(app, ["predict", str(run_dir)]).stdout.splitlines()
    assert [int(line.split("\t")[0]) for line in lines] == list(range(1000, 1120))
