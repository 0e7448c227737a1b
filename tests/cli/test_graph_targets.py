"""Whole-graph sets whose targets decide the run: the monitor a set of classes, 0/1 labels or real
values gets when none is set (settled from the data: config.yaml, early stopping, sweeps, tune
and `gnntool runs` follow it), and what `predict` writes for each kind."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from gnntool.cli import app
from gnntool.config import validate
from gnntool.engine.monitor import settle_monitor
from gnntool.engine.studies.tune import plan_tune

MODEL = {"arch": "gin", "hidden": 8, "layers": 2, "readout": "sum"}
TRAIN = {"epochs": 6, "patience": 6, "lr": 0.01, "weight_decay": 0.0, "batch_size": 16}  # no monitor, no loss


def graphs_npz(path: Path, kind: str, graphs: int = 48) -> tuple[Path, np.ndarray]:
    """A graphs .npz of `graphs` small paths whose targets are `kind`: `regression` (each graph's
    sum of its first feature and its size), `multilabel` (three 0/1 labels, some missing) or
    `classes` (three classes); returns the file and its y."""
    rng = np.random.default_rng(3)
    sizes = rng.integers(3, 8, graphs)
    graph = np.repeat(np.arange(graphs), sizes)
    x = rng.normal(size=(sizes.sum(), 2)).astype(np.float32)
    starts = np.cumsum(sizes) - sizes
    pairs = np.concatenate([np.stack([start + np.arange(n - 1), start + np.arange(1, n)]) for start, n in
                            zip(starts, sizes)], 1)  # fmt: skip
    sums = np.bincount(graph, weights=x[:, 0])
    if kind == "regression":
        y = np.stack([sums, sizes.astype(float)], 1)
    elif kind == "multilabel":
        y = np.stack([sums > 0, sizes > 5, np.arange(graphs) % 2 == 0], 1).astype(float)
        y[rng.random(y.shape) < 0.15] = np.nan  # missing labels
    else:
        y = np.minimum(sizes - 3, 2)  # class ids 0..2
    np.savez(path, x=x, edge_index=np.concatenate([pairs, pairs[::-1]], 1), graph=graph, y=y)
    return path, y


def write(path: Path, npz: Path, **train: object) -> Path:
    dataset = {"name": "graphs", "path": str(npz), "split": "random"}
    path.write_text(yaml.safe_dump({"dataset": dataset, "model": MODEL, "train": {**TRAIN, **train}}))
    return path


def read_table(text: str) -> list[list[str]]:
    return [line.split("\t") for line in text.splitlines()]


def test_regression_monitors_val_rmse_minimised_with_no_monitor_or_loss_set(runner, tmp_path: Path) -> None:
    npz, y = graphs_npz(tmp_path / "values.npz", "regression")
    config = write(tmp_path / "r.yaml", npz)
    assert validate(yaml.safe_load(config.read_text())).train.monitor is None  # the data's to settle
    run = tmp_path / "runs" / "values"
    result = runner.invoke(app, ["train", str(config), "--out", str(run), "-q"])
    assert result.exit_code == 0, result.output
    assert yaml.safe_load((run / "config.yaml").read_text())["train"]["monitor"] == "val_rmse"
    metrics = json.loads((run / "metrics.json").read_text())
    assert set(metrics["test"]) == {"rmse", "mae", "loss"}
    with (run / "history.csv").open() as handle:
        history = [float(row["val_rmse"]) for row in csv.DictReader(handle)]
    assert len(set(history)) > 1  # so that the best epoch is the lowest, not merely any
    assert metrics["val"]["rmse"] == pytest.approx(min(history), rel=1e-5)  # the best epoch: rmse minimised

    listed = runner.invoke(app, ["runs", str(tmp_path / "runs"), "--json"])
    assert listed.exit_code == 0, listed.output
    (row,) = json.loads(listed.stdout)
    assert row["monitor"] == "val_rmse" and row["val"] == pytest.approx(metrics["val"]["rmse"])

    # predict writes each graph's values; their rmse against y is what eval --graph reports
    predicted = runner.invoke(app, ["predict", str(run), "--graph", str(npz), "--header", "--device", "cpu"])
    assert predicted.exit_code == 0, predicted.output
    header, *rows = read_table(predicted.stdout)
    assert header == ["id", "value_0", "value_1"] and [int(row[0]) for row in rows] == list(range(len(y)))
    values = np.array([[float(value) for value in row[1:]] for row in rows])
    scored = runner.invoke(app, ["eval", str(run), "--graph", str(npz), "--json", "--device", "cpu"])
    assert scored.exit_code == 0, scored.output
    graph = json.loads(scored.stdout)["graph"]
    assert np.sqrt(((values - y) ** 2).mean()) == pytest.approx(graph["rmse"], rel=1e-5)
    assert np.abs(values - y).mean() == pytest.approx(graph["mae"], rel=1e-5)


def test_multilabel_set_monitors_val_ap_and_predicts_its_labels(runner, tmp_path: Path) -> None:
    npz, y = graphs_npz(tmp_path / "labels.npz", "multilabel")
    run = tmp_path / "run"
    result = runner.invoke(app, ["train", str(write(tmp_path / "m.yaml", npz)), "--out", str(run), "-q"])
    assert result.exit_code == 0, result.output
    assert yaml.safe_load((run / "config.yaml").read_text())["train"]["monitor"] == "val_ap"
    assert set(json.loads((run / "metrics.json").read_text())["test"]) == {"auc", "ap", "loss"}

    for graph in ([], ["--graph", str(npz)]):  # the run's own graphs, and the file read as unseen
        predicted = runner.invoke(app, ["predict", str(run), *graph, "--header", "--device", "cpu"])
        assert predicted.exit_code == 0, predicted.output
        header, *rows = read_table(predicted.stdout)
        assert header == ["id", "predicted", "p_0", "p_1", "p_2"] and len(rows) == len(y)
        for row in rows:
            chosen = [label for label in range(3) if float(row[2 + label]) > 0.5]
            assert row[1] == ";".join(map(str, chosen))  # the labels above 0.5, by their column
            assert all(0.0 <= float(p) <= 1.0 for p in row[2:])
    scored = runner.invoke(app, ["eval", str(run), "--graph", str(npz), "--json", "--device", "cpu"])
    assert scored.exit_code == 0, scored.output
    assert set(json.loads(scored.stdout)["graph"]) == {"auc", "ap", "loss"}

    # an unseen file without targets is predicted too (its labels are not needed)
    arrays = dict(np.load(npz))
    del arrays["y"]
    unlabelled = tmp_path / "unlabelled.npz"
    np.savez(unlabelled, **arrays, graph_id=np.arange(100, 100 + len(y)))
    predicted = runner.invoke(app, ["predict", str(run), "--graph", str(unlabelled), "--device", "cpu"])
    assert predicted.exit_code == 0, predicted.output
    assert [int(row[0]) for row in read_table(predicted.stdout)] == list(range(100, 100 + len(y)))


def test_a_set_of_classes_still_monitors_val_accuracy(tmp_path: Path) -> None:
    npz, _ = graphs_npz(tmp_path / "classes.npz", "classes")
    config = validate(yaml.safe_load(write(tmp_path / "c.yaml", npz).read_text()))
    assert settle_monitor(config).train.monitor == "val_accuracy"
    # what the config says itself is not the data's to settle: a loss, a monitor, a generated set
    for train in ({"loss": "mae"}, {"monitor": "val_loss"}):
        assert validate(yaml.safe_load(write(tmp_path / "s.yaml", npz, **train).read_text())).train.monitor == (
            "val_rmse" if "loss" in train else "val_loss"
        )
    generated = validate({"dataset": {"name": "synthetic_graphs"}})
    assert generated.train.monitor == "val_accuracy" and settle_monitor(generated) is generated


def test_sweep_and_tune_follow_the_monitor_the_data_settled(runner, tmp_path: Path) -> None:
    npz, _ = graphs_npz(tmp_path / "values.npz", "regression", graphs=32)
    config = write(tmp_path / "r.yaml", npz, epochs=2)
    assert plan_tune(config, ["train.lr=0.001:0.1:log"], out=tmp_path / "tune").minimise  # val_rmse: lower is better
    out = tmp_path / "sweep"
    result = runner.invoke(app, ["sweep", str(config), "--grid", "model.hidden=4,8", "--out", str(out), "-q"])
    assert result.exit_code == 0, result.output
    cells = [path for path in out.iterdir() if path.is_dir()]
    assert len(cells) == 2
    assert {yaml.safe_load((cell / "config.yaml").read_text())["train"]["monitor"] for cell in cells} == {"val_rmse"}
    assert read_table(result.stdout)[0][1:] == ["val_rmse", "val_mae", "test_rmse", "test_mae"]
    (row,) = json.loads(runner.invoke(app, ["runs", str(tmp_path), "--json"]).stdout)
    vals = [json.loads((cell / "metrics.json").read_text())["val"]["rmse"] for cell in cells]
    assert row["kind"] == "sweep" and row["monitor"] == "val_rmse" and row["val"] == pytest.approx(min(vals))
    again = runner.invoke(app, ["sweep", str(config), "--grid", "model.hidden=4,8", "--out", str(out), "-q"])
    assert again.exit_code == 0, again.output  # the finished cells' settled configs match the rerun's
