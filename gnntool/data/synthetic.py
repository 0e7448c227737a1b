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
feature width. The graph is cached in the folder `<root>/synthetic/n<nodes>_d<avg_degree>_
f<features>_c<classes>_h<homophily>_v<GENERATOR_VERSION>/` as x.npy, edge_index.npy and y.npy
(`gnntool.data.arrays`; root: `dataset.root`, else env GNNTOOL_DATA, else `data`); bump
`GENERATOR_VERSION` whenever the graph a set of parameters gives changes. The features are
drawn and written to x.npy a block of rows at a time (the same values as one draw), so a graph
whose features do not fit in memory can be generated, and `dataset.mmap_features` maps them.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch_geometric.transforms as T
from torch import Tensor
from torch_geometric.data import Data

from gnntool import log
from gnntool.config import DatasetConfig
from gnntool.data.arrays import Fill, load_arrays, save_arrays
from gnntool.data.dataset import GraphDataset
from gnntool.data.fetch import data_root
from gnntool.data.splits import random_masks, single_graph_dataset
from gnntool.errors import UserError

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
        f"_h{_number(config.homophily)}_v{GENERATOR_VERSION}"
    )
    return data_root(config) / "synthetic" / name


def _number(value: float) -> str:
    # repr is exact (two values never share a name); "10" rather than "10.0" for the usual case.
    return repr(float(value)).removesuffix(".0")


def _graph(config: DatasetConfig) -> Data:
    """The graph from the cache (features memory-mapped when `config.mmap_features`), else
    generated into the cache."""
    folder = cache_path(config)
    shape = {"nodes": config.nodes, "avg_degree": config.avg_degree, "features": config.features,
             "classes": config.classes, "homophily": config.homophily, "generator": GENERATOR_VERSION}  # fmt: skip
    mmap = ("x",) if config.mmap_features else ()
    arrays = load_arrays(folder, ("x", "edge_index", "y"), shape, mmap)
    if arrays is None:
        log.info(
            f"generating the synthetic graph ({config.nodes:,} nodes, average degree {config.avg_degree:g}, "
            f"{config.features} features, {config.classes} classes, homophily {config.homophily:g}) into {folder}"
        )
        generator = torch.Generator().manual_seed(_GRAPH_SEED)
        y, edge_index = _structure(config.nodes, config.avg_degree, config.classes, config.homophily, generator)
        x = Fill((config.nodes, config.features), np.dtype(np.float32),
                 lambda out: _features(y, config.classes, generator, torch.from_numpy(out)))  # fmt: skip
        try:
            save_arrays(folder, {"y": y.numpy(), "edge_index": edge_index.numpy(), "x": x}, shape)
        except OSError as exc:  # a read-only data root costs time on the next run, nothing else
            log.warn(f"{folder}: cannot cache the synthetic graph ({exc.strerror or exc}); generated anew each run")
            x, edge_index, y = generate(
                config.nodes, config.avg_degree, config.features, config.classes, config.homophily
            )
            return Data(x=x, edge_index=edge_index, y=y, num_nodes=config.nodes)
        arrays = load_arrays(folder, ("x", "edge_index", "y"), shape, mmap)
        if arrays is None:  # pragma: no cover - just written
            raise UserError(f"{folder}: the synthetic graph just written cannot be read back")
    x, edge_index, y = (torch.from_numpy(arrays[key]) for key in ("x", "edge_index", "y"))
    return Data(x=x, edge_index=edge_index, y=y, num_nodes=config.nodes)


def generate(
    nodes: int, avg_degree: float, features: int, classes: int, homophily: float
) -> tuple[Tensor, Tensor, Tensor]:
    """(x, edge_index, y) of the synthetic graph: a function of the arguments only."""
    generator = torch.Generator().manual_seed(_GRAPH_SEED)
    y, edge_index = _structure(nodes, avg_degree, classes, homophily, generator)
    x = _features(y, classes, generator, torch.empty(nodes, features))
    return x, edge_index, y


def _structure(
    nodes: int, avg_degree: float, classes: int, homophily: float, generator: torch.Generator
) -> tuple[Tensor, Tensor]:
    """(y, edge_index): labels, then edges, drawn from `generator`."""
    y = torch.randint(classes, (nodes,), generator=generator)
    return y, _edges(y, classes, avg_degree, homophily, generator)


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


def _features(y: Tensor, classes: int, generator: torch.Generator, out: Tensor) -> Tensor:
    """Class centroid plus standard normal noise into `out` (float32, nodes × features), a block
    of rows at a time: blocks of a multiple of 16 rows draw exactly what one call would."""
    features = out.size(1)
    # Centroid entries with variance CENTROID_DISTANCE² / (2 features) put two centroids
    # CENTROID_DISTANCE apart (root mean square) whatever the width.
    scale = CENTROID_DISTANCE / math.sqrt(2 * features)
    centroids = torch.randn(classes, features, generator=generator) * scale
    rows = max(16, _CHUNK // features // 16 * 16)
    for begin in range(0, y.numel(), rows):
        block = out[begin : begin + rows]
        torch.randn(block.shape, generator=generator, out=block)
        block += centroids[y[begin : begin + rows]]
    return out
