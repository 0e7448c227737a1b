"""`gnntool plot`: training curves of a run, a sweep's cells side by side, or a run's embeddings in 2-D.

Drawn with matplotlib's Agg backend (no display needed) into PNG, SVG or PDF, written atomically.
A run: training and validation loss, and the monitored validation metric, per epoch; several seeds
are drawn as the mean with a ± one std band over the seeds still training at that epoch, each
seed's best epoch marked. A sweep (a folder with sweep.json): one row per cell with the validation
and test metric and ± std error bars. Embeddings: embeddings.npy projected by PCA or t-SNE
(scikit-learn, on at most `TSNE_NODES` seeded-sampled nodes), coloured by class, test nodes marked.
"""

from __future__ import annotations

import csv
import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gnntool.config import Config, load_config
from gnntool.errors import UserError
from gnntool.metric_facts import facts, format_value, main_metric, score
from gnntool.rundir.layout import (
    CONFIG,
    EMBEDDINGS,
    HISTORY,
    METRICS,
    SWEEP_JSON,
    is_finished,
    read_json,
    typed_embeddings,
    unit_dirs,
    write_with,
)

INSTALL = "pip install 'gnntool[plot]'"
SUFFIXES = (".png", ".svg", ".pdf")
DPI = 100
CURVES_SIZE = (12.0, 4.5)  # inches: 1200 × 450 pixels at DPI
EMBEDDINGS_SIZE = (8.0, 8.0)
SWEEP_WIDTH = 10.0
SWEEP_ROW = 0.32  # inches per cell: 24 cells stay readable
SWEEP_MARGIN = 1.6
TSNE_NODES = 5000
PCA_NODES = 20000  # points drawn at most (PCA itself fits every node)
METHOD_NAMES = {"pca": "PCA", "tsne": "t-SNE"}
VIEW_SHARE = 0.99  # the embedding plot frames the central 99% of the points on each axis


def pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend, or a UserError naming the extra to install."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise UserError(f"gnntool plot needs matplotlib: {INSTALL}") from None
    return plt


def output_path(output: Path | None, default: Path) -> Path:
    """`--output` (png, svg or pdf by its suffix), else `default`."""
    path = output if output is not None else default
    if path.suffix.lower() not in SUFFIXES:
        raise UserError(f"--output {path}: give a .png, .svg or .pdf file")
    return path


def save(figure: Any, path: Path) -> Path:
    write_with(path, lambda handle: figure.savefig(handle, format=path.suffix.lower().lstrip("."), dpi=DPI))
    pyplot().close(figure)
    return path


def finished_run(run_dir: Path) -> Config:
    """The config of a finished run, or a UserError saying what `run_dir` lacks."""
    if not run_dir.is_dir():
        raise UserError(f"{run_dir}: no such directory")
    if not (run_dir / CONFIG).is_file():
        raise UserError(f"{run_dir}: not a run directory (no {CONFIG}) nor a sweep (no {SWEEP_JSON})")
    if not is_finished(run_dir):
        raise UserError(f"{run_dir}: the run has not finished (no {METRICS}); plot it once it has (or --resume it)")
    return load_config(run_dir / CONFIG)


def plot(path: Path, output: Path | None = None, embeddings: bool = False, method: str = "pca") -> Path:
    """Plot a run's curves, a sweep's cells, or (`embeddings`) a run's embeddings; return the file."""
    if embeddings:
        return plot_embeddings(path, output, method)
    if (path / SWEEP_JSON).is_file():
        return plot_sweep(path, output)
    return plot_curves(path, output)


# --- training curves ----------------------------------------------------------------------------


def read_history(path: Path) -> dict[str, np.ndarray]:
    """history.csv as columns of floats."""
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        raise UserError(f"{path}: no epochs")
    return {key: np.array([float(row[key]) for row in rows]) for key in rows[0]}


