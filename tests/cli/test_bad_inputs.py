"""Every bad input is exit 2 with one message, never a traceback; no split is silently empty."""

from __future__ import annotations

import errno
import io
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from conftest import REPO
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gnntool.cli import app
from gnntool.config import known_keys
from gnntool.engine.metrics import metrics_from_sums
from gnntool.errors import UserError
from gnntool.rundir import layout as outputs
from gnntool.traits import OBJECTIVES

TINY = REPO / "examples" / "tiny_graph.npz"


def refused(result, *fragments: str) -> None:
    """Exit 2, one error message holding every fragment, and no traceback."""
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.stderr and result.stderr.count("error:") == 1, result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr


NOT_TEXT = [b"model:\n  hidden: 16\n  # caf\xe9\n", bytes(range(256)), b"\x89PNG\r\n\x1a\n\0\0"]


@pytest.mark.parametrize("content", NOT_TEXT)
def test_a_config_that_is_not_utf8_text(runner, tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "config.yaml"
    path.write_bytes(content)
    refused(runner.invoke(app, ["train", str(path)]), str(path))


def test_out_naming_a_file(runner, write_config, tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("not a directory")
    refused(runner.invoke(app, ["train", str(write_config()), "--out", str(tmp_path / "taken")]), "is a file")
    refused(runner.invoke(app, ["train", str(write_config()), "--out", str(tmp_path / "taken" / "run")]))


@pytest.mark.parametrize(
    "override, key",
    [
        ("dataset.num_val=0", "dataset.num_val"),
        ("dataset.num_test=0", "dataset.num_test"),
        ("dataset.val_frac=0", "dataset.val_frac"),
    ],
)
def test_schema_refuses_an_empty_split(runner, write_config, tmp_path: Path, override: str, key: str) -> None:
    config = write_config({"dataset": {"split": "random"}})
    refused(runner.invoke(app, ["train", str(config), "--set", override, "--out", str(tmp_path / "run")]), key)
    assert not (tmp_path / "run").exists()  # before anything is written


@pytest.mark.parametrize("mask", ["train_mask", "val_mask", "test_mask"])
def test_an_empty_mask_in_a_graph_file(runner, write_config, tmp_path: Path, mask: str) -> None:
    arrays = dict(np.load(TINY))
    arrays[mask] = np.zeros_like(arrays[mask])
    np.savez(tmp_path / "graph.npz", **arrays)
    config = write_config({"dataset": {"name": "graph", "path": str(tmp_path / "graph.npz")}})
    refused(runner.invoke(app, ["train", str(config), "--out", str(tmp_path / "run")]), mask, "graph.npz")
    assert not (tmp_path / "run" / "metrics.json").exists()


def test_a_random_split_too_small_for_the_graph(runner, write_config, tmp_path: Path) -> None:
    config = write_config({"dataset": {"name": "graph", "path": str(TINY), "split": "random", "val_frac": 0.001}})
    refused(runner.invoke(app, ["train", str(config), "--out", str(tmp_path / "run")]), "val split is empty")


def test_metrics_of_no_scored_node_are_an_error_not_zero() -> None:
    sums = {"nodes": torch.tensor(0.0), "loss": torch.tensor(0.0), "correct": torch.tensor(0.0)}
    with pytest.raises(UserError, match="empty"):
        metrics_from_sums(sums)


def test_a_full_disk_keeps_the_previous_checkpoint(runner, write_config, tmp_path: Path, monkeypatch) -> None:
    """ENOSPC while writing the third checkpoint: exit 2 naming the file, the second one intact."""
    from gnntool.engine import train as train_module

    original = train_module.save_checkpoint
    calls = []

    def fill_the_disk_on_the_third(*args, **kwargs) -> None:
        calls.append(1)
        if len(calls) == 3:

            def no_space(fd: int) -> None:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

            monkeypatch.setattr(outputs.os, "fsync", no_space)
        original(*args, **kwargs)

    monkeypatch.setattr(train_module, "save_checkpoint", fill_the_disk_on_the_third)
    config = write_config({"train": {"epochs": 10, "checkpoint_seconds": 1.0e-9}})
    run_dir = tmp_path / "run"
    result = runner.invoke(app, ["train", str(config), "--out", str(run_dir)])
    refused(result, "checkpoint.pt", "No space left on device")
    assert torch.load(run_dir / "checkpoint.pt", weights_only=True)["epoch"] == 2
    assert not list(run_dir.glob(".*.tmp"))


@pytest.fixture
def tmpfs(tmp_path: Path):
    """Mount a small tmpfs (needs root and mount rights; skipped elsewhere)."""
    mounted = []

    def mount(size: str, *options: str) -> Path:
        point = tmp_path / f"tmpfs{len(mounted)}"
        point.mkdir()
        command = ["mount", "-t", "tmpfs", "-o", ",".join([f"size={size}", *options]), "tmpfs", str(point)]
        try:
            done = subprocess.run(command, capture_output=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            pytest.skip("cannot run mount here")
        if done.returncode != 0:
            pytest.skip("cannot mount a tmpfs here")
        mounted.append(point)
        return point

    yield mount
    for point in mounted:
        subprocess.run(["umount", str(point)], capture_output=True, timeout=30)


def test_a_real_full_disk(runner, write_config, tmpfs) -> None:
    run_dir = tmpfs("64k") / "run"  # room for config.yaml, not for a checkpoint of Cora's GCN
    config = write_config({"train": {"epochs": 3, "checkpoint_seconds": 1.0e-9}})
    refused(runner.invoke(app, ["train", str(config), "--out", str(run_dir)]), "No space left on device")
    assert not list(run_dir.glob(".*.tmp")) and not (run_dir / "checkpoint.pt").exists()


def test_a_read_only_out(runner, write_config, tmpfs) -> None:
    point = tmpfs("64k", "ro")
    refused(runner.invoke(app, ["train", str(write_config()), "--out", str(point / "run")]), str(point / "run"))
    refused(runner.invoke(app, ["train", str(write_config()), "--out", str(point)]), str(point))


# --- property-based: whatever is thrown at the CLI, exit 0 or 2 and never a traceback -----------

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-2, 3),
    st.floats(-0.5, 1.5, allow_nan=False),
    st.sampled_from(["", "x", "gcn", "sage", "batch", "graph", "synthetic", "Cora", "mean", "random", "masks"]),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)
# Keys whose values could make a run train for long or hold much memory keep their safe values.
RISKY = {"train.epochs", "dataset.nodes", "dataset.features", "model.hidden"}
RISKY |= {"train.objective", "dataset.name", "dataset.root"}
KEYS = st.sampled_from([key for key in known_keys() if key not in RISKY] + ["model.nope", "train", "x.y", "model..k"])


def invoke_train(runner, config: Path, overrides: list[str], out: Path):
    args = ["train", str(config), "--out", str(out), "--force", "-q"]
    for override in overrides:
        args += ["--set", override]
    return runner.invoke(app, args)


def no_traceback(result) -> None:
    assert result.exit_code in (0, 2), (result.output, result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.stderr


FAST = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FAST
@given(document=st.one_of(VALUES, st.text(max_size=40), st.binary(max_size=40)))
def test_random_yaml_documents(runner, tmp_path: Path, document) -> None:
    path = tmp_path / "random.yaml"
    if isinstance(document, bytes):
        path.write_bytes(document)
    elif isinstance(document, str):
        path.write_text(document)
    else:
        path.write_text(yaml.safe_dump(document))
    no_traceback(invoke_train(runner, path, [], tmp_path / "run"))


@FAST
@given(
    overrides=st.lists(
        st.tuples(KEYS, VALUES).map(lambda kv: f"{kv[0]}={yaml.safe_dump(kv[1], default_flow_style=True).strip()}")
        | st.text(max_size=12),
        max_size=3,
    ),
    objective=st.sampled_from(sorted(OBJECTIVES)),
)
def test_random_overrides(runner, tmp_path: Path, overrides: list[str], objective: str) -> None:
    """Every objective, with random overrides on top (`train.objective` is drawn apart from them, so
    that each objective meets them)."""
    config = tmp_path / "tiny.yaml"
    train = {"epochs": 1, "objective": objective}
    config.write_text(yaml.safe_dump({"dataset": {"name": "graph", "path": str(TINY)}, "train": train}))
    no_traceback(invoke_train(runner, config, overrides, tmp_path / "run"))


ARRAYS = st.sampled_from(["x", "edge_index", "y", "node_id", "train_mask", "val_mask", "test_mask", "other"])
DTYPES = st.sampled_from([np.float32, np.float64, np.int64, np.int8, np.uint64, np.bool_, np.str_])


@st.composite
def graph_files(draw) -> dict[str, np.ndarray]:
    """The tiny graph with some arrays replaced by small arrays of random shape, dtype and values."""
    arrays = dict(np.load(TINY))
    for name in draw(st.lists(ARRAYS, max_size=3, unique=True)):
        if draw(st.booleans()):
            arrays.pop(name, None)
            continue
        shape = draw(st.sampled_from([(), (0,), (120,), (3,), (2, 5), (120, 2), (2, 932), (120, 16)]))
        values = draw(st.lists(st.integers(-3, 200), min_size=1, max_size=4))
        arrays[name] = np.resize(np.array(values), shape).astype(draw(DTYPES))
    return arrays


@FAST
@given(arrays=graph_files(), split=st.sampled_from(["masks", "random"]), garbage=st.binary(max_size=30))
def test_malformed_graph_files(runner, tmp_path: Path, arrays, split: str, garbage: bytes) -> None:
    path = tmp_path / "graph.npz"
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    path.write_bytes(buffer.getvalue() if not garbage.startswith(b"\0") else garbage)
    config = tmp_path / "graph.yaml"
    dataset = {"name": "graph", "path": str(path), "split": split}
    config.write_text(yaml.safe_dump({"dataset": dataset, "train": {"epochs": 1}}))
    no_traceback(invoke_train(runner, config, [], tmp_path / "run"))


def test_accuracy_on_multi_label_node_labels_is_refused(runner, tmp_path: Path) -> None:
    """A 0/1 label matrix has no accuracy to monitor: one exit-2 message naming the monitors it has."""
    rng = np.random.default_rng(0)
    graph = tmp_path / "multilabel.npz"
    chain = np.arange(19)
    np.savez(
        graph, x=rng.random((20, 4)).astype(np.float32), edge_index=np.stack([chain, chain + 1]),
        y=(rng.random((20, 3)) > 0.5).astype(np.float32),
    )  # fmt: skip
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({
        "dataset": {"name": "graph", "path": str(graph), "split": "random"},
        "train": {"epochs": 2, "monitor": "val_accuracy"},
    }))  # fmt: skip
    result = runner.invoke(app, ["train", str(config), "--out", str(tmp_path / "run")])
    refused(result, "train.monitor: the labels are multi-label", "val_micro_f1")
    assert not (tmp_path / "run" / "metrics.json").exists()
