"""Reading a finished run back: its resolved config and its trained model(s)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from gnntool.config import Config, read_yaml, validate
from gnntool.engine.inputs import Task
from gnntool.engine.objectives import OBJECTIVE_CLASSES
from gnntool.errors import UserError
from gnntool.models import GNN
from gnntool.rundir.layout import CONFIG, MODEL, fold_dir, fold_dirs, load_torch, save_torch, seed_dirs


@dataclass
class SavedModel:
    """A trained model with the seed and the task shape it was trained with."""

    model: GNN
    seed: int
    num_features: int
    num_classes: int
    multilabel: bool
    shape: dict[str, Any] = field(default_factory=dict)  # the objective's `saved_shape`


def save_model(
    path: Path,
    config: Config,
    model: GNN,
    seed: int,
    task: Task,
    num_outputs: int,
    best_epoch: int,
    shape: dict[str, Any] | None = None,
) -> None:
    """model.pt: tensors and plain values only, so `torch.load(weights_only=True)` reads it."""
    save_torch(
        path,
        {
            "config": config.model_dump(mode="json"),
            "state_dict": model.state_dict(),
            "seed": seed,
            "num_features": task.num_features,
            "num_classes": task.num_classes,
            "num_outputs": num_outputs,
            "multilabel": task.multilabel,
            "best_epoch": best_epoch,
            **({"shape": shape} if shape else {}),
        },
    )


def load_model(path: Path, device: torch.device, config: Config | None = None) -> SavedModel:
    """The model of `path`, built as `config` (the run's config.yaml; default: the one in the file) says."""
    saved = load_torch(path)
    config = config or validate(saved["config"])
    model = OBJECTIVE_CLASSES[config.train.objective].build_saved(config, saved)
    model.load_state_dict(saved["state_dict"])
    return SavedModel(
        model=model.to(device).eval(),
        seed=saved["seed"],
        num_features=saved["num_features"],
        num_classes=saved["num_classes"],
        multilabel=saved["multilabel"],
        shape=saved.get("shape", {}),
    )


def load_run_config(run_dir: Path) -> Config:
    if not run_dir.is_dir():
        raise UserError(f"{run_dir}: no such run directory")
    return validate(read_yaml(run_dir / CONFIG))


def model_paths(run_dir: Path, fold: int = 0) -> list[Path]:
    """The run's model files: one per seed (seed-N/model.pt) or the single model.pt; in a
    cross-validated run, fold `fold`'s of each seed (seed-N/fold-K/model.pt or fold-K/model.pt)."""
    parents = seed_dirs(run_dir) or [run_dir]
    folds = len(fold_dirs(parents[0]))
    if folds:
        paths = [fold_dir(parent, fold) / MODEL for parent in parents]
        if not 0 <= fold < folds or not all(path.is_file() for path in paths):
            raise UserError(
                f"--fold {fold}: {run_dir} holds the models of folds 0 to {folds - 1} (is the run finished?)"
            )
        return paths
    if fold != 0:
        raise UserError(f"--fold {fold}: {run_dir} is not cross-validated (dataset.split: folds)")
    seed_models = [path / MODEL for path in seed_dirs(run_dir) if (path / MODEL).is_file()]
    if seed_models:
        return seed_models
    if not (run_dir / MODEL).is_file():
        raise UserError(f"{run_dir}: holds no {MODEL} (is the run finished? `gnntool train --resume` continues it)")
    return [run_dir / MODEL]
