"""The objective registry: `train.objective` → the module that trains and scores that task.

Adding an objective means one module with an `Objective` subclass, one line here and one entry
in the torch-free table `gnntool.traits.OBJECTIVES` (what the config schema checks).
"""

from __future__ import annotations

from typing import Any

import torch

from gnntool.config import Config
from gnntool.engine.inputs import Task
from gnntool.engine.objectives.base import Objective, PredictOptions
from gnntool.engine.objectives.graph import GraphLevel
from gnntool.engine.objectives.link import Link
from gnntool.engine.objectives.supervised import Supervised
from gnntool.engine.objectives.unsupervised import Unsupervised
from gnntool.engine.runtime.distributed import SINGLE, Ranks

__all__ = ["OBJECTIVE_CLASSES", "Objective", "PredictOptions", "build_objective", "build_task"]

OBJECTIVE_CLASSES: dict[str, type[Objective]] = {
    "supervised": Supervised,
    "unsupervised": Unsupervised,
    "link": Link,
    "graph": GraphLevel,
}


def build_task(config: Config, dataset: Any, device: torch.device, fold: int = 0) -> Any:
    """The loaded `dataset` on `device` as `config`'s objective trains on it (fold `fold`)."""
    return OBJECTIVE_CLASSES[config.train.objective].make_task(config, dataset, device, fold)


def build_objective(config: Config, task: Task, seed: int, ranks: Ranks = SINGLE) -> Objective:
    """The objective `config.train.objective` on `task`, with `seed`."""
    return OBJECTIVE_CLASSES[config.train.objective](config, task, seed, ranks)
