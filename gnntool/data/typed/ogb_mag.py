"""`dataset.name: ogbn-mag`: OGB's typed citation graph, from OGB's own raw layout.

The files, as `ogb.io.read_graph_raw.read_csv_heterograph_raw` and `read_node_label_hetero` and
`ogb.nodeproppred.dataset_pyg` read them, under `<root>/ogbn_mag/` (gzip-compressed CSV):

- `raw/num-node-dict.csv.gz`: a header of node types, one row of their counts;
- `raw/triplet-type-list.csv.gz`: one relation per row, `head,relation,tail` (no header);
- per relation `raw/relations/<head>___<relation>___<tail>/edge.csv.gz` (source, target per row)
  and `num-edge-list.csv.gz` (the count);
- `raw/node-feat/paper/node-feat.csv.gz` (128 features per paper; the other types have none);
- `raw/node-label/paper/node-label.csv.gz` (one venue id of 349 per paper);
- OGB's time split, `split/time/paper/{train,valid,test}.csv.gz` (paper ids).

OGB ships more (`edge_reltype.csv.gz`, `node_year.csv.gz`, `nodetype-has-label.csv.gz`,
`nodetype-has-split.csv.gz`) that this loader does not need, so it neither reads nor asks for them.
The files are found as for the other OGB datasets (`gnntool.data.ogb`): under the data root, else
copied from `$GNNTOOL_MIRROR/ogbn_mag/`, else taken from OGB's zip, else an error listing the
missing ones. The edges are kept as listed (OGB's `add_inverse_edge` is false for ogbn-mag);
`dataset.add_reverse` (default true) adds the reverse relations and makes `paper__cites__paper`
symmetric. The target is `paper`; metrics come from OGB's `Evaluator`. Nothing is cached: the
raw files are read on every run.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
import torch
import torch_geometric.transforms as T
from torch_geometric.data import HeteroData
from torch_geometric.utils import index_to_mask

from gnntool.config import DatasetConfig
from gnntool.data import fetch
from gnntool.data.fetch import data_root
from gnntool.data.ogb import OGB_SPLIT_NAMES, OgbScorer, import_ogb, ogb_spec, raw_files, read_csv, read_split
from gnntool.data.typed.dataset import TypedDataset, add_reverse_relations, check_target
from gnntool.errors import UserError
from gnntool.relation_names import EdgeType

__all__ = ["MAG_RELATIONS", "TARGET", "load_ogbn_mag", "mag_files"]

TARGET = "paper"
NODE_TYPES = ("author", "field_of_study", "institution", "paper")
MAG_RELATIONS: tuple[EdgeType, ...] = (
    ("author", "affiliated_with", "institution"),
    ("author", "writes", "paper"),
    ("paper", "cites", "paper"),
    ("paper", "has_topic", "field_of_study"),
)
OGB_SEPARATOR = "___"  # OGB's relation folders join the triple with three underscores


def mag_files(split: str) -> tuple[str, ...]:
    """Every file the loader reads, relative to `<root>/ogbn_mag`."""
    relations = [f"raw/relations/{OGB_SEPARATOR.join(relation)}/{name}" for relation in MAG_RELATIONS
                 for name in ("edge.csv.gz", "num-edge-list.csv.gz")]  # fmt: skip
    return (
        "raw/num-node-dict.csv.gz",
        "raw/triplet-type-list.csv.gz",
        *relations,
        f"raw/node-feat/{TARGET}/node-feat.csv.gz",
        f"raw/node-label/{TARGET}/node-label.csv.gz",
        *(f"split/{split}/{TARGET}/{part}.csv.gz" for part in OGB_SPLIT_NAMES.values()),
    )


def load_ogbn_mag(config: DatasetConfig, seed: int) -> TypedDataset:
    """ogbn-mag with OGB's time split (`seed` is unused: the split is fixed)."""
    check_target(config.target, TARGET, config.name)
    import_ogb()
    spec = ogb_spec(config.name)
    root = data_root(config)
    folder = fetch.ensure_raw_files(raw_files(spec, mag_files(spec.split)), root)
    raw = folder / "raw"
    counts = _node_counts(raw / "num-node-dict.csv.gz")
    _check_relation_list(raw / "triplet-type-list.csv.gz")
    graph = HeteroData()
    for name in NODE_TYPES:
        graph[name].num_nodes = counts[name]
    for relation in MAG_RELATIONS:
        edges = _edges(raw / "relations" / OGB_SEPARATOR.join(relation), relation, counts)
        graph[relation].edge_index = torch.from_numpy(edges)
    papers = counts[TARGET]
    feature_file = raw / "node-feat" / TARGET / "node-feat.csv.gz"
    x = read_csv(feature_file, np.float32)
    if len(x) != papers:
        raise UserError(f"{feature_file}: {len(x)} rows of features for {papers} papers")
    graph[TARGET].x = torch.from_numpy(x)
    if config.add_reverse is not False:
        add_reverse_relations(graph)
    if config.normalize_features:
        graph = T.NormalizeFeatures()(graph)
    label_file = raw / "node-label" / TARGET / "node-label.csv.gz"
    y = read_csv(label_file, np.int64, 1).reshape(-1)
    if len(y) != papers or (y.size and (y.min() < 0 or y.max() >= spec.num_classes)):
        raise UserError(f"{label_file}: needs one venue id in 0..{spec.num_classes - 1} per paper ({papers} rows)")
    split = read_split(spec, folder, papers, TARGET)
    masks = {name: index_to_mask(torch.from_numpy(nodes), papers) for name, nodes in split.items()}
    return TypedDataset(
        graph=graph,
        target=TARGET,
        y=torch.from_numpy(y),
        masks=masks,
        num_classes=spec.num_classes,
        node_id={name: np.arange(counts[name], dtype=np.int64) for name in NODE_TYPES},
        scorer=OgbScorer(spec),
    )


