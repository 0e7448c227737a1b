"""Weights & Biases without an API key: offline runs under the run directory, read back from the
run's transaction log (.wandb) with no network."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import pytest
from wandb.proto import wandb_internal_pb2

from gnntool.cli import app

BLOCK, HEADER = 32768, 7  # the .wandb file: LevelDB's log format (32 KiB blocks) after a 7-byte W&B header
FULL, LAST = 1, 4


def records(path: Path) -> list[Any]:
    """The protobuf records of a .wandb file (wandb 0.31 ships no reader; its Record schema is public)."""
    data, position, chunks, found = path.read_bytes(), HEADER, b"", []
    assert data[:4] == b":W&B"
    while position + 7 <= len(data):
        if BLOCK - position % BLOCK < 7:  # a block's tail too short for a header is padding
            position += BLOCK - position % BLOCK
            continue
        _, length, kind = struct.unpack("<IHB", data[position : position + 7])
        chunks += data[position + 7 : position + 7 + length]
        position += 7 + length
        if kind in (FULL, LAST):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(chunks)
            found.append(record)
            chunks = b""
        elif kind == 0:
            break
    return found


def values(items: Any) -> dict[str, Any]:
    return {item.key or "/".join(item.nested_key): json.loads(item.value_json) for item in items}


def read_run(folder: Path) -> tuple[Any, dict[str, Any], list[dict[str, Any]]]:
    """A W&B run folder's run record, its final summary and its history rows."""
    (log,) = folder.glob("*.wandb")
    run, summary, history = None, {}, []
    for record in records(log):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            run = record.run
        elif kind == "summary":
            summary.update(values(record.summary.update))
        elif kind == "history":
            history.append(values(record.history.item))
    return run, summary, history


@pytest.fixture
def no_api_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("WANDB_API_KEY", "WANDB_MODE", "WANDB_IDENTITY_TOKEN_FILE", "WANDB_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path / "wandb-config"))
    monkeypatch.setenv("WANDB_INIT_TIMEOUT", "120")  # W&B's service may start slowly on a busy machine


def test_without_an_api_key_a_seeded_run_is_logged_offline_under_its_directory(
    runner, write_config, tmp_path, no_api_key
) -> None:
    config = write_config({"train": {"epochs": 3}, "model": {"hidden": 8}, "output": {"wandb": {"project": "gnn"}}})
    run_dir = tmp_path / "run"
    result = runner.invoke(app, ["train", str(config), "--out", str(run_dir), "--seeds", "2", "--logger", "wandb"])
    assert result.exit_code == 0, result.output
    assert result.output.count("logging offline") == 1
    ids = json.loads((run_dir / "tracking.json").read_text())
    metrics = json.loads((run_dir / "metrics.json").read_text())

    (folder,) = (run_dir / "wandb").glob(f"offline-run-*-{ids['run']['wandb']}")
    run, summary, _ = read_run(folder)
    assert (run.project, run.run_group, run.job_type, run.display_name) == ("gnn", "run", "run", "run")
    assert summary["final/test_accuracy"] == pytest.approx(metrics["test"]["accuracy"])
    assert summary["final/test_accuracy_std"] == pytest.approx(metrics["std"]["test"]["accuracy"])
    assert {"config.yaml", "metrics.json", "curves.png"} <= {path.name for path in (folder / "files").iterdir()}

    for seed in (0, 1):
        (folder,) = (run_dir / "wandb").glob(f"offline-run-*-{ids[f'seed-{seed}']['wandb']}")
        run, summary, history = read_run(folder)
        assert (run.run_group, run.job_type, run.display_name) == ("run", "seed", f"run/seed-{seed}")
        config_values = values(run.config.update)
        assert config_values["seed"] == seed and config_values["model.hidden"] == 8
        seed_metrics = json.loads((run_dir / f"seed-{seed}" / "metrics.json").read_text())
        assert summary["final/test_accuracy"] == pytest.approx(seed_metrics["test"]["accuracy"])
        assert summary["final/best_epoch"] >= 1
        lines = (run_dir / f"seed-{seed}" / "history.csv").read_text().splitlines()[1:]
        assert [row["epoch"] for row in history] == [1, 2, 3]
        assert [row["train/loss"] for row in history] == pytest.approx([float(line.split(",")[1]) for line in lines])
