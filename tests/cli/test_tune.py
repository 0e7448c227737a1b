"""`gnntool tune`: the space's syntax, pruning reports, and tiny Cora studies end to end."""

from __future__ import annotations

import sys
from pathlib import Path

import optuna
import pytest
from conftest import read_csv
from hypothesis import given
from hypothesis import strategies as st

from gnntool.cli import app
from gnntool.config import load_config
from gnntool.engine.runs import train_run as run_module
from gnntool.engine.studies.tune import Param, Tuning, parse_param, parse_space, plan_tune, pruning_hooks, run_tune
from gnntool.errors import UserError

SPACE = ["--space", "train.lr=0.005:0.05:log", "--space", "model.hidden=8,16"]


def tune(runner, config: Path, out: Path, *extra: str):
    return runner.invoke(app, ["tune", str(config), *SPACE, "--out", str(out), *extra])


# --- the space ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec, param",
    [
        ("train.lr=1e-3:1e-1:log", Param("train.lr", 1e-3, 1e-1, log=True)),
        ("model.dropout=0:0.8", Param("model.dropout", 0.0, 0.8)),
        ("model.hidden=8:64", Param("model.hidden", 8, 64)),
        ("model.hidden=8:64:log", Param("model.hidden", 8, 64, log=True)),
        ("model.hidden=16,32", Param("model.hidden", choices=(16, 32))),
        ("model.aggregator=mean,gcn", Param("model.aggregator", choices=("mean", "gcn"))),
        ("train.fanout=[10,5],[25,10]", Param("train.fanout", choices=([10, 5], [25, 10]))),
        ("train.lr=0.01", Param("train.lr", choices=(0.01,))),
        ("dataset.nodes=100:1000", Param("dataset.nodes", 100, 1000)),  # optional int keys are integers
    ],
)
def test_parse_param(spec: str, param: Param) -> None:
    parsed = parse_param(spec)
    assert parsed == param
    assert type(parsed.low) is type(param.low)


@pytest.mark.parametrize(
    "spec, message",
    [
        ("model.hidden=8.5:64", "integer; give integer bounds"),
        ("model.norm=1:2", "a range needs a numeric key"),
        ("model.hiden=8:64", "unknown key — did you mean model.hidden?"),
        ("train.lr=0.1:0.01", "low bound must be below"),
        ("train.weight_decay=0:0.1:log", "positive low bound"),
        ("train.monitor=val_loss,val_accuracy", "fixed during a study"),
        ("seed=1,2", "fixed during a study"),
        ("output.dir=a,b", "fixed during a study"),
        ("model.hidden", "expected KEY=LOW:HIGH"),
        ("model.hidden=8,,16", "--space model.hidden=8,,16: value 2 is empty"),
        ("model.hidden.x=1:2", "model.hidden is not a section"),
    ],
)
def test_parse_param_errors(spec: str, message: str) -> None:
    with pytest.raises(UserError, match="--space") as info:
        parse_param(spec)
    assert message in str(info.value)


@given(st.integers(1, 10_000), st.integers(1, 10_000), st.booleans())
def test_integer_ranges_round_trip(low: int, high: int, log: bool) -> None:
    spec = f"model.hidden={low}:{high}" + (":log" if log else "")
    if low >= high:
        with pytest.raises(UserError, match="low bound must be below"):
            parse_param(spec)
    else:
        assert parse_param(spec) == Param("model.hidden", low, high, log)


def test_a_key_once() -> None:
    with pytest.raises(UserError, match="--space model.hidden: given more than once"):
        parse_space(["model.hidden=8,16", "model.hidden=8:16"])


class FakeTrial:
    """What the pruning hook uses of an Optuna trial."""

    def __init__(self, prune_at: int) -> None:
        self.reports: list[tuple[float, int]] = []
        self.prune_at = prune_at

    def report(self, value: float, step: int) -> None:
        self.reports.append((value, step))

    def should_prune(self) -> bool:
        return len(self.reports) >= self.prune_at


@pytest.mark.parametrize(
    "monitor, values, best", [("val_accuracy", [0.5, 0.7, 0.6], [0.5, 0.7, 0.7]), ("val_loss", [2, 1, 3], [2, 1, 1])]
)
def test_pruning_reports_the_first_seeds_best_so_far(write_config, monitor, values, best) -> None:
    config = load_config(write_config({"train": {"monitor": monitor}}))
    tuning = Tuning([], {}, config, 2, Path("out"), "sqlite://")
    trial = FakeTrial(prune_at=3)
    hooks = pruning_hooks(trial, optuna, tuning)
    assert hooks(1, Path("seed-1")) == []  # only the first seed reports
    (observe,) = hooks(0, Path("seed-0"))
    for epoch, value in enumerate(values[:2], 1):
        observe({"epoch": epoch, monitor: value})
    with pytest.raises(optuna.TrialPruned):
        observe({"epoch": 3, monitor: values[2]})
    assert trial.reports == [(value, epoch) for epoch, value in enumerate(best, 1)]


