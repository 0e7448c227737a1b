"""OGB node property prediction by name: ogbn-arxiv, ogbn-products, ogbn-proteins, ogbn-papers100M.

Read from OGB's own raw layout, `<root>/<ogbn_name>/` (`ogbn-arxiv` -> `ogbn_arxiv`, as the
`ogb` package names it), never from the `ogb` package's processed pickles:

- csv datasets: `raw/edge.csv.gz` (source, target per row), `raw/num-node-list.csv.gz`,
  `raw/num-edge-list.csv.gz` (one graph), `raw/node-label.csv.gz`, `raw/node-feat.csv.gz`
  (arxiv, products) or `raw/edge-feat.csv.gz` (proteins); papers100M: `raw/data.npz`
  (`edge_index`, `num_nodes_list`, `num_edges_list`, `node_feat`) and `raw/node-label.npz`
  (`node_label`, NaN for unlabelled nodes);
- OGB's split: `split/<time|sales_ranking|species>/{train,valid,test}.csv.gz` (node ids).

Which files a dataset has, its split's folder, URL, metric and number of tasks come from the
`ogb` package's own table (`ogb/nodeproppred/master.csv`). Missing files are copied from
`$GNNTOOL_MIRROR/<ogbn_name>/...` or taken from OGB's zip (`gnntool.data.fetch`). Edges listed
once in OGB's files (products, proteins: `add_inverse_edge`) get their reverse, as OGB's loaders
add it; `dataset.to_undirected` does the same for arxiv and papers100M. ogbn-proteins has no node
features: a node's features are the mean of its incident edges' 8 features, as OGB's examples
build them. Self-loops and repeated edges are dropped, as for every gnntool graph.

The processed arrays go to `<root>/<ogbn_name>/gnntool/<directed|undirected>/`, one `.npy` per
array (`gnntool.data.arrays`), read back with `allow_pickle=False`; features memory-mapped when
`dataset.mmap_features`. Metrics come from OGB's `Evaluator` (`OgbScorer`).
"""

from __future__ import annotations

import contextlib
import importlib
import os
import shutil
import sys
import urllib.request
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import Data

from gnntool import log
from gnntool.config import DatasetConfig
from gnntool.data import fetch
from gnntool.data.arrays import load_arrays, save_arrays
from gnntool.data.dataset import GraphDataset
from gnntool.data.fetch import RawFiles, data_root
from gnntool.data.splits import single_graph_dataset
from gnntool.errors import UserError

__all__ = ["OgbScorer", "OgbSpec", "fingerprint", "import_ogb", "load_ogb", "ogb_spec", "raw_files", "read_csv"]

INSTALL = "pip install 'gnntool[ogb]'"
OGB_SPLIT_NAMES = {"train": "train", "val": "valid", "test": "test"}  # gnntool's split -> OGB's file
CACHE_FORMAT = 1


# --- the ogb package ----------------------------------------------------------------------------


@contextlib.contextmanager
def _no_version_check() -> Iterator[None]:
    """Import `ogb` without its check for a newer release.

    `ogb/version.py` (1.3.6) imports `outdated` and, if that works, starts a thread that asks PyPI
    for the latest version and logs a warning, whatever `OUTDATED_IGNORE` says (that only
    silences `outdated`'s own warnings). OUTDATED_IGNORE=1 is set for `outdated` itself, and
    during the import `outdated` is made unimportable, so that ogb starts no thread at all.
    """
    os.environ["OUTDATED_IGNORE"] = "1"
    saved = sys.modules.get("outdated")
    sys.modules["outdated"] = None  # type: ignore[assignment]  # `import outdated` raises ImportError
    try:
        yield
    finally:
        if saved is None:
            del sys.modules["outdated"]
        else:
            sys.modules["outdated"] = saved


def import_ogb(part: str = "nodeproppred") -> Any:
    """The `ogb.<part>` module (`nodeproppred`, `graphproppred`; imported without a network check), or a UserError."""
    with _no_version_check():
        try:
            return importlib.import_module(f"ogb.{part}")
        except ImportError as exc:
            raise UserError(f"the OGB datasets need the `ogb` package ({exc}); install it with: {INSTALL}") from None


