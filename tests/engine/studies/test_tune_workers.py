"""Several `gnntool tune` workers on one study: the locks they share, the journal storage, exactly
--trials trials between them, and a dead worker's trial retried (never a live one's)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from conftest import read_csv

from gnntool.cli import app
from gnntool.config import load_config
from gnntool.engine.studies import tune
from gnntool.engine.studies.storage import default_storage, open_storage
from gnntool.errors import UserError
from gnntool.rundir.lock import first_free_lock, hold_run_lock, is_locked

SPACE = ["--space", "model.hidden=8,16", "--space", "train.lr=0.005:0.05:log"]


def tune_args(config: Path, out: Path, trials: int) -> list[str]:
    return ["tune", str(config), *SPACE, "--trials", str(trials), "--out", str(out)]


def check_study(out: Path, trials: int) -> list[dict[str, str]]:
    """trials.csv lists `trials` finished trials, no trial number or run directory twice, and
    best.yaml is the config of the best of them."""
    rows = read_csv(out / "trials.csv")
    assert len(rows) == trials and {row["state"] for row in rows} == {"COMPLETE"}
    assert len({row["trial"] for row in rows}) == trials and len({row["run_dir"] for row in rows}) == trials
    best = max(rows, key=lambda row: float(row["score"]))
    assert load_config(out / "best.yaml") == load_config(Path(best["run_dir"]) / "config.yaml")
    assert f"trial {best['trial']}," in (out / "best.yaml").read_text().splitlines()[0]
    return rows


# --- locks and storages -------------------------------------------------------------------------


def test_shared_holders_coexist_and_exclude_a_writer(tmp_path) -> None:
    with hold_run_lock(tmp_path, shared=True), hold_run_lock(tmp_path, shared=True):
        assert is_locked(tmp_path)
        with pytest.raises(UserError, match=f"pid {os.getpid()}"), hold_run_lock(tmp_path):
            pass
    assert not is_locked(tmp_path) and not is_locked(tmp_path / "absent")


def test_first_free_lock_numbers_the_holders(tmp_path) -> None:
    with first_free_lock(tmp_path, "w-") as first, first_free_lock(tmp_path, "w-") as second:
        assert (first, second) == (0, 1)
        with first_free_lock(tmp_path, "w-") as third:
            assert third == 2
    with first_free_lock(tmp_path, "w-") as again:
        assert again == 0  # reused once its holder ended


def test_default_storage_continues_the_study_file_under_out(tmp_path) -> None:
    assert default_storage(tmp_path, 1) == f"sqlite:///{(tmp_path / 'tune.db').resolve()}"
    assert default_storage(tmp_path, 2) == f"journal:{tmp_path / 'tune.journal'}"
    (tmp_path / "tune.db").touch()
    assert default_storage(tmp_path, 2).startswith("sqlite:///")  # an existing study is not forked
    (tmp_path / "tune.journal").touch()
    assert default_storage(tmp_path, 1) == f"journal:{tmp_path / 'tune.journal'}"


def test_journal_storage_and_its_errors(tmp_path) -> None:
    storage = open_storage(f"journal:{tmp_path / 'a' / 'study.journal'}", optuna)
    assert isinstance(storage, optuna.storages.JournalStorage) and (tmp_path / "a" / "study.journal").is_file()
    for url in ("journal:", f"journal:{tmp_path}"):
        with pytest.raises(UserError, match="journal:PATH needs a file path"):
            open_storage(url, optuna)


def test_a_trial_drawn_beyond_the_total_is_failed_unlisted_and_stops_the_worker(
    write_config, tmp_path, monkeypatch
) -> None:
    """Another client (not sharing the draw lock) takes the last place between the check and the draw."""
    tuning = tune.plan_tune(write_config(), SPACE[1::2], out=tmp_path / "t", storage=f"journal:{tmp_path / 'j'}")
    study, storage = tune.open_study(tuning, optuna)
    real_ask = study.ask

    def racing_ask():
        other = real_ask()
        other.set_user_attr("run_dir", str(tmp_path / "elsewhere"))
        study.tell(other, 0.5)
        return real_ask()

    monkeypatch.setattr(study, "ask", racing_ask)
    assert tune.draw(study, storage, tuning, 1, optuna) is None
    last = study.trials[-1]
    assert last.number == 1 and last.state == optuna.trial.TrialState.FAIL and last.user_attrs["beyond"]
    assert [row["trial"] for row in tune.trial_rows(study, tuning, optuna)] == [0]
    assert tune.draw(study, storage, tuning, 1, optuna) is None and len(study.trials) == 2  # full: nothing drawn


def test_a_continued_study_or_another_worker_draws_new_values(write_config, tmp_path) -> None:
    """The first worker of a new study samples as before (the config's seed); a rerun or a second
    worker does not draw the first trial's random values again."""
    assert tune.sampler_seed(7, 0, 0) == 7
    assert len({tune.sampler_seed(7, worker, existing) for worker in (0, 1) for existing in (0, 1, 2)}) == 6
    tuning = tune.plan_tune(write_config(), SPACE[3::2], out=tmp_path / "t", storage=f"journal:{tmp_path / 'j'}")

    def first_value(worker: int) -> float:
        study, storage = tune.open_study(tuning, optuna, worker)
        trial, _, _ = tune.draw(study, storage, tuning, 10, optuna)
        study.tell(trial, 0.5)
        return trial.params["train.lr"]

    fresh = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0)).ask()
    assert first_value(0) == tuning.space[0].suggest(fresh)  # as Optuna alone with the config's seed
    values = [first_value(0), first_value(1)]  # continued, another worker
    assert len(set(values)) == 2 and fresh.params["train.lr"] not in values


