"""Node classification of a typed graph's target type (`dataset.target`): the loss and metrics of
`gnntool.engine.objectives.supervised`, on the target type's rows of a typed model's output."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from gnntool.engine.metrics import loss_fn, metric_sums, metrics_from_sums
from gnntool.engine.objectives.base import PredictOptions
from gnntool.engine.objectives.supervised import NodeClassification, mixed_precision
from gnntool.engine.objectives.typed_outputs import TypedOutputs
from gnntool.engine.runtime.distributed import mean_over_ranks
from gnntool.engine.steps import EpochPosition, run_steps
from gnntool.engine.typed_inputs import TypedStep, TypedTask
from gnntool.engine.typed_sampled import TypedSampledSteps
from gnntool.errors import UserError
from gnntool.export import write_predictions
from gnntool.models.typed import TypedGNN


class TypedGraphSteps:
    """Full-batch training on a typed graph: one step per epoch, every training node of the target type."""

    def __init__(self, task: TypedTask) -> None:
        self.task = task

    def num_batches(self, epoch: int) -> int:
        return 1

    def steps(self, epoch: int, start: int = 0) -> Iterator[TypedStep]:
        if start == 0:
            graph, mask = self.task.graph, self.task.masks["train"]
            yield TypedStep(graph.x, graph.node_ids, graph.ops, graph.y[mask], rows=mask)


class TypedSupervised(TypedOutputs, NodeClassification):
    """Cross-entropy (per-label BCE when multi-label) on the target type's labelled nodes."""

    task: TypedTask

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stepper: TypedSampledSteps | TypedGraphSteps = (
            TypedSampledSteps(self.config, self.task, self.ranks, self.seed)
            if self.config.neighbour_sampling
            else TypedGraphSteps(self.task)
        )

    def check(self) -> None:
        if self.task.target is None or not self.task.dataset.labelled:
            raise UserError(
                f"{self.config.dataset.path or self.config.dataset.name}: no node type has labels; supervised "
                "training needs a labelled target type (labels/<type>.csv, dataset.target)"
            )
        super().check()

    def train_epoch(
        self, model: nn.Module, optimizer: torch.optim.Optimizer, epoch: int, position: EpochPosition
    ) -> float:
        target, multilabel, amp = self.task.target, self.task.multilabel, self.config.train.amp

        def step_loss(model: nn.Module, step: TypedStep) -> Tensor:
            with mixed_precision(amp, self.task.device):
                logits = model(step.x, step.node_ids, step.ops)[target]
            if step.rows is not None:
                logits = logits[step.rows]
            return loss_fn(logits.float(), step.y, multilabel)

        loss = run_steps(model, optimizer, self.stepper.steps(epoch, position.start), step_loss, position)
        return mean_over_ranks(loss, self.ranks, self.task.device)

    def evaluate(
        self, model: TypedGNN, splits: tuple[str, ...], outputs: Any = None
    ) -> dict[str, dict[str, float]]:
        outputs = outputs or self.inference(model)
        logits = outputs.output()[self.task.target]
        metrics = {}
        for split in splits:
            mask = self.task.masks[split]
            split_logits, labels = logits[mask], self.task.graph.y[mask]
            metrics[split] = metrics_from_sums(metric_sums(split_logits, labels, self.task.multilabel))
            if self.task.dataset.scorer is not None:
                metrics[split].update(self.task.dataset.scorer(split_logits, labels))
        return metrics

    def output_ids(self) -> np.ndarray:
        """`predict`'s rows: the target type's nodes."""
        return self.node_ids(self.task.target)

    def evaluate_graph(self, model: TypedGNN, path: Path, graph_file: Any) -> dict[str, float]:
        if self.task.graph.y is None:
            raise UserError(f"{path}: has no labels for its target type; eval --graph needs them — embed it instead")
        return self.evaluate(model, ("test",))["test"]

    def predict(self, model: TypedGNN, options: PredictOptions, node_id: np.ndarray | None = None) -> None:
        """Per node of the target type: id, predicted class (or label set), the class probabilities."""
        options.refuse_link_options(self.name)
        probabilities = self.probabilities(self.inference(model).output()[self.task.target])
        ids = self.node_ids(self.task.target)
        write_predictions(probabilities, ids, self.task.multilabel, options.output, options.format, options.header)
