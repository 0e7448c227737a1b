"""Runs that survive the cluster: checkpoints on a clock, SIGTERM, kill -9, one writer per run directory."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from conftest import DATA_ROOT, signal_during_training

from gnntool.cli import app

# Neighbour-sampled GraphSAGE on Cora with many small steps (18) per epoch, so that most
# checkpoints fall inside an epoch.
SAMPLED = {
    "dataset": {"name": "Cora", "root": str(DATA_ROOT)},
    "model": {"arch": "sage", "norm": "batch", "hidden": 16},
    "train": {"epochs": 12, "batch_size": 8, "fanout": [5, 5], "checkpoint_seconds": 1},
    "device": "cpu",
}


def gnntool(*args: str, **popen: object) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "gnntool", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen
    )


def wait_for(condition, process: subprocess.Popen, what: str, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert process.poll() is None, f"gnntool ended before {what}: {process.communicate()}"
        assert time.monotonic() < deadline, f"no {what} after {timeout} s"
        time.sleep(0.05)


def checkpoint_within_epoch(path: Path) -> bool:
    """A checkpoint written between two steps of an epoch is there."""
    try:
        return torch.load(path, weights_only=True)["step"] > 0
    except (FileNotFoundError, RuntimeError, EOFError):
        return False


@pytest.fixture(scope="module")
def sampled(tmp_path_factory) -> tuple[Path, str]:
    """The sampled config and the metrics.json of its uninterrupted run."""
    folder = tmp_path_factory.mktemp("sampled")
    config = folder / "sampled.yaml"
    config.write_text(yaml.safe_dump(SAMPLED))
    from typer.testing import CliRunner

    result = CliRunner().invoke(app, ["train", str(config), "--out", str(folder / "reference"), "-q"])
    assert result.exit_code == 0, result.output
    return config, (folder / "reference" / "metrics.json").read_text()


def stop_within_epoch(process: subprocess.Popen, path: Path) -> bool:
    """Freeze `process` (SIGSTOP) if its checkpoint at `path` is inside an epoch; else leave it running.

    A frozen process cannot replace the checkpoint with an epoch-end one before it is killed,
    however fast its epochs are."""
    if not checkpoint_within_epoch(path):
        return False
    process.send_signal(signal.SIGSTOP)
    if checkpoint_within_epoch(path):
        return True
    process.send_signal(signal.SIGCONT)
    return False


@pytest.mark.slow
def test_kill_9_mid_epoch_then_resume_matches_uninterrupted(runner, sampled, tmp_path: Path) -> None:
    config, reference = sampled
    run_dir = tmp_path / "run"
    every_step = ["--set", "train.checkpoint_seconds=1.0e-9"]  # a save after every step: most are mid-epoch
    process = gnntool("train", str(config), "--out", str(run_dir), *every_step)
    try:
        checkpoint = run_dir / "checkpoint.pt"
        wait_for(lambda: stop_within_epoch(process, checkpoint), process, "a checkpoint inside an epoch")
    finally:
        process.kill()  # SIGKILL: nothing runs after it, the lock included
        process.communicate()
    state = torch.load(run_dir / "checkpoint.pt", weights_only=True)
    assert state["step"] > 0 and len(state["step_losses"]) == state["step"]
    assert not (run_dir / "metrics.json").exists()
    resumed = runner.invoke(app, ["train", str(config), "--out", str(run_dir), "--resume", *every_step])
    assert resumed.exit_code == 0, resumed.output
    assert f"after epoch {state['epoch']}, step {state['step']}" in resumed.stderr
    assert (run_dir / "metrics.json").read_text() == reference


@pytest.mark.slow
def test_sigterm_stops_at_a_step_boundary_saves_and_exits_143(runner, sampled, tmp_path: Path) -> None:
    config, reference = sampled
    run_dir = tmp_path / "run"
    process = gnntool("train", str(config), "--out", str(run_dir), "--set", "train.checkpoint_seconds=0")
    stdout, stderr = signal_during_training(process, signal.SIGTERM, settle=0.3)
    assert process.returncode == 143, stderr
    assert stdout == "" and "Traceback" not in stderr
    assert "SIGTERM" in stderr and "checkpoint saved" in stderr
    assert torch.load(run_dir / "checkpoint.pt", weights_only=True)["epoch"] >= 1
    resume = ["--resume", "-q", "--set", "train.checkpoint_seconds=0"]  # the same config
    resumed = runner.invoke(app, ["train", str(config), "--out", str(run_dir), *resume])
    assert resumed.exit_code == 0, resumed.output
    assert (run_dir / "metrics.json").read_text() == reference


def test_clock_checkpoints_inside_an_epoch_resume_exactly(runner, write_config, tmp_path: Path, monkeypatch) -> None:
    """In one process: a checkpoint written by the clock between steps, then training killed (an
    exception) at the next step; resuming from it repeats the uninterrupted run."""
    from gnntool.engine import train as train_module

    config = write_config(
        {
            "model": {"arch": "sage"},
            "train": {"epochs": 3, "batch_size": 32, "fanout": [5, 5], "checkpoint_seconds": 1.0e-9},
        }
    )
    reference = tmp_path / "reference"
    assert runner.invoke(app, ["train", str(config), "--out", str(reference)]).exit_code == 0

    class Killed(BaseException):
        pass

    original = train_module.save_checkpoint
    saves = []

    def save_then_die(path, config, model, optimizer, state, device) -> None:
        original(path, config, model, optimizer, state, device)
        saves.append(state.step)
        if len(saves) == 7:  # after epoch 1, step 1 (each epoch: a save after each of 5 steps and at its end)
            raise Killed

    monkeypatch.setattr(train_module, "save_checkpoint", save_then_die)
    run_dir = tmp_path / "run"
    with pytest.raises(Killed):
        runner.invoke(app, ["train", str(config), "--out", str(run_dir)], catch_exceptions=False)
    assert saves == [1, 2, 3, 4, 5, 0, 1]
    monkeypatch.setattr(train_module, "save_checkpoint", original)
    resumed = runner.invoke(app, ["train", str(config), "--out", str(run_dir), "--resume"])
    assert resumed.exit_code == 0, resumed.output
    assert "after epoch 1, step 1" in resumed.stderr
    assert (run_dir / "metrics.json").read_text() == (reference / "metrics.json").read_text()


def test_resume_without_a_checkpoint_warns_even_when_quiet(runner, write_config, tmp_path: Path) -> None:
    result = runner.invoke(app, ["train", str(write_config()), "--out", str(tmp_path / "run"), "--resume", "-q"])
    assert result.exit_code == 0, result.output
    assert "warning:" in result.stderr and "starting a new run" in result.stderr


HOLD = "import sys, time; from pathlib import Path; from gnntool.rundir.lock import hold_run_lock\n" \
    "with hold_run_lock(Path(sys.argv[1])):\n    print('held', flush=True); time.sleep(600)\n"


def test_a_second_writer_is_refused_and_a_killed_holder_blocks_nothing(runner, write_config, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(run_dir)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        config = write_config()
        second = runner.invoke(app, ["train", str(config), "--out", str(run_dir)])
        assert second.exit_code == 2
        assert f"pid {holder.pid}" in second.stderr and "Traceback" not in second.stderr
        sweep = runner.invoke(app, ["sweep", str(config), "--grid", "model.hidden=8", "--out", str(run_dir)])
        assert sweep.exit_code == 2 and f"pid {holder.pid}" in sweep.stderr
    finally:
        holder.kill()
        holder.wait()
    assert (run_dir / ".lock").read_text() == f"{holder.pid}\n"  # left behind by kill -9 ...
    after = runner.invoke(app, ["train", str(config), "--out", str(run_dir), "--resume"])
    assert after.exit_code == 0, after.output  # ... and blocking nothing


REFUSED_BEFORE_TORCH = (
    "import sys\nfrom gnntool.cli import main\nsys.argv = ['gnntool', *sys.argv[1:]]\n"
    "try:\n    main()\nexcept SystemExit as exit:\n    print(exit.code, 'torch' in sys.modules)\n"
)


def test_a_busy_run_directory_is_refused_before_torch_is_imported(write_config, tmp_path: Path) -> None:
    """The lock is taken first: the refusal costs no torch import and no dataset load (seconds on
    a busy machine), and the holder's directory exists from its start."""
    run_dir = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(run_dir)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        second = subprocess.run(
            [sys.executable, "-c", REFUSED_BEFORE_TORCH, "train", str(write_config()), "--out", str(run_dir)],
            capture_output=True, text=True, timeout=120,
        )
    finally:
        holder.kill()
        holder.wait()
    assert second.stdout == "2 False\n", second.stdout + second.stderr  # exit 2, torch never imported
    assert f"pid {holder.pid}" in second.stderr


