"""`gnntool sweep`: grid parsing, cell names, tables, and tiny Cora sweeps end to end (3 epochs)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import read_csv

from gnntool import log
from gnntool.cli import app
from gnntool.engine.studies.sweep import (
    cell_names,
    display_table,
    expand,
    parse_grid,
    parse_grids,
    short_keys,
    split_values,
)
from gnntool.errors import UserError
from gnntool.metric_facts import format_value

REPO = Path(__file__).resolve().parents[2]
DATA_ROOT = REPO / "data"
GRID = ["--grid", "model.hidden=8,16", "--grid", "model.norm=none,batch"]
CELLS = {  # cell name -> its values, in sweep order (the last grid varies fastest)
    "hidden-8_norm-none": {"model.hidden": 8, "model.norm": "none"},
    "hidden-8_norm-batch": {"model.hidden": 8, "model.norm": "batch"},
    "hidden-16_norm-none": {"model.hidden": 16, "model.norm": "none"},
    "hidden-16_norm-batch": {"model.hidden": 16, "model.norm": "batch"},
}


def base_config(path: Path, epochs: int = 3) -> Path:
    path.write_text(
        yaml.safe_dump(
            {
                "dataset": {"name": "Cora", "root": str(DATA_ROOT)},
                "model": {"arch": "sage"},
                "train": {"epochs": epochs},
            }
        )
    )
    return path


# --- grid parsing -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec, key, values",
    [
        ("model.norm=none,batch", "model.norm", ["none", "batch"]),
        ("model.hidden=8, 16 ,32", "model.hidden", [8, 16, 32]),
        ("train.lr=0.01,5.0e-3", "train.lr", [0.01, 0.005]),
        ("model.l2_normalize=true,false", "model.l2_normalize", [True, False]),
        ("model.aggregator=null,mean", "model.aggregator", [None, "mean"]),
        ("train.fanout=[25,10],[10,5]", "train.fanout", [[25, 10], [10, 5]]),
        ("train.fanout=[[1,2],[3]],[4]", "train.fanout", [[[1, 2], [3]], [4]]),
        (
            "model.norm_args={groups: 2, eps: 0.001},{groups: 4}",
            "model.norm_args",
            [{"groups": 2, "eps": 0.001}, {"groups": 4}],
        ),
        ("dataset.name='a,b',\"c,d\",e", "dataset.name", ["a,b", "c,d", "e"]),
        ("model.hidden=8", "model.hidden", [8]),
        ("model.norm=a=b", "model.norm", ["a=b"]),  # only the first = separates the key
    ],
)
def test_parse_grid(spec: str, key: str, values: list) -> None:
    assert parse_grid(spec) == (key, values)


@pytest.mark.parametrize(
    "spec, message",
    [
        ("model.norm", "expected KEY=V1,V2"),
        ("=1,2", "expected KEY=V1,V2"),
        ("model..norm=1", "not a dotted config key"),
        ("model.norm=", "--grid model.norm: no values"),
        ("model.norm=  ", "no values"),
        ("model.norm=none,,batch", "value 2 is empty"),
        ("model.norm=none,", "value 2 is empty"),
        ("train.fanout=[25,10],[10,5", "unclosed '['"),
        ("train.fanout=[25,10]],[10]", "unbalanced ']'"),
        ("train.fanout=[25,10}", "unbalanced '}'"),
        ("dataset.name='a,b", "unclosed quote"),
        ("model.norm={a: [1}", "unbalanced"),
        ("model.norm=@x", "not valid YAML"),
        ("model.hidden=8,16,8", "value '8' is given twice"),
    ],
)
def test_parse_grid_errors_name_the_grid(spec: str, message: str) -> None:
    with pytest.raises(UserError, match="--grid") as info:
        parse_grid(spec)
    assert message in str(info.value)


def test_split_values_keeps_nested_brackets_and_quotes() -> None:
    assert split_values("[1,[2,3]],{a: [4,5]},'x,y'") == ["[1,[2,3]]", "{a: [4,5]}", "'x,y'"]


def test_grids_expand_in_order_and_keys_are_unique() -> None:
    grids = parse_grids(["a.x=1,2", "b=p,q,r"])
    cells = expand(grids)
    assert len(cells) == 6
    assert cells[:4] == [{"a.x": 1, "b": "p"}, {"a.x": 1, "b": "q"}, {"a.x": 1, "b": "r"}, {"a.x": 2, "b": "p"}]
    with pytest.raises(UserError, match="--grid a.x: given more than once"):
        parse_grids(["a.x=1", "a.x=2"])


# --- cell names ---------------------------------------------------------------------------------


def test_cell_names_readable_safe_and_unique() -> None:
    assert cell_names([{"model.norm": "batch", "model.aggregator": "mean"}]) == ["norm-batch_aggregator-mean"]
    assert cell_names(expand(parse_grids(["train.fanout=[25,10],[10,5]"]))) == ["fanout-25-10", "fanout-10-5"]
    assert cell_names([{"model.norm_args": {"groups": 2}}]) == ["norm_args-groups-2"]
    assert cell_names([{"train.lr": 5.0e-4, "model.l2_normalize": True}]) == ["lr-0.0005_l2_normalize-true"]
    assert short_keys(["model.x", "train.x", "model.hidden"]) == {
        "model.x": "model.x",
        "train.x": "train.x",
        "model.hidden": "hidden",
    }
    # unsafe characters are replaced; names that would collide (also by case) get a stable hash
    cells = [{"dataset.name": value} for value in ("a/b", "a b", "A b", "../x")]
    names = cell_names(cells)
    assert len({name.lower() for name in names}) == 4
    assert all("/" not in name and " " not in name and not name.startswith(".") for name in names)
    assert names == cell_names(cells)  # deterministic: a rerun finds the same directories
    assert names[3] == "name-..-x"  # a slash never reaches the file system
    long = cell_names([{"dataset.name": "x" * 500}])[0]
    assert len(long) < 140


def test_display_values_are_percent_mean_and_std() -> None:
    assert format_value("accuracy", 0.8171, 0.0112) == "81.7 ± 1.1"
    assert format_value("micro_f1", 0.5, None) == "50.0"
    assert format_value("loss", 0.69314, 0.01) == "0.6931 ± 0.0100"
    rows = [
        {"cell": {"train.fanout": [25, 10]}, "run_dir": "r", "metrics": {
            "val": {"accuracy": 0.8, "loss": 1.0}, "test": {"accuracy": 0.817, "loss": 1.0},
            "std": {"val": {"accuracy": 0.01, "loss": 0.0}, "test": {"accuracy": 0.011, "loss": 0.0}}}},
    ]
    assert display_table(rows) == (
        ["train.fanout", "val_accuracy", "test_accuracy"],
        [["[25, 10]", "80.0 ± 1.0", "81.7 ± 1.1"]],
    )


# --- end to end ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def swept(tmp_path_factory) -> tuple[Path, Path, object]:
    """A finished 2×2 sweep (model.hidden × model.norm, GraphSAGE on Cora, 3 epochs)."""
    from typer.testing import CliRunner

    root = tmp_path_factory.mktemp("sweep")
    config = base_config(root / "base.yaml")
    out = root / "out"
    result = CliRunner().invoke(app, ["sweep", str(config), *GRID, "--out", str(out)])
    assert result.exit_code == 0, result.output
    return config, out, result


def test_sweep_writes_one_run_per_cell_and_the_tables(swept) -> None:
    config, out, result = swept
    expected = [*CELLS, ".lock", "sweep.csv", "sweep.json"]  # .lock: the sweep's writer lock
    assert sorted(path.name for path in out.iterdir()) == sorted(expected)
    for name, values in CELLS.items():
        resolved = yaml.safe_load((out / name / "config.yaml").read_text())
        assert (
            resolved["model"]["hidden"] == values["model.hidden"] and resolved["model"]["norm"] == values["model.norm"]
        )
        assert resolved["model"]["arch"] == "sage" and resolved["train"]["epochs"] == 3
        assert (out / name / "model.pt").is_file() and not (out / name / "checkpoint.pt").exists()

    metrics = {name: json.loads((out / name / "metrics.json").read_text()) for name in CELLS}
    entries = json.loads((out / "sweep.json").read_text())
    assert [entry["cell"] for entry in entries] == list(CELLS.values())
    assert [Path(entry["run_dir"]).name for entry in entries] == list(CELLS)
    assert [entry["metrics"] for entry in entries] == list(metrics.values())

    rows = read_csv(out / "sweep.csv")
    assert list(rows[0]) == [
        "model.hidden", "model.norm", "val_accuracy", "val_loss", "test_accuracy", "test_loss", "run_dir"
    ]
    for row, (name, values) in zip(rows, CELLS.items()):
        assert (int(row["model.hidden"]), row["model.norm"]) == (values["model.hidden"], values["model.norm"])
        for split in ("val", "test"):
            assert float(row[f"{split}_accuracy"]) == metrics[name][split]["accuracy"]
            assert float(row[f"{split}_loss"]) == metrics[name][split]["loss"]
        assert Path(row["run_dir"]) == out / name
    assert not list(out.glob(".*.tmp"))

    # stdout: the table only, tab-separated (not a terminal), accuracy in percent
    lines = result.stdout.splitlines()
    assert lines[0].split("\t") == ["model.hidden", "model.norm", "val_accuracy", "test_accuracy"]
    assert len(lines) == 1 + len(CELLS)
    for line, (name, values) in zip(lines[1:], CELLS.items()):
        assert line.split("\t") == [
            str(values["model.hidden"]),
            values["model.norm"],
            f"{100 * metrics[name]['val']['accuracy']:.1f}",
            f"{100 * metrics[name]['test']['accuracy']:.1f}",
        ]
    assert "training" in result.stderr and "epoch" in result.stderr  # logs on stderr


def test_rerun_with_other_seeds_or_config_is_refused_before_training(swept, runner) -> None:
    config, out, _ = swept
    before = {name: (out / name / "model.pt").stat().st_mtime_ns for name in CELLS}
    result = runner.invoke(app, ["sweep", str(config), *GRID, "--out", str(out), "--seeds", "2"])
    assert result.exit_code == 2 and "--seeds 2" in result.stderr and result.stdout == ""
    result = runner.invoke(app, ["sweep", str(config), *GRID, "--out", str(out), "--set", "train.lr=0.5"])
    assert result.exit_code == 2 and "different config" in result.stderr
    assert before == {name: (out / name / "model.pt").stat().st_mtime_ns for name in CELLS}


def test_invalid_cell_exits_2_before_training(runner, tmp_path: Path) -> None:
    config = base_config(tmp_path / "base.yaml")
    out = tmp_path / "out"
    args = [
        "sweep",
        str(config),
        "--grid",
        "model.arch=sage,gcn",
        "--grid",
        "model.aggregator=mean,pool",
        "--out",
        str(out),
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "cell arch-gcn_aggregator-mean (model.arch=gcn, model.aggregator=mean)" in result.stderr
    assert "model.aggregator is for arch sage" in result.stderr and "nothing was trained" in result.stderr
    assert "Traceback" not in result.output and result.stdout == ""
    assert not out.exists() and "epoch" not in result.stderr

    for bad, message in [
        (["--grid", "model.nrom=batch"], "did you mean model.norm?"),
        (["--grid", "model.norm="], "--grid model.norm: no values"),
        (["--grid", "train.fanout=[25,10],[10"], "unclosed '['"),
        (["--grid", "model.hidden=8", "--set", "nonsense"], "expected KEY=VALUE"),
        (["--grid", "model.hidden=8", "--device", "cuda:7"], "device cuda:7"),
    ]:
        result = runner.invoke(app, ["sweep", str(config), *bad, "--out", str(out)])
        assert result.exit_code == 2, (bad, result.output)
        assert message in result.stderr and result.stdout == ""
        assert not out.exists()
    assert runner.invoke(app, ["sweep", str(config), "--out", str(out)]).exit_code == 2  # --grid is required


def test_rerun_skips_finished_cells_and_trains_the_missing_one(swept, runner, tmp_path: Path) -> None:
    config, reference, _ = swept
    out = tmp_path / "out"
    shutil.copytree(reference, out)
    (out / "hidden-16_norm-none" / "metrics.json").unlink()  # as if that cell never finished
    (out / "sweep.csv").unlink()
    kept = {
        name: ((out / name / "model.pt").stat().st_mtime_ns, (out / name / "model.pt").read_bytes())
        for name in CELLS if name != "hidden-16_norm-none"
    }
    result = runner.invoke(app, ["sweep", str(config), *GRID, "--out", str(out)])
    assert result.exit_code == 0, result.output
    for name, (mtime, data) in kept.items():
        assert (out / name / "model.pt").stat().st_mtime_ns == mtime and (out / name / "model.pt").read_bytes() == data
        assert f"{name} (" in result.stderr
    assert result.stderr.count("already finished; skipped") == 3
    assert "hidden-16_norm-none (model.hidden=16, model.norm=none): training" in result.stderr
    # CPU runs repeat exactly: the retrained cell and the tables match the uninterrupted sweep
    assert (out / "hidden-16_norm-none" / "metrics.json").read_text() == (
        reference / "hidden-16_norm-none" / "metrics.json"
    ).read_text()
    assert read_csv(out / "sweep.csv") == [
        {**row, "run_dir": row["run_dir"].replace(str(reference), str(out))}
        for row in read_csv(reference / "sweep.csv")
    ]


def test_interrupted_cell_resumes_from_its_checkpoint(swept, runner, tmp_path: Path, monkeypatch) -> None:
    """Ctrl-C in the second cell: exit 130; the same sweep again skips cell 1 and resumes cell 2."""
    config, reference, _ = swept
    out = tmp_path / "out"
    grid = ["--grid", "model.hidden=8", "--grid", "model.norm=none,batch"]
    original = log.EpochProgress.update
    calls = []

    def update(self, epoch: int, loss: float, monitored: float) -> None:
        original(self, epoch, loss, monitored)
        calls.append(epoch)
        if len(calls) == 5:  # epoch 2 of the second cell (3 epochs each)
            os.kill(os.getpid(), signal.SIGINT)

    with monkeypatch.context() as patch:
        patch.setattr(log.EpochProgress, "update", update)
        result = runner.invoke(app, ["sweep", str(config), *grid, "--out", str(out)])
    assert result.exit_code == 130, result.output
    assert "interrupted in cell hidden-8_norm-batch" in result.stderr and "run the same sweep again" in result.stderr
    assert (out / "hidden-8_norm-none" / "metrics.json").is_file()
    assert (out / "hidden-8_norm-batch" / "checkpoint.pt").is_file()
    assert not (out / "sweep.csv").exists()

    result = runner.invoke(app, ["sweep", str(config), *grid, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "hidden-8_norm-none (model.hidden=8, model.norm=none): already finished; skipped" in result.stderr
    assert "hidden-8_norm-batch (model.hidden=8, model.norm=batch): resuming" in result.stderr
    assert len(result.stdout.splitlines()) == 3
    for name in ("hidden-8_norm-none", "hidden-8_norm-batch"):
        assert json.loads((out / name / "metrics.json").read_text()) == json.loads(
            (reference / name / "metrics.json").read_text()
        )
    assert not (out / "hidden-8_norm-batch" / "checkpoint.pt").exists()


def test_seeds_give_std_columns_and_default_out(runner, tmp_path: Path, monkeypatch) -> None:
    config = base_config(tmp_path / "norms.yaml", epochs=2)
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(
        app, ["sweep", str(config), "--grid", "model.norm=none,layer", "--seeds", "2", "--set", "model.hidden=8", "-q"]
    )
    assert result.exit_code == 0, result.output
    assert result.stderr == ""  # --quiet
    out = Path("runs") / "norms-sweep"
    rows = read_csv(out / "sweep.csv")
    assert list(rows[0])[:5] == ["model.norm", "val_accuracy", "val_accuracy_std", "val_loss", "val_loss_std"]
    lines = result.stdout.splitlines()
    for row, line, name in zip(rows, lines[1:], ("norm-none", "norm-layer")):
        metrics = json.loads((out / name / "metrics.json").read_text())
        assert [run["seed"] for run in metrics["runs"]] == [0, 1]
        assert yaml.safe_load((out / name / "config.yaml").read_text())["model"]["hidden"] == 8
        assert float(row["test_accuracy_std"]) == metrics["std"]["test"]["accuracy"]
        assert float(row["val_accuracy"]) == metrics["val"]["accuracy"]
        test = metrics["test"]["accuracy"], metrics["std"]["test"]["accuracy"]
        assert line.split("\t")[2] == f"{100 * test[0]:.1f} ± {100 * test[1]:.1f}"
    assert json.loads((out / "sweep.json").read_text())[1]["metrics"]["std"]["val"]["accuracy"] == float(
        rows[1]["val_accuracy_std"]
    )


def test_sweep_help_and_grid_errors_do_not_import_torch() -> None:
    code = (
        "import sys\n"
        "from gnntool.cli import app\n"
        "from typer.testing import CliRunner\n"
        "r = CliRunner().invoke(app, ['sweep', '--help'])\n"
        "assert r.exit_code == 0 and '--grid' in r.stdout, r.output\n"
        "r = CliRunner().invoke(app, ['sweep', 'configs/sweep_norms_cora.yaml', '--grid', 'model.norm=x,y'])\n"
        "assert r.exit_code == 2, r.output\n"
        "r = CliRunner().invoke(app, ['sweep', 'configs/sweep_norms_cora.yaml', '--grid', 'model.norm=[a'])\n"
        "assert r.exit_code == 2, r.output\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


def test_shipped_sweep_config_plans_every_norm() -> None:
    from gnntool.engine.studies.sweep import plan_sweep

    text = (REPO / "configs" / "sweep_norms_cora.yaml").read_text()
    command = next(line for line in text.splitlines() if line.startswith("# gnntool sweep"))
    grid = command.split("--grid ")[1].split()[0]
    cells = plan_sweep(REPO / "configs" / "sweep_norms_cora.yaml", [grid])
    assert [cell.config.model.norm for cell in cells] == ["none", "batch", "batchrenorm", "layer", "instance", "group"]
    assert all(cell.config.model.arch == "sage" and cell.config.model.aggregator == "mean" for cell in cells)
