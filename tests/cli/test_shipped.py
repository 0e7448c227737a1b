"""Shipped configs and data: `gnntool configs [copy]`, `gnntool train NAME`, the raw-file fallback,
`train --dry-run`, and what a wheel holds."""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import REPO

from gnntool import shipped
from gnntool.cli import app
from gnntool.config import load_config

CONFIGS = sorted(path.stem for path in (REPO / "configs").glob("*.yaml"))
CORA_RAW = ["ind.cora.x", "ind.cora.tx", "ind.cora.allx", "ind.cora.y", "ind.cora.ty", "ind.cora.ally"]


def test_every_config_of_the_repository_is_listed_with_its_description(runner) -> None:
    result = runner.invoke(app, ["configs"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines] == CONFIGS
    assert "gcn_cora" in CONFIGS and "sage_cora" in CONFIGS
    for line, name in zip(lines, CONFIGS, strict=True):
        first = (REPO / "configs" / f"{name}.yaml").read_text().splitlines()[0]
        assert first.startswith("# "), f"configs/{name}.yaml: the first line describes it, as a comment"
        assert line.split(maxsplit=1)[1] == first[2:].strip()


@pytest.mark.parametrize("name", CONFIGS)
def test_shipped_configs_name_no_file(name: str) -> None:
    # A shipped config must run from any directory; one that names files belongs in examples/.
    config = load_config(REPO / "configs" / f"{name}.yaml")
    assert config.dataset.path is None and config.output.dir is None


def test_copy_writes_the_config_out(runner, tmp_path: Path, monkeypatch) -> None:
    source = (REPO / "configs" / "sage_cora.yaml").read_text()
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["configs", "copy", "sage_cora"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "sage_cora.yaml" and Path("sage_cora.yaml").read_text() == source
    (tmp_path / "mine").mkdir()
    assert runner.invoke(app, ["configs", "copy", "sage_cora", "mine"]).stdout.strip() == "mine/sage_cora.yaml"
    assert runner.invoke(app, ["configs", "copy", "gcn_cora", "mine/edit.yaml"]).exit_code == 0
    assert yaml.safe_load(Path("mine/edit.yaml").read_text())["model"]["arch"] == "gcn"

    again = runner.invoke(app, ["configs", "copy", "gcn_cora", "mine/edit.yaml"])
    assert again.exit_code == 2 and "already exists" in again.stderr and "--force" in again.stderr
    assert runner.invoke(app, ["configs", "copy", "sage_cora", "mine/edit.yaml", "--force"]).exit_code == 0
    assert Path("mine/edit.yaml").read_text() == source
    missing = runner.invoke(app, ["configs", "copy", "gcn_cora", "nowhere/x.yaml"])
    assert missing.exit_code == 2 and "nowhere: no such folder" in missing.stderr


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["configs", "copy", "gcn_coar"], "did you mean gcn_cora"),
        (["train", "sage_core"], "did you mean sage_cora"),
        (["train", "gcn_cora.yml"], "cannot read config: no such file; or a shipped config: gcn_cora"),
        (["train", "elsewhere/gcn_cora.yaml"], "elsewhere/gcn_cora.yaml: cannot read config: no such file"),
        (["sweep", "zzzz", "--grid", "model.hidden=8"], "no config file or shipped config of that name; shipped: "),
    ],
)
def test_unknown_names_exit_2_with_the_close_ones(runner, tmp_path: Path, monkeypatch, argv, message) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, argv)
    assert result.exit_code == 2 and message in result.stderr, result.output
    assert "Traceback" not in result.output and list(tmp_path.iterdir()) == []


