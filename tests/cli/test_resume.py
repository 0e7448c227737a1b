"""Ctrl-C during training: exit 130 with a checkpoint, and --resume reaching the same result."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import signal_during_training

from gnntool.cli import app


def train(runner, config: Path, run_dir: Path, *extra: str):
    return runner.invoke(app, ["train", str(config), "--out", str(run_dir), *extra])


@pytest.mark.parametrize("seeds", ["1", "2"])
def test_resume_after_interrupt_matches_uninterrupted(runner, write_config, tmp_path, interrupt_at, seeds) -> None:
    config = write_config({"train": {"epochs": 30}, "model": {"norm": "batch"}})
    reference = tmp_path / "reference"
    assert train(runner, config, reference, "--seeds", seeds).exit_code == 0

    interrupt_at(12)
    run_dir = tmp_path / "interrupted"
    result = train(runner, config, run_dir, "--seeds", seeds)
    assert result.exit_code == 130, result.output
    assert "checkpoint saved" in result.stderr and result.stdout == ""
    checkpoint = run_dir / ("checkpoint.pt" if seeds == "1" else "seed-0/checkpoint.pt")
    state = torch.load(checkpoint, weights_only=True)  # tensors and plain values only
    assert state["epoch"] == 12 and len(state["history"]) == 12
    assert not (run_dir / "metrics.json").exists()

    refused = train(runner, config, run_dir, "--seeds", seeds)
    assert refused.exit_code == 2 and "--resume" in refused.stderr

    resumed = train(runner, config, run_dir, "--seeds", seeds, "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert resumed.stdout == f"{run_dir}\n"
    assert not checkpoint.exists()
    assert (run_dir / "metrics.json").read_text() == (reference / "metrics.json").read_text()
    assert np.array_equal(np.load(run_dir / "embeddings.npy"), np.load(reference / "embeddings.npy"))
    history = lambda d: [line.split(",")[:4] for line in (d / "history.csv").read_text().splitlines()]  # noqa: E731
    sub = "" if seeds == "1" else "seed-0"
    assert history(run_dir / sub) == history(reference / sub)  # every epoch but its wall time


@pytest.mark.parametrize("seeds", ["1", "2"])
def test_killed_just_before_metrics_json_resumes_without_retraining(
    runner, write_config, tmp_path, monkeypatch, seeds
) -> None:
    """Killed after the last model is saved but before metrics.json: --resume continues from the
    checkpoint (taken at every boundary here, so no epoch trains again), never from scratch."""
    from gnntool.engine.runs import train_run as run_module

    config = write_config({"train": {"epochs": 5, "checkpoint_seconds": 1.0e-9}})
    run_dir = tmp_path / "run"
    write_json = run_module.write_json

    def killed_at_the_end(path: Path, value) -> None:
        if path == run_dir / "metrics.json":
            raise KeyboardInterrupt  # as a kill at that instant: nothing after it runs
        write_json(path, value)

    monkeypatch.setattr(run_module, "write_json", killed_at_the_end)
    assert train(runner, config, run_dir, "--seeds", seeds).exit_code == 130
    monkeypatch.undo()
    assert not (run_dir / "metrics.json").exists() and (run_dir / "model.pt").is_file()

    resumed = train(runner, config, run_dir, "--seeds", seeds, "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert "starting a new run" not in resumed.stderr
    if seeds == "1":
        assert "resuming from" in resumed.stderr and "after epoch 5" in resumed.stderr
    else:  # both seeds had finished (their metrics.json written): neither trains again
        assert resumed.stderr.count("already finished") == 2
    assert (run_dir / "metrics.json").is_file() and not list(run_dir.rglob("checkpoint.pt"))


def test_resume_with_another_config_is_refused(runner, write_config, tmp_path, interrupt_at) -> None:
    interrupt_at(3)
    run_dir = tmp_path / "run"
    assert train(runner, write_config({"train": {"epochs": 10}}), run_dir).exit_code == 130
    result = train(runner, write_config({"train": {"epochs": 10}, "model": {"hidden": 8}}), run_dir, "--resume")
    assert result.exit_code == 2 and "config differs" in result.stderr


@pytest.mark.slow
def test_real_ctrl_c_on_the_command(write_config, tmp_path: Path) -> None:
    """A SIGINT to the gnntool process itself (as a terminal's Ctrl-C) exits 130 with a checkpoint."""
    config = write_config({"train": {"epochs": 100000, "patience": 100000}})
    run_dir = tmp_path / "run"
    process = subprocess.Popen(
        [sys.executable, "-m", "gnntool", "train", str(config), "--out", str(run_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    stdout, stderr = signal_during_training(process, signal.SIGINT, settle=0.5)
    assert process.returncode == 130, stderr
    assert stdout == "" and "Traceback" not in stderr
    assert torch.load(run_dir / "checkpoint.pt", weights_only=True)["epoch"] > 0


def test_sampled_training_resumes_exactly(runner, write_config, tmp_path, interrupt_at) -> None:
    # Each epoch's seed order comes from (seed, epoch), each batch's neighbour samples from
    # (seed, epoch, batch) and dropout from the checkpointed RNG, so a resumed sampled run
    # repeats the uninterrupted one too.
    config = write_config(
        {"model": {"arch": "sage", "norm": "batch"}, "train": {"epochs": 8, "batch_size": 64, "fanout": [10, 5]}}
    )
    reference = tmp_path / "reference"
    assert train(runner, config, reference).exit_code == 0
    interrupt_at(3)
    run_dir = tmp_path / "interrupted"
    assert train(runner, config, run_dir).exit_code == 130
    resumed = train(runner, config, run_dir, "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert (run_dir / "metrics.json").read_text() == (reference / "metrics.json").read_text()
    assert np.array_equal(np.load(run_dir / "embeddings.npy"), np.load(reference / "embeddings.npy"))


def test_torchrun_resumes_a_checkpoint_rank_0_reads(runner, write_config, tmp_path, interrupt_at, torchrun) -> None:
    # Rank 0 reads checkpoint.pt and broadcasts it: every rank continues from the same epoch.
    config = write_config(
        {"model": {"arch": "sage"}, "train": {"epochs": 6, "batch_size": 64, "fanout": [10, 5]}, "device": "cpu"}
    )
    run_dir = tmp_path / "run"
    interrupt_at(2)
    assert train(runner, config, run_dir).exit_code == 130
    result = torchrun("train", str(config), "--out", str(run_dir), "--resume")
    assert result.returncode == 0, result.stderr
    assert "resuming from" in result.stderr and "after epoch 2" in result.stderr
    assert len((run_dir / "history.csv").read_text().splitlines()) == 7  # header + 6 epochs
    assert not (run_dir / "checkpoint.pt").exists()
