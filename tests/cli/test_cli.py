"""The CLI end to end on Cora (a few epochs): run directory, streams, exit codes, eval, embed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from gnntool.cli import app
from gnntool.config import load_config
from gnntool.rundir.layout import RUN_FILES


@pytest.fixture
def trained(runner, write_config, tmp_path: Path) -> Path:
    """A finished 5-epoch GCN run on Cora."""
    run_dir = tmp_path / "run"
    result = runner.invoke(app, ["train", str(write_config()), "--out", str(run_dir)])
    assert result.exit_code == 0, result.output
    return run_dir


def test_train_writes_the_run_directory(trained: Path, runner, write_config, tmp_path: Path) -> None:
    for name in ("config.yaml", "model.pt", "metrics.json", "history.csv", "embeddings.npy", "run.json"):
        assert (trained / name).is_file(), name
    assert not (trained / "checkpoint.pt").exists()
    metrics = json.loads((trained / "metrics.json").read_text())
    assert set(metrics) == {"train", "val", "test"}
    assert 0.0 <= metrics["test"]["accuracy"] <= 1.0
    history = (trained / "history.csv").read_text().splitlines()
    assert history[0] == "epoch,loss,val_loss,val_accuracy,seconds" and len(history) == 6
    embeddings = np.load(trained / "embeddings.npy")
    assert embeddings.shape == (2708, 16) and embeddings.dtype == np.float32
    info = json.loads((trained / "run.json").read_text())
    assert info["torch"] == torch.__version__ and info["device"] == "cpu" and info["command"]
    saved = torch.load(trained / "model.pt", weights_only=True)
    assert saved["format_version"] == 1 and saved["num_features"] == 1433
    # the resolved config loads again and equals the one trained with
    assert load_config(trained / "config.yaml") == load_config(write_config())
    assert not list(trained.glob(".*.tmp"))  # no temp files left behind


def test_stdout_holds_only_the_run_directory(runner, write_config, tmp_path: Path) -> None:
    run_dir = tmp_path / "out"
    result = runner.invoke(app, ["train", str(write_config()), "--out", str(run_dir)])
    assert result.exit_code == 0
    assert result.stdout == f"{run_dir}\n"
    assert "epoch" in result.stderr  # progress went to stderr


def test_quiet_silences_progress(runner, write_config, tmp_path: Path) -> None:
    result = runner.invoke(app, ["train", str(write_config()), "--out", str(tmp_path / "q"), "--quiet"])
    assert result.exit_code == 0 and result.stderr == ""


def test_default_out_is_runs_config_stem(runner, write_config, tmp_path: Path, monkeypatch) -> None:
    config = write_config(name="my_exp.yaml")
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["train", str(config), "-q"])
    assert result.exit_code == 0
    assert result.stdout.strip() == str(Path("runs") / "my_exp")
    assert (tmp_path / "runs" / "my_exp" / "metrics.json").is_file()


def test_cpu_runs_repeat_exactly(trained: Path, runner, write_config, tmp_path: Path) -> None:
    again = tmp_path / "again"
    assert runner.invoke(app, ["train", str(write_config()), "--out", str(again)]).exit_code == 0
    assert (again / "metrics.json").read_text() == (trained / "metrics.json").read_text()
    assert np.array_equal(np.load(again / "embeddings.npy"), np.load(trained / "embeddings.npy"))


def test_finished_run_is_refused_without_force(trained: Path, runner, write_config) -> None:
    result = runner.invoke(app, ["train", str(write_config()), "--out", str(trained)])
    assert result.exit_code == 2
    assert "holds a finished run" in result.stderr and "--force" in result.stderr
    assert result.stdout == ""


def test_force_overwrites_and_resume_of_finished_exits_zero(trained: Path, runner, write_config) -> None:
    result = runner.invoke(app, ["train", str(write_config()), "--out", str(trained), "--resume"])
    assert result.exit_code == 0 and "already finished" in result.stderr
    result = runner.invoke(app, ["train", str(write_config({"seed": 1})), "--out", str(trained), "--force"])
    assert result.exit_code == 0
    assert yaml.safe_load((trained / "config.yaml").read_text())["seed"] == 1


def test_set_and_seed_overrides_reach_the_resolved_config(runner, write_config, tmp_path: Path) -> None:
    run_dir = tmp_path / "o"
    result = runner.invoke(
        app, ["train", str(write_config()), "--out", str(run_dir), "--set", "model.hidden=8", "--seed", "4", "-q"]
    )
    assert result.exit_code == 0, result.output
    resolved = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert resolved["model"]["hidden"] == 8 and resolved["seed"] == 4
    assert np.load(run_dir / "embeddings.npy").shape == (2708, 8)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--set", "model.hiden=3"], "model.hiden: unknown key — did you mean model.hidden?"),
        (["--set", "train.lr=-1"], "train.lr"),
        (["--set", "nonsense"], "expected KEY=VALUE"),
        (["--device", "cuda:7"], "device cuda:7"),
        (["--device", "tpu"], "device"),
        (["--resume", "--force"], "contradict"),
    ],
)
def test_user_errors_exit_2_with_one_message(runner, write_config, tmp_path: Path, args, message) -> None:
    result = runner.invoke(app, ["train", str(write_config()), "--out", str(tmp_path / "x"), *args])
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output and result.stdout == ""


def test_missing_config_file_exits_2(runner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["train", str(tmp_path / "missing.yaml")])
    assert result.exit_code == 2 and "cannot read config" in result.stderr


def test_eval_reproduces_metrics_json(trained: Path, runner) -> None:
    result = runner.invoke(app, ["eval", str(trained), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == json.loads((trained / "metrics.json").read_text())


def test_eval_one_split_and_table(trained: Path, runner) -> None:
    result = runner.invoke(app, ["eval", str(trained), "--split", "test", "--json"])
    assert list(json.loads(result.stdout)) == ["test"]
    table = runner.invoke(app, ["eval", str(trained)])
    assert table.exit_code == 0 and "accuracy" in table.stdout and "test" in table.stdout


def test_eval_of_a_missing_run_exits_2(runner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["eval", str(tmp_path / "nothing")])
    assert result.exit_code == 2 and "no such run directory" in result.stderr


def test_multi_seed_run(runner, write_config, tmp_path: Path) -> None:
    run_dir = tmp_path / "seeds"
    result = runner.invoke(app, ["train", str(write_config({"seed": 5})), "--out", str(run_dir), "--seeds", "3"])
    assert result.exit_code == 0 and result.stdout == f"{run_dir}\n"
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert [run["seed"] for run in metrics["runs"]] == [5, 6, 7]
    tests = [run["test"]["accuracy"] for run in metrics["runs"]]
    assert metrics["test"]["accuracy"] == pytest.approx(np.mean(tests))
    assert metrics["std"]["test"]["accuracy"] == pytest.approx(np.std(tests, ddof=1))
    for seed in (5, 6, 7):
        assert (run_dir / f"seed-{seed}" / "model.pt").is_file()
        assert json.loads((run_dir / f"seed-{seed}" / "metrics.json").read_text())["test"]["accuracy"] in tests
    assert (run_dir / "model.pt").read_bytes() == (run_dir / "seed-5" / "model.pt").read_bytes()
    evaluated = json.loads(runner.invoke(app, ["eval", str(run_dir), "--json"]).stdout)
    assert evaluated == metrics


@pytest.mark.parametrize("fmt", ["npy", "pt", "csv", "tsv"])
def test_embed_formats(trained: Path, runner, tmp_path: Path, fmt: str) -> None:
    expected = np.load(trained / "embeddings.npy")
    out = tmp_path / f"emb.{fmt}"
    result = runner.invoke(app, ["embed", str(trained), "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    if fmt == "npy":
        got = np.load(out)
    elif fmt == "pt":
        payload = torch.load(out, weights_only=True)
        assert payload["node_id"].dtype == torch.int64 and payload["node_id"].tolist() == list(range(2708))
        got = payload["embeddings"].numpy()
        assert got.dtype == np.float32
    else:
        table = np.loadtxt(out, delimiter="," if fmt == "csv" else "\t")
        assert np.array_equal(table[:, 0], np.arange(2708))
        got = table[:, 1:]
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-7)


def test_embed_to_stdout_with_header(trained: Path, runner) -> None:
    result = runner.invoke(app, ["embed", str(trained), "--format", "csv", "--header"])
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == "id," + ",".join(f"dim_{i}" for i in range(16))
    assert len(lines) == 2709 and lines[1].startswith("0,")
    plain = runner.invoke(app, ["embed", str(trained)]).stdout.splitlines()  # default: tsv, no header
    assert len(plain) == 2708 and plain[0].split("\t")[0] == "0" and len(plain[0].split("\t")) == 17


@pytest.mark.parametrize("fmt", ["npy", "pt"])
def test_binary_embed_to_stdout_is_refused(trained: Path, runner, fmt: str) -> None:
    result = runner.invoke(app, ["embed", str(trained), "--format", fmt])
    assert result.exit_code == 2 and "cannot go to stdout" in result.stderr


def test_help_and_version_do_not_import_torch() -> None:
    code = (
        "import sys\n"
        "from gnntool.cli import app\n"
        "from typer.testing import CliRunner\n"
        "r = CliRunner().invoke(app, ['--version'])\n"
        "assert r.exit_code == 0 and r.stdout.startswith('gnntool '), r.output\n"
        "r = CliRunner().invoke(app, ['train', '--help'])\n"
        "assert r.exit_code == 0 and '--seeds' in r.stdout\n"
        "r = CliRunner().invoke(app, ['train', 'configs/gcn_cora.yaml', '--set', 'model.hiden=1'])\n"
        "assert r.exit_code == 2, r.output\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[2])


def test_run_files_are_the_contract() -> None:
    assert set(RUN_FILES) == {
        "config.yaml", "model.pt", "checkpoint.pt", "metrics.json", "history.csv", "embeddings.npy", "run.json"
    }


def test_missing_dataset_offline_exits_2_listing_files(runner, write_config, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("GNNTOOL_OFFLINE", "1")
    monkeypatch.delenv("GNNTOOL_MIRROR", raising=False)
    config = write_config({"dataset": {"name": "PubMed", "root": str(tmp_path / "empty")}})
    result = runner.invoke(app, ["train", str(config), "--out", str(tmp_path / "run")])
    assert result.exit_code == 2, result.output
    assert "ind.pubmed.x" in result.stderr and "ind.pubmed.test.index" in result.stderr
    assert str(tmp_path / "empty" / "Planetoid" / "PubMed" / "raw") in result.stderr
    assert "GNNTOOL_MIRROR" in result.stderr and result.stdout == ""


def test_a_run_that_failed_before_training_can_be_rerun(
    runner, write_config, tmp_path: Path, without_shipped_data
) -> None:
    run_dir = tmp_path / "run"
    bad = write_config({"dataset": {"root": str(tmp_path / "nowhere")}})
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GNNTOOL_OFFLINE", "1")
        assert runner.invoke(app, ["train", str(bad), "--out", str(run_dir)]).exit_code == 2
    assert runner.invoke(app, ["train", str(write_config()), "--out", str(run_dir), "-q"]).exit_code == 0


@pytest.mark.parametrize(
    ("command", "default"), [("train", "the config's device"), ("sweep", "the config's device"), ("eval", "auto"),
                             ("embed", "auto"), ("predict", "auto")],
)
def test_device_help_states_each_command_s_own_default(runner, command: str, default: str) -> None:
    result = runner.invoke(app, [command, "--help"], env={"COLUMNS": "400", "TERMINAL_WIDTH": "400"})
    assert result.exit_code == 0
    (line,) = [line for line in result.stdout.splitlines() if "--device" in line]
    assert f"[default: {default}]" in line and "auto, cpu, cuda or cuda:N" in line
