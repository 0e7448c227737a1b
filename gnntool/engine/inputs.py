"""A dataset as the tensors a model consumes, on the chosen device, converted once per run."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor
from torch_geometric.data import Batch, Data

from gnntool.data.dataset import GraphDataset
from gnntool.models.graph_ops import GraphOps
from gnntool.traits import SPLITS

# Below this fraction of non-zeros the input features are kept as sparse CSR: dropout and the
# first linear map then touch the stored values only (Cora: 1.3% non-zeros, 40x less work).
SPARSE_DENSITY = 0.1


@dataclass
class GraphTensors:
    """Features, labels (None when unlabelled) and cached operators of one graph or batch."""

    x: Tensor
    y: Tensor | None
    ops: GraphOps

    @property
    def num_nodes(self) -> int:
        return self.ops.num_nodes


@dataclass
class DevicePart:
    """A `SplitPart` (`gnntool.data.dataset`) on the device: its graph as tensors, and the nodes of
    it that the split scores."""

    graph: GraphTensors
    mask: Tensor


@dataclass
class Step:
    """One optimisation step: features, structure (one graph, or one block per layer whose
    targets shrink to the seed nodes) and the labels of the output rows the loss scores."""

    x: Tensor
    ops: GraphOps | list[GraphOps]
    y: Tensor
    rows: Tensor | None = None  # which output rows `y` labels; None: all of them, in order


@dataclass
class Task:
    """Everything a run trains and scores on: per split, its parts; plus the task's shape.

    `chunk_size` set means inference runs layer-wise over chunks of that many nodes (after
    neighbour-sampled training, on graphs too large for one pass); features then stay dense.
    """

    kind: ClassVar[str] = "graph"  # which objective registry serves it (gnntool.engine.objectives)

    dataset: GraphDataset
    splits: dict[str, list[DevicePart]]
    device: torch.device
    converted: dict[int, GraphTensors]  # id of a dataset graph → its tensors, each converted once
    full_train: DevicePart | None = None  # all training graphs as one batch, built on first use
    chunk_size: int | None = None

    def tensors(self, data: Data) -> GraphTensors:
        """`data` (a graph of the dataset) on the device; converted on first use only."""
        if id(data) not in self.converted:
            self.converted[id(data)] = graph_tensors(data, self.device, sparse_features=self.chunk_size is None)
        return self.converted[id(data)]

    @property
    def num_features(self) -> int:
        return self.dataset.num_features

    @property
    def num_classes(self) -> int:
        return self.dataset.num_classes

    @property
    def multilabel(self) -> bool:
        return self.dataset.multilabel

    def training_size(self) -> tuple[int, int, int]:
        """Nodes, edges and features of what one full-batch step trains on (every training graph)."""
        graphs = {id(part.graph): part.graph for part in self.dataset.splits["train"]}.values()
        nodes = sum(graph.num_nodes for graph in graphs)
        edges = sum(graph.edge_index.size(1) for graph in graphs)
        return nodes, edges, self.num_features

    def summary(self) -> list[str]:
        """`--dry-run`'s lines about the data: its graphs and sizes, the nodes each split scores."""
        dataset = self.dataset
        graphs = dataset.graphs
        nodes = sum(graph.num_nodes for graph in graphs)
        edges = sum(graph.num_edges for graph in graphs)
        scored = ", ".join(
            f"{split} {sum(int(part.mask.sum()) for part in dataset.splits[split]):,}" for split in SPLITS
        )
        labels = labels_phrase(dataset.num_classes, dataset.multilabel)
        return [
            f"{len(graphs)} graph{'s' * (len(graphs) > 1)}, {nodes:,} nodes, {edges:,} edges, "
            f"{dataset.num_features:,} features, {labels}",
            f"nodes scored: {scored}",
        ]


def labels_phrase(num_classes: int, multilabel: bool) -> str:
    """`--dry-run`'s words for the targets: "7 classes", or "121 labels (multi-label)"."""
    return f"{num_classes} {'labels (multi-label)' if multilabel else 'classes'}"


def feature_tensor(x: Tensor, sparse: bool = True) -> Tensor:
    """Float features, stored as sparse CSR when mostly zeros and `sparse` allows it."""
    x = x.to(torch.float)
    if not sparse:
        return x
    density = torch.count_nonzero(x).item() / max(1, x.numel())
    return x.to_sparse_csr() if density < SPARSE_DENSITY else x


def graph_tensors(data: Data, device: torch.device, sparse_features: bool = True) -> GraphTensors:
    """Move one graph (or a `Batch` of graphs) to `device` and wrap its structure in `GraphOps`.

    Layer-wise inference gathers feature rows by index, which needs `sparse_features` False.
    """
    batch = getattr(data, "batch", None)
    num_graphs = getattr(data, "num_graphs", None) if batch is not None else None
    return GraphTensors(
        x=feature_tensor(data.x, sparse_features).to(device),
        y=data.y.to(device) if getattr(data, "y", None) is not None else None,
        ops=GraphOps(
            data.edge_index.to(device),
            data.num_nodes,
            batch=batch.to(device) if batch is not None else None,
            num_graphs=num_graphs,
        ),
    )


def batch_parts(graphs: list[Data], masks: list[Tensor], device: torch.device) -> DevicePart:
    """Several graphs as one disjoint-union batch (per-graph statistics via its `batch` vector)."""
    if len(graphs) == 1:
        return DevicePart(graph_tensors(graphs[0], device), masks[0].to(device))
    return DevicePart(graph_tensors(Batch.from_data_list(graphs), device), torch.cat(masks).to(device))


def task_tensors(dataset: GraphDataset, device: torch.device, chunk_size: int | None = None) -> Task:
    """Convert each distinct graph of the dataset once (transductive splits share one graph)."""
    task = Task(dataset=dataset, splits={}, device=device, converted={}, chunk_size=chunk_size)
    task.splits = {
        split: [DevicePart(task.tensors(part.graph), part.mask.to(device)) for part in dataset.splits[split]]
        for split in SPLITS
    }
    return task
