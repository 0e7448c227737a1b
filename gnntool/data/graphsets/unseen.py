"""Graphs a trained model has not seen (`embed`/`predict --graph`): a TU folder or a graphs .npz.

Targets are optional here (an unlabelled file gives `y` None), nothing is split, and no degree
features are added: a run trained with `dataset.degree_features` appends them at its own width
(`gnntool.data.graphsets.assemble.degree_one_hot`), so that the columns mean what they meant in
training.
"""

from __future__ import annotations

from pathlib import Path

from gnntool.data.graphsets.assemble import build
from gnntool.data.graphsets.dataset import GraphSet
from gnntool.data.graphsets.npz import read_npz_graphs
from gnntool.data.graphsets.tu import read_tu_graphs
from gnntool.errors import UserError

__all__ = ["read_graph_set"]


def read_graph_set(path: Path) -> GraphSet:
    """The graphs at `path` (a folder: the TU layout; a file: the graphs .npz), unsplit."""
    if not path.exists():
        raise UserError(f"{path}: no such file or folder (a TU-format folder or an .npz of graphs)")
    graphs, targets, graph_id = read_tu_graphs(path) if path.is_dir() else read_npz_graphs(path)
    return build(graphs, targets, [], graph_id=graph_id)