@dataclass(frozen=True)
class OgbSpec:
    """One dataset's row of OGB's `master.csv`."""

    name: str
    folder: str  # under the data root: ogbn_arxiv
    download_name: str  # the zip's top folder: arxiv
    url: str
    split: str
    add_inverse_edge: bool
    binary: bool
    node_features: bool
    edge_features: bool
    num_tasks: int
    num_classes: int
    metric: str  # acc | rocauc (| ap for graph property prediction)
    labels: str = "node-label"  # the label file: node-label, or graph-label for graph property prediction

    def files(self) -> tuple[str, ...]:
        """Every file the loader reads, relative to `<root>/<folder>`."""
        if self.binary:
            raw = ["raw/data.npz", "raw/node-label.npz"]
        else:
            raw = ["raw/edge.csv.gz", "raw/num-node-list.csv.gz", "raw/num-edge-list.csv.gz"]
            raw.append(f"raw/{self.labels}.csv.gz")
            raw += ["raw/node-feat.csv.gz"] * self.node_features + ["raw/edge-feat.csv.gz"] * self.edge_features
        return (*raw, *(f"split/{self.split}/{part}.csv.gz" for part in OGB_SPLIT_NAMES.values()))


LABEL_FILES = {"nodeproppred": "node-label", "graphproppred": "graph-label"}  # ogb's part -> its label file


@cache
def ogb_spec(name: str, part: str = "nodeproppred") -> OgbSpec:
    """`name`'s facts from the installed ogb package's master.csv of `part` (nodeproppred, graphproppred)."""
    import pandas as pd

    master = Path(import_ogb(part).__file__).parent / "master.csv"
    row = pd.read_csv(master, index_col=0, keep_default_na=False)[name]
    return OgbSpec(
        name=name,
        folder=name.replace("-", "_"),
        download_name=row["download_name"],
        url=row["url"],
        split=row["split"],
        add_inverse_edge=row["add_inverse_edge"] == "True",
        binary=row["binary"] == "True",
        node_features=row["has_node_attr"] == "True",
        edge_features=row["has_edge_attr"] == "True",
        num_tasks=int(row["num tasks"]),
        num_classes=int(row["num classes"]),
        metric=row["eval metric"],
        labels=LABEL_FILES[part],
    )


# --- the raw files ------------------------------------------------------------------------------


def raw_files(spec: OgbSpec) -> RawFiles:
    """What `fetch.ensure_raw_files` needs: the files, and how to take them from OGB's zip."""

    def download(scratch: Path, missing: Sequence[str]) -> None:
        archive = scratch / f"{spec.download_name}.zip"
        with urllib.request.urlopen(spec.url, timeout=60) as response, open(archive, "wb") as out:
            shutil.copyfileobj(response, out, 1 << 20)
        with zipfile.ZipFile(archive) as zipped:
            for file in missing:  # only the files named, each under its own name: nothing else is unpacked
                (scratch / file).parent.mkdir(parents=True, exist_ok=True)
                with zipped.open(f"{spec.download_name}/{file}") as member, open(scratch / file, "wb") as out:
                    shutil.copyfileobj(member, out, 1 << 20)
        archive.unlink()

    return RawFiles(
        name=spec.name,
        subdir=spec.folder,
        files=spec.files(),
        source=f"they are in OGB's {spec.url}",
        download=download,
    )


def read_csv(path: Path, dtype: type, columns: int | None = None) -> np.ndarray:
    """A gzip-compressed, header-less CSV of numbers as a 2-d array, or a UserError naming `path`."""
    import pandas as pd

    try:
        frame = pd.read_csv(path, compression="gzip", header=None, dtype=dtype)
    except pd.errors.EmptyDataError:
        raise UserError(f"{path}: empty (OGB's file has one row per item)") from None
    except (EOFError, OSError, zlib.error, ValueError) as exc:  # truncated, not gzip, not numbers, ragged rows
        raise UserError(
            f"{path}: not a gzip-compressed CSV of numbers as OGB writes it ({type(exc).__name__}: {exc})"
        ) from None
    array = np.require(frame.to_numpy(), requirements="W")  # pandas may hand out read-only views
    if columns is not None and array.shape[1] != columns:
        raise UserError(f"{path}: {array.shape[1]} columns per row; OGB's file has {columns}")
    return array


