"""A typed dataset as the tensors a typed model consumes, on the device (`TypedTask`): the
counterpart of `gnntool.engine.inputs.Task` for graphs with several node and edge types."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor

from gnntool.data.typed.dataset import TypedDataset
from gnntool.engine.inference import eval_mode
from gnntool.engine.inputs import labels_phrase
from gnntool.models.typed import TypedGNN
from gnntool.models.typed_ops import TypedOps, TypedSchema, typed_ops
from gnntool.relation_names import relation_name
from gnntool.traits import SPLITS


@dataclass
class TypedGraphTensors:
    """A typed graph on the device: the featured types' features, every type's node ids (rows of
    featureless types' embeddings), the relations' cached operators, the target type's labels."""

    x: dict[str, Tensor]
    node_ids: dict[str, Tensor]
    ops: TypedOps
    y: Tensor | None


def typed_graph_tensors(dataset: TypedDataset, device: torch.device) -> TypedGraphTensors:
    """`dataset`'s graph on `device`, each relation's operators built once (on first use)."""
    graph = dataset.graph
    num_nodes = {node_type: int(graph[node_type].num_nodes) for node_type in dataset.node_types()}
    edges = {edge_type: graph[edge_type].edge_index for edge_type in dataset.relations()}
    featured = [node_type for node_type in num_nodes if node_type not in dataset.featureless()]
    return TypedGraphTensors(
        x={node_type: graph[node_type].x.to(device, torch.float) for node_type in featured},
        node_ids={node_type: torch.arange(count, device=device) for node_type, count in num_nodes.items()},
        ops=typed_ops(edges, num_nodes, device),
        y=dataset.y.to(device) if dataset.y is not None else None,
    )


@dataclass
class TypedStep:
    """One optimisation step on a typed graph: per-type inputs and node ids, the structure (one
    graph, or one block per layer), the labels of the target rows `rows` the loss scores."""

    x: dict[str, Tensor]
    node_ids: dict[str, Tensor]
    ops: TypedOps | Sequence[TypedOps]
    y: Tensor
    rows: Tensor | None = None  # which of the target type's output rows `y` labels; None: all


@dataclass
class TypedTask:
    """Everything a run on a typed graph trains and scores on: the graph on the device and the
    target type's split masks. `chunk_size` set means inference runs layer-wise per node type."""

    kind: ClassVar[str] = "typed"  # which objective registry serves it (gnntool.engine.objectives)

    dataset: TypedDataset
    graph: TypedGraphTensors
    masks: dict[str, Tensor]
    device: torch.device
    chunk_size: int | None = None

    @property
    def target(self) -> str | None:
        return self.dataset.target

    @property
    def schema(self) -> TypedSchema:
        """The node types, their counts and input widths, and the relations a model is built for."""
        widths = {t: int(x.size(1)) for t, x in self.graph.x.items()}
        return TypedSchema(
            {t: int(ids.numel()) for t, ids in self.graph.node_ids.items()},
            {t: widths.get(t, 0) for t in self.graph.node_ids},
            list(self.graph.ops.relations),
            self.target,
        )

    @property
    def num_features(self) -> dict[str, object]:
        """What a model is built from (`gnntool.models.build_stack`), as plain values for model.pt."""
        return self.schema.as_dict()

    @property
    def num_classes(self) -> int:
        return self.dataset.num_classes

    @property
    def multilabel(self) -> bool:
        return self.dataset.multilabel

    def training_size(self) -> tuple[int, int, int]:
        """Nodes, edges and the widest input of what one full-batch step trains on."""
        ops = self.graph.ops
        edges = sum(relation.ops.source.numel() for relation in ops.relations.values())
        widest = max((x.size(1) for x in self.graph.x.values()), default=1)
        return sum(ops.num_nodes.values()), edges, widest

    def summary(self) -> list[str]:
        """`--dry-run`'s lines about the data: node types, relations and their sizes, the scored nodes."""
        ops = self.graph.ops
        featureless = set(self.dataset.featureless())
        lines = [f"typed graph, {len(ops.num_nodes)} node types, {len(ops.relations)} relations"]
        for node_type, count in ops.num_nodes.items():
            width = "no features" if node_type in featureless else f"{self.graph.x[node_type].size(1):,} features"
            target = ", target" if node_type == self.target else ""
            lines.append(f"  node type {node_type}: {count:,} nodes, {width}{target}")
        for edge_type, relation in ops.relations.items():
            lines.append(f"  relation {relation_name(edge_type)}: {relation.ops.source.numel():,} edges")
        if self.target is not None:
            labels = labels_phrase(self.num_classes, self.multilabel)
            scored = ", ".join(f"{split} {int(self.masks[split].sum()):,}" for split in SPLITS if split in self.masks)
            lines.append(f"nodes scored ({self.target}, {labels}): {scored}")
        return lines

    def inference(self, model: TypedGNN) -> TypedInference:
        """The model's outputs on this task's graph, computed once each."""
        return TypedInference(model, self)


def typed_task_tensors(dataset: TypedDataset, device: torch.device, chunk_size: int | None = None) -> TypedTask:
    """Convert a typed dataset once: its graph and the target's masks on `device`."""
    return TypedTask(
        dataset=dataset,
        graph=typed_graph_tensors(dataset, device),
        masks={split: mask.to(device) for split, mask in dataset.masks.items()},
        device=device,
        chunk_size=chunk_size,
    )


class TypedInference:
    """A typed model's outputs on the task's graph, in eval mode: `hidden` (every type's embedding
    entering the last layer) once, `output` continuing from it. With the task's `chunk_size`,
    layer by layer, each node type's rows a chunk at a time (`typed_layers`)."""

    def __init__(self, model: TypedGNN, task: TypedTask) -> None:
        self.model = model
        self.task = task
        self._hidden: dict[str, Tensor] | None = None
        self._output: dict[str, Tensor] | None = None

    @torch.no_grad()
    def hidden(self) -> dict[str, Tensor]:
        if self._hidden is None:
            eval_mode(self.model)
            graph = self.task.graph
            inputs = self.model.inputs(graph.x, graph.node_ids)
            last = len(self.model.convs) - 1
            self._hidden = typed_layers(self.model, inputs, graph.ops, self.task.chunk_size, range(last))
        return self._hidden

    @torch.no_grad()
    def output(self) -> dict[str, Tensor]:
        if self._output is None:
            last = len(self.model.convs) - 1
            hidden = self.hidden()
            self._output = typed_layers(self.model, hidden, self.task.graph.ops, self.task.chunk_size,
                                        range(last, last + 1))  # fmt: skip
        return self._output


def typed_layers(
    model: TypedGNN, x: dict[str, Tensor], ops: TypedOps, chunk_size: int | None, layers: range
) -> dict[str, Tensor]:
    """The given consecutive layers of `model` (in eval mode) for every node, each followed by its
    norm and activation unless it is the last layer. With `chunk_size`, a layer whose relations
    take row slices (`row_slices`) runs per node type over chunks of its rows, so that the memory
    a chunk needs is bounded by the chunk's operator rows; the norm follows once the layer is
    complete for every node. Other layers run on the whole graph at once."""
    last = len(model.convs) - 1
    for index in layers:
        conv = model.convs[index]
        if chunk_size is None or not getattr(conv, "row_slices", False):
            out = conv(x, ops)
        else:
            out = {}
            for node_type, count in ops.num_nodes.items():
                # each relation's input rows once for all chunks (between two types: a concatenation)
                prepared = {e: r.inputs(x) for e, r in ops.relations.items() if r.target_type == node_type}
                parts = [conv(x, ops.rows(node_type, start, min(start + chunk_size, count), prepared)).get(node_type)
                         for start in range(0, count, chunk_size)]  # fmt: skip
                if parts and parts[0] is not None:
                    out[node_type] = torch.cat(parts)
        x = model.activate(index, out, ops) if index < last else out
    return x