def histories(run_dir: Path) -> dict[str, dict[str, np.ndarray]]:
    """Each seed's (or fold's) history (`seed-N/history.csv`, `fold-K/...`, or the run's own for one
    seed), by its folder's label."""
    seed_files = [path / HISTORY for path in unit_dirs(run_dir) if (path / HISTORY).is_file()]
    if (run_dir / HISTORY).is_file():
        return {"": read_history(run_dir / HISTORY)}
    if not seed_files:
        raise UserError(f"{run_dir}: no {HISTORY} (a run from before gnntool kept histories?)")
    return {str(path.parent.relative_to(run_dir)): read_history(path) for path in seed_files}


def best_epoch(history: dict[str, np.ndarray], monitor: str) -> int:
    """Index of the epoch training kept, by `fit`'s own ranking (first of the best)."""
    name = monitor.removeprefix("val_")
    epochs = range(len(history["val_loss"]))
    return max(epochs, key=lambda i: score({"loss": history["val_loss"][i], name: history[monitor][i]}, monitor))


def mean_band(series: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per epoch (1-based): the mean and std over the series long enough to reach it."""
    length = max(len(values) for values in series)
    padded = np.full((len(series), length), np.nan)
    for row, values in enumerate(series):
        padded[row, : len(values)] = values
    counts = (~np.isnan(padded)).sum(axis=0)
    mean = np.nanmean(padded, axis=0)
    squares = np.nansum((padded - mean) ** 2, axis=0)
    std = np.sqrt(np.divide(squares, counts - 1, out=np.zeros(length), where=counts > 1))  # sample std
    return np.arange(1, length + 1), mean, std


def draw_series(axis: Any, series: Sequence[np.ndarray], label: str, color: str, style: str = "-") -> None:
    """One curve: a single seed as is; several as the mean with a ± std band."""
    epochs, mean, std = mean_band(series)
    axis.plot(epochs, mean, style, color=color, label=label if len(series) == 1 else f"{label} (mean)")
    if len(series) > 1:
        axis.fill_between(epochs, mean - std, mean + std, color=color, alpha=0.2, linewidth=0, label=f"{label} ± std")


def title(config: Config, run_dir: Path, seeds: int) -> str:
    """`gcn on Cora: 10 seeds, test accuracy 81.7 ± 1.1` from the run's metrics.json."""
    metrics = read_json(run_dir / METRICS)
    name = main_metric(metrics["test"])
    spread = metrics["std"]["test"][name] if "std" in metrics else None
    value = format_value(name, metrics["test"][name], spread)
    return f"{config.model.arch} on {config.dataset.name}: {seeds} seed{'s' if seeds > 1 else ''}, test {name} {value}"


def plot_curves(run_dir: Path, output: Path | None = None) -> Path:
    """Loss (training, validation) and the monitored metric per epoch; best epochs marked."""
    path = output_path(output, run_dir / "curves.png")
    config = finished_run(run_dir)
    runs = histories(run_dir)
    monitor = config.train.monitor
    plt = pyplot()
    figure, (loss_axis, metric_axis) = plt.subplots(1, 2, figsize=CURVES_SIZE, dpi=DPI, layout="constrained")
    draw_series(loss_axis, [run["loss"] for run in runs.values()], "training loss", "tab:blue")
    draw_series(loss_axis, [run["val_loss"] for run in runs.values()], "validation loss", "tab:orange", "--")
    loss_axis.set(xlabel="epoch", ylabel="loss", title="loss")
    draw_series(metric_axis, [run[monitor] for run in runs.values()], monitor, "tab:green")
    best = [(best_epoch(run, monitor), run) for run in runs.values()]
    metric_axis.scatter(
        [index + 1 for index, _ in best],
        [run[monitor][index] for index, run in best],
        marker="*",
        s=90,
        color="tab:red",
        zorder=3,
        label="best epoch" + (" of each seed" if len(runs) > 1 else ""),
    )
    metric_axis.set(xlabel="epoch", ylabel=monitor, title=f"{monitor} (monitored)")
    for axis in (loss_axis, metric_axis):
        axis.grid(alpha=0.3)
        axis.legend(fontsize="small")
    figure.suptitle(title(config, run_dir, len(runs)))
    return save(figure, path)


# --- sweeps -------------------------------------------------------------------------------------


def cell_label(values: dict[str, Any]) -> str:
    """`norm=batch, hidden=8`: grid values under their last key part."""
    from gnntool.engine.studies.sweep import short_keys, yaml_text

    short = short_keys(list(values))
    return ", ".join(f"{short[key]}={yaml_text(value)}" for key, value in values.items())


def plot_sweep(sweep_dir: Path, output: Path | None = None) -> Path:
    """One row per cell: validation and test metric (mean, ± std error bars), labelled by its values."""
    path = output_path(output, sweep_dir / "sweep.png")
    rows = read_json(sweep_dir / SWEEP_JSON)
    if not rows:
        raise UserError(f"{sweep_dir / SWEEP_JSON}: no cells")
    metric = main_metric(rows[0]["metrics"]["test"])
    scale = 100.0 if facts(metric).percent else 1.0  # as the sweep's table shows it
    plt = pyplot()
    height = SWEEP_MARGIN + SWEEP_ROW * len(rows)
    figure, axis = plt.subplots(figsize=(SWEEP_WIDTH, height), dpi=DPI, layout="constrained")
    positions = np.arange(len(rows))[::-1]  # the first cell on top
    for offset, split, color in ((0.15, "val", "tab:blue"), (-0.15, "test", "tab:orange")):
        means = np.array([row["metrics"][split][metric] for row in rows]) * scale
        stds = np.array([row["metrics"].get("std", {}).get(split, {}).get(metric, 0.0) for row in rows]) * scale
        axis.errorbar(means, positions + offset, xerr=stds, fmt="o", color=color, capsize=3, label=split)
    axis.set_yticks(positions, [cell_label(row["cell"]) for row in rows])
    axis.set_ylim(-0.6, len(rows) - 0.4)
    unit = " (%)" if scale == 100.0 else ""
    axis.set(xlabel=f"{metric}{unit}", title=f"{sweep_dir.name}: {len(rows)} cells, mean ± std over seeds")
    axis.grid(axis="x", alpha=0.3)
    axis.legend(loc="lower right" if facts(metric).higher_is_better else "upper right", fontsize="small")
    return save(figure, path)


# --- embeddings ---------------------------------------------------------------------------------


def project(embeddings: np.ndarray, method: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(rows drawn, their 2-D coordinates): PCA over every node, t-SNE over a seeded sample."""
    rng = np.random.default_rng(seed)
    limit = TSNE_NODES if method == "tsne" else PCA_NODES
    rows = (
        np.sort(rng.choice(len(embeddings), limit, replace=False))
        if len(embeddings) > limit
        else np.arange(len(embeddings))
    )
    if method == "tsne":
        from sklearn.manifold import TSNE

        perplexity = min(30.0, max(1.0, (len(rows) - 1) / 3))
        points = TSNE(n_components=2, init="pca", perplexity=perplexity, random_state=seed).fit_transform(
            embeddings[rows]
        )
    else:
        from sklearn.decomposition import PCA

        points = PCA(n_components=2, random_state=seed).fit(embeddings).transform(embeddings[rows])
    return rows, points


def view_limits(points: np.ndarray, share: float = VIEW_SHARE) -> tuple[tuple[np.ndarray, np.ndarray], int]:
    """The frame holding the central `share` of the points on each axis, with a margin, and how
    many points fall outside it: a few far outliers (common in PCA) would otherwise squeeze the
    cloud into a corner."""
    tail = 100.0 * (1.0 - share) / 2.0
    low, high = np.percentile(points, [tail, 100.0 - tail], axis=0)
    margin = 0.08 * np.maximum(high - low, 1e-12)
    low, high = low - margin, high + margin
    outside = int(np.any((points < low) | (points > high), axis=1).sum())
    return (low, high), outside


def embedded_nodes(config: Config) -> tuple[str, np.ndarray | None, np.ndarray]:
    """The run's embeddings file (embeddings.npy; a typed graph's target type's) and, per row, the
    class id (None when unlabelled or multi-label) and whether it is a test node."""
    from gnntool.data import TypedDataset, load_dataset

    dataset_nodes.register(TypedDataset, typed_nodes)  # here: the data classes import torch
    return dataset_nodes(load_dataset(config.dataset, config.seed))


@functools.singledispatch
def dataset_nodes(dataset: Any) -> tuple[str, np.ndarray | None, np.ndarray]:
    """A graph dataset's rows of embeddings.npy: labels, and the test nodes (of the test parts
    that run on the dataset's own graphs)."""
    offsets = np.cumsum([0] + [graph.num_nodes for graph in dataset.graphs])
    test = np.zeros(offsets[-1], dtype=bool)
    for part in dataset.splits["test"]:
        for index, graph in enumerate(dataset.graphs):
            if part.graph is graph:
                test[offsets[index] : offsets[index + 1]] |= part.mask.cpu().numpy()
    if not dataset.labelled or dataset.multilabel:
        return EMBEDDINGS, None, test
    return EMBEDDINGS, np.concatenate([graph.y.cpu().numpy() for graph in dataset.graphs]), test


def typed_nodes(dataset: Any) -> tuple[str, np.ndarray | None, np.ndarray]:
    """A typed dataset's target type: its embeddings file, labels and test nodes."""
    target = dataset.target or dataset.node_types()[0]
    count = int(dataset.graph[target].num_nodes)
    test = dataset.masks["test"].cpu().numpy() if "test" in dataset.masks else np.zeros(count, dtype=bool)
    labels = None if dataset.y is None or dataset.multilabel else dataset.y.cpu().numpy()
    return typed_embeddings(target), labels, test


def plot_embeddings(run_dir: Path, output: Path | None = None, method: str = "pca") -> Path:
    """embeddings.npy (a typed run: its target type's embeddings/<type>.npy) in 2-D, one colour per
    class, test nodes ringed in black."""
    path = output_path(output, run_dir / f"embeddings-{method}.png")
    config = finished_run(run_dir)
    name, labels, test = embedded_nodes(config)
    if not (run_dir / name).is_file():
        raise UserError(f"{run_dir}: no {name}")
    embeddings = np.load(run_dir / name)
    if len(test) != len(embeddings):
        raise UserError(f"{run_dir / name}: {len(embeddings)} rows but the dataset has {len(test)} nodes")
    rows, points = project(embeddings, method, config.seed)
    plt = pyplot()
    figure, axis = plt.subplots(figsize=EMBEDDINGS_SIZE, dpi=DPI, layout="constrained")
    if labels is None:
        axis.scatter(points[:, 0], points[:, 1], s=6, color="tab:gray", alpha=0.7, linewidths=0, label="node")
    else:
        classes = np.unique(labels[rows])
        colors = plt.get_cmap("tab10" if len(classes) <= 10 else "tab20")
        for position, label in enumerate(classes):
            chosen = labels[rows] == label
            axis.scatter(
                points[chosen, 0],
                points[chosen, 1],
                s=6,
                color=colors(position % colors.N),
                alpha=0.7,
                linewidths=0,
                label=f"class {label}",
            )
    marked = test[rows]
    axis.scatter(
        points[marked, 0],
        points[marked, 1],
        s=14,
        facecolors="none",
        edgecolors="black",
        linewidths=0.4,
        label="test node",
    )
    sampled = f", {len(rows)} of {len(embeddings)} nodes" if len(rows) < len(embeddings) else ""
    (low, high), outside = view_limits(points)
    clipped = f", {outside} outlying nodes beyond the frame" if outside else ""
    axis.set(
        title=f"{config.model.arch} on {config.dataset.name}: embeddings, {METHOD_NAMES[method]}{sampled}{clipped}",
        xlim=(low[0], high[0]),
        ylim=(low[1], high[1]),
        xticks=[],
        yticks=[],
    )
    axis.legend(fontsize="small", markerscale=2, loc="best")
    return save(figure, path)
