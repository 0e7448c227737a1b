"""OGB graph property prediction by name: ogbg-molhiv, ogbg-molpcba, from OGB's raw layout.

`<root>/<ogbg_name>/` (`ogbg-molhiv` -> `ogbg_molhiv`, as the `ogb` package names it) holds, as
OGB's `read_csv_graph_raw` and `PygGraphPropPredDataset` read them:

- `raw/num-node-list.csv.gz`, `raw/num-edge-list.csv.gz`: nodes and edges of each graph, in order;
- `raw/edge.csv.gz`: `source,target` per bond, node ids counted within the bond's own graph
  (graph g's bonds are the num-edge-list[g] rows after those of graphs 0..g-1);
- `raw/node-feat.csv.gz`, `raw/edge-feat.csv.gz`: integer categorical columns (9 atom, 3 bond
  features), kept as long with their vocabularies from `ogb.utils.features`
  (`get_atom_feature_dims`, `get_bond_feature_dims`): each column is embedded with its own
  table and the embeddings summed, as OGB's AtomEncoder and BondEncoder do;
- `raw/graph-label.csv.gz`: one row per graph, a 0/1 value per task, empty or `nan` when missing;
- `split/scaffold/{train,valid,test}.csv.gz`: graph indices.

Every bond is listed once; its reverse follows it (OGB's `add_inverse_edge`), with the same bond
features. The set is multi-label (1 task for molhiv, 128 for molpcba, NaN = missing) and scored
by OGB's `Evaluator` (`OgbgScorer`: ROC-AUC for molhiv, average precision for molpcba, each
masking the missing labels). Files are found as for OGB's node datasets (`gnntool.data.ogb`:
root, then `$GNNTOOL_MIRROR`, then OGB's zip, else a list of the missing files), and the
processed arrays cached under `<root>/<ogbg_name>/gnntool/graphs/` (`gnntool.data.arrays`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from torch import Tensor

from gnntool import log
from gnntool.config import DatasetConfig
from gnntool.data import fetch
from gnntool.data.arrays import load_arrays, save_arrays
from gnntool.data.fetch import data_root
from gnntool.data.graphsets.assemble import SortedGraphs, finish
from gnntool.data.graphsets.dataset import GraphSet
from gnntool.data.graphsets.targets import multilabel_targets
from gnntool.data.ogb import OGB_SPLIT_NAMES, OgbSpec, fingerprint, import_ogb, ogb_spec, raw_files, read_csv
from gnntool.errors import UserError

__all__ = ["OgbgScorer", "load_ogbg", "process", "vocabularies"]

PART = "graphproppred"
CACHE_FORMAT = 1
ARRAYS = ("x", "edge_index", "edge_attr", "node_ptr", "edge_ptr", "y", *OGB_SPLIT_NAMES)
METRICS = {"rocauc": "auc", "ap": "ap"}  # the Evaluator's name -> gnntool's (val_auc, val_ap)


def vocabularies() -> tuple[list[int], list[int]]:
    """The sizes of OGB's atom and bond feature columns (`ogb.utils.features`)."""
    import_ogb(PART)
    from ogb.utils.features import get_atom_feature_dims, get_bond_feature_dims

    return list(get_atom_feature_dims()), list(get_bond_feature_dims())


def _categorical(path: Path, rows: int, vocab: list[int], of: str) -> np.ndarray:
    """An integer feature file: `rows` rows of len(vocab) columns, column c in 0..vocab[c]-1."""
    table = read_csv(path, np.int64, len(vocab))
    if len(table) != rows:
        raise UserError(f"{path}: {len(table)} rows; expected {rows}, one per {of} (truncated?)")
    bad = (table < 0) | (table >= np.array(vocab))
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise UserError(
            f"{path}: row {int(row) + 1} holds {int(table[row, col])} in column {int(col) + 1}; OGB's features there "
            f"are 0..{vocab[col] - 1}"
        )
    return table


def _counts(path: Path) -> np.ndarray:
    counts = read_csv(path, np.int64, 1).reshape(-1)
    if (counts < 0).any():
        raise UserError(f"{path}: row {int(np.flatnonzero(counts < 0)[0]) + 1} is a negative count")
    return counts