def read_npz(path: Path, keys: Sequence[str]) -> dict[str, np.ndarray]:
    """Arrays `keys` of an .npz (no pickles), or a UserError naming `path`."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            absent = [key for key in keys if key not in archive.files]
            if absent:
                raise UserError(f"{path}: has no {', '.join(absent)} (OGB's file holds {', '.join(keys)})")
            return {key: archive[key] for key in keys}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise UserError(f"{path}: not a readable .npz ({type(exc).__name__}: {exc})") from None


@dataclass
class RawGraph:
    """What OGB's raw files say, before gnntool's processing."""

    num_nodes: int
    edges: np.ndarray  # (2, E) as listed: row 0 sources, row 1 targets
    x: np.ndarray | None
    edge_x: np.ndarray | None
    y: np.ndarray  # (N, tasks) as stored; float with NaN for unlabelled nodes (papers100M)
    label_file: Path
    edge_file: Path


def _one_graph(path: Path, counts: np.ndarray) -> int:
    if counts.size != 1:
        raise UserError(f"{path}: lists {counts.size} graphs; an ogbn dataset is one graph")
    return int(counts.reshape(-1)[0])


def read_raw(spec: OgbSpec, folder: Path) -> RawGraph:
    """The raw files of `spec` in `folder`, checked against each other."""
    raw = folder / "raw"
    if spec.binary:
        data = read_npz(raw / "data.npz", ("edge_index", "num_nodes_list", "num_edges_list", "node_feat"))
        num_nodes = _one_graph(raw / "data.npz", data["num_nodes_list"])
        num_edges = _one_graph(raw / "data.npz", data["num_edges_list"])
        edges, x, edge_x = data["edge_index"], data["node_feat"], None
        y = read_npz(raw / "node-label.npz", ("node_label",))["node_label"]
        graph = RawGraph(num_nodes, edges, x, edge_x, y.reshape(len(y), -1), raw / "node-label.npz", raw / "data.npz")
        if edges.ndim != 2 or edges.shape[0] != 2:
            raise UserError(f"{raw / 'data.npz'}: edge_index has shape {edges.shape}; OGB's is (2, edges)")
    else:
        num_nodes = _one_graph(raw / "num-node-list.csv.gz", read_csv(raw / "num-node-list.csv.gz", np.int64, 1))
        num_edges = _one_graph(raw / "num-edge-list.csv.gz", read_csv(raw / "num-edge-list.csv.gz", np.int64, 1))
        edges = read_csv(raw / "edge.csv.gz", np.int64, 2).T
        x = read_csv(raw / "node-feat.csv.gz", np.float32) if spec.node_features else None
        edge_x = read_csv(raw / "edge-feat.csv.gz", np.float32) if spec.edge_features else None
        y = read_csv(raw / "node-label.csv.gz", np.float32, spec.num_tasks)
        graph = RawGraph(num_nodes, edges, x, edge_x, y, raw / "node-label.csv.gz", raw / "edge.csv.gz")
    _check_raw(spec, graph, num_edges, raw)
    return graph


def _check_raw(spec: OgbSpec, graph: RawGraph, num_edges: int, raw: Path) -> None:
    count_file = raw / ("data.npz" if spec.binary else "num-edge-list.csv.gz")
    if graph.edges.shape[1] != num_edges:
        raise UserError(f"{count_file}: says {num_edges} edges; {graph.edge_file} has {graph.edges.shape[1]}")
    if graph.edges.size and (graph.edges.min() < 0 or graph.edges.max() >= graph.num_nodes):
        raise UserError(f"{graph.edge_file}: node ids must lie in 0..{graph.num_nodes - 1} (the graph's node count)")
    feature_file = raw / ("data.npz" if spec.binary else "node-feat.csv.gz")
    if graph.x is not None and (graph.x.ndim != 2 or len(graph.x) != graph.num_nodes):
        raise UserError(f"{feature_file}: {len(graph.x)} rows of features for {graph.num_nodes} nodes")
    if graph.edge_x is not None and len(graph.edge_x) != num_edges:
        raise UserError(f"{raw / 'edge-feat.csv.gz'}: {len(graph.edge_x)} rows of edge features for {num_edges} edges")
    if graph.y.shape != (graph.num_nodes, spec.num_tasks):
        raise UserError(
            f"{graph.label_file}: labels of shape {graph.y.shape}; expected ({graph.num_nodes}, {spec.num_tasks})"
        )


def read_split(spec: OgbSpec, folder: Path, num_nodes: int) -> dict[str, np.ndarray]:
    """OGB's train/valid/test node ids (int64), each checked to lie in the graph."""
    split = {}
    for ours, theirs in OGB_SPLIT_NAMES.items():
        path = folder / "split" / spec.split / f"{theirs}.csv.gz"
        nodes = read_csv(path, np.int64, 1).reshape(-1)
        if nodes.size and (nodes.min() < 0 or nodes.max() >= num_nodes):
            bad = int(nodes[(nodes < 0) | (nodes >= num_nodes)][0])
            raise UserError(
                f"{path}: node id {bad} is out of range (the graph has {num_nodes} nodes: 0..{num_nodes - 1})"
            )
        split[ours] = nodes
    return split


