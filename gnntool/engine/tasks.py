"""A loaded dataset as the task a run trains on: the registry of task builders by kind of dataset.

A homogeneous dataset (`GraphDataset`) becomes a `gnntool.engine.inputs.Task`, a typed one
(`TypedDataset`) a `gnntool.engine.typed_inputs.TypedTask`, a set of whole graphs (`GraphSet`)
one cross-validation fold of it (`gnntool.engine.graphs.task.GraphTask`); each task names the
objective registry that serves it (`kind`), so nothing downstream asks which one it holds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from gnntool.data.dataset import GraphDataset
from gnntool.data.graphsets.dataset import GraphSet
from gnntool.data.typed.dataset import TypedDataset
from gnntool.engine.graphs.task import GraphTask, graph_task
from gnntool.engine.inputs import Task, task_tensors
from gnntool.engine.typed_inputs import TypedTask, typed_task_tensors
from gnntool.errors import UserError

AnyTask = Task | TypedTask | GraphTask


def one_fold(build: Callable[[Any, torch.device, int | None], AnyTask]) -> Callable[..., AnyTask]:
    """A task builder for data without cross-validation folds: fold 0 only."""

    def build_fold(dataset: Any, device: torch.device, chunk_size: int | None, fold: int) -> AnyTask:
        if fold != 0:
            raise UserError(f"--fold {fold}: this run has no cross-validation folds (dataset.split: folds)")
        return build(dataset, device, chunk_size)

    return build_fold


def whole_graphs(dataset: GraphSet, device: torch.device, chunk_size: int | None, fold: int) -> GraphTask:
    del chunk_size  # whole graphs are batched, never run layer-wise
    return graph_task(dataset, device, fold)


TASK_BUILDERS: dict[type, Callable[[Any, torch.device, int | None, int], AnyTask]] = {
    GraphDataset: one_fold(task_tensors),
    TypedDataset: one_fold(typed_task_tensors),
    GraphSet: whole_graphs,
}


def build_task(dataset: Any, device: torch.device, chunk_size: int | None = None, fold: int = 0) -> AnyTask:
    """`dataset` on `device` as its kind of task (`chunk_size`: layer-wise inference's chunks;
    `fold`: the cross-validation fold of a set of whole graphs)."""
    return TASK_BUILDERS[type(dataset)](dataset, device, chunk_size, fold)
