"""PPI (protein-protein interaction graphs, multi-label) through PyG's `PPI`, read safely.

Layout (PyG's, under the PyG root `<root>/PPI`): the 12 raw files
`<root>/PPI/raw/{train,valid,test}_{feats.npy,graph_id.npy,graph.json,labels.npy}` and the processed
cache `<root>/PPI/processed/{train,val,test}.pt`. The root is `dataset.root`, else env
`GNNTOOL_DATA`, else `data`. Missing raw files are copied from `$GNNTOOL_MIRROR/PPI/raw/` when that
is set, else downloaded with PyG's `PPI.download` (the zip at `PPI.url`, unpacked) unless
`GNNTOOL_OFFLINE=1`; failing both, a `UserError` lists the files and the folder (`gnntool.data.fetch`,
shared with Planetoid). The processed files are read with `torch.load(weights_only=True)` only.

The raw format (PyG's `PPI.process`), per split prefix `train`/`valid`/`test`, N nodes:
- `<s>_feats.npy`: N × 50 features; `<s>_labels.npy`: N × 121 0/1 labels;
- `<s>_graph_id.npy`: N graph ids, consecutive integers (1..20, 21..22, 23..24 in the real data;
  PyG subtracts the smallest); each id is one graph, its nodes in row order;
- `<s>_graph.json`: networkx node-link JSON for all N nodes: `{"directed": false,
  "multigraph": false, "graph": {}, "nodes": [{"id": 0, ...}, ...], "links": [{"source": 0,
  "target": 372}, ...]}`. Node ids are the row numbers 0..N-1 (an entry without `"id"` gets its
  position, as in networkx); undirected links count in both directions; self-loops are dropped.

`SafePPI.process` reads that format itself and gives the same graphs as PyG's `PPI.process` (same
x, y and edge set; edges sorted by (source, target), where PyG's order follows networkx's iteration
over a Python set of node ids) where PyG's is right, but
- without networkx (PyG's needs it; gnntool does not depend on it),
- with each graph's nodes numbered by their rank in the graph: PyG subtracts the smallest node id
  that has an edge, which shifts every edge of a graph whose first node is isolated (PPI has
  isolated nodes), and fails on a graph without edges,
- and with a `UserError` naming the file for anything malformed (unreadable, rows that disagree,
  node ids that are not the rows, links to unknown nodes, labels other than 0/1, NaN features,
  graph ids with gaps, feature or label widths that differ between splits). Links between two
  graphs, which PyG drops silently, are dropped with a warning.
"""

from __future__ import annotations

import json
import types
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.datasets import PPI

from gnntool import log
from gnntool.config import DatasetConfig
from gnntool.data import fetch
from gnntool.data.dataset import GraphDataset, SplitPart
from gnntool.data.fetch import RawFiles, SafeProcessedMixin, data_root
from gnntool.errors import UserError

__all__ = ["SafePPI", "load_ppi", "raw_file_names", "raw_files"]


#: Our split names, PyG's raw file prefixes, in the order of `PPI.processed_file_names`.
SPLIT_PREFIXES = (("train", "train"), ("val", "valid"), ("test", "test"))


# --- where the files are ------------------------------------------------------------------------


def raw_file_names() -> list[str]:
    """PyG's 12 raw files: train_feats.npy, train_graph_id.npy, ..., test_labels.npy."""
    return list(PPI.raw_file_names.fget(types.SimpleNamespace()))


def _download_zip(scratch: Path, missing: Sequence[str]) -> None:
    """PyG's `PPI.download` (download_url of `PPI.url`, extract_zip) run into `scratch`."""
    PPI.download(types.SimpleNamespace(url=PPI.url, root=str(scratch), raw_dir=str(scratch)))


def raw_files() -> RawFiles:
    """What `fetch.ensure_raw_files` needs to know about PPI's raw files."""
    return RawFiles(
        name="PPI",
        subdir="PPI/raw",
        files=tuple(raw_file_names()),
        source=f"unzip {PPI.url} there",
        download=_download_zip,
    )


# --- reading the raw files ----------------------------------------------------------------------


