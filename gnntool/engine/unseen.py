"""An unseen graph for `eval/embed/predict --graph`: a graph file of one node and one edge type
(`gnntool.data.graphfile`), or a typed folder (`gnntool.data.typed`), as the dataset a finished
run's objective scores: every node (every labelled target node) in every split; a set of whole
graphs (the graph objective reads it) scores every graph in every split."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gnntool.config import Config, validate
from gnntool.data.dataset import GraphDataset, SplitPart
from gnntool.data.graphfile import GraphFile, read_graph
from gnntool.data.graphsets.dataset import GraphSet
from gnntool.data.typed.dataset import TypedDataset
from gnntool.data.usergraph import typed_layout
from gnntool.errors import UserError
from gnntool.models.typed_ops import TypedSchema
from gnntool.relation_names import relation_name
from gnntool.traits import SPLITS


def read_unseen(path: Path, config: Config, saved: Any) -> GraphFile | TypedDataset:
    """The graph at `path`, read as its layout says (a typed folder, else a graph file)."""
    load = typed_layout(path)
    if load is None:
        return read_graph(path, num_features=saved.num_features)
    schema = TypedSchema.from_dict(saved.num_features)
    labelled = schema.target is not None and (path / "labels" / f"{schema.target}.csv").is_file()
    dataset_config = validate({
        "dataset": {
            "name": "graph", "path": str(path), "split": "random", "target": schema.target if labelled else None,
            "add_reverse": config.dataset.add_reverse, "normalize_features": config.dataset.normalize_features,
        }
    }).dataset  # fmt: skip
    dataset = load(dataset_config, saved.seed)
    check_fits(path, dataset, schema, embedded=config.model.featureless == "embedding")
    every = dataset.y is not None and dataset.target == schema.target
    scored = (dataset.y >= 0 if dataset.y.dim() == 1 else torch.ones(dataset.y.size(0), dtype=torch.bool)) if every \
        else None  # fmt: skip
    dataset.target = schema.target
    dataset.num_classes, dataset.multilabel = saved.num_classes, saved.multilabel
    dataset.masks = {split: scored for split in SPLITS} if scored is not None else {}
    if scored is None:
        dataset.y = None
    return dataset


def check_fits(path: Path, dataset: TypedDataset, schema: TypedSchema, embedded: bool) -> None:
    """The model's node types, relations and input widths must be the graph's; a type without
    features has a learnt embedding per trained node (`embedded`), which no unseen node has."""
    relations = set(dataset.relations())
    if relations != set(schema.relations):
        names = lambda edge_types: ", ".join(sorted(map(relation_name, edge_types))) or "none"  # noqa: E731
        raise UserError(
            f"{path}: the model was trained on relations {names(schema.relations)}; the graph has "
            f"{names(relations)} (missing: {names(set(schema.relations) - relations)})"
        )
    featureless = set(dataset.featureless())
    for node_type, width in schema.widths.items():
        if node_type not in dataset.node_types():
            raise UserError(f"{path}: has no node type {node_type!r}, which the model was trained on")
        if (width == 0) != (node_type in featureless):
            trained = "without" if width == 0 else "with"
            raise UserError(f"{path}: node type {node_type!r} was {trained} features in training; not here")
        if width == 0 and embedded:
            raise UserError(
                f"{path}: node type {node_type!r} has no features: the model learnt an embedding per trained node "
                "(model.featureless: embedding), which no unseen node has; such types cannot be embedded inductively"
            )
        if width == 0:
            continue  # a constant input (model.featureless: none)
        got = int(dataset.graph[node_type].x.size(1))
        if got != width:
            raise UserError(f"{path}: node type {node_type!r} has {got} features; the model takes {width}")


@functools.singledispatch
def unseen_dataset(graph: object, saved: Any) -> GraphDataset | TypedDataset | GraphSet:
    """What `read_unseen` (or the graph objective's) read as the dataset the run's objective
    scores: every split is all of it, shaped as `saved`'s task."""
    raise TypeError(f"no dataset for {type(graph).__name__}")


@unseen_dataset.register
def _(graph: GraphFile, saved: Any) -> GraphDataset:
    data = graph.data
    every_node = [SplitPart(data, torch.ones(data.num_nodes, dtype=torch.bool))]
    return GraphDataset(
        graphs=[data],
        splits={split: every_node for split in SPLITS},
        num_features=saved.num_features,
        num_classes=saved.num_classes,  # the model's task shape; the file's labels are checked against it
        multilabel=saved.multilabel,
        node_id=graph.node_id,
    )


@unseen_dataset.register
def _(graph: TypedDataset, saved: Any) -> TypedDataset:
    return graph


@unseen_dataset.register
def _(graph: GraphSet, saved: Any) -> GraphSet:
    every = torch.arange(graph.num_graphs)
    graph.splits = [{split: every for split in SPLITS}]
    if graph.task is not None and graph.task != saved.shape["task"]:
        raise UserError(f"the graphs' targets are {graph.task}; the run was trained on {saved.shape['task']}")
    graph.task, graph.num_outputs = saved.shape["task"], saved.num_classes  # the model's task shape
    names = saved.shape.get("class_names")
    graph.class_names = None if names is None else np.asarray(names)  # the run's labels, not the file's
    return graph
