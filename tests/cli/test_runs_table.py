"""`gnntool runs DIR`: a plain run, a seeded run, a sweep and a study, really trained, in one table."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
import yaml
from conftest import DATA_ROOT
from typer.testing import CliRunner

from gnntool.cli import app
from gnntool.runs_table import FIELDS, duration


@pytest.fixture
def runs_dir(tmp_path_factory) -> Path:
    """runs/: plain, seeded, a sweep, a study, an unfinished run, and trackers' stores that copy run files."""
    root = tmp_path_factory.mktemp("runs_table")
    config = root / "tiny.yaml"
    config.write_text(yaml.safe_dump({"dataset": {"name": "Cora", "root": str(DATA_ROOT)}, "train": {"epochs": 3}}))
    runs = root / "runs"
    runner = CliRunner()
    for args in (
        ["train", str(config), "--out", str(runs / "plain")],
        ["train", str(config), "--out", str(runs / "group" / "seeded"), "--seeds", "2"],
        ["sweep", str(config), "--grid", "model.hidden=8,32", "--out", str(runs / "sweep")],
        ["tune", str(config), "--space", "train.lr=0.005:0.05:log", "--trials", "2", "--out", str(runs / "study")],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
    unfinished = runs / "unfinished"
    unfinished.mkdir()
    shutil.copy(runs / "plain" / "config.yaml", unfinished)
    (unfinished / "checkpoint.pt").touch()
    for store in ("mlruns/1/abc/artifacts", "wandb/offline-run-1/files", "notes"):
        shutil.copytree(runs / "plain", runs / store, dirs_exist_ok=True)  # a tracker's copies are not runs
    (runs / "notes" / "meta.yaml").touch()  # an MLflow store's folder, whatever its name
    return runs


def invoke(*args: str):
    result = CliRunner().invoke(app, ["runs", *args])
    assert result.exit_code == 0, result.output
    return result


def metrics(run_dir: Path) -> dict:
    return json.loads((run_dir / "metrics.json").read_text())


def history_length(run_dir: Path) -> int:
    return len((run_dir / "history.csv").read_text().splitlines()) - 1


@pytest.mark.slow
def test_the_table_and_its_json_have_one_line_per_run_sweep_and_study(runs_dir, tmp_path) -> None:
    lines = invoke(str(runs_dir)).stdout.splitlines()
    header, rows = lines[0].split("\t"), [dict(zip(lines[0].split("\t"), line.split("\t"))) for line in lines[1:]]
    assert header == "name kind dataset arch objective monitor val test epochs time finished".split()
    names = [row["name"].split(" (")[0] for row in rows]
    assert names == ["group/seeded", "plain", "study", "sweep", "unfinished"]  # no tracker store
    by_name = dict(zip(names, rows))

    plain = metrics(runs_dir / "plain")
    row = by_name["plain"]
    assert (row["kind"], row["dataset"], row["arch"], row["objective"], row["monitor"]) == (
        "run",
        "Cora",
        "gcn",
        "supervised",
        "val_accuracy",
    )
    assert row["val"] == f"{100 * plain['val']['accuracy']:.1f}"
    assert row["test"] == f"{100 * plain['test']['accuracy']:.1f}"
    assert row["epochs"] == "3" and row["finished"].endswith(" UTC")

    seeded = metrics(runs_dir / "group" / "seeded")
    expected = f"{100 * seeded['test']['accuracy']:.1f} ± {100 * seeded['std']['test']['accuracy']:.1f}"
    assert by_name["group/seeded"]["test"] == expected

    sweep = json.loads((runs_dir / "sweep" / "sweep.json").read_text())
    best_cell = max(sweep, key=lambda cell: cell["metrics"]["val"]["accuracy"])
    assert by_name["sweep"]["name"] == f"sweep (best: {Path(best_cell['run_dir']).name})"
    assert by_name["sweep"]["val"] == f"{100 * best_cell['metrics']['val']['accuracy']:.1f}"

    with (runs_dir / "study" / "trials.csv").open(newline="") as handle:
        best_trial = next(csv.DictReader(handle))  # best first
    assert by_name["study"]["name"] == f"study (best: {Path(best_trial['run_dir']).name})"
    assert by_name["study"]["test"] == f"{100 * float(best_trial['test_accuracy']):.1f}"
    assert by_name["unfinished"]["finished"] == "unfinished" and by_name["unfinished"]["val"] == ""
    check_json(runs_dir, tmp_path)


def check_json(runs_dir: Path, tmp_path: Path) -> None:
    """--json: exactly the fields, sorted as asked, values as the run directories hold them."""
    rows = json.loads(invoke(str(runs_dir), "--json", "--sort", "-val").stdout)
    assert all(list(row) == list(FIELDS) for row in rows)
    assert sorted(row["kind"] for row in rows) == ["run", "run", "run", "study", "sweep"]
    vals = [row["val"] for row in rows]
    assert vals[:-1] == sorted(vals[:-1], reverse=True) and vals[-1] is None  # missing last
    seeded = next(row for row in rows if row["path"].endswith("seeded"))
    info = json.loads((runs_dir / "group" / "seeded" / "run.json").read_text())
    assert seeded["seeds"] == 2
    assert seeded["test_std"] == metrics(runs_dir / "group" / "seeded")["std"]["test"]["accuracy"]
    assert seeded["seconds"] == info["seconds"] and seeded["finished"] == info["finished"]
    assert seeded["epochs"] == history_length(runs_dir / "group" / "seeded" / "seed-0")
    study = next(row for row in rows if row["kind"] == "study")
    trial_seconds = [json.loads(path.read_text())["seconds"] for path in (runs_dir / "study").glob("trial-*/run.json")]
    assert len(trial_seconds) == 2 and study["seconds"] == pytest.approx(sum(trial_seconds))
    # Without run.json (an older run): the time from history.csv, the date from metrics.json.
    old = tmp_path / "old"
    shutil.copytree(runs_dir / "plain", old)
    (old / "run.json").unlink()
    (row,) = json.loads(invoke(str(tmp_path), "--json").stdout)
    with (old / "history.csv").open(newline="") as handle:
        assert row["seconds"] == pytest.approx(sum(float(line["seconds"]) for line in csv.DictReader(handle)))
    assert row["finished"].endswith("+00:00")


def test_a_bad_sort_field_or_folder_is_exit_2(tmp_path) -> None:
    result = CliRunner().invoke(app, ["runs", str(tmp_path), "--sort", "accuracy"])
    assert result.exit_code == 2 and "choose one of path, kind, dataset" in result.output
    result = CliRunner().invoke(app, ["runs", str(tmp_path / "none")])
    assert result.exit_code == 2 and "not a directory" in result.output
    assert CliRunner().invoke(app, ["runs", str(tmp_path), "--json"]).stdout.strip() == "[]"


@pytest.mark.parametrize("seconds, text", [(None, ""), (4.21, "4.2s"), (185, "3m05s"), (7620, "2h07m")])
def test_duration(seconds, text) -> None:
    assert duration(seconds) == text


def test_a_cross_validated_run_counts_its_folds_epochs_and_an_unfinished_one_is_listed(tmp_path) -> None:
    """A folds run keeps history.csv in fold-K/ (seed-N/fold-K/ with seeds): its epochs come from there."""
    config = {"dataset": {"name": "tu"}, "model": {"arch": "gin"}, "train": {"objective": "graph"}}
    done, unfinished = tmp_path / "done", tmp_path / "unfinished"
    for run_dir, epochs in ((done, (3, 5)), (unfinished, (2,))):
        run_dir.mkdir()
        (run_dir / "config.yaml").write_text(yaml.safe_dump(config))
        for fold, count in enumerate(epochs):
            (run_dir / f"fold-{fold}").mkdir()
            with (run_dir / f"fold-{fold}" / "history.csv").open("w", newline="") as handle:
                writer = csv.writer(handle)
                writer.writerow(["epoch", "loss", "seconds"])
                writer.writerows([epoch, 1.0, 0.5] for epoch in range(count))
    (done / "metrics.json").write_text(json.dumps({"val": {"accuracy": 0.5}, "test": {"accuracy": 0.5}}))
    result = invoke(str(tmp_path), "--json")
    assert result.exit_code == 0, result.output
    rows = {Path(row["path"]).name: row for row in json.loads(result.stdout)}
    assert rows["done"]["epochs"] == 5 and rows["done"]["seconds"] == 4.0
    assert rows["unfinished"]["kind"] == "run" and rows["unfinished"]["epochs"] == 2