def process(spec: OgbSpec, folder: Path) -> dict[str, np.ndarray]:
    """Every array of the processed cache, from the raw files (checked against each other)."""
    log.info(f"{spec.name}: processing OGB's raw files in {folder} (once; cached)")
    raw = folder / "raw"
    nodes, edges_per_graph = _counts(raw / "num-node-list.csv.gz"), _counts(raw / "num-edge-list.csv.gz")
    if len(nodes) != len(edges_per_graph):
        raise UserError(
            f"{raw / 'num-edge-list.csv.gz'}: {len(edges_per_graph)} graphs; {raw / 'num-node-list.csv.gz'} "
            f"lists {len(nodes)}"
        )
    if (nodes == 0).any():
        raise UserError(f"{raw / 'num-node-list.csv.gz'}: graph {int(np.flatnonzero(nodes == 0)[0])} has no nodes")
    edge_file = raw / "edge.csv.gz"
    local = read_csv(edge_file, np.int64, 2)
    if len(local) != edges_per_graph.sum():
        raise UserError(
            f"{edge_file}: {len(local)} rows; {raw / 'num-edge-list.csv.gz'} adds up to {int(edges_per_graph.sum())} "
            "(truncated?)"
        )
    graph_of_edge = np.repeat(np.arange(len(nodes)), edges_per_graph)
    outside = (local < 0) | (local >= nodes[graph_of_edge, None])
    if outside.any():
        row = int(np.flatnonzero(outside.any(axis=1))[0])
        g = int(graph_of_edge[row])
        raise UserError(
            f"{edge_file}: row {row + 1} (graph {g}) names node {int(local[row][outside[row]][0])}; graph {g} has "
            f"{int(nodes[g])} nodes, numbered 0..{int(nodes[g]) - 1} within the graph"
        )
    node_ptr = np.concatenate([[0], np.cumsum(nodes)])
    bonds = (local + node_ptr[graph_of_edge, None]).T
    atom_vocab, bond_vocab = vocabularies()
    x = _categorical(raw / "node-feat.csv.gz", int(node_ptr[-1]), atom_vocab, "node (num-node-list's sum)")
    bond_x = _categorical(raw / "edge-feat.csv.gz", len(local), bond_vocab, "edge (num-edge-list's sum)")
    y = read_csv(raw / "graph-label.csv.gz", np.float32, spec.num_tasks)
    if len(y) != len(nodes):
        raise UserError(f"{raw / 'graph-label.csv.gz'}: {len(y)} rows; expected {len(nodes)}, one per graph")
    # each bond, then its reverse, as OGB's read_csv_graph_raw(add_inverse_edge=True) lists them
    both = np.stack([bonds, bonds[::-1]], axis=2).reshape(2, -1)
    return {
        "x": x,
        "edge_index": both,
        "edge_attr": np.repeat(bond_x, 2, axis=0),
        "node_ptr": node_ptr.astype(np.int64),
        "edge_ptr": 2 * np.concatenate([[0], np.cumsum(edges_per_graph)]).astype(np.int64),
        "y": y,
        **_split(spec, folder, len(nodes)),
    }


def _split(spec: OgbSpec, folder: Path, num_graphs: int) -> dict[str, np.ndarray]:
    split = {}
    for ours, theirs in OGB_SPLIT_NAMES.items():
        path = folder / "split" / spec.split / f"{theirs}.csv.gz"
        graphs = read_csv(path, np.int64, 1).reshape(-1)
        bad = (graphs < 0) | (graphs >= num_graphs)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise UserError(
                f"{path}: row {row + 1} names graph {int(graphs[row])}; there are {num_graphs} (0..{num_graphs - 1})"
            )
        split[ours] = graphs
    return split


def _arrays(config: DatasetConfig, spec: OgbSpec) -> dict[str, np.ndarray]:
    """The processed arrays: from the cache, else from the raw files (fetched if need be)."""
    root = data_root(config)
    folder = root / spec.folder
    fetch.ensure_raw_files(raw_files(spec), root)
    cache = folder / "gnntool" / "graphs"
    source = {"dataset": spec.name, "format": CACHE_FORMAT, "raw": fingerprint(folder, spec)}
    arrays = load_arrays(cache, ARRAYS, source)
    if arrays is None:
        arrays = process(spec, folder)
        try:
            save_arrays(cache, arrays, source)
        except OSError as exc:
            log.warn(f"{cache}: cannot cache the processed arrays ({exc.strerror or exc}); processing anew each run")
    return arrays


def load_ogbg(config: DatasetConfig, seed: int) -> GraphSet:
    """`config.name`'s graphs with OGB's scaffold split (`seed` is unused: the split is fixed)."""
    spec = ogb_spec(config.name, PART)
    arrays = _arrays(config, spec)
    graphs = SortedGraphs(*(arrays[key] for key in ("x", "edge_index", "node_ptr", "edge_ptr", "edge_attr")))
    label_file = data_root(config) / spec.folder / "raw" / "graph-label.csv.gz"
    targets = multilabel_targets(arrays["y"], str(label_file), lambda g: f"row {g + 1}")
    atom_vocab, bond_vocab = vocabularies()
    public = {part: arrays[part] for part in OGB_SPLIT_NAMES}
    graph_set = finish(config, graphs, targets, seed, public=public, node_vocab=atom_vocab, edge_vocab=bond_vocab)
    graph_set.scorer = OgbgScorer(spec)
    return graph_set


class OgbgScorer:
    """OGB's `Evaluator` for one dataset on a split's outputs (G × tasks scores) and 0/1/NaN
    targets: `auc` (ROC-AUC averaged over the tasks, molhiv) or `ap` (average precision, molpcba);
    the Evaluator masks the missing labels itself."""

    def __init__(self, spec: OgbSpec) -> None:
        self.spec = spec
        self.evaluator = import_ogb(PART).Evaluator(spec.name)

    def __call__(self, outputs: Tensor, y: Tensor) -> dict[str, float]:
        scores = {"y_true": y.float().cpu().numpy(), "y_pred": outputs.detach().float().cpu().numpy()}
        try:
            result = self.evaluator.eval(scores)
        except RuntimeError as exc:  # no task with both classes among the labelled graphs
            raise UserError(f"{self.spec.name}: OGB's Evaluator cannot score these {len(y)} graphs: {exc}") from None
        return {METRICS[self.spec.metric]: float(result[self.spec.metric])}
