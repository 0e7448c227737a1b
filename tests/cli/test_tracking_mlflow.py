"""MLflow: a seeded run is a parent with a child per seed, resumed as the same runs; a real tracking
server gets every run, and losing it mid-run costs the run nothing but one warning."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from gnntool import log
from gnntool.cli import app


def runs_by_name(client: MlflowClient, experiment: str) -> dict:
    found = client.get_experiment_by_name(experiment)
    assert found is not None, f"no experiment {experiment}"
    return {run.info.run_name: run for run in client.search_runs([found.experiment_id])}


def artifacts(client: MlflowClient, run) -> set[str]:
    return {item.path for item in client.list_artifacts(run.info.run_id)}


def check_seeded_run(client: MlflowClient, run_dir: Path, experiment: str, seeds: list[int], epochs: int) -> None:
    """Parent and one child per seed: params, tags, per-epoch history, final metrics and files."""
    runs = runs_by_name(client, experiment)
    names = [run_dir.name, *(f"{run_dir.name}/seed-{seed}" for seed in seeds)]
    assert sorted(runs) == sorted(names)
    parent = runs[run_dir.name]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert "mlflow.parentRunId" not in parent.data.tags
    assert parent.data.tags["dataset"] == "Cora" and parent.data.tags["run_dir"] == str(run_dir.resolve())
    assert parent.data.params["model.hidden"] == "8" and parent.data.params["seeds"] == str(len(seeds))
    assert parent.data.metrics["final/test_accuracy"] == pytest.approx(metrics["test"]["accuracy"])
    assert parent.data.metrics["final/test_accuracy_std"] == pytest.approx(metrics["std"]["test"]["accuracy"])
    assert {"config.yaml", "metrics.json", "curves.png"} <= artifacts(client, parent)
    for seed in seeds:
        child = runs[f"{run_dir.name}/seed-{seed}"]
        assert child.info.status == "FINISHED"
        assert child.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert child.data.params["seed"] == str(seed) and child.data.tags["seed"] == str(seed)
        history = client.get_metric_history(child.info.run_id, "train/loss")
        assert sorted(metric.step for metric in history) == list(range(1, epochs + 1))
        lines = (run_dir / f"seed-{seed}" / "history.csv").read_text().splitlines()
        assert max(history, key=lambda metric: metric.step).value == pytest.approx(float(lines[-1].split(",")[1]))
        assert artifacts(client, child) == {"history.csv", "metrics.json"}
    assert parent.info.status == "FINISHED"


def test_a_seeded_run_is_a_parent_and_children_and_resume_continues_them(
    runner, write_config, tmp_path, interrupt_at, monkeypatch
) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)  # a SQLite store keeps its artifacts in ./mlruns
    config = write_config({"train": {"epochs": 3}, "model": {"hidden": 8}}, name="cora.yaml")
    run_dir = tmp_path / "run"
    command = ["train", str(config), "--out", str(run_dir), "--seeds", "2", "--logger", "mlflow"]
    interrupt_at(2)
    assert runner.invoke(app, command).exit_code == 130
    kept = json.loads((run_dir / "tracking.json").read_text())
    client = MlflowClient(uri)
    assert {run.info.status for run in runs_by_name(client, "cora").values()} == {"KILLED"}
    result = runner.invoke(app, [*command, "--resume"])
    assert result.exit_code == 0, result.output
    assert sorted(kept) == ["run", "seed-0"]  # seed 1 had not started
    resumed = json.loads((run_dir / "tracking.json").read_text())
    assert resumed == {**kept, "seed-1": resumed["seed-1"]}
    check_seeded_run(client, run_dir, "cora", [0, 1], epochs=3)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(folder: Path, port: int) -> subprocess.Popen:
    """`mlflow server` on 127.0.0.1:`port`, a SQLite backend and a local artifact folder; waits for /health."""
    mlflow = Path(sys.executable).with_name("mlflow")
    command = [str(mlflow), "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    command += ["--backend-store-uri", f"sqlite:///{folder / 'server.db'}"]
    command += ["--artifacts-destination", str(folder / "artifacts")]
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    server = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        assert server.poll() is None, "mlflow server exited"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1):
                return server
        except OSError:
            time.sleep(0.5)
    stop(server)
    raise AssertionError("mlflow server did not start")


def stop(server: subprocess.Popen) -> None:
    """Kill the server and its workers (its own process group) at once, as a crash would."""
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGKILL)
    server.wait(timeout=30)


@pytest.mark.slow
def test_a_tracking_server_gets_every_run_and_losing_it_costs_one_warning(
    runner, write_config, tmp_path, monkeypatch
) -> None:
    port = free_port()
    server = start_server(tmp_path, port)
    try:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{port}")
        config = write_config({"train": {"epochs": 3}, "model": {"hidden": 8}}, name="cora.yaml")
        run_dir = tmp_path / "run"
        result = runner.invoke(app, ["train", str(config), "--out", str(run_dir), "--seeds", "3", "--logger", "mlflow"])
        assert result.exit_code == 0, result.output
        assert "warning" not in result.output
        check_seeded_run(MlflowClient(f"http://127.0.0.1:{port}"), run_dir, "cora", [0, 1, 2], epochs=3)

        # The server dies at the second seed's second epoch: training goes on, one warning.
        original, epochs = log.EpochProgress.update, []

        def update(self, epoch: int, loss: float, monitored: float) -> None:
            original(self, epoch, loss, monitored)
            epochs.append(epoch)
            if len(epochs) == 5:
                stop(server)

        monkeypatch.setattr(log.EpochProgress, "update", update)
        lost = tmp_path / "lost"
        started = time.monotonic()
        result = runner.invoke(app, ["train", str(config), "--out", str(lost), "--seeds", "3", "--logger", "mlflow"])
        assert result.exit_code == 0, result.output
        warnings = [line for line in result.output.splitlines() if "warning" in line.lower()]
        assert len(warnings) == 1 and warnings[0].startswith("warning: mlflow: "), result.output
        assert json.loads((lost / "metrics.json").read_text())["runs"][2]["seed"] == 2
        assert time.monotonic() - started < 60
    finally:
        stop(server)


def test_a_seeded_sweep_is_a_parent_with_a_child_per_cell_and_seed(runner, write_config, tmp_path, monkeypatch) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)
    config = write_config({"train": {"epochs": 2}, "model": {"hidden": 8}}, name="grid.yaml")
    out = tmp_path / "sweep"
    command = ["sweep", str(config), "--grid", "model.hidden=4,8", "--seeds", "2", "--out", str(out)]
    command += ["--logger", "mlflow", "--set", "output.mlflow.experiment=grids"]
    result = runner.invoke(app, command)
    assert result.exit_code == 0, result.output
    client = MlflowClient(uri)
    runs = runs_by_name(client, "grids")
    parent = runs.pop("sweep")
    assert parent.data.params["grid.model.hidden"] == "[4, 8]" and parent.data.tags["gnntool.kind"] == "sweep"
    assert artifacts(client, parent) == {"sweep.csv", "sweep.json"}
    assert sorted(runs) == [f"hidden-{hidden}/seed-{seed}" for hidden in (4, 8) for seed in (0, 1)]
    for name, run in runs.items():
        assert run.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert run.data.tags["cell"] == name.split("/")[0] and run.data.tags["gnntool.kind"] == "seed"
        assert run.data.params["model.hidden"] == name.split("/")[0].removeprefix("hidden-")
    assert runner.invoke(app, command).exit_code == 0  # every cell finished: none logged again
    assert len(runs_by_name(client, "grids")) == 5
