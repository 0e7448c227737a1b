"""`dataset.name: synthetic`: a stochastic block model with class-dependent features, for scale tests.

The graph depends on `dataset.nodes`, `avg_degree`, `features`, `classes` and `homophily` only: it
is drawn from a generator with a fixed seed, so every run (and every run seed) sees the same graph;
the run seed draws only the random train/val/test split (`train_frac`, `val_frac`).

- Labels: uniform over the classes (the blocks).
- Edges: undirected pairs, each from a uniformly drawn source to, with probability `homophily`, a
  node of the source's class, else any node (uniform). Self-loops and repeats are dropped, pairs
  are stored both ways, so `avg_degree` counts edge_index entries per node. Enough pairs are drawn
  to make up, in expectation, for the ones dropped (`_pairs_to_draw`). edge_index is sorted by
  target, then source.
- Features: the node's class centroid plus standard normal noise. Two centroids lie
  `CENTROID_DISTANCE` noise standard deviations apart (in expectation, at any feature width): with
  10 classes, features alone classify about 57% of nodes (nearest centroid, chance 10%), so they
  inform but the graph's neighbours help.

Labels, then edges, then features come from one generator, so the edges do not depend on the
feature width. The graph is cached as `<root>/synthetic/n<nodes>_d<avg_degree>_f<features>_
c<classes>_h<homophily>_v<GENERATOR_VERSION>.pt` (root: `dataset.root`, else env GNNTOOL_DATA, else
`data`); bump `GENERATOR_VERSION` whenever the graph a set of parameters gives changes.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch_geometric.transforms as T
from torch import Tensor
from torch_geometric.data import Data

from gnntool import log
from gnntool.config import DatasetConfig
from gnntool.data.dataset import GraphDataset
from gnntool.data.fetch import data_root
from gnntool.data.splits import random_masks, single_graph_dataset
from gnntool.errors import UserError
from gnntool.outputs import load_torch, save_torch

__all__ = ["CENTROID_DISTANCE", "GENERATOR_VERSION", "cache_path", "generate", "load_synthetic"]

GENERATOR_VERSION = 1
CENTROID_DISTANCE = 2.4
_GRAPH_SEED = 0
# Pairs (or feature values) drawn per step: bounds the temporaries. The draws' order depends on it,
# so changing it changes the graph (bump GENERATOR_VERSION).
_CHUNK = 1 << 22
# Drawing more than this many times the wanted pairs means the graph is nearly complete
# (within the classes, at high homophily): refuse rather than sample on and on.
_MAX_OVERSAMPLING = 4
_TOLERANCE = 0.02


def load_synthetic(config: DatasetConfig, seed: int) -> GraphDataset:
    """The synthetic graph of `config` (cached), split at random by `seed`."""
    data = _graph(config)
    random_masks(data, config.train_frac, config.val_frac, seed)
    if config.normalize_features:
        data = T.NormalizeFeatures()(data)
    return single_graph_dataset(data)


def cache_path(config: DatasetConfig) -> Path:
    name = (
        f"n{config.nodes}_d{_number(config.avg_degree)}_f{config.features}_c{config.classes}"
        f"_h{_number(config.homophily)}_v{GENERATOR_VERSION}.pt"
    )
    return data_root(config) / "synthetic" / name


def _number(value: float) -> str:
    # repr is exact (two values never share a name); "10" rather than "10.0" for the usual case.
    return repr(float(value)).removesuffix(".0")


def _graph(config: DatasetConfig) -> Data:
    """The graph from the cache, else generated and cached."""
    path = cache_path(config)
    shape = (config.nodes, config.features)
    tensors = _read_cache(path, shape)
    if tensors is None:
        log.info(
            f"generating the synthetic graph ({config.nodes:,} nodes, average degree {config.avg_degree:g}, "
            f"{config.features} features, {config.classes} classes, homophily {config.homophily:g}) into {path}"
        )
        tensors = generate(config.nodes, config.avg_degree, config.features, config.classes, config.homophily)
        try:
            save_torch(path, dict(zip(("x", "edge_index", "y"), tensors)))
        except OSError as exc:  # a read-only data root costs time on the next run, nothing else
            log.warn(f"{path}: cannot cache the synthetic graph ({exc.strerror or exc}); it is generated anew each run")
    x, edge_index, y = tensors
    return Data(x=x, edge_index=edge_index, y=y, num_nodes=config.nodes)


def _read_cache(path: Path, shape: tuple[int, int]) -> tuple[Tensor, Tensor, Tensor] | None:
    """(x, edge_index, y) from `path`; None when it is missing, or unreadable (with a warning)."""
    if not path.is_file():
        return None
    try:
        saved = load_torch(path)
    except UserError as exc:
        log.warn(f"{exc}; generating the synthetic graph again")
        return None
    x, edge_index, y = (saved.get(key) for key in ("x", "edge_index", "y"))
    if not (
        isinstance(x, Tensor) and x.dtype == torch.float32 and tuple(x.shape) == shape
        and isinstance(y, Tensor) and y.dtype == torch.long and tuple(y.shape) == shape[:1]
        and isinstance(edge_index, Tensor) and edge_index.dtype == torch.long
        and edge_index.dim() == 2 and edge_index.size(0) == 2
    ):
        log.warn(f"{path}: not a synthetic graph of {shape[0]} nodes × {shape[1]} features; generating it again")
        return None
    return x, edge_index, y


def generate(
    nodes: int, avg_degree: float, features: int, classes: int, homophily: float
) -> tuple[Tensor, Tensor, Tensor]:
    """(x, edge_index, y) of the synthetic graph: a function of the arguments only."""
    generator = torch.Generator().manual_seed(_GRAPH_SEED)
    y = torch.randint(classes, (nodes,), generator=generator)
    edge_index = _edges(y, classes, avg_degree, homophily, generator)
    x = _features(y, classes, features, generator)
    return x, edge_index, y


def _edges(y: Tensor, classes: int, avg_degree: float, homophily: float, generator: torch.Generator) -> Tensor:
    """Undirected SBM edges, both ways, without self-loops or repeats, sorted by (target, source)."""
    nodes = y.numel()
    counts = torch.bincount(y, minlength=classes)
    by_class = torch.argsort(y, stable=True)  # each class's nodes form one block of this
    starts = torch.cumsum(counts, 0) - counts
    draws = _pairs_to_draw(counts, avg_degree, homophily)
    # Each pair once per direction as one key, target * nodes + source: torch.unique then drops
    # repeats and sorts by target, then source, in one pass over a single int64 tensor.
    keys = torch.empty(2 * draws, dtype=torch.long)
    filled = 0
    for begin in range(0, draws, _CHUNK):
        size = min(_CHUNK, draws - begin)
        source = torch.randint(nodes, (size,), generator=generator)
        inside = torch.rand(size, generator=generator) < homophily
        block = y[source]
        # uniform within the class block; the modulo's bias (< block size / 2**62) is negligible
        offset = torch.randint(2**62, (size,), generator=generator) % counts[block]
        anywhere = torch.randint(nodes, (size,), generator=generator)
        target = torch.where(inside, by_class[starts[block] + offset], anywhere)
        loop = source == target
        source, target = source[~loop], target[~loop]
        kept = source.numel()
        keys[filled : filled + kept] = target * nodes + source
        keys[filled + kept : filled + 2 * kept] = source * nodes + target
        filled += 2 * kept
    keys = torch.unique(keys[:filled])
    edge_index = torch.empty(2, keys.numel(), dtype=torch.long)
    torch.remainder(keys, nodes, out=edge_index[0])
    torch.div(keys, nodes, rounding_mode="floor", out=edge_index[1])
    return edge_index


def _pairs_to_draw(counts: Tensor, avg_degree: float, homophily: float) -> int:
    """How many pairs to draw so that round(nodes * avg_degree / 2) distinct non-loop pairs remain,
    in expectation. Repeats matter on small dense graphs only (e.g. 13% of the draws at 1000 nodes,
    degree 50, 10 classes, homophily 0.7; 0.006% at 2.4M nodes, degree 50)."""
    nodes = int(counts.sum())
    wanted = round(nodes * avg_degree / 2)
    sizes = counts.double()
    inside_pairs = sizes * (sizes - 1) / 2
    across_pairs = nodes * (nodes - 1) / 2 - float(inside_pairs.sum())
    # The chance that one draw gives a given pair {u, v}, either way round.
    p_inside = 2 / nodes * (homophily / sizes.clamp(min=1) + (1 - homophily) / nodes)
    p_across = 2 / nodes * (1 - homophily) / nodes

    def distinct(draws: int) -> float:
        inside = inside_pairs * -torch.expm1(draws * torch.log1p(-p_inside))
        return float(inside.sum()) + across_pairs * -math.expm1(draws * math.log1p(-p_across))

    low, high = wanted, _MAX_OVERSAMPLING * wanted
    if distinct(high) < (1 - _TOLERANCE) * wanted:
        raise UserError(
            f"dataset.avg_degree: {avg_degree:g} is too dense for {nodes} nodes in {len(counts)} classes at "
            f"homophily {homophily:g} (about {2 * distinct(high) / nodes:.3g} at most); lower it, or raise "
            "dataset.nodes or lower dataset.homophily"
        )
    while low < high:  # the least draws that reach `wanted`, or `high`
        middle = (low + high) // 2
        if distinct(middle) >= wanted:
            high = middle
        else:
            low = middle + 1
    return low


def _features(y: Tensor, classes: int, features: int, generator: torch.Generator) -> Tensor:
    """Class centroid plus standard normal noise, float32, nodes × features."""
    # Centroid entries with variance CENTROID_DISTANCE² / (2 features) put two centroids
    # CENTROID_DISTANCE apart (root mean square) whatever the width.
    scale = CENTROID_DISTANCE / math.sqrt(2 * features)
    centroids = torch.randn(classes, features, generator=generator) * scale
    x = torch.randn(y.numel(), features, generator=generator)
    rows = max(1, _CHUNK // features)
    for begin in range(0, y.numel(), rows):  # row blocks: no nodes × features temporary
        x[begin : begin + rows] += centroids[y[begin : begin + rows]]
    return x
