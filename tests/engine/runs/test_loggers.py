"""The trackers side by side: names, the fan-out, and the rule that a failing tracker never costs a run."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from gnntool.cli import LoggerName, app, with_loggers
from gnntool.config import validate
from gnntool.engine.runs.tracking import loggers
from gnntool.engine.runs.tracking.base import FINISHED, Logger, Param, RunInfo, final_scalars, safe_name
from gnntool.engine.runs.tracking.tracker import Settings, Tracking
from gnntool.errors import UserError
from gnntool.traits import LOGGERS


def test_refused_names_are_mapped_one_way() -> None:
    assert safe_name("final/val_hits@20") == "final/val_hits_at_20"
    assert safe_name("val/micro_f1") == "val/micro_f1"
    assert safe_name("model.norm_args.eps") == "model.norm_args.eps"
    assert safe_name("a:b(c)") == "a_b_c_"


def test_final_scalars_carry_every_split_and_the_spread() -> None:
    metrics = {
        "train": {"accuracy": 1.0},
        "test": {"accuracy": 0.8, "hits@20": 0.5},
        "std": {"test": {"accuracy": 0.1}},
        "runs": [{"seed": 0}],
    }
    assert final_scalars(metrics) == {
        "final/train_accuracy": 1.0,
        "final/test_accuracy": 0.8,
        "final/test_hits@20": 0.5,
        "final/test_accuracy_std": 0.1,
    }


def test_output_tensorboard_is_the_tensorboard_logger() -> None:
    output = validate({"output": {"tensorboard": True, "loggers": ["mlflow", "tensorboard"]}}).output
    assert output.active_loggers == ("mlflow", "tensorboard")
    assert validate({}).output.active_loggers == ()
    with pytest.raises(UserError, match="output.loggers.0"):
        validate({"output": {"loggers": ["neptune"]}})


class Recorder(Logger):
    """A tracker that records its calls and fails on the calls named in `FAILS`."""

    calls: list[tuple[str, Any]] = []
    FAILS: set[str] = set()

    def _record(self, what: str, value: Any = None) -> None:
        if what in self.FAILS:
            self.FAILS.discard(what)  # fails once: the server is back for the retry at the end
            raise ConnectionError(f"{what} refused")
        self.calls.append((what, value))

    def start(self, run: RunInfo, params: Mapping[str, Param], tags: Mapping[str, str], kept: str | None) -> str:
        self._record("start", (run.name, kept, self.parent is not None))
        return kept or f"id-{run.name}"

    def log_epoch(self, metrics: Mapping[str, float], step: int) -> None:
        self._record("epoch", step)

    def log_final(self, metrics: Mapping[str, Any], step: int | None) -> None:
        self._record("final", step)

    def log_artifacts(self, paths: Sequence[Path]) -> None:
        self._record("files", [path.name for path in paths])

    def end(self, status: str) -> None:
        self._record("end", status)


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> type[Recorder]:
    monkeypatch.setitem(loggers.LOGGERS, "mlflow", Recorder)
    monkeypatch.setattr(Recorder, "calls", [])
    monkeypatch.setattr(Recorder, "FAILS", set())
    return Recorder


def run_info(home: Path, name: str) -> RunInfo:
    return RunInfo(name, "run", home, name, "group", 0)


def test_a_failing_tracker_warns_once_is_switched_off_and_its_end_is_retried(recorder, tmp_path, capsys) -> None:
    tracking = Tracking(["mlflow"], Settings(validate({}), "exp"))
    run = tracking.open(run_info(tmp_path, "a"), {}, {})
    recorder.FAILS = {"epoch"}
    for epoch in (1, 2, 3):
        run.epoch({"epoch": epoch, "loss": 1.0})
    run.finish({"test": {"accuracy": 0.5}}, 2, lambda: [tmp_path / "metrics.json"])
    assert [what for what, _ in recorder.calls] == ["start"]  # off after the first error: nothing more sent
    tracking.close()
    assert recorder.calls[1:] == [("final", 2), ("end", FINISHED)]  # tried once more at the end
    err = capsys.readouterr().err
    assert err.count("warning:") == 1
    assert "mlflow: ConnectionError: epoch refused" in err


def test_a_child_of_a_run_a_tracker_dropped_is_not_started(recorder, tmp_path, capsys) -> None:
    tracking = Tracking(["mlflow"], Settings(validate({}), "exp"))
    recorder.FAILS = {"start"}
    parent = tracking.open(run_info(tmp_path, "parent"), {}, {})
    child = tracking.open(run_info(tmp_path, "child"), {}, {}, parent)
    child.epoch({"epoch": 1, "loss": 1.0})
    tracking.close()
    assert recorder.calls == [] and child.loggers == {}
    assert capsys.readouterr().err.count("warning:") == 1


def test_ids_are_kept_so_that_a_second_process_continues_the_same_runs(recorder, tmp_path) -> None:
    for _ in range(2):
        tracking = Tracking(["mlflow"], Settings(validate({}), "exp"))
        parent = tracking.open(run_info(tmp_path, "parent"), {}, {})
        tracking.open(run_info(tmp_path, "child"), {}, {}, parent)
    assert [value for what, value in recorder.calls] == [
        ("parent", None, False),
        ("child", None, True),
        ("parent", "id-parent", False),
        ("child", "id-child", True),
    ]


def test_the_registry_covers_the_schema() -> None:
    assert list(loggers.LOGGERS) == list(LOGGERS)


def test_a_missing_tracker_package_is_exit_2_before_the_run_directory(runner, write_config, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "mlflow", None)  # `import mlflow` now raises ImportError
    run_dir = tmp_path / "run"
    result = runner.invoke(app, ["train", str(write_config()), "--out", str(run_dir), "--logger", "mlflow"])
    assert result.exit_code == 2
    assert "pip install 'gnntool[mlflow]'" in result.output
    assert not run_dir.exists()


def test_logger_options_add_to_the_configs_loggers(write_config) -> None:
    names = [LoggerName("mlflow"), LoggerName("tensorboard")]
    listed = write_config({"output": {"loggers": ["tensorboard"]}})
    assert with_loggers(listed, ["model.hidden=8"], names) == ["model.hidden=8", "output.loggers=[tensorboard, mlflow]"]
    assert with_loggers(write_config(), [], names[:1]) == ["output.loggers=[mlflow]"]
    assert with_loggers(listed, ["seed=1"], None) == ["seed=1"]


def test_force_and_a_fresh_start_drop_the_kept_ids(tmp_path) -> None:
    from gnntool.engine.runs.train_run import prepare_run_dir
    from gnntool.rundir.layout import clear_run

    (tmp_path / "tracking.json").write_text('{"run": {"mlflow": "old"}}')
    (tmp_path / "wandb" / "offline-run-1-old").mkdir(parents=True)
    clear_run(tmp_path)  # --force
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "tracking.json").write_text('{"run": {"mlflow": "old"}}')  # a run killed before its checkpoint
    assert prepare_run_dir(tmp_path, validate({}), resume=False, force=False)
    assert not (tmp_path / "tracking.json").exists()
