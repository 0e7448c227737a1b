"""Neighbour-sampled mini-batch training end to end: accuracy, layer-wise eval/embed, resume,
and multi-process training under torchrun."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from gnntool.cli import app
from gnntool.config import validate
from gnntool.data import load_dataset
from gnntool.engine.inference import infer
from gnntool.engine.inputs import task_tensors
from gnntool.engine.runs.saved import load_model

CLASSES = 5


def sampled_config(tmp_path: Path, **train: object) -> Path:
    config = {
        "dataset": {"name": "synthetic", "root": str(tmp_path / "data"), "nodes": 2000, "avg_degree": 8,
                    "features": 16, "classes": CLASSES},
        "model": {"arch": "sage", "hidden": 32},
        "train": {"epochs": 4, "batch_size": 128, "fanout": [10, 5], "weight_decay": 0.0, "chunk_size": 300, **train},
    }
    path = tmp_path / "sampled.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_sampled_sage_learns_and_reports_layerwise_metrics(runner, tmp_path: Path) -> None:
    config_path = sampled_config(tmp_path)
    run_dir = tmp_path / "run"
    result = runner.invoke(app, ["train", str(config_path), "--out", str(run_dir)])
    assert result.exit_code == 0, result.output
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["test"]["accuracy"] > 0.6  # chance is 1/5
    history = (run_dir / "history.csv").read_text().splitlines()
    assert len(history) == 5  # header + 4 epochs

    # eval recomputes the same metrics (layer-wise, in chunks of 300 nodes) from the saved model.
    result = runner.invoke(app, ["eval", str(run_dir), "--json"])
    assert result.exit_code == 0, result.output
    again = json.loads(result.stdout)
    assert again["test"]["accuracy"] == pytest.approx(metrics["test"]["accuracy"])

    # The saved embeddings are the layer-wise ones, and equal one-pass inference.
    config = validate(yaml.safe_load((run_dir / "config.yaml").read_text()))
    saved = load_model(run_dir / "model.pt", torch.device("cpu"))
    task = task_tensors(load_dataset(config.dataset, saved.seed), torch.device("cpu"))
    one_pass = infer(saved.model, task.splits["train"][0].graph, None, final=False).numpy()
    np.testing.assert_allclose(np.load(run_dir / "embeddings.npy"), one_pass, rtol=0, atol=1e-5)


def test_full_neighbourhoods_when_fanout_is_null(runner, tmp_path: Path) -> None:
    config_path = sampled_config(tmp_path, fanout=None, epochs=2)
    result = runner.invoke(app, ["train", str(config_path), "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output


def test_sampled_training_is_reproducible(runner, tmp_path: Path) -> None:
    config_path = sampled_config(tmp_path, epochs=2)
    for name in ("a", "b"):
        result = runner.invoke(app, ["train", str(config_path), "--out", str(tmp_path / name)])
        assert result.exit_code == 0, result.output
    assert (tmp_path / "a" / "metrics.json").read_text() == (tmp_path / "b" / "metrics.json").read_text()


def test_two_processes_under_torchrun_match_one(runner, torchrun, tmp_path: Path) -> None:
    config_path = sampled_config(tmp_path)
    single = tmp_path / "single"
    assert runner.invoke(app, ["train", str(config_path), "--out", str(single), "--device", "cpu"]).exit_code == 0
    double = tmp_path / "double"
    result = torchrun("train", str(config_path), "--out", str(double), "--device", "cpu")  # gloo
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [str(double)]  # rank 0 alone prints
    assert json.loads((double / "run.json").read_text())["processes"] == 2
    assert sorted(path.name for path in double.iterdir()) == sorted(path.name for path in single.iterdir())
    one = json.loads((single / "metrics.json").read_text())
    two = json.loads((double / "metrics.json").read_text())
    for split in ("train", "val", "test"):
        assert abs(two[split]["accuracy"] - one[split]["accuracy"]) < 0.05, (split, one, two)
    assert len((double / "history.csv").read_text().splitlines()) == 5  # header + 4 epochs


def test_full_batch_under_torchrun_is_a_usage_error(torchrun, tmp_path: Path, write_config) -> None:
    result = torchrun("train", str(write_config()), "--out", str(tmp_path / "run"))
    assert result.returncode != 0
    assert "train.batch_size" in result.stderr
    assert result.stderr.count("error: torchrun") == 1  # one message, from rank 0
    assert not (tmp_path / "run").exists()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_sampled_training_on_cuda_with_bf16_autocast(runner, tmp_path: Path) -> None:
    config_path = sampled_config(tmp_path, amp=True)
    run_dir = tmp_path / "run"
    result = runner.invoke(app, ["train", str(config_path), "--out", str(run_dir), "--device", "cuda"])
    assert result.exit_code == 0, result.output
    assert json.loads((run_dir / "run.json").read_text())["device"].startswith("cuda")
    assert json.loads((run_dir / "metrics.json").read_text())["test"]["accuracy"] > 0.6
