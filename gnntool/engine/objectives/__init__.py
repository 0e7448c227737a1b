"""The objective registry: `train.objective` → the module that trains and scores that task.

Adding an objective means one module with an `Objective` subclass, one line here and one entry
in the torch-free table `gnntool.traits.OBJECTIVES` (what the config schema checks). A typed
graph's task (`TypedTask`, kind "typed") is served by `TYPED_OBJECTIVE_CLASSES`: the objectives
defined on typed graphs.
"""

from __future__ import annotations

from gnntool.config import Config
from gnntool.engine.graphs.task import GraphTask
from gnntool.engine.inputs import Task
from gnntool.engine.objectives.base import Objective, PredictOptions
from gnntool.engine.objectives.graph import GraphLevel
from gnntool.engine.objectives.link import Link
from gnntool.engine.objectives.supervised import Supervised
from gnntool.engine.objectives.typed_link import TypedLink
from gnntool.engine.objectives.typed_supervised import TypedSupervised
from gnntool.engine.objectives.unsupervised import Unsupervised
from gnntool.engine.runtime.distributed import SINGLE, Ranks
from gnntool.engine.typed_inputs import TypedTask
from gnntool.errors import UserError

__all__ = ["OBJECTIVE_CLASSES", "TYPED_OBJECTIVE_CLASSES", "Objective", "PredictOptions", "build_objective"]

OBJECTIVE_CLASSES: dict[str, type[Objective]] = {
    "supervised": Supervised,
    "unsupervised": Unsupervised,
    "link": Link,
    "graph": GraphLevel,
}


# on typed graphs (gnntool.engine.typed_inputs.TypedTask)
TYPED_OBJECTIVE_CLASSES: dict[str, type[Objective]] = {
    "supervised": TypedSupervised,
    "link": TypedLink,
}

# a task's `kind` -> the objectives defined on it
OBJECTIVES_BY_KIND: dict[str, dict[str, type[Objective]]] = {
    Task.kind: OBJECTIVE_CLASSES,
    TypedTask.kind: TYPED_OBJECTIVE_CLASSES,
    GraphTask.kind: {"graph": GraphLevel},
}


def build_objective(config: Config, task: Task | TypedTask | GraphTask, seed: int, ranks: Ranks = SINGLE) -> Objective:
    """The objective `config.train.objective` on `task`, with `seed`."""
    classes = OBJECTIVES_BY_KIND[task.kind]
    if config.train.objective not in classes:
        defined = ", ".join(classes)
        name = config.train.objective
        raise UserError(f"train.objective: {name} is not defined on a {task.kind} graph ({defined} is)")
    return classes[config.train.objective](config, task, seed, ranks)
