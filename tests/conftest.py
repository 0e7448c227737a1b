"""Shared fixtures: the repository's data root, small configs, and a CLI runner."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

REPO = Path(__file__).resolve().parents[1]
DATA_ROOT = REPO / "data"


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def write_config(tmp_path: Path):
    """Write a config mapping to a YAML file in tmp_path; data comes from the shipped root."""

    def write(config: dict | None = None, name: str = "config.yaml") -> Path:
        config = dict(config or {})
        dataset = {"name": "Cora", "root": str(DATA_ROOT), **config.pop("dataset", {})}
        train = {"epochs": 5, **config.pop("train", {})}
        path = tmp_path / name
        path.write_text(yaml.safe_dump({"dataset": dataset, "train": train, **config}))
        return path

    return write