# --- worker processes ---------------------------------------------------------------------------


@pytest.mark.slow
def test_two_workers_share_out_exactly_the_trials(runner, write_config, tmp_path) -> None:
    out = tmp_path / "tune"
    result = runner.invoke(app, [*tune_args(write_config({"train": {"epochs": 3}}), out, 4), "--workers", "2"])
    assert result.exit_code == 0, result.output
    rows = check_study(out, 4)
    assert sorted(int(row["trial"]) for row in rows) == [0, 1, 2, 3]
    assert (out / "tune.journal").is_file() and not (out / "tune.db").exists()
    assert "[worker 0]" in result.stderr and "[worker 1]" in result.stderr
    assert len(result.stdout.splitlines()) == 5  # the table of the study, once


def wait_for_epoch(process: subprocess.Popen) -> None:
    seen = ""
    while "epoch 1/" not in seen:
        line = process.stderr.readline()
        assert line, f"the worker ended before its first epoch: {seen}"
        seen += line


@pytest.mark.slow
def test_a_live_workers_trial_is_left_and_a_killed_ones_retried(runner, write_config, tmp_path) -> None:
    config = write_config({"train": {"epochs": 30}})
    out = tmp_path / "tune"
    args = [*tune_args(config, out, 2), "--storage", f"journal:{out / 'tune.journal'}"]
    worker = subprocess.Popen(
        [sys.executable, "-m", "gnntool", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    try:
        wait_for_epoch(worker)  # in trial 0
        # Stopped outside a write to the journal (whose lock others would wait 30 s to break):
        journal = optuna.storages.journal.JournalFileSymlinkLock(str(out / "tune.journal"))
        journal.acquire()
        worker.send_signal(signal.SIGSTOP)  # alive, holding trial 0, training no further
        journal.release()
        second = runner.invoke(app, args)
        assert second.exit_code == 0, second.output
        assert "was interrupted" not in second.output
        states = {row["trial"]: row["state"] for row in read_csv(out / "trials.csv")}
        assert states == {"0": "RUNNING", "1": "COMPLETE"}
        worker.kill()  # -9, mid-trial
        worker.wait(timeout=60)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
        worker.stderr.close()
    third = runner.invoke(app, args)
    assert third.exit_code == 0, third.output
    assert "trial 0 was interrupted; retrying it first" in third.output
    rows = check_study(out, 2)
    assert sorted(Path(row["run_dir"]).name for row in rows) == ["trial-0000", "trial-0001"]
    assert sorted(int(row["trial"]) for row in rows) == [1, 2]  # trial 2 retried trial 0 in its directory
