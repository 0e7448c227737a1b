"""A short multi-label training run on PPI-format files: BCE loss, micro/macro-F1 everywhere."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from test_ppi import write_ppi

from gnntool.cli import app
from gnntool.config import validate
from gnntool.data import load_dataset
from gnntool.engine.inputs import graph_tensors
from gnntool.engine.runs.saved import load_model


def hand_f1(predicted: np.ndarray, target: np.ndarray) -> tuple[float, float]:
    """Micro- and macro-F1 written out from their definitions (per-label 0 when undefined)."""
    tp = (predicted & target).sum(0)
    fp = (predicted & ~target).sum(0)
    fn = (~predicted & target).sum(0)
    micro = 2 * tp.sum() / (2 * tp.sum() + fp.sum() + fn.sum())
    per_label = [2 * t / (2 * t + p + n) if (2 * t + p + n) else 0.0 for t, p, n in zip(tp, fp, fn)]
    return float(micro), float(np.mean(per_label))


@pytest.fixture
def ppi_config(tmp_path: Path) -> Path:
    write_ppi(tmp_path / "data" / "PPI" / "raw")
    config = {
        "dataset": {"name": "PPI", "root": str(tmp_path / "data")},
        "model": {"arch": "sage", "hidden": 32, "layers": 2, "dropout": 0.0, "norm": "batch"},
        "train": {"epochs": 4, "batch_size": 4, "monitor": "val_micro_f1", "lr": 0.01, "weight_decay": 0.0},
    }
    path = tmp_path / "ppi.yaml"
    path.write_text(json.dumps(config))
    return path


def test_ppi_run_reports_f1_checked_by_hand(runner, ppi_config: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    result = runner.invoke(app, ["train", str(ppi_config), "--out", str(run_dir)])
    assert result.exit_code == 0, result.output
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert set(metrics["test"]) == {"micro_f1", "macro_f1", "loss"}
    history = (run_dir / "history.csv").read_text().splitlines()
    assert history[0] == "epoch,loss,val_loss,val_micro_f1,val_macro_f1,seconds" and len(history) == 5

    dataset = load_dataset(validate(json.loads(ppi_config.read_text())).dataset, 0)
    saved = load_model(run_dir / "model.pt", torch.device("cpu"))
    assert saved.multilabel and saved.num_classes == 121
    predicted, target = [], []
    with torch.no_grad():
        for part in dataset.splits["test"]:
            graph = graph_tensors(part.graph, torch.device("cpu"))
            predicted.append((saved.model(graph.x, graph.ops) > 0).numpy())
            target.append(part.graph.y.numpy().astype(bool))
    micro, macro = hand_f1(np.concatenate(predicted), np.concatenate(target))
    assert metrics["test"]["micro_f1"] == pytest.approx(micro, abs=1e-6)
    assert metrics["test"]["macro_f1"] == pytest.approx(macro, abs=1e-6)

    # embeddings cover every node of the 24 graphs, in dataset order
    assert np.load(run_dir / "embeddings.npy").shape == (sum(g.num_nodes for g in dataset.graphs), 32)
    evaluated = runner.invoke(app, ["eval", str(run_dir), "--json"])
    assert json.loads(evaluated.stdout) == metrics


def test_ppi_needs_an_f1_monitor(runner, ppi_config: Path, tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["train", str(ppi_config), "--out", str(tmp_path / "r"), "--set", "train.monitor=val_accuracy"]
    )
    assert result.exit_code == 2 and "multi-label" in result.stderr
