"""Graphs a trained model has not seen (`embed`/`predict --graph`): a TU folder or a graphs .npz.

Targets are optional here (an unlabelled file gives `y` None) and nothing is split. What the run
learnt on is kept: class labels are numbered as the run numbered them (`class_names`: a label the
run never saw is an error), and the degree features a run trained with `dataset.degree_features`
are appended at the run's width (`degree_width`), so that every column means what it meant in
training.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from gnntool.data.graphsets.assemble import add_degree_features, build
from gnntool.data.graphsets.dataset import GraphSet
from gnntool.data.graphsets.npz import read_npz_graphs
from gnntool.data.graphsets.targets import Targets
from gnntool.data.graphsets.tu import read_tu_graphs
from gnntool.errors import UserError

__all__ = ["read_graph_set"]


def _as_the_run_numbers(targets: Targets, class_names: np.ndarray, path: Path) -> None:
    """Renumber `targets`' classes by the run's `class_names` (the original label of each class)."""
    assert targets.class_names is not None  # classes always keep their original labels
    number = {label: i for i, label in enumerate(np.asarray(class_names).tolist())}
    labels = targets.class_names[targets.y.numpy()].tolist()
    unknown = [label for label in dict.fromkeys(labels) if label not in number]
    if unknown:
        raise UserError(
            f"{path}: label {unknown[0]!r} is not one of the classes the model was trained on "
            f"({', '.join(map(repr, number))})"
        )
    targets.y = torch.tensor([number[label] for label in labels], dtype=torch.long)
    targets.class_names, targets.num_outputs = np.asarray(class_names), len(number)


def read_graph_set(
    path: Path, class_names: np.ndarray | None = None, degree_width: int | None = None
) -> GraphSet:
    """The graphs at `path` (a folder: the TU layout; a file: the graphs .npz), unsplit; classes
    numbered by the run's `class_names` when given, degrees appended at `degree_width` when given."""
    if not path.exists():
        raise UserError(f"{path}: no such file or folder (a TU-format folder or an .npz of graphs)")
    graphs, targets, graph_id = read_tu_graphs(path) if path.is_dir() else read_npz_graphs(path)
    if targets is not None and targets.task == "classes" and class_names is not None:
        _as_the_run_numbers(targets, class_names, path)
    graph_set = build(graphs, targets, [], graph_id=graph_id)
    if degree_width is not None:
        add_degree_features(graph_set, degree_width)
    return graph_set
