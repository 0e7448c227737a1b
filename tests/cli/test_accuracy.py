"""Accuracy on the real Cora and CiteSeer shipped in the package (public split, as Kipf & Welling)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gnntool.cli import app

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_gcn_cora_reaches_kipf_welling(runner, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("GNNTOOL_DATA", str(REPO / "data"))
    run_dir = tmp_path / "cora"
    config = REPO / "configs" / "gcn_cora.yaml"
    result = runner.invoke(app, ["train", str(config), "--out", str(run_dir), "--seeds", "10", "-q"])
    assert result.exit_code == 0, result.output
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert len(metrics["runs"]) == 10
    assert metrics["test"]["accuracy"] >= 0.815, metrics["test"]