def _load_array(path: Path, ndim: int) -> np.ndarray:
    try:
        array = np.load(path, allow_pickle=False)
    except Exception as exc:
        raise UserError(f"{path}: not a readable .npy file ({type(exc).__name__}: {exc})") from None
    if not isinstance(array, np.ndarray):  # an .npz archive
        raise UserError(f"{path}: not a .npy array (an .npz archive?)")
    if array.ndim != ndim or array.shape[0] == 0:
        shape = "one value per node" if ndim == 1 else "one row per node"
        raise UserError(f"{path}: expected a non-empty {ndim}-d array ({shape}), got shape {array.shape}")
    if array.dtype.kind not in "biuf":
        raise UserError(f"{path}: expected numbers, got dtype {array.dtype}")
    return array


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _read_graph_json(path: Path, num_nodes: int, feats: Path) -> tuple[np.ndarray, np.ndarray, bool]:
    """The links of a node-link JSON graph as (sources, targets) row numbers, and `directed`."""
    try:
        with open(path, encoding="utf-8") as f:
            graph = json.load(f)
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise UserError(f"{path}: not a readable JSON file ({type(exc).__name__}: {exc})") from None
    if not (isinstance(graph, dict) and isinstance(graph.get("nodes"), list) and isinstance(graph.get("links"), list)):
        raise UserError(
            f'{path}: not a node-link graph (a JSON object with "nodes" and "links" lists, '
            "as networkx's node_link_data writes)"
        )
    nodes, links = graph["nodes"], graph["links"]
    if len(nodes) != num_nodes:
        raise UserError(f"{path}: {len(nodes)} nodes, but {feats.name} has {num_nodes} rows (one per node)")
    seen = np.zeros(num_nodes, dtype=bool)
    for position, node in enumerate(nodes):
        node_id = node.get("id", position) if isinstance(node, dict) else None  # networkx's default
        if not (_is_int(node_id) and 0 <= node_id < num_nodes):
            raise UserError(
                f"{path}: node {position} ({str(node)[:80]}) needs an integer id in 0..{num_nodes - 1} "
                f"(the node's row in {feats.name})"
            )
        if seen[node_id]:
            raise UserError(f"{path}: node id {node_id} repeats; each row of {feats.name} needs exactly one node")
        seen[node_id] = True
    ends = np.empty((len(links), 2), dtype=np.int64)
    for position, link in enumerate(links):
        pair = (link.get("source"), link.get("target")) if isinstance(link, dict) else (None, None)
        if not all(_is_int(end) and 0 <= end < num_nodes for end in pair):
            raise UserError(
                f'{path}: link {position} ({str(link)[:80]}) needs integer "source" and "target" '
                f"node ids in 0..{num_nodes - 1}"
            )
        ends[position] = pair
    return ends[:, 0], ends[:, 1], bool(graph.get("directed", False))


def _read_split(raw: Path, prefix: str) -> list[Data]:
    """The graphs of one split, read and checked: Data(edge_index, x float, y float) per graph id."""
    paths = {kind: raw / f"{prefix}_{kind}" for kind in ("feats.npy", "graph_id.npy", "graph.json", "labels.npy")}
    feats_path, ids_path, labels_path = paths["feats.npy"], paths["graph_id.npy"], paths["labels.npy"]
    x = _load_array(feats_path, ndim=2)
    num_nodes = x.shape[0]
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        raise UserError(f"{feats_path}: features hold NaN or infinite values")
    y = _load_array(labels_path, ndim=2)
    if y.shape[0] != num_nodes:
        raise UserError(f"{labels_path}: {y.shape[0]} rows, but {feats_path.name} has {num_nodes} (one per node)")
    if not np.isin(y, (0, 1)).all():
        raise UserError(f"{labels_path}: labels must be 0 or 1 (one column per label)")
    graph_id = _load_array(ids_path, ndim=1)
    if graph_id.shape[0] != num_nodes:
        raise UserError(
            f"{ids_path}: {graph_id.shape[0]} ids, but {feats_path.name} has {num_nodes} rows (one per node)"
        )
    if graph_id.dtype.kind == "f" and not (np.isfinite(graph_id).all() and (graph_id == np.round(graph_id)).all()):
        raise UserError(f"{ids_path}: graph ids must be integers")
    graph_id = graph_id.astype(np.int64)
    first_id = int(graph_id.min())
    graph_id = graph_id - first_id
    num_graphs = int(graph_id.max()) + 1
    distinct = len(np.unique(graph_id))
    if distinct != num_graphs:
        raise UserError(
            f"{ids_path}: graph ids must be consecutive integers, but they run from {first_id} "
            f"to {first_id + num_graphs - 1} with {distinct} distinct ids"
        )
    sizes = np.bincount(graph_id, minlength=num_graphs)
    rank = np.empty(num_nodes, dtype=np.int64)  # a node's number in its graph: its rank there by row
    for g in range(num_graphs):
        rank[graph_id == g] = np.arange(sizes[g])

    source, target, directed = _read_graph_json(paths["graph.json"], num_nodes, feats_path)
    within = graph_id[source] == graph_id[target]
    if not within.all():  # PyG's subgraphs drop these silently
        dropped = int((~within).sum())
        log.warn(f"{paths['graph.json']}: {dropped} links join nodes of different graphs (by {ids_path.name}); dropped")
    keep = within & (source != target)  # and self-loops, as PyG does
    source, target = source[keep], target[keep]
    if not directed:
        source, target = np.concatenate([source, target]), np.concatenate([target, source])
    # Each edge once, sorted by (source, target): the order of a coalesced edge_index.
    pairs = np.unique(source * num_nodes + target)
    source, target = pairs // num_nodes, pairs % num_nodes
    edge_graph = graph_id[source]
    by_graph = np.argsort(edge_graph, kind="stable")
    edge_index = torch.from_numpy(np.stack([rank[source], rank[target]])[:, by_graph])
    edge_counts = np.bincount(edge_graph, minlength=num_graphs).tolist()

    x_t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))  # any dtype or byte order
    y_t = torch.from_numpy(np.ascontiguousarray(y, dtype=np.float32))
    ids_t = torch.from_numpy(graph_id)
    data_list = []
    for g, edges in enumerate(torch.split(edge_index, edge_counts, dim=1)):
        mask = ids_t == g
        data_list.append(Data(edge_index=edges.contiguous(), x=x_t[mask], y=y_t[mask]))
    return data_list


