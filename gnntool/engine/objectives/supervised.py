"""Node classification from labels: cross-entropy over classes (Kipf & Welling 2017, eq. 3), or
per-label binary cross-entropy on multi-label data; metrics accuracy, or micro/macro-F1."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from gnntool.data.graphfile import GraphFile
from gnntool.engine.evaluate import check_labels_fit, evaluate
from gnntool.engine.inference import Inference
from gnntool.engine.inputs import DevicePart, Step, Task, batch_parts
from gnntool.engine.metrics import loss_fn
from gnntool.engine.objectives.base import Objective, PredictOptions
from gnntool.engine.runtime.distributed import mean_over_ranks
from gnntool.engine.sampled import SampledSteps
from gnntool.engine.seeding import epoch_generator
from gnntool.engine.steps import EpochPosition, Steps, run_steps
from gnntool.errors import UserError
from gnntool.export import write_predictions
from gnntool.models import GNN


class NodeClassification(Objective):
    """What node classification is on any task (a graph's, a typed graph's target type): class
    logits out, no accuracy monitor on multi-label data, an epoch of the `stepper`'s batches."""

    name = "supervised"
    embeds_output = False  # the last layer outputs class logits; embed writes the layer before
    stepper: Steps[Any]

    def output_width(self) -> int:
        return self.task.num_classes

    def check(self) -> None:
        super().check()
        if self.task.multilabel and self.config.train.monitor == "val_accuracy":
            raise UserError("train.monitor: the labels are multi-label (a 0/1 matrix); use val_micro_f1 or val_loss")

    def num_steps(self, epoch: int) -> int:
        return self.stepper.num_batches(epoch)

    def probabilities(self, logits: torch.Tensor) -> np.ndarray:
        """`predict`'s class probabilities: per-label sigmoids on multi-label data, else a softmax."""
        probabilities = torch.sigmoid(logits) if self.task.multilabel else torch.softmax(logits, dim=-1)
        return probabilities.cpu().numpy()


class Supervised(NodeClassification):
    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        config, task = self.config, self.task
        self.stepper: SampledSteps | GraphSteps = (
            SampledSteps(config, task, self.ranks, self.seed)
            if config.neighbour_sampling
            else GraphSteps(task, config.train.batch_size, self.seed)
        )

    def train_epoch(
        self, model: nn.Module, optimizer: torch.optim.Optimizer, epoch: int, position: EpochPosition
    ) -> float:
        steps = self.stepper.steps(epoch, position.start)
        loss = train_epoch(model, optimizer, steps, self.task.multilabel, self.config.train.amp, position)
        return mean_over_ranks(loss, self.ranks, self.task.device)

    def evaluate(
        self, model: GNN, splits: tuple[str, ...], outputs: Inference | None = None
    ) -> dict[str, dict[str, float]]:
        return evaluate(model, self.task, splits, self.ranks, outputs)

    def evaluate_graph(self, model: GNN, path: Path, graph_file: GraphFile) -> dict[str, float]:
        if not graph_file.has_labels:
            raise UserError(f"{path}: has no labels (y, or labels.npy/csv); eval --graph needs them — embed it instead")
        check_labels_fit(path, graph_file.data.y, self.task.multilabel, self.task.num_classes)
        return self.evaluate(model, ("test",))["test"]

    def predict(self, model: GNN, options: PredictOptions, node_id: np.ndarray) -> None:
        """Per node: id, predicted class (or label set), the class probabilities."""
        options.refuse_link_options(self.name)
        outputs = Inference(model, self.task.chunk_size)
        rows = []
        for graph in self.task.dataset.graphs:
            rows.append(self.probabilities(outputs.output(self.task.tensors(graph))))
        multilabel = self.task.multilabel
        write_predictions(np.concatenate(rows), node_id, multilabel, options.output, options.format, options.header)


class GraphSteps:
    """Whole-graph training steps (a `Steps`, as `SampledSteps`): every training graph at once (full
    batch, converted once and kept), or `batch_size` graphs per step in each epoch's order, drawn
    from a generator seeded by (seed, epoch) so that an epoch can resume at any step."""

    def __init__(self, task: Task, batch_size: int | None, seed: int) -> None:
        self.task = task
        self.batch_size = batch_size
        self.seed = seed
        self.graphs = task.dataset.splits["train"]
        self.whole = batch_size is None or len(self.graphs) <= batch_size

    def num_batches(self, epoch: int) -> int:
        return 1 if self.whole else -(-len(self.graphs) // self.batch_size)

    def parts(self, epoch: int, start: int = 0) -> Iterator[DevicePart]:
        """The epoch's parts from batch index `start`."""
        if self.whole:
            if start == 0:
                parts = self.task.splits["train"]
                yield parts[0] if len(parts) == 1 else full_training_batch(self.task)
            return
        generator = epoch_generator(self.seed, epoch)
        order = torch.randperm(len(self.graphs), generator=generator).tolist()
        for first in range(start * self.batch_size, len(order), self.batch_size):
            chosen = [self.graphs[i] for i in order[first : first + self.batch_size]]
            yield batch_parts([part.graph for part in chosen], [part.mask for part in chosen], self.task.device)

    def steps(self, epoch: int, start: int = 0) -> Iterator[Step]:
        """The epoch's steps from batch index `start`: each scores the masked nodes of its part."""
        for part in self.parts(epoch, start):
            yield Step(x=part.graph.x, ops=part.graph.ops, y=part.graph.y[part.mask], rows=part.mask)


def full_training_batch(task: Task) -> DevicePart:
    """All training graphs as one batch, built on first use and cached on the task."""
    if task.full_train is None:
        graphs = task.dataset.splits["train"]
        task.full_train = batch_parts([part.graph for part in graphs], [part.mask for part in graphs], task.device)
    return task.full_train


def mixed_precision(amp: bool, device: torch.device) -> AbstractContextManager[Any]:
    """bf16 autocast on CUDA when `amp`; plain float32 otherwise."""
    if amp and device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return nullcontext()


def classification_loss(multilabel: bool, amp: bool) -> Callable[[nn.Module, Step], torch.Tensor]:
    """The loss of a node-classification step: (binary) cross-entropy over its scored rows."""

    def step_loss(model: nn.Module, step: Step) -> torch.Tensor:
        with mixed_precision(amp, step.x.device):
            logits = model(step.x, step.ops)
        if step.rows is not None:
            logits = logits[step.rows]
        return loss_fn(logits.float(), step.y, multilabel)  # the loss in float32 under autocast too

    return step_loss


def train_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    steps: Iterable[Step],
    multilabel: bool,
    amp: bool = False,
    position: EpochPosition | None = None,
) -> float:
    """One node-classification epoch over `steps`; returns the mean loss of its steps."""
    return run_steps(model, optimizer, steps, classification_loss(multilabel, amp), position or EpochPosition())
