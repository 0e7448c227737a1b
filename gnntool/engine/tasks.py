"""A loaded dataset as the task a run trains on: the registry of task builders by kind of dataset.

A homogeneous dataset (`GraphDataset`) becomes a `gnntool.engine.inputs.Task`, a typed one
(`TypedDataset`) a `gnntool.engine.typed_inputs.TypedTask`; each task names the objective
registry that serves it (`kind`), so nothing downstream asks which one it holds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from gnntool.data.dataset import GraphDataset
from gnntool.data.typed.dataset import TypedDataset
from gnntool.engine.inputs import Task, task_tensors
from gnntool.engine.typed_inputs import TypedTask, typed_task_tensors

AnyTask = Task | TypedTask

TASK_BUILDERS: dict[type, Callable[[Any, torch.device, int | None], AnyTask]] = {
    GraphDataset: task_tensors,
    TypedDataset: typed_task_tensors,
}


def build_task(dataset: GraphDataset | TypedDataset, device: torch.device, chunk_size: int | None = None) -> AnyTask:
    """`dataset` on `device` as its kind of task (`chunk_size`: layer-wise inference's chunks)."""
    return TASK_BUILDERS[type(dataset)](dataset, device, chunk_size)
