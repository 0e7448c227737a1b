"""Node classification from labels: cross-entropy over classes (Kipf & Welling 2017, eq. 3), or
per-label binary cross-entropy on multi-label data; metrics accuracy, or micro/macro-F1."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from gnntool.data.graphfile import GraphFile
from gnntool.engine.distributed import mean_over_ranks
from gnntool.engine.evaluate import check_labels_fit, evaluate
from gnntool.engine.inference import Inference
from gnntool.engine.objectives.base import Objective, PredictOptions
from gnntool.engine.sampled import SampledSteps
from gnntool.engine.train import EpochPosition, GraphSteps, train_epoch
from gnntool.errors import UserError
from gnntool.export import write_predictions
from gnntool.models import GNN


class Supervised(Objective):
    name = "supervised"
    embeds_output = False  # the last layer outputs class logits; embed writes the layer before

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        config, task = self.config, self.task
        self.stepper: SampledSteps | GraphSteps = (
            SampledSteps(config, task, self.ranks, self.seed)
            if config.neighbour_sampling
            else GraphSteps(task, config.train.batch_size, self.seed)
        )

    def output_width(self) -> int:
        return self.task.num_classes

    def check(self) -> None:
        super().check()
        if self.task.multilabel and self.config.train.monitor == "val_accuracy":
            raise UserError("train.monitor: the labels are multi-label (a 0/1 matrix); use val_micro_f1 or val_loss")

    def num_steps(self, epoch: int) -> int:
        return self.stepper.num_batches(epoch)

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
        options.plain(self.name)
        outputs = Inference(model, self.task.chunk_size)
        rows = []
        for graph in self.task.dataset.graphs:
            logits = outputs.output(self.task.tensors(graph))
            probabilities = torch.sigmoid(logits) if self.task.multilabel else torch.softmax(logits, dim=-1)
            rows.append(probabilities.cpu().numpy())
        multilabel = self.task.multilabel
        write_predictions(np.concatenate(rows), node_id, multilabel, options.output, options.format, options.header)