def _node_counts(path: Path) -> dict[str, int]:
    """`num-node-dict.csv.gz`: a header of node types, one row of counts."""
    import pandas as pd

    try:
        frame = pd.read_csv(path, compression="gzip")
    except (pd.errors.EmptyDataError, EOFError, OSError, zlib.error, ValueError) as exc:
        raise UserError(f"{path}: not OGB's gzip-compressed CSV of node counts ({type(exc).__name__}: {exc})") from None
    missing = [name for name in NODE_TYPES if name not in frame.columns]
    if missing or len(frame) != 1:
        raise UserError(
            f"{path}: OGB's file has a header naming {', '.join(NODE_TYPES)} and one row of counts "
            f"(missing: {', '.join(missing) or 'none'}; {len(frame)} rows)"
        )
    counts = {}
    for name in NODE_TYPES:
        value = pd.to_numeric(frame[name], errors="coerce").iloc[0]
        if not np.isfinite(value) or value < 1 or value != int(value):
            raise UserError(f"{path}: the count of {name} nodes, {frame[name].iloc[0]!r}, is not a positive integer")
        counts[name] = int(value)
    return counts


def _check_relation_list(path: Path) -> None:
    """`triplet-type-list.csv.gz` must list ogbn-mag's four relations."""
    import pandas as pd

    try:
        frame = pd.read_csv(path, compression="gzip", header=None, dtype=str)
    except (pd.errors.EmptyDataError, EOFError, OSError, zlib.error, ValueError) as exc:
        raise UserError(f"{path}: not OGB's gzip-compressed CSV of relations ({type(exc).__name__}: {exc})") from None
    listed = sorted(tuple(row) for row in frame.to_numpy().tolist())
    if listed != sorted(MAG_RELATIONS):
        raise UserError(f"{path}: lists {listed}; ogbn-mag's relations are {sorted(MAG_RELATIONS)}")


def _edges(folder: Path, relation: EdgeType, counts: dict[str, int]) -> np.ndarray:
    """One relation's `edge.csv.gz` (2 × E, as listed), checked against its count and the types' sizes."""
    edges = read_csv(folder / "edge.csv.gz", np.int64, 2).T
    listed = read_csv(folder / "num-edge-list.csv.gz", np.int64, 1).reshape(-1)
    if listed.size != 1 or int(listed[0]) != edges.shape[1]:
        raise UserError(
            f"{folder / 'num-edge-list.csv.gz'}: says {listed.tolist()} edges; edge.csv.gz has {edges.shape[1]}"
        )
    for row, name in ((0, relation[0]), (1, relation[2])):
        if edges.size and (edges[row].min() < 0 or edges[row].max() >= counts[name]):
            raise UserError(
                f"{folder / 'edge.csv.gz'}: column {row + 1} names {name} ids outside 0..{counts[name] - 1} "
                "(num-node-dict.csv.gz's count)"
            )
    return np.ascontiguousarray(edges)
