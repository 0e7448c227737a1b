"""A finished run read back for `eval`, `embed` and `predict`: its config (the run's config.yaml),
its model(s) on the chosen device, and the graph they score: the run's own dataset, split with
each model's seed, or an unseen graph file (`--graph`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gnntool.config import Config
from gnntool.data import load_dataset
from gnntool.engine.metrics import summarise
from gnntool.engine.objectives import OBJECTIVE_CLASSES, Objective, PredictOptions, build_objective
from gnntool.engine.runs.saved import SavedModel, load_model, load_run_config, model_paths
from gnntool.engine.runtime.device import resolve_device
from gnntool.engine.tasks import build_task
from gnntool.engine.unseen import unseen_dataset
from gnntool.rundir.layout import MODEL


@dataclass
class LoadedRun:
    """A run directory's config, its models (one per seed, or the first seed's only) and device."""

    run_dir: Path
    config: Config
    device: torch.device
    models: list[SavedModel]
    graph_path: Path | None = None
    fold: int = 0
    graph_file: Any = field(default=None, init=False)

    @classmethod
    def open(
        cls, run_dir: Path, device: str = "auto", graph: Path | None = None, every_seed: bool = False, fold: int = 0
    ) -> LoadedRun:
        """Read `run_dir` (every seed's model, or the top-level model.pt; fold `fold`'s of a
        cross-validated run) onto `device`."""
        config = load_run_config(run_dir)  # a clear error if this is no run directory
        resolved = resolve_device(device)
        paths = model_paths(run_dir, fold)  # a clear error if the run holds no model
        if not every_seed:
            paths = [run_dir / MODEL] if fold == 0 else paths[:1]
        models = [load_model(path, resolved, config) for path in paths]
        run = cls(run_dir, config, resolved, models, graph, fold)
        if graph is not None:
            run.graph_file = OBJECTIVE_CLASSES[config.train.objective].read_unseen(config, graph, models[0])
        return run

    def objective(self, saved: SavedModel) -> Objective:
        """The run's objective on the graph this run scores, for `saved` (its seed splits the data)."""
        if self.graph_file is None:
            dataset = load_dataset(self.config.dataset, saved.seed)
        else:
            dataset = unseen_dataset(self.graph_file, saved)
        fold = self.fold if self.graph_file is None else 0
        task = build_task(dataset, self.device, self.config.inference_chunk, fold)
        return build_objective(self.config, task, saved.seed)


def evaluate_run(
    run_dir: Path, splits: tuple[str, ...], graph: Path | None, device: str, fold: int = 0
) -> dict[str, Any]:
    """A run's metrics from its saved model(s), in metrics.json's shape: per split of its
    dataset, or `{"graph": ...}` on an unseen graph file."""
    run = LoadedRun.open(run_dir, device, graph, every_seed=True, fold=fold)
    runs = []
    for saved in run.models:
        objective = run.objective(saved)
        if run.graph_file is not None:
            metrics = {"graph": objective.evaluate_graph(saved.model, graph, run.graph_file)}
        else:
            metrics = objective.evaluate(saved.model, splits)
        runs.append({"seed": saved.seed, **metrics})
    if len(runs) == 1:
        runs[0].pop("seed")
        return runs[0]
    return summarise(runs)


def embed_run(
    run_dir: Path, graph: Path | None, device: str, node_type: str | None = None, fold: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """(embeddings, node ids) of the run's graph, or of an unseen one, by its first seed's model
    (fold `fold`'s of a cross-validated run); on a typed graph, of the nodes of `node_type`
    (default: the target type)."""
    run = LoadedRun.open(run_dir, device, graph, fold=fold)
    saved = run.models[0]
    objective = run.objective(saved)
    return objective.embedded_rows(objective.inference(saved.model), node_type)


def predict_run(run_dir: Path, graph: Path | None, device: str, options: PredictOptions, fold: int = 0) -> None:
    """Write the run's predictions (what its objective predicts) as `options` say."""
    run = LoadedRun.open(run_dir, device, graph, fold=fold)
    saved = run.models[0]
    objective = run.objective(saved)
    objective.predict(saved.model, options, objective.output_ids())