@pytest.mark.slow
def test_sweep_killed_mid_cell_and_run_again_gives_the_uninterrupted_table(runner, write_config, tmp_path) -> None:
    # 200 full-batch epochs: about 2 s a cell, so the first cell is still running when its first
    # checkpoint (after 0.1 s) is seen and the sweep killed.
    config = write_config({"train": {"epochs": 200, "checkpoint_seconds": 0.1}})
    grid = ["--grid", "train.lr=0.01,0.02"]
    reference = runner.invoke(app, ["sweep", str(config), *grid, "--out", str(tmp_path / "reference"), "-q"])
    assert reference.exit_code == 0, reference.output

    out = tmp_path / "sweep"
    process = gnntool("sweep", str(config), *grid, "--out", str(out))
    try:
        wait_for((out / "lr-0.01" / "checkpoint.pt").is_file, process, "a checkpoint in the first cell", timeout=600)
    finally:
        process.kill()
        process.communicate()
    assert not (out / "lr-0.01" / "metrics.json").exists()
    again = runner.invoke(app, ["sweep", str(config), *grid, "--out", str(out), "-q"])
    assert again.exit_code == 0, again.output
    assert again.stdout == reference.stdout
    table = lambda folder: [line.rsplit(",", 1)[0] for line in (folder / "sweep.csv").read_text().splitlines()]  # noqa: E731
    assert table(out) == table(tmp_path / "reference")  # all but the run_dir column


@pytest.mark.slow
def test_sigterm_under_torchrun_stops_every_rank_and_saves(tmp_path: Path) -> None:
    config = tmp_path / "sampled.yaml"
    train = {**SAMPLED["train"], "epochs": 200, "checkpoint_seconds": 0}
    config.write_text(yaml.safe_dump({**SAMPLED, "train": train}))
    run_dir = tmp_path / "run"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "gnntool"]
    process = subprocess.Popen(
        [*command, "train", str(config), "--out", str(run_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    _, stderr = signal_during_training(process, signal.SIGTERM)  # torchrun forwards it to both ranks
    assert "checkpoint saved" in stderr, stderr
    assert stderr.count("checkpoint saved") == 1  # rank 0 speaks for both
    assert torch.load(run_dir / "checkpoint.pt", weights_only=True)["epoch"] >= 1
    assert "SignalException" in stderr  # torchrun reports the signal it got, not the ranks' 143