# --- studies ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_study_writes_trials_best_config_and_continues(runner, write_config, tmp_path) -> None:
    config = write_config({"train": {"epochs": 3}})
    out = tmp_path / "tune"
    result = tune(runner, config, out, "--trials", "2", "--seeds", "2")
    assert result.exit_code == 0, result.output
    rows = read_csv(out / "trials.csv")
    assert [row["state"] for row in rows] == ["COMPLETE", "COMPLETE"]
    assert float(rows[0]["score"]) >= float(rows[1]["score"])  # best first
    assert {"test_accuracy", "test_accuracy_std", "val_accuracy", "train.lr", "model.hidden"} <= set(rows[0])
    for row in rows:
        assert Path(row["run_dir"]).parent == out and (Path(row["run_dir"]) / "metrics.json").is_file()
        assert float(row["score"]) == pytest.approx(float(row["val_accuracy"]))  # validation, never test
    best = load_config(out / "best.yaml")
    trained = load_config(Path(rows[0]["run_dir"]) / "config.yaml")
    assert best == trained and best.model.hidden == int(rows[0]["model.hidden"])
    assert (out / "best.yaml").read_text().startswith("# gnntool tune: best of 2 trial(s)")
    table = result.stdout.splitlines()
    assert table[0].split("\t") == ["trial", "train.lr", "model.hidden", "val_accuracy", "test_accuracy"]
    assert len(table) == 3 and "±" in table[1]
    # The same command with --trials 3 adds one trial; the finished ones stay.
    result = tune(runner, config, out, "--trials", "3", "--seeds", "2")
    assert result.exit_code == 0, result.output
    rows_after = read_csv(out / "trials.csv")
    assert sorted(row["trial"] for row in rows_after) == ["0", "1", "2"]
    assert {row["run_dir"]: row["score"] for row in rows} == {
        row["run_dir"]: row["score"] for row in rows_after if row["trial"] != "2"
    }
    # best.yaml is a complete config that `gnntool train` runs as it is.
    again = runner.invoke(app, ["train", str(out / "best.yaml"), "--out", str(tmp_path / "again")])
    assert again.exit_code == 0, again.output
    # Another space on the same study is refused.
    changed = runner.invoke(
        app, ["tune", str(config), "--space", "model.hidden=8,32", "--trials", "3", "--out", str(out)]
    )
    assert changed.exit_code == 2 and "holds a study of another config" in changed.output


@pytest.mark.slow
def test_ctrl_c_checkpoints_the_trial_and_the_rerun_resumes_it(runner, write_config, tmp_path, interrupt_at) -> None:
    config = write_config({"train": {"epochs": 4}})
    out = tmp_path / "tune"
    interrupt_at(2)
    result = tune(runner, config, out, "--trials", "2")
    assert result.exit_code == 130
    assert "interrupted in trial 0" in result.output
    assert (out / "trial-0000" / "checkpoint.pt").is_file()
    result = tune(runner, config, out, "--trials", "2")
    assert result.exit_code == 0, result.output
    assert "resuming from" in result.output
    rows = read_csv(out / "trials.csv")
    assert len(rows) == 2 and {row["state"] for row in rows} == {"COMPLETE"}
    assert sorted(Path(row["run_dir"]).name for row in rows) == ["trial-0000", "trial-0002"]  # trial 1 retried 0
    history = (out / "trial-0000" / "history.csv").read_text().splitlines()[1:]
    assert [int(line.split(",")[0]) for line in history] == [1, 2, 3, 4]


def test_killed_trial_is_retried(runner, write_config, tmp_path, monkeypatch) -> None:
    """A process killed mid-trial leaves it RUNNING in the storage; the rerun retries it."""
    config = write_config({"train": {"epochs": 2}})
    out = tmp_path / "tune"

    def killed(*args, **kwargs):
        raise SystemExit(137)  # as if the process died: optuna never hears back

    monkeypatch.setattr(run_module, "train_run", killed)
    with pytest.raises(SystemExit):
        run_tune(plan_tune(config, SPACE[1::2], out=out), trials=1)
    monkeypatch.undo()
    result = tune(runner, config, out, "--trials", "1")
    assert result.exit_code == 0, result.output
    assert "trial 0 was interrupted; retrying it first" in result.output
    (row,) = read_csv(out / "trials.csv")
    assert row["state"] == "COMPLETE" and Path(row["run_dir"]).name == "trial-0000"


def test_invalid_space_values_train_nothing(runner, write_config, tmp_path) -> None:
    config = write_config()
    out = tmp_path / "tune"
    result = runner.invoke(
        app, ["tune", str(config), "--space", "model.dropout=0.1:1.0", "--trials", "2", "--out", str(out)]
    )
    assert result.exit_code == 2
    assert "model.dropout=1.0" in result.output and not out.exists()


def test_without_optuna_is_exit_2(runner, write_config, tmp_path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "optuna", None)
    result = tune(runner, write_config(), tmp_path / "tune", "--trials", "1")
    assert result.exit_code == 2 and "pip install 'gnntool[tune]'" in result.output


def test_a_second_tune_of_the_same_study_is_refused(runner, write_config, tmp_path) -> None:
    """One writer per study directory, as for train and sweep: the lock names the holder's pid."""
    import os

    from gnntool.rundir.lock import hold_run_lock

    out = tmp_path / "tune"
    with hold_run_lock(out):  # another open file description: flock conflicts within one process too
        result = tune(runner, write_config(), out, "--trials", "1")
    assert result.exit_code == 2 and f"pid {os.getpid()}" in result.output
    assert not (out / "tune.db").exists() and not list(out.glob("trial-*"))
