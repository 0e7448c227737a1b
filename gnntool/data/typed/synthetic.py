"""`dataset.name: synthetic_typed`: a typed graph whose class signal only its relations carry.

One node type, `node`, with `classes` balanced classes (sizes differ by at most one) and weakly
informative features (the class centroid plus standard normal noise; two centroids lie
`CENTROID_DISTANCE` noise standard deviations apart). Two relations, both undirected (each edge
stored both ways, so `dataset.add_reverse` changes nothing):

- `node__same__node` joins nodes of the same class: a share 1 / classes of the edges;
- `node__other__node` joins nodes of different classes: the rest, its target's class uniform
  over the source's other classes.

So a node's neighbours, read without edge types, are spread evenly over the classes whatever its
own class (in expectation: the same class gets 1 / classes of them, as does every other class),
and a model that ignores edge types learns nothing from the edges: even the mean of the
neighbours' features is the mean of all centroids. A model that tells the relations apart reads
the class out of either mean (the `same` one is the class centroid). A relation that merely
joined nodes at random would not do: the flattened mean would still lean to the node's class.

`avg_degree` counts edge_index entries per node over both relations, as for `synthetic`; exactly
round(nodes × avg_degree / 2) distinct undirected pairs are drawn, a share round(1 / classes) of
them within a class. The graph depends on `nodes`, `avg_degree`, `features` and `classes` only
(a fixed generator seed); the run seed draws only the random split. Generating is a few vectorised
draws (about a second at 100,000 nodes), so nothing is cached.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import HeteroData

from gnntool.config import DatasetConfig
from gnntool.data.splits import split_masks
from gnntool.data.typed.dataset import TypedDataset, check_target
from gnntool.errors import UserError

__all__ = ["CENTROID_DISTANCE", "NODE", "OTHER", "SAME", "flatten", "generate", "load_synthetic_typed"]

NODE = "node"
SAME = (NODE, "same", NODE)
OTHER = (NODE, "other", NODE)
CENTROID_DISTANCE = 1.0  # weak: features alone classify few nodes, the relations' means many more
_GRAPH_SEED = 0
_OVERSAMPLING = 1.25  # draws per wanted pair before repeats and loops are dropped


def load_synthetic_typed(config: DatasetConfig, seed: int) -> TypedDataset:
    """The generated typed graph of `config`, its nodes split at random by `seed`."""
    check_target(config.target, NODE, "the generated typed graph")
    graph, y = generate(config.nodes, config.avg_degree, config.features, config.classes)
    masks = split_masks(config.nodes, config.train_frac, config.val_frac, seed)
    return TypedDataset(
        graph=graph,
        target=NODE,
        y=y,
        masks=masks,
        num_classes=config.classes,
        node_id={NODE: np.arange(config.nodes, dtype=np.int64)},
    )


def generate(nodes: int, avg_degree: float, features: int, classes: int) -> tuple[HeteroData, Tensor]:
    """(graph, labels) of the generated typed graph: a function of the arguments only."""
    generator = torch.Generator().manual_seed(_GRAPH_SEED)
    y = (torch.arange(nodes) % classes)[torch.randperm(nodes, generator=generator)]
    wanted = round(nodes * avg_degree / 2)
    same = round(wanted / classes)
    _check_room(y, classes, same, avg_degree)
    graph = HeteroData()
    graph[NODE].num_nodes = nodes
    graph[SAME].edge_index = _pairs(y, classes, same, True, generator)
    graph[OTHER].edge_index = _pairs(y, classes, wanted - same, False, generator)
    graph[NODE].x = _features(y, classes, features, generator)
    return graph, y


def _check_room(y: Tensor, classes: int, same: int, avg_degree: float) -> None:
    """Refuse a graph so dense that the classes cannot hold the within-class pairs (drawing
    distinct pairs would then take ever longer)."""
    sizes = torch.bincount(y, minlength=classes).double()
    room = float((sizes * (sizes - 1) / 2).sum())
    if same > room / 2:
        raise UserError(
            f"dataset.avg_degree: {avg_degree:g} is too dense for {len(y)} nodes in {classes} classes "
            f"({same} pairs within classes wanted, {int(room)} exist); lower it, or raise dataset.nodes"
        )


def _pairs(y: Tensor, classes: int, count: int, inside: bool, generator: torch.Generator) -> Tensor:
    """`count` distinct undirected pairs, both ways (2 × 2·count, sorted by target then source):
    within a class when `inside`, else between a node and a node of another class, that class
    uniform over the other ones."""
    nodes = y.numel()
    sizes = torch.bincount(y, minlength=classes)
    by_class = torch.argsort(y, stable=True)  # each class's nodes form one block of this
    starts = torch.cumsum(sizes, 0) - sizes
    kept = torch.empty(0, dtype=torch.long)
    while kept.numel() < count:  # rarely more than once
        draws = math.ceil((count - kept.numel()) * _OVERSAMPLING) + 16
        source = torch.randint(nodes, (draws,), generator=generator)
        shift = 0 if inside else torch.randint(1, classes, (draws,), generator=generator)
        block = (y[source] + shift) % classes
        offset = torch.randint(2**62, (draws,), generator=generator) % sizes[block]
        target = by_class[starts[block] + offset]
        source, target = source[source != target], target[source != target]
        keys = torch.cat([kept, torch.minimum(source, target) * nodes + torch.maximum(source, target)])
        # the first occurrence of each pair in draw order, so that truncating keeps a uniform sample
        unique, inverse = torch.unique(keys, return_inverse=True)
        first = torch.full((unique.numel(),), keys.numel(), dtype=torch.long).scatter_reduce(
            0, inverse, torch.arange(keys.numel()), "amin"
        )
        kept = keys[torch.sort(first).values][:count]
    low, high = kept // nodes, kept % nodes
    both = torch.unique(torch.cat([high * nodes + low, low * nodes + high]))  # key: target * nodes + source
    return torch.stack([both % nodes, both // nodes])


def _features(y: Tensor, classes: int, features: int, generator: torch.Generator) -> Tensor:
    """Class centroid plus standard normal noise (float32, nodes × features)."""
    scale = CENTROID_DISTANCE / math.sqrt(2 * features)  # centroids CENTROID_DISTANCE apart (rms)
    centroids = torch.randn(classes, features, generator=generator) * scale
    return torch.randn(y.numel(), features, generator=generator) + centroids[y]


def flatten(dataset: TypedDataset) -> dict[str, np.ndarray]:
    """A one-node-type typed dataset as the arrays of a homogeneous `.npz` graph file (`x`,
    `edge_index` with every relation's edges, `y`, `train_mask`, `val_mask`, `test_mask`): the
    same graph with its edge types forgotten, for `dataset.name: graph`."""
    if len(dataset.node_types()) != 1 or dataset.target is None or dataset.y is None:
        raise ValueError("flatten takes a labelled typed graph of one node type")
    store = dataset.graph[dataset.target]
    edge_index = torch.cat([dataset.graph[relation].edge_index for relation in dataset.relations()], dim=1)
    return {
        "x": store.x.numpy(),
        "edge_index": edge_index.numpy(),
        "y": dataset.y.numpy(),
        **{f"{split}_mask": mask.numpy() for split, mask in dataset.masks.items()},
    }
