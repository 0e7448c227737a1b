"""`gnntool plot`: images of the expected size for runs, sweeps and embeddings; exit 2 on what cannot be drawn."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest
import yaml
from threadpoolctl import threadpool_limits
from typer.testing import CliRunner

from gnntool import plot as plot_module
from gnntool.cli import app
from gnntool.plot import best_epoch, mean_band, view_limits

DATA_ROOT = Path(__file__).resolve().parents[2] / "data"


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict[str, Path]:
    """A one-seed and a two-seed run of 4 epochs on Cora (trained once for the module)."""
    root = tmp_path_factory.mktemp("plot")
    config = root / "config.yaml"
    config.write_text(yaml.safe_dump({"dataset": {"name": "Cora", "root": str(DATA_ROOT)}, "train": {"epochs": 4}}))
    runs = {}
    for seeds in ("1", "2"):
        runs[seeds] = root / f"run-{seeds}"
        result = CliRunner().invoke(app, ["train", str(config), "--out", str(runs[seeds]), "--seeds", seeds])
        assert result.exit_code == 0, result.output
    return runs


def pixels(path: Path) -> tuple[int, int]:
    """(width, height) of a PNG."""
    height, width = matplotlib.image.imread(path).shape[:2]
    return width, height


def test_mean_band_counts_the_seeds_still_training() -> None:
    epochs, mean, std = mean_band([np.array([1.0, 2.0, 3.0]), np.array([3.0, 4.0])])
    assert epochs.tolist() == [1, 2, 3]
    assert mean.tolist() == [2.0, 3.0, 3.0]
    assert std[:2] == pytest.approx([np.sqrt(2), np.sqrt(2)]) and std[2] == 0.0


def test_best_epoch_is_the_one_training_kept() -> None:
    history = {"val_accuracy": np.array([0.5, 0.7, 0.7, 0.6]), "val_loss": np.array([1.0, 0.9, 0.8, 0.7])}
    assert best_epoch(history, "val_accuracy") == 2  # the tie goes to the lower loss
    assert best_epoch(history, "val_loss") == 3


@pytest.mark.parametrize("seeds", ["1", "2"])
def test_curves_of_a_run(runner, trained, seeds) -> None:
    run_dir = trained[seeds]
    result = runner.invoke(app, ["plot", str(run_dir)])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(run_dir / "curves.png")
    assert pixels(run_dir / "curves.png") == (1200, 450)


@pytest.mark.parametrize("suffix, magic", [(".svg", b"<?xml"), (".pdf", b"%PDF")])
def test_other_formats(runner, trained, tmp_path, suffix, magic) -> None:
    output = tmp_path / "figures" / f"curves{suffix}"
    result = runner.invoke(app, ["plot", str(trained["2"]), "--output", str(output)])
    assert result.exit_code == 0, result.output
    assert output.read_bytes().startswith(magic)


def test_what_cannot_be_plotted_is_exit_2(runner, trained, tmp_path) -> None:
    run_dir = tmp_path / "run"
    shutil.copytree(trained["1"], run_dir)
    cases = [
        (["plot", str(run_dir), "--output", str(tmp_path / "x.jpg")], "give a .png, .svg or .pdf"),
        (["plot", str(tmp_path / "missing")], "no such directory"),
        (["plot", str(tmp_path)], "not a run directory"),
        (["plot", str(run_dir), "--method", "tsne"], "add --embeddings"),
    ]
    (run_dir / "history.csv").unlink()
    cases.append((["plot", str(run_dir)], "no history.csv"))
    for args, message in cases:
        result = runner.invoke(app, args)
        assert result.exit_code == 2 and message in result.output, (args, result.output)
    (run_dir / "metrics.json").unlink()  # an unfinished run
    result = runner.invoke(app, ["plot", str(run_dir)])
    assert result.exit_code == 2 and "has not finished" in result.output


def fake_sweep(sweep_dir: Path, cells: int) -> None:
    """sweep.json of `cells` cells with made-up multi-seed metrics (drawing needs no training)."""
    rng = np.random.default_rng(0)
    rows = []
    for index in range(cells):
        val, test = rng.uniform(0.6, 0.85, size=2)
        rows.append(
            {
                "cell": {
                    "model.hidden": 8 * (index // 4 + 1),
                    "model.norm": ["none", "batch", "layer", "group"][index % 4],
                },
                "run_dir": str(sweep_dir / f"cell-{index}"),
                "metrics": {
                    "val": {"accuracy": val, "loss": 1.0},
                    "test": {"accuracy": test, "loss": 1.0},
                    "std": {"val": {"accuracy": 0.01, "loss": 0.1}, "test": {"accuracy": 0.02, "loss": 0.1}},
                },
            }
        )
    sweep_dir.mkdir()
    (sweep_dir / "sweep.json").write_text(json.dumps(rows))


@pytest.mark.parametrize("cells", [2, 24])
def test_sweep_cells_with_error_bars(runner, tmp_path, cells) -> None:
    sweep_dir = tmp_path / "sweep"
    fake_sweep(sweep_dir, cells)
    result = runner.invoke(app, ["plot", str(sweep_dir)])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(sweep_dir / "sweep.png")
    height = round(100 * (plot_module.SWEEP_MARGIN + plot_module.SWEEP_ROW * cells))
    assert pixels(sweep_dir / "sweep.png") == (1000, height)


@pytest.mark.parametrize("method", ["pca", pytest.param("tsne", marks=pytest.mark.slow)])
def test_embeddings(runner, trained, method, monkeypatch) -> None:
    monkeypatch.setattr(plot_module, "TSNE_NODES", 300)  # a quick t-SNE: the sampling path, seeded
    run_dir = trained["1"]
    with threadpool_limits(1):  # OpenMP threads fighting over busy cores slow t-SNE down many times
        result = runner.invoke(app, ["plot", str(run_dir), "--embeddings", "--method", method])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(run_dir / f"embeddings-{method}.png")
    assert pixels(run_dir / f"embeddings-{method}.png") == (800, 800)


def test_far_outliers_stay_outside_the_embedding_frame() -> None:
    """A few far points (common in PCA) must not squeeze the cloud into a corner: the frame holds
    the central 99% on each axis, with a margin, and counts the points left out."""
    cloud = np.random.default_rng(0).normal(size=(1000, 2))
    points = np.vstack([cloud, [[500.0, 0.0], [0.0, -800.0]]])
    (low, high), outside = view_limits(points)
    assert outside >= 2 and outside <= 0.02 * len(points)
    assert (high - low).max() < 10  # the cloud's scale, not the outliers'
    inside = np.all((cloud >= low) & (cloud <= high), axis=1)
    assert inside.mean() > 0.97


def test_drawn_nodes_are_a_seeded_sample() -> None:
    embeddings = np.random.default_rng(1).normal(size=(plot_module.PCA_NODES + 500, 4)).astype(np.float32)
    rows, points = plot_module.project(embeddings, "pca", seed=3)
    assert len(rows) == plot_module.PCA_NODES == len(np.unique(rows)) and points.shape == (len(rows), 2)
    assert np.array_equal(rows, plot_module.project(embeddings, "pca", seed=3)[0])


def test_without_matplotlib_is_exit_2(runner, trained, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    result = runner.invoke(app, ["plot", str(trained["1"])])
    assert result.exit_code == 2 and "pip install 'gnntool[plot]'" in result.output
