"""`dataset.name: synthetic_graphs`: a two-class set that only the edges can classify.

Every graph is a cycle through its n nodes (in random order) plus n // 2 chords, so both classes
have the same node counts (`dataset.graph_nodes` ± 20%, drawn independently of the class) and,
for a given n, the same n + n // 2 edges; every node's feature is the constant 1. The class is
how the chords sit:

- class 0, "spread": the chords form a random matching, so every node has degree 3 (one has 2
  when n is odd);
- class 1, "hub": all chords leave one node, whose degree is 2 + n // 2; the others have 2 or 3.

One round of 1-WL colour refinement (a node's degree) tells them apart, so GIN with a sum readout
can learn it; a model that sees only the nodes' features (a bag of identical ones) sees only the
node count, which says nothing about the class: it stays at chance (50%).

The graphs depend on `dataset.graphs` and `dataset.graph_nodes` only (a fixed generator seed, as
for `synthetic`); the run seed draws only the split. Edges are stored both ways.
"""

from __future__ import annotations

import numpy as np

from gnntool.config import DatasetConfig
from gnntool.data.graphsets.assemble import Naming, finish, sort_by_graph
from gnntool.data.graphsets.dataset import GraphSet
from gnntool.data.graphsets.targets import class_targets

__all__ = ["CLASS_NAMES", "generate", "load_synthetic_graphs"]

CLASS_NAMES = np.array([0, 1])  # 0: spread, 1: hub (numbers, as a file of these graphs would label them)
_GRAPH_SEED = 0


def _chords_spread(order: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """n // 2 chords forming a random matching with no chord along the cycle `order`."""
    n = len(order)
    position = np.empty(n, dtype=np.int64)
    position[order] = np.arange(n)
    while True:  # a random matching avoids the cycle's n edges with probability about e^-1
        pairs = rng.permutation(n)[: 2 * (n // 2)].reshape(-1, 2)
        gap = np.abs(position[pairs[:, 0]] - position[pairs[:, 1]])
        if not ((gap == 1) | (gap == n - 1)).any():
            return pairs


def _chords_hub(order: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """n // 2 chords from one node to distinct nodes that are not its cycle neighbours."""
    n = len(order)
    at = rng.integers(n)
    hub = order[at]
    others = np.delete(order, [(at - 1) % n, at, (at + 1) % n])
    ends = rng.choice(others, n // 2, replace=False)
    return np.stack([np.full(n // 2, hub), ends], axis=1)


def generate(graphs: int, graph_nodes: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x, edge_index, graph, y): N × 1 ones, 2 × E edges both ways, the graph of each node, the
    class of each graph (balanced: half of each, in random order)."""
    rng = np.random.default_rng(_GRAPH_SEED)
    spread = graph_nodes // 5
    sizes = graph_nodes + rng.integers(-spread, spread + 1, graphs)
    y = rng.permutation(np.arange(graphs) % 2)
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    edges = []
    for g, (n, label) in enumerate(zip(sizes, y, strict=True)):
        order = rng.permutation(n)
        cycle = np.stack([order, np.roll(order, -1)], axis=1)
        chords = (_chords_hub if label else _chords_spread)(order, rng)
        edges.append(np.concatenate([cycle, chords]) + offsets[g])
    pairs = np.concatenate(edges).T
    edge_index = np.concatenate([pairs, pairs[::-1]], axis=1)
    graph = np.repeat(np.arange(graphs), sizes)
    x = np.ones((int(offsets[-1]), 1), dtype=np.float32)
    return x, edge_index.astype(np.int64), graph, y.astype(np.int64)


def load_synthetic_graphs(config: DatasetConfig, seed: int) -> GraphSet:
    """The generated set of `config.graphs` graphs, split by `seed` as `config.split` says."""
    x, edge_index, graph, y = generate(int(config.graphs or 0), int(config.graph_nodes or 0))
    sorted_graphs = sort_by_graph(x, edge_index, graph, len(y), Naming("the generated edges", "the generated graphs"))
    targets = class_targets(y, "the generated labels", lambda g: f"graph {g}")
    targets.class_names = CLASS_NAMES
    return finish(config, sorted_graphs, targets, seed)
