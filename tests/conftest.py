"""Shared fixtures: the repository's data root, small configs, and a CLI runner."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from gnntool import log, shipped

REPO = Path(__file__).resolve().parents[1]
DATA_ROOT = REPO / "data"


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's own GNNTOOL_* settings must not leak into the tests."""
    for var in ("GNNTOOL_DATA", "GNNTOOL_MIRROR", "GNNTOOL_OFFLINE"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture(autouse=True)
def loud_log():
    """A test that ran `--quiet` must not silence the logs of the tests after it."""
    yield
    log.set_quiet(False)


class TouchesFile:
    """Unpickling this creates `path` through subprocess.call: a global that torch's weights_only
    unpickler refuses with an "add_safe_globals" hint, which is what makes PyG 2.8.1's
    `fs.torch_load` retry with weights_only=False (os.system is blocked outright, so no retry)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (subprocess.call, (["touch", str(self.path)],))


def signal_during_training(process: subprocess.Popen, signum: int, settle: float = 0.0) -> tuple[str, str]:
    """Once `process` (a `gnntool train` whose stderr is a text pipe: plain progress lines) logs its
    first epoch, wait `settle` seconds, send `signum` and return its stdout and the rest of its stderr."""
    seen = ""
    while "epoch 1/" not in seen:
        line = process.stderr.readline()
        assert line, f"training ended before its first epoch: {seen}"
        seen += line
    time.sleep(settle)
    process.send_signal(signum)
    return process.communicate(timeout=120)


@pytest.fixture
def without_shipped_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The package ships no raw files (as for datasets other than Cora and CiteSeer)."""
    monkeypatch.setattr(shipped, "data_dir", lambda: tmp_path / "no-shipped-data")


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


@pytest.fixture
def torchrun():
    """Run `python -m gnntool ARGS` as two processes under torchrun (gloo: one thread each)."""

    def run(*args: str) -> subprocess.CompletedProcess:
        command = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node=2",
            "-m",
            "gnntool",
            *args,
        ]
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        return subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)

    return run


@pytest.fixture
def interrupt_at(monkeypatch):
    """Send this process a real SIGINT when training reports the given epoch (once)."""

    def arm(epoch: int) -> None:
        original = log.EpochProgress.update
        fired = []

        def update(self, current: int, loss: float, monitored: float) -> None:
            original(self, current, loss, monitored)
            if current == epoch and not fired:
                fired.append(current)
                os.kill(os.getpid(), signal.SIGINT)

        monkeypatch.setattr(log.EpochProgress, "update", update)

    return arm
