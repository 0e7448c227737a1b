"""Typed-only keys on a homogeneous graph (issue 23's bad inputs): `dataset.target`,
`dataset.add_reverse`, `train.link_relation` and a per-relation `train.fanout` mapping, each
refused by `gnntool train` with exit 2, one message naming the key, and nothing written."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import DATA_ROOT

from gnntool.cli import app


def homogeneous_npz(path: Path) -> Path:
    """One node type and one edge type, labelled, without split masks."""
    rng = np.random.default_rng(0)
    np.savez(path, x=rng.normal(size=(30, 3)).astype(np.float32), edge_index=rng.integers(0, 30, (2, 90)),
             y=np.arange(30) % 2)  # fmt: skip
    return path


@pytest.mark.parametrize(
    ("graph", "dataset", "train", "key", "message"),
    [
        ("npz", {"target": "node"}, {}, "dataset.target", "g.npz is a graph of one node and one edge type"),
        ("npz", {"add_reverse": False}, {}, "dataset.add_reverse", "g.npz is a graph of one node and one edge type"),
        ("npz", {}, {"objective": "link", "link_relation": "node__to__node"}, "train.link_relation",
         "is a homogeneous graph"),
        ("npz", {}, {"batch_size": 8, "fanout": {"default": [2, 2]}}, "train.fanout", "this graph has one edge type"),
        ("cora", {"target": "paper"}, {}, "dataset.target", "is for typed graphs"),
        ("cora", {}, {"objective": "link", "link_relation": "paper__cites__paper"}, "train.link_relation",
         "Cora is homogeneous"),
        ("cora", {}, {"batch_size": 8, "fanout": {"paper__cites__paper": [2, 2]}}, "train.fanout",
         "one edge type"),
    ],
    ids=["npz-target", "npz-add-reverse", "npz-link-relation", "npz-fanout", "cora-target", "cora-link-relation",
         "cora-fanout"],
)  # fmt: skip
def test_a_typed_key_on_a_homogeneous_graph_is_one_exit_2_message(
    runner, tmp_path: Path, graph: str, dataset: dict, train: dict, key: str, message: str
) -> None:
    if graph == "npz":
        data = {"name": "graph", "path": str(homogeneous_npz(tmp_path / "g.npz")), "split": "random"}
    else:
        data = {"name": "Cora", "root": str(DATA_ROOT)}
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({"dataset": {**data, **dataset}, "model": {"arch": "sage", "hidden": 8},
                                      "train": {"epochs": 2, **train}}))  # fmt: skip
    run = tmp_path / "run"
    result = runner.invoke(app, ["train", str(config), "--out", str(run), "--device", "cpu"])
    assert result.exit_code == 2, result.output
    assert key in result.stderr and message in result.stderr, result.stderr
    assert result.stderr.count("error:") == 1 and "Traceback" not in result.output
    written = {path.name for path in run.iterdir()} if run.exists() else set()
    assert written <= {".lock", "config.yaml"}  # no model, metrics or embeddings: a rerun starts afresh
