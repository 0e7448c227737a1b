"""Whole-graph prediction: a readout model's one output row per graph, trained on batches of graphs.

Classification (cross-entropy), multi-label classification (binary cross-entropy with missing
labels masked) or regression (mse, mae): the data's targets decide, `train.loss` overrides
(`gnntool.engine.graphs.metrics`). An epoch is `train.batch_size` graphs per step in an order
drawn from (seed, epoch) (`gnntool.engine.seeding`), so that an epoch resumes at any step.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from gnntool.config import Config
from gnntool.data.graphsets.dataset import GraphSet
from gnntool.data.graphsets.unseen import read_graph_set
from gnntool.engine.graphs.batches import GraphBatch
from gnntool.engine.graphs.metrics import LOSSES, graph_metrics, reported, resolve_loss
from gnntool.engine.graphs.task import GraphTask
from gnntool.engine.inference import Inference
from gnntool.engine.objectives.base import Objective, PredictOptions
from gnntool.engine.objectives.supervised import mixed_precision
from gnntool.engine.seeding import epoch_generator
from gnntool.engine.steps import EpochPosition, run_steps
from gnntool.errors import UserError
from gnntool.export import write_table
from gnntool.models import build_graph_model
from gnntool.models.readout import GraphModel
from gnntool.traits import SPLITS

EVAL_GRAPHS = 1024  # graphs per inference batch (eval mode: results do not depend on it)


class GraphLevel(Objective):
    name = "graph"
    embeds_output = False  # embed writes the pooled vector the head reads

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.task: GraphTask
        self.loss_name, self.kind = resolve_loss(self.config.train.loss, self.task.dataset.task)
        self.loss = LOSSES[self.loss_name][1]
        self.val_batches: list[GraphBatch] | None = None  # validated every epoch: built once

    @classmethod
    def build_saved(cls, config: Config, saved: dict[str, Any]) -> nn.Module:
        shape = saved["shape"]
        return build_graph_model(
            config.model, saved["num_features"], saved["num_outputs"], shape["node_vocab"], shape["edge_vocab"],
            shape["edge_dim"],
        )  # fmt: skip

    @classmethod
    def read_unseen(cls, config: Config, path: Path, saved: Any) -> GraphSet:
        """A file of graphs (a TU folder or a graphs .npz) as the run read its own: classes numbered
        by the run's class names, degree features as wide."""
        names = saved.shape.get("class_names")
        return read_graph_set(path, None if names is None else np.asarray(names), saved.shape.get("degree_width"))

    @classmethod
    def targets_kind(cls, dataset: GraphSet) -> str | None:
        """Classes, multi-label or regression, as the set's targets say (`data_monitors` picks the monitor)."""
        return dataset.task

    def saved_shape(self) -> dict[str, Any]:
        dataset = self.task.dataset
        names = None if dataset.class_names is None else np.asarray(dataset.class_names).tolist()
        return {
            "node_vocab": dataset.node_vocab,
            "edge_vocab": dataset.edge_vocab,
            "edge_dim": dataset.num_edge_features,
            "task": dataset.task,
            "class_names": names,
            "fold": self.task.fold,
            "degree_width": dataset.degree_width,
        }

    def data_report(self) -> list[str]:
        """The number of graphs, their sizes (min, median, mean, max nodes and edges) and the splits."""
        dataset = self.task.dataset
        sizes = []
        for what, ptr in (("nodes", dataset.node_ptr), ("edges", dataset.edge_ptr)):
            counts = ptr.diff().double()
            sizes.append(
                f"{what} per graph min {int(counts.min())}, median {counts.median().item():g}, "
                f"mean {counts.mean().item():.1f}, max {int(counts.max())}"
            )
        folds = len(dataset.splits)
        parts = ", ".join(f"{split} {len(self.task.splits[split]):,}" for split in SPLITS)
        return [
            f"dataset: {self.config.dataset.name}, {dataset.num_graphs:,} graphs, {int(dataset.node_ptr[-1]):,} nodes, "
            f"{int(dataset.edge_ptr[-1]):,} edges, {dataset.num_features:,} feature columns, "
            f"{dataset.num_outputs} outputs ({dataset.task}; loss {self.loss_name})",
            f"sizes: {sizes[0]}; {sizes[1]}",
            f"graphs scored: {parts}" + (f" (fold 0 of {folds})" if folds > 1 else ""),
        ]

    def output_width(self) -> int:
        return self.task.dataset.num_outputs

    def build_model(self) -> GraphModel:  # type: ignore[override]
        dataset = self.task.dataset
        return build_graph_model(
            self.config.model, dataset.num_features, dataset.num_outputs, dataset.node_vocab, dataset.edge_vocab,
            dataset.num_edge_features,
        )  # fmt: skip

    def check(self) -> None:
        config, dataset = self.config, self.task.dataset
        if config.model.edge_features and dataset.edge_attr is None:
            raise UserError(
                f"model.edge_features: {config.dataset.path or config.dataset.name} has no edge features; "
                "leave the key out"
            )
        name = config.train.monitor.removeprefix("val_")
        known = reported(self.kind, dataset.num_outputs)
        if name not in known:
            what = {"classes": "class ids", "multilabel": "0/1 labels", "regression": "real values"}[self.kind]
            raise UserError(
                f"train.monitor: {config.train.monitor} is not reported for {what}; "
                f"use one of {', '.join('val_' + metric for metric in known)}"
            )

    def edges(self, batch: GraphBatch) -> Tensor | None:
        return batch.edge_attr if self.config.model.edge_features else None

    def outputs(self, model: nn.Module, batch: GraphBatch) -> Tensor:
        with mixed_precision(self.config.train.amp, batch.x.device):
            return model(batch.x, batch.ops, self.edges(batch)).float()

    def batch_size(self) -> int:
        return self.config.train.batch_size or len(self.task.splits["train"])

    def num_steps(self, epoch: int) -> int:
        return -(-len(self.task.splits["train"]) // self.batch_size())

    def train_epoch(
        self, model: nn.Module, optimizer: torch.optim.Optimizer, epoch: int, position: EpochPosition
    ) -> float:
        train, size = self.task.splits["train"], self.batch_size()
        order = train[torch.randperm(len(train), generator=epoch_generator(self.seed, epoch))]
        batches = self.task.batcher.batches(order[position.start * size :], size)
        return run_steps(model, optimizer, batches, self.step_loss, position)

    def step_loss(self, model: nn.Module, batch: GraphBatch) -> Tensor:
        return self.loss(self.outputs(model, batch), batch.y)

    def split_batches(self, graphs: Tensor) -> list[GraphBatch]:
        return list(self.task.batcher.batches(graphs, EVAL_GRAPHS))

    @torch.no_grad()
    def predicted(self, model: nn.Module, split: str) -> tuple[Tensor, Tensor]:
        """Outputs and targets of a split's graphs, in eval mode."""
        model.eval()
        if split == "val":
            if self.val_batches is None:
                self.val_batches = self.split_batches(self.task.splits["val"])
            batches = self.val_batches
        else:
            batches = self.split_batches(self.task.splits[split])
        outputs = [self.outputs(model, batch) for batch in batches]
        targets = [batch.y for batch in batches]
        if not outputs:
            raise UserError(f"the {split} split holds no graph: its metrics are undefined")
        return torch.cat(outputs), torch.cat(targets)

    def evaluate(
        self, model: nn.Module, splits: tuple[str, ...], outputs: Inference | None = None
    ) -> dict[str, dict[str, float]]:
        del outputs  # one pass per split here
        results = {}
        for split in splits:
            out, y = self.predicted(model, split)
            metrics = graph_metrics(out, y, self.kind, self.loss)
            if self.task.dataset.scorer is not None:
                metrics.update(self.task.dataset.scorer(out, y))
            results[split] = metrics
        return results

    @torch.no_grad()
    def graph_rows(self, model: nn.Module, embed: bool) -> np.ndarray:
        """Every graph's pooled vector (`embed`) or outputs, in set order, float32."""
        model.eval()
        every = torch.arange(self.task.dataset.num_graphs)
        rows = []
        for batch in self.split_batches(every):
            pooled = model.embed(batch.x, batch.ops, self.edges(batch))
            rows.append(pooled if embed else model.head_output(pooled))
        return torch.cat(rows).float().cpu().numpy()

    def dataset_embeddings(self, outputs: Inference) -> np.ndarray:
        return self.graph_rows(outputs.model, embed=True)

    def predict(self, model: nn.Module, options: PredictOptions, node_id: np.ndarray) -> None:
        """Per graph: id, then the class (its original label) and the class probabilities, the
        labels with probability above 0.5 and each label's, or the predicted values."""
        options.refuse_link_options(self.name)
        outputs = torch.from_numpy(self.graph_rows(model, embed=False))
        table: dict[str, np.ndarray] = {"id": node_id}
        names = self.task.dataset.class_names
        if self.kind == "classes":
            probabilities = torch.softmax(outputs, 1).numpy()
            chosen = probabilities.argmax(1)
            table["predicted"] = np.asarray(names)[chosen] if names is not None else chosen
            table |= {f"p_{c}": probabilities[:, c] for c in range(probabilities.shape[1])}
        elif self.kind == "multilabel":
            probabilities = torch.sigmoid(outputs).numpy()
            table["predicted"] = np.array([";".join(map(str, np.flatnonzero(row > 0.5))) for row in probabilities])
            table |= {f"p_{c}": probabilities[:, c] for c in range(probabilities.shape[1])}
        else:
            values = outputs.numpy()
            table |= {f"value_{t}": values[:, t] for t in range(values.shape[1])}

        def records() -> np.ndarray:
            return np.rec.fromarrays(list(table.values()), names=list(table))

        output, format, header = options.output, options.format, options.header
        write_table(table, output, format, header, {"npy": records})

    def evaluate_graph(self, model: nn.Module, path: Path, graph_file: Any) -> dict[str, float]:
        del graph_file  # the task holds the file's graphs, every one in each split
        if self.task.dataset.y is None:
            raise UserError(f"{path}: has no targets (y, or graph labels); eval --graph needs them — embed it instead")
        return self.evaluate(model, ("test",))["test"]
