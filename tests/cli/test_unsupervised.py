"""Unsupervised GraphSAGE end to end: no labels needed, a linear probe where there are labels."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import DATA_ROOT
from sklearn.linear_model import LogisticRegression

from gnntool.cli import app
from gnntool.config import validate
from gnntool.data import load_dataset

UNSUPERVISED = {
    "model": {"arch": "sage", "hidden": 16, "dropout": 0.0},
    "train": {"objective": "unsupervised", "epochs": 4},
}


@pytest.fixture(scope="module")
def cora():
    return load_dataset(validate({"dataset": {"root": str(DATA_ROOT)}}).dataset, 0).graphs[0]


def test_cora_unsupervised_with_probe(runner, write_config, tmp_path: Path, cora) -> None:
    run_dir = tmp_path / "run"
    result = runner.invoke(app, ["train", str(write_config(UNSUPERVISED)), "--out", str(run_dir), "-q"])
    assert result.exit_code == 0, result.output
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert set(metrics["test"]) == {"probe_accuracy", "loss"}
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["train"]["monitor"] == "val_loss"
    assert (run_dir / "history.csv").read_text().splitlines()[0] == "epoch,loss,val_loss,seconds"

    # The probe is a logistic regression on the training nodes' embeddings (the last layer's output).
    embeddings = np.load(run_dir / "embeddings.npy")
    assert embeddings.shape == (2708, 16)
    train, test = cora.train_mask.numpy(), cora.test_mask.numpy()
    probe = LogisticRegression(max_iter=2000).fit(embeddings[train], cora.y.numpy()[train])
    expected = (probe.predict(embeddings[test]) == cora.y.numpy()[test]).mean()
    assert metrics["test"]["probe_accuracy"] == pytest.approx(expected, abs=1e-3)

    assert json.loads(runner.invoke(app, ["eval", str(run_dir), "--json"]).stdout) == metrics
    refused = runner.invoke(app, ["predict", str(run_dir)])
    assert refused.exit_code == 2 and "unsupervised" in refused.stderr and "embed" in refused.stderr


def test_unlabelled_graph_trains_unsupervised(runner, tmp_path: Path, cora) -> None:
    path = tmp_path / "u.npz"
    np.savez(path, x=cora.x.numpy(), edge_index=cora.edge_index.numpy(), node_id=np.arange(2708) + 50)
    config = tmp_path / "u.yaml"
    dataset = {"name": "graph", "path": str(path), "split": "random"}
    config.write_text(yaml.safe_dump({"dataset": dataset, **UNSUPERVISED}))
    run_dir = tmp_path / "run"
    result = runner.invoke(app, ["train", str(config), "--out", str(run_dir), "-q"])
    assert result.exit_code == 0, result.output
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert set(metrics["val"]) == {"loss"} and np.isfinite(metrics["val"]["loss"])
    lines = runner.invoke(app, ["embed", str(run_dir)]).stdout.splitlines()
    assert len(lines) == 2708 and lines[0].split("\t")[0] == "50" and len(lines[0].split("\t")) == 17


def test_unsupervised_needs_the_loss_monitor() -> None:
    with pytest.raises(Exception, match="val_loss"):
        validate({"train": {"objective": "unsupervised", "monitor": "val_accuracy"}})


def test_unsupervised_runs_on_one_graph() -> None:
    with pytest.raises(Exception, match="one graph"):
        validate({"dataset": {"name": "PPI"}, "train": {"objective": "unsupervised"}})
