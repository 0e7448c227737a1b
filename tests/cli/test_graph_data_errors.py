"""Bad whole-graph data through the command line: exit 2, one message naming the file, no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from gnntool.cli import app


def refused(result, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.stderr and result.stderr.count("error:") == 1, result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr


def dry_run(runner, tmp_path: Path, dataset: dict):
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"dataset": dataset, "train": {"epochs": 1}}))
    return runner.invoke(app, ["train", str(config), "--dry-run", "--out", str(tmp_path / "run")])


def test_missing_ogbg_files_are_listed(runner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GNNTOOL_OFFLINE", "1")
    result = dry_run(runner, tmp_path, {"name": "ogbg-molhiv", "root": str(tmp_path / "data")})
    refused(result, "ogbg-molhiv: raw files missing", "raw/edge.csv.gz", "split/scaffold/test.csv.gz")


def test_a_bad_tu_line_is_named(runner, tmp_path: Path) -> None:
    folder = tmp_path / "tu"
    folder.mkdir()
    (folder / "X_A.txt").write_text("1, 2\n2, 1\n")
    (folder / "X_graph_indicator.txt").write_text("1\n1\n2\n")
    (folder / "X_graph_labels.txt").write_text("0\n1\n")
    (folder / "X_node_labels.txt").write_text("0\n1\n")
    refused(dry_run(runner, tmp_path, {"name": "tu", "path": str(folder)}), "X_node_labels.txt: 2 lines; expected 3")
    refused(dry_run(runner, tmp_path, {"name": "tu", "path": str(tmp_path / "absent")}), "absent: not a folder")
