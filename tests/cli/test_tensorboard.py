"""TensorBoard event files: per-epoch scalars, final metrics with hyper-parameters, resume purging."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2
from torch.utils.tensorboard import SummaryWriter

from gnntool.cli import app
from gnntool.engine.runs.tracking.base import flatten, scalar_tag


def events(log_dir: Path) -> EventAccumulator:
    accumulator = EventAccumulator(str(log_dir))
    accumulator.Reload()
    return accumulator


def curve(accumulator: EventAccumulator, tag: str) -> list[tuple[int, float]]:
    return [(event.step, event.value) for event in accumulator.Scalars(tag)]


def test_tags_and_flattened_hparams() -> None:
    assert [scalar_tag(key) for key in ("loss", "val_loss", "val_micro_f1", "seconds")] == [
        "train/loss",
        "val/loss",
        "val/micro_f1",
        "time/epoch_seconds",
    ]
    flat = flatten({"seed": 0, "train": {"fanout": [25, 10], "batch_size": None, "lr": 0.01}, "model": {"arch": "gcn"}})
    assert flat == {
        "seed": 0,
        "train.fanout": "[25, 10]",
        "train.batch_size": "null",
        "train.lr": 0.01,
        "model.arch": "gcn",
    }


def test_every_seed_logs_its_epochs_metrics_and_hparams(runner, write_config, tmp_path) -> None:
    run_dir = tmp_path / "run"
    config = write_config({"train": {"epochs": 4}, "model": {"hidden": 8}})
    result = runner.invoke(app, ["train", str(config), "--out", str(run_dir), "--seeds", "2", "--tensorboard"])
    assert result.exit_code == 0, result.output
    assert sorted(path.name for path in (run_dir / "tensorboard").iterdir()) == ["seed-0", "seed-1"]
    for seed in (0, 1):
        board = events(run_dir / "tensorboard" / f"seed-{seed}")
        scalars = board.Tags()["scalars"]
        for tag in ("train/loss", "val/loss", "val/accuracy", "time/epoch_seconds"):
            assert [step for step, _ in curve(board, tag)] == [1, 2, 3, 4], tag
        history = (run_dir / f"seed-{seed}" / "history.csv").read_text().splitlines()
        last_loss = float(history[-1].split(",")[1])
        assert curve(board, "train/loss")[-1][1] == pytest.approx(last_loss, rel=1e-6)
        assert {"final/test_accuracy", "final/val_accuracy", "final/train_loss"} <= set(scalars)
        content = board.PluginTagToContent("hparams")
        start = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"]).session_start_info
        assert start.hparams["model.hidden"].number_value == 8
        assert start.hparams["seed"].number_value == seed  # the training seed, not config.seed
        assert start.hparams["model.arch"].string_value == "gcn"
        experiment = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/experiment"]).experiment
        assert "final/test_accuracy" in {info.name.tag for info in experiment.metric_infos}


def test_resume_drops_events_written_after_the_checkpoint(runner, write_config, tmp_path, interrupt_at) -> None:
    run_dir = tmp_path / "run"
    config = write_config({"train": {"epochs": 6}, "output": {"tensorboard": True}})
    interrupt_at(3)
    assert runner.invoke(app, ["train", str(config), "--out", str(run_dir)]).exit_code == 130
    log_dir = run_dir / "tensorboard" / "seed-0"
    assert [step for step, _ in curve(events(log_dir), "train/loss")] == [1, 2, 3]
    # A process that died after the checkpoint would have logged epochs 4 and 5 too.
    with SummaryWriter(str(log_dir)) as stale:
        for step in (4, 5):
            stale.add_scalar("train/loss", 99.0, step)
    result = runner.invoke(app, ["train", str(config), "--out", str(run_dir), "--resume"])
    assert result.exit_code == 0, result.output
    losses = curve(events(log_dir), "train/loss")
    assert [step for step, _ in losses] == [1, 2, 3, 4, 5, 6]
    assert all(value != 99.0 for _, value in losses)


def test_force_clears_old_events(runner, write_config, tmp_path) -> None:
    run_dir = tmp_path / "run"
    config = write_config({"train": {"epochs": 1}})
    for extra in ([], ["--force"]):
        assert runner.invoke(app, ["train", str(config), "--out", str(run_dir), "--tensorboard", *extra]).exit_code == 0
    assert len(list((run_dir / "tensorboard" / "seed-0").iterdir())) == 1


def test_without_the_package_asking_for_it_is_exit_2(runner, write_config, tmp_path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # `import` now raises ImportError
    run_dir = tmp_path / "run"
    config = write_config({"train": {"epochs": 2}})
    result = runner.invoke(app, ["train", str(config), "--out", str(run_dir), "--tensorboard"])
    assert result.exit_code == 2
    assert "pip install 'gnntool[tensorboard]'" in result.output
    assert not run_dir.exists()
