"""What every training objective provides, and what the engine does the same way for all of them.

An objective owns what differs between tasks: the width of the model's last layer, an epoch's
steps and loss, the validation metrics, the final metrics, and what `embed` and `predict` write.
The engine (`gnntool.engine.train.fit`, `gnntool.engine.runs.train_run`, `gnntool.engine.runs.loaded`) calls
these methods and never asks which objective it holds.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor, nn

from gnntool.config import Config
from gnntool.engine.inference import Inference
from gnntool.engine.inputs import GraphTensors, Task
from gnntool.engine.runtime.distributed import SINGLE, Ranks
from gnntool.engine.steps import EpochPosition
from gnntool.engine.unseen import read_unseen
from gnntool.errors import UserError
from gnntool.models import GNN, build_stack
from gnntool.rundir.layout import EMBEDDINGS


@dataclass
class PredictOptions:
    """What `gnntool predict` was asked for, beyond the output file and format."""

    output: str
    format: str
    header: bool
    pairs: str | None = None  # a pair file, or - for stdin (link runs)
    top_k: int | None = None  # targets per source node (link runs)
    nodes: Path | None = None  # the source nodes of --top-k (link runs)

    def refuse_link_options(self, objective: str) -> None:
        """Refuse the link-only options for an objective that scores nodes."""
        if self.pairs is not None or self.top_k is not None or self.nodes is not None:
            raise UserError(f"--pairs, --top-k and --nodes are for link runs; this run's objective is {objective}")


class Objective(ABC):
    """One training objective on one task (a dataset on a device) with one seed."""

    name: ClassVar[str]
    # embed writes the last layer's output (True) or the representation entering it (False)
    embeds_output: ClassVar[bool] = True

    def __init__(self, config: Config, task: Task, seed: int, ranks: Ranks = SINGLE) -> None:
        self.config = config
        self.task = task
        self.seed = seed
        self.ranks = ranks

    @classmethod
    def head(cls, config: Config) -> nn.Module | None:
        """Trainable parts beyond the layer stack (a link decoder), trained and saved with it."""
        del config
        return None

    @classmethod
    def build_saved(cls, config: Config, saved: dict[str, Any]) -> nn.Module:
        """The untrained model that a model file (`gnntool.engine.runs.saved`) holds the weights of."""
        return model_with_head(config, saved["num_features"], saved["num_outputs"], cls.head(config))

    @classmethod
    def read_unseen(cls, config: Config, path: Path, saved: Any) -> Any:
        """An unseen graph (`--graph`) for the model `saved` (a `SavedModel`): a graph file or a
        typed folder (`gnntool.engine.unseen`)."""
        return read_unseen(path, config, saved)

    @classmethod
    def targets_kind(cls, dataset: Any) -> str | None:
        """The kind of targets `dataset` holds, which `ObjectiveTraits.data_monitors` maps to the
        monitor an unset `train.monitor` becomes (`gnntool.engine.monitor`); None: not told."""
        del dataset
        return None

    def saved_shape(self) -> dict[str, Any]:
        """What `build_saved` needs beyond the widths (plain values: the model file loads weights-only)."""
        return {}

    def data_report(self) -> list[str]:
        """`--dry-run`'s lines about the data: its size and what each split scores."""
        first, *rest = self.task.summary()
        return [f"dataset: {self.config.dataset.name}, {first}", *rest]

    @abstractmethod
    def output_width(self) -> int:
        """Width of the model's last layer."""

    def check(self) -> None:
        """What only the loaded data can tell (are there labels, of the expected kind?)."""
        if self.config.objective_traits.needs_labels and not self.task.dataset.labelled:
            raise UserError(
                f"{self.config.dataset.path or self.config.dataset.name}: has no labels; add them (y / labels.npy|csv) "
                "or train without: train.objective: unsupervised or link"
            )

    def build_model(self) -> GNN:
        """The layer stack, with the objective's head attached as `model.head`."""
        return model_with_head(self.config, self.task.num_features, self.output_width(), self.head(self.config))

    def num_steps(self, epoch: int) -> int:
        """Optimiser steps in epoch `epoch`: with more than one, the engine checkpoints between them."""
        del epoch
        return 1

    @abstractmethod
    def train_epoch(
        self, model: nn.Module, optimizer: torch.optim.Optimizer, epoch: int, position: EpochPosition
    ) -> float:
        """Run epoch `epoch`'s steps from `position` (`model` may be DDP-wrapped); return its mean loss."""

    @abstractmethod
    def evaluate(
        self, model: GNN, splits: tuple[str, ...], outputs: Inference | None = None
    ) -> dict[str, dict[str, float]]:
        """`{split: {metric: value}}`, each with a `loss`; `outputs` shares inference passes."""

    def validate(self, model: GNN) -> dict[str, float]:
        """The metrics the monitor reads after each epoch."""
        return self.evaluate(model, ("val",))["val"]

    def embeddings(self, outputs: Inference, graph: GraphTensors) -> Tensor:
        """What `embed` writes for `graph`, one row per node."""
        return outputs.output(graph) if self.embeds_output else outputs.hidden(graph)

    def dataset_embeddings(self, outputs: Inference) -> np.ndarray:
        """`embeddings` of every graph of the dataset, in dataset order, float32."""
        graphs = self.task.dataset.graphs
        rows = [self.embeddings(outputs, self.task.tensors(graph)).float().cpu().numpy() for graph in graphs]
        # One graph: its rows as they are (a copy would double the largest array of a big run).
        return rows[0] if len(rows) == 1 else np.concatenate(rows)

    def inference(self, model: GNN) -> Inference:
        """The model's outputs on the task's graphs, each computed once."""
        return Inference(model, self.task.chunk_size)

    def embedding_files(self, outputs: Inference) -> dict[str, np.ndarray]:
        """What `train` writes of the embeddings: {path in the run directory: rows}."""
        return {EMBEDDINGS: self.dataset_embeddings(outputs)}

    def embedded_rows(self, outputs: Inference, node_type: str | None) -> tuple[np.ndarray, np.ndarray]:
        """`embed`'s rows and their node ids (`--type` is for typed graphs)."""
        if node_type is not None:
            raise UserError("--type names a node type of a typed graph; this run's graph has one node type")
        return self.dataset_embeddings(outputs), self.output_ids()

    def output_ids(self) -> np.ndarray:
        """The id of every row `predict` and `embed` write."""
        return self.task.dataset.output_ids()

    def evaluate_graph(self, model: GNN, path: Path, graph_file: Any) -> dict[str, float]:
        """Metrics on an unseen graph file (`eval --graph`): the task holds that graph."""
        del model, graph_file
        raise UserError(f"{path}: eval --graph is not defined for {self.name} runs")

    @abstractmethod
    def predict(self, model: GNN, options: PredictOptions, node_id: np.ndarray) -> None:
        """Write `predict`'s output for the task's graph(s); `node_id` names their nodes."""


def model_with_head(config: Config, num_features: int | dict[str, Any], width: int, head: nn.Module | None) -> GNN:
    """The configured layer stack with an objective's `head` (if any) as `model.head`; its inputs
    are `num_features` wide, or a typed graph's (`gnntool.models.build_stack`)."""
    model = build_stack(num_features, config.model, width)
    if head is not None:
        model.head = head
    return model