def test_train_by_name_from_an_empty_directory_copies_the_shipped_data(runner, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GNNTOOL_OFFLINE", "1")  # no download: the raw files come from the package
    result = runner.invoke(app, ["train", "gcn_cora", "--set", "train.epochs=2", "-q"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(Path("runs") / "gcn_cora")
    assert (tmp_path / "runs" / "gcn_cora" / "metrics.json").is_file()
    raw = tmp_path / "data" / "Planetoid" / "Cora" / "raw"
    for file in CORA_RAW:
        assert (raw / file).read_bytes() == (shipped.data_dir() / "Planetoid" / "Cora" / "raw" / file).read_bytes()


def test_dry_run_reports_the_model_and_writes_no_run(runner, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["train", "gcn_cora", "--dry-run", "--out", "run"])
    assert result.exit_code == 0, result.output
    report = result.stdout
    # two GCN layers: 1433 -> 16 -> 7 classes, weights and biases
    assert f"{1433 * 16 + 16 + 16 * 7 + 7:,} parameters" in report
    assert "2,708 nodes" in report and "1,433 features" in report and "7 classes" in report
    assert "train 140, val 500, test 1,000" in report and "GCN" in report
    assert not (tmp_path / "run").exists() and not (tmp_path / "runs").exists()


def test_dry_run_of_sage_lists_its_layers(runner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["train", "sage_cora", "--dry-run", "--set", "model.layers=3", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert result.stdout.count("SAGE") >= 3 and list(tmp_path.iterdir()) == []


def test_dry_run_names_missing_dataset_files_and_downloads_nothing(runner, write_config, tmp_path: Path) -> None:
    config = write_config({"dataset": {"name": "PubMed", "root": str(tmp_path / "empty")}})
    result = runner.invoke(app, ["train", str(config), "--dry-run", "--out", str(tmp_path / "run")])
    assert result.exit_code == 2, result.output
    assert "ind.pubmed.x" in result.stderr and "a dry run downloads nothing" in result.stderr
    assert not (tmp_path / "empty").exists() and not (tmp_path / "run").exists()


def test_dry_run_catches_what_only_the_data_tells(runner, tmp_path: Path) -> None:
    path = tmp_path / "unlabelled.npz"
    np.savez(path, x=np.ones((4, 3), np.float32), edge_index=np.array([[0, 1, 2], [1, 2, 3]]))
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({"dataset": {"name": "graph", "path": str(path), "split": "random"}}))
    result = runner.invoke(app, ["train", str(config), "--dry-run"])
    assert result.exit_code == 2 and "has no labels" in result.stderr


@pytest.mark.slow
def test_a_wheel_ships_the_configs_and_data_and_trains_offline(tmp_path: Path) -> None:
    """Build a wheel, install it (no dependencies) into a fresh venv, run it away from the repository."""
    source = tmp_path / "source"  # a copy, so that building leaves nothing in the repository
    for folder in ("gnntool", "configs", "data/Planetoid"):  # the raw files of data/ and no caches
        shutil.copytree(REPO / folder, source / folder, ignore=shutil.ignore_patterns("__pycache__", "processed"))
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy(REPO / name, source / name)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation", "-q", "-w", "dist"],
        cwd=tmp_path, check=True, capture_output=True,
    )
    (wheel,) = (tmp_path / "dist").glob("gnntool-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {f"gnntool/configs/{name}.yaml" for name in CONFIGS} <= names
    assert {f"gnntool/shipped_data/Planetoid/Cora/raw/{file}" for file in CORA_RAW} <= names
    assert "gnntool/shipped_data/Planetoid/CiteSeer/raw/ind.citeseer.graph" in names
    assert not [name for name in names if "graph_example" in name or "/processed/" in name]

    python = venv_seeing_these_packages(tmp_path / "venv")
    subprocess.run([python, "-m", "pip", "install", "--no-deps", "-q", str(wheel)], check=True, capture_output=True)
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    away = tmp_path / "away"
    away.mkdir()
    where = subprocess.run(
        [python, "-c", "import gnntool.shipped as s; print(s.configs_dir())"], cwd=away, env=env,
        capture_output=True, text=True, check=True,
    )
    assert Path(where.stdout.strip()).is_relative_to(tmp_path / "venv")
    gnntool = [python, "-m", "gnntool"]
    listed = subprocess.run([*gnntool, "configs"], cwd=away, env=env, capture_output=True, text=True)
    assert [line.split()[0] for line in listed.stdout.splitlines()] == CONFIGS, listed.stderr
    dry = subprocess.run(
        [*gnntool, "train", "gcn_cora", "--dry-run"], cwd=away, env={**env, "GNNTOOL_OFFLINE": "1"},
        capture_output=True, text=True,
    )
    assert dry.returncode == 0 and "23,063 parameters" in dry.stdout, dry.stderr
    assert (away / "data" / "Planetoid" / "Cora" / "raw" / "ind.cora.graph").is_file()


def venv_seeing_these_packages(folder: Path) -> Path:
    """A fresh venv whose interpreter also sees the running interpreter's packages (torch, typer, ...),
    and return its python.

    `--system-site-packages` would see the *base* interpreter's packages, not those of the venv
    the tests may run in; a .pth file listing the running interpreter's site directories works in
    both. Their own .pth files (an editable gnntool) are not read from there, so the installed
    wheel is the gnntool that the venv imports.
    """
    subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True)
    python = folder / "bin" / "python"
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()
    seen = [path for path in [*site.getsitepackages(), site.getusersitepackages()] if Path(path).is_dir()]
    (Path(purelib) / "running-interpreter.pth").write_text("".join(f"{path}\n" for path in seen))
    return python


def test_configs_and_name_errors_do_not_import_torch(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from gnntool.cli import app\n"
        "assert CliRunner().invoke(app, ['configs']).exit_code == 0\n"
        "assert CliRunner().invoke(app, ['configs', 'copy', 'gcn_cora', sys.argv[1]]).exit_code == 0\n"
        "assert CliRunner().invoke(app, ['train', 'gcn_coar']).exit_code == 2\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=True)
    assert (tmp_path / "gcn_cora.yaml").is_file()