class SafePPI(SafeProcessedMixin, PPI):
    """PyG's `PPI` whose processed files are read with weights_only=True and never downloads itself.

    Raw files must already be in `raw_dir` (see `fetch.ensure_raw_files`). `process` reads the raw
    files with the checks described in the module docstring; the processed files are PyG's
    (`train.pt`, `val.pt`, `test.pt`, one list of graphs each).
    """

    def raw_spec(self) -> RawFiles:
        return raw_files()

    def process(self) -> None:
        raw = Path(self.raw_dir)
        log.info(f"processing the PPI raw files in {raw}")
        splits = [_read_split(raw, prefix) for _, prefix in SPLIT_PREFIXES]
        features, labels = splits[0][0].x.size(1), splits[0][0].y.size(1)
        for (_, prefix), graphs in zip(SPLIT_PREFIXES[1:], splits[1:]):
            if graphs[0].x.size(1) != features:
                raise UserError(f"{raw / f'{prefix}_feats.npy'}: {graphs[0].x.size(1)} columns, "
                                f"but train_feats.npy has {features}")
            if graphs[0].y.size(1) != labels:
                raise UserError(f"{raw / f'{prefix}_labels.npy'}: {graphs[0].y.size(1)} columns, "
                                f"but train_labels.npy has {labels}")
        for graphs, path in zip(splits, self.processed_paths):
            self.save(graphs, path)


# --- the loader ---------------------------------------------------------------------------------


def _checked(graph: Data, width: tuple[int, int] | None, where: str) -> Data:
    """A fresh Data (x float32, edge_index long and contiguous, y float32) after sanity checks;
    `width` is (features, labels) of the graphs before it, None for the first."""
    x, y, edge_index = graph.get("x"), graph.get("y"), graph.get("edge_index")
    ok = (
        isinstance(x, Tensor) and isinstance(y, Tensor) and isinstance(edge_index, Tensor)
        and x.dim() == 2 and y.dim() == 2 and x.size(0) == y.size(0)
        and (width is None or (x.size(1), y.size(1)) == width)
        and edge_index.dim() == 2 and edge_index.size(0) == 2 and not edge_index.is_floating_point()
        and (edge_index.numel() == 0 or (int(edge_index.min()) >= 0 and int(edge_index.max()) < x.size(0)))
    )
    if not ok:
        raise UserError(f"{where}: the processed PPI files do not hold PPI graphs; delete that folder "
                        "to rebuild it from the raw files")
    return Data(x=x.to(torch.float32), edge_index=edge_index.to(torch.long).contiguous(), y=y.to(torch.float32))


def load_ppi(config: DatasetConfig, seed: int) -> GraphDataset:
    """PPI: 20 training, 2 validation and 2 test graphs, 50 features, 121 labels (multi-label).

    `graphs` holds the training graphs, then the validation ones, then the test ones (raw-file
    order); each split runs on its own graphs with every node scored. The widths are read from the
    data. `seed` is unused (the split is fixed).

    `dataset.normalize_features` is ignored for PPI: the features are used as the raw files hold
    them, as PyG's and DGL's PPI loaders (and PyG's PPI examples) use them. What the flag means
    for Planetoid, row-sum normalisation of bag-of-words counts, is not applied to PPI's gene-set
    scores in the literature (GraphSAGE's own preprocessing standardised columns with training-set
    statistics instead, which would be a different option).
    """
    del seed
    root = data_root(config)
    fetch.ensure_raw_files(raw_files(), root)
    dataset = SafePPI(str(root / "PPI"))
    graphs: list[Data] = []
    splits: dict[str, list[SplitPart]] = {}
    width: tuple[int, int] | None = None
    for (split, _), path in zip(SPLIT_PREFIXES, dataset.processed_paths):
        dataset.load(path)
        part = []
        for i in range(dataset.len()):
            graph = _checked(dataset.get(i), width, dataset.processed_dir)
            width = (graph.x.size(1), graph.y.size(1))
            part.append(SplitPart(graph, torch.ones(graph.num_nodes, dtype=torch.bool)))
            graphs.append(graph)
        splits[split] = part
    assert width is not None
    return GraphDataset(graphs=graphs, splits=splits, num_features=width[0], num_classes=width[1], multilabel=True)