# --- processing ---------------------------------------------------------------------------------


def canonical_edges(edges: np.ndarray, num_nodes: int, both_ways: bool) -> np.ndarray:
    """(2, E) int64 sorted by (target, source), without self-loops or repeats; with every edge's
    reverse added when `both_ways`."""
    source, target = edges[0].astype(np.int64), edges[1].astype(np.int64)
    if both_ways:
        source, target = np.concatenate([source, target]), np.concatenate([target, source])
    keep = source != target
    keys = np.unique(target[keep] * num_nodes + source[keep])  # sorted
    return np.stack([keys % num_nodes, keys // num_nodes])


def mean_edge_features(edges: np.ndarray, edge_x: np.ndarray, num_nodes: int) -> np.ndarray:
    """Every node's mean of its incident edges' features (zero without edges), float32: OGB's
    examples' node features for ogbn-proteins (scatter-mean over the edges with their reverses)."""
    ends = np.concatenate([edges[0], edges[1]])
    count = np.maximum(np.bincount(ends, minlength=num_nodes), 1)
    columns = [
        np.bincount(ends, weights=np.tile(edge_x[:, j], 2), minlength=num_nodes) / count for j in range(edge_x.shape[1])
    ]
    return np.stack(columns, axis=1).astype(np.float32)


def labels(spec: OgbSpec, graph: RawGraph, split: dict[str, np.ndarray]) -> np.ndarray:
    """Class ids (int64; -1 for unlabelled nodes) or, for binary tasks, the 0/1 float32 matrix."""
    if spec.metric == "rocauc":
        return graph.y.astype(np.float32)
    y = graph.y[:, 0]
    unlabelled = np.isnan(y)
    used = np.concatenate(list(split.values()))
    if unlabelled[used].any():
        raise UserError(f"{graph.label_file}: node {int(used[unlabelled[used]][0])} is in OGB's split but has no label")
    ids = np.where(unlabelled, -1, y).astype(np.int64)
    if ids[used].size and (ids[used].min() < 0 or ids[used].max() >= spec.num_classes):
        raise UserError(f"{graph.label_file}: class ids must lie in 0..{spec.num_classes - 1}")
    return ids


def process(spec: OgbSpec, folder: Path, undirected: bool) -> dict[str, np.ndarray]:
    """Every array of the processed cache, from the raw files."""
    log.info(f"{spec.name}: processing OGB's raw files in {folder} (once; cached)")
    graph = read_raw(spec, folder)
    split = read_split(spec, folder, graph.num_nodes)
    if graph.x is not None:
        x = graph.x.astype(np.float32, copy=False)
    else:
        x = mean_edge_features(graph.edges, graph.edge_x, graph.num_nodes)
    return {
        "x": x,
        "edge_index": canonical_edges(graph.edges, graph.num_nodes, undirected),
        "y": labels(spec, graph, split),
        **split,
    }


def load_arrays_of(config: DatasetConfig, spec: OgbSpec) -> dict[str, np.ndarray]:
    """The processed arrays: from the cache, else from the raw files (fetched if need be)."""
    root = data_root(config)
    folder = root / spec.folder
    undirected = spec.add_inverse_edge or bool(config.to_undirected)
    cache = folder / "gnntool" / ("undirected" if undirected else "directed")
    names = ("x", "edge_index", "y", *OGB_SPLIT_NAMES)
    fetch.ensure_raw_files(raw_files(spec), root)
    source = {"dataset": spec.name, "format": CACHE_FORMAT, "undirected": undirected, "raw": fingerprint(folder, spec)}
    mmap = ("x",) if config.mmap_features else ()
    arrays = load_arrays(cache, names, source, mmap)
    if arrays is None:
        arrays = process(spec, folder, undirected)
        try:
            save_arrays(cache, arrays, source)
        except OSError as exc:
            log.warn(f"{cache}: cannot cache the processed arrays ({exc.strerror or exc}); processing anew each run")
            return arrays
        if mmap:
            arrays = load_arrays(cache, names, source, mmap) or arrays
    return arrays


def fingerprint(folder: Path, spec: OgbSpec) -> dict[str, list[int]]:
    """Size and modification time of every raw file: a changed file makes the cache stale."""
    stats = {file: (folder / file).stat() for file in spec.files()}
    return {file: [stat.st_size, stat.st_mtime_ns] for file, stat in stats.items()}


def load_ogb(config: DatasetConfig, seed: int) -> GraphDataset:
    """`config.name`'s graph with OGB's split (`seed` is unused: the split is fixed)."""
    import_ogb()
    spec = ogb_spec(config.name)
    arrays = load_arrays_of(config, spec)
    num_nodes = len(arrays["x"])
    data = Data(
        x=torch.from_numpy(arrays["x"]),
        edge_index=torch.from_numpy(arrays["edge_index"]),
        y=torch.from_numpy(arrays["y"]),
        num_nodes=num_nodes,
    )
    for split in OGB_SPLIT_NAMES:
        mask = torch.zeros(num_nodes, dtype=torch.bool)
        mask[torch.from_numpy(arrays[split])] = True
        data[f"{split}_mask"] = mask
    multilabel = spec.metric == "rocauc"
    dataset = single_graph_dataset(data, multilabel=multilabel)
    dataset.num_classes = spec.num_tasks if multilabel else spec.num_classes
    dataset.scorer = OgbScorer(spec)
    return dataset


class OgbScorer:
    """OGB's `Evaluator` for one dataset, on a split's logits and labels: `accuracy` (argmax) or,
    for ogbn-proteins, `auc` (ROC-AUC averaged over the tasks, the logits as scores)."""

    def __init__(self, spec: OgbSpec) -> None:
        self.spec = spec
        self.evaluator = import_ogb().Evaluator(spec.name)

    def __call__(self, logits: Tensor, y: Tensor) -> dict[str, float]:
        if self.spec.metric == "rocauc":
            result = self.evaluator.eval({"y_true": y.cpu().numpy(), "y_pred": logits.float().cpu().numpy()})
            return {"auc": float(result["rocauc"])}
        predicted = logits.argmax(-1, keepdim=True)
        result = self.evaluator.eval({"y_true": y.view(-1, 1).cpu().numpy(), "y_pred": predicted.cpu().numpy()})
        return {"accuracy": float(result["acc"])}
