"""A typed graph folder (`dataset: {name: graph, path: DIR}`, DIR holding `edges/`).

- `nodes/<type>.csv`: a header row whose first column is `id` (unique within the type), then
  the feature columns; a file with only the `id` column declares a type without features.
  `nodes/<type>.npy`: the features, ids are row positions.
- `edges/<source>__<relation>__<target>.csv|.tsv`: source id, target id; optional header (a first
  line none of whose fields can be an id of its column's type).
- `labels/<type>.csv`: header `id,label` (class ids), or `id` then one 0/1 column per label
  (multi-label), plus an optional `split` column (`train`/`val`/`test`). Nodes not listed are
  unlabelled (class -1) and in no split.

Ids are integers when every id of a type reads as one (then `3.0` in an edge file names node 3),
else strings compared as written. Every problem is a `UserError` naming the file (and line), read
and checked with `gnntool.data.graphfile`'s tables and validators.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch_geometric.transforms as T
from torch_geometric.data import HeteroData
from torch_geometric.utils import index_to_mask

from gnntool.config import DatasetConfig
from gnntool.data.graphfile.npz import load_npy
from gnntool.data.graphfile.text_table import IdLookup, TextTable, header_name, is_number
from gnntool.data.graphfile.validate import (
    check_features,
    check_labels,
    check_node_ids,
    first_duplicate,
    not_whole,
    np_col,
)
from gnntool.data.splits import split_masks
from gnntool.data.typed.dataset import TypedDataset, add_reverse_relations
from gnntool.errors import UserError
from gnntool.relation_names import EdgeType, check_spelling, parse_relation, reverse_relation
from gnntool.traits import SPLITS

__all__ = ["NodeType", "load_typed_folder", "read_node_types", "read_typed_folder"]

NODE_FILES = {".csv": ",", ".npy": None}
EDGE_FILES = {".csv": ",", ".tsv": "\t"}
SPLIT_COLUMN = "split"


@dataclass
class NodeType:
    """One node type as read: its ids in row order, its features (None: featureless), its file."""

    name: str
    ids: np.ndarray  # int64, or strings (dtype kind U)
    x: np.ndarray | None
    file: Path

    @property
    def count(self) -> int:
        return len(self.ids)

    def rows(self, tokens: np.ndarray, file: Path, table: TextTable, column: int) -> np.ndarray:
        """The row positions of the ids `tokens` (one column of `table`, as read) names; an id
        that is no node of this type is a UserError naming the file and line."""
        values = _as_ids(tokens, self.ids.dtype.kind != "U", file, table, column)
        positions, missing = IdLookup(self.ids).rows(values[:, None])
        if missing is not None:
            r, value = missing
            raise UserError(
                f"{file} {table.where(r)}, column {column + 1}: {value!r} is not an id of node type {self.name!r} "
                f"(not in {self.file})"
            )
        return positions[0]


def load_typed_folder(config: DatasetConfig, seed: int) -> TypedDataset:
    """`dataset.path`'s typed folder, split by its labels' `split` column (`split: masks`) or at
    random over the labelled target nodes (seeded by `seed`)."""
    return read_typed_folder(Path(config.path), config, seed)


def read_typed_folder(folder: Path, config: DatasetConfig, seed: int) -> TypedDataset:
    """The typed graph of `folder`, checked; see the module docstring."""
    types = read_node_types(folder)
    graph = HeteroData()
    for name, node_type in types.items():
        graph[name].num_nodes = node_type.count
        if node_type.x is not None:
            graph[name].x = torch.from_numpy(node_type.x)
    for edge_type, edge_index in _read_relations(folder / "edges", types).items():
        graph[edge_type].edge_index = torch.from_numpy(edge_index)
    if config.add_reverse is not False:
        _check_reverses(graph, folder / "edges")
        add_reverse_relations(graph)
    if config.normalize_features:
        graph = T.NormalizeFeatures()(graph)
    labels = _read_labels(folder / "labels", types)
    target = _target(config.target, types, labels, folder)
    dataset = TypedDataset(
        graph=graph,
        target=target,
        y=None,
        masks={},
        num_classes=0,
        node_id={name: node_type.ids for name, node_type in types.items()},
    )
    if target is not None:
        _supervise(dataset, labels[target], config, seed)
    return dataset


# --- node types ---------------------------------------------------------------------------------


def read_node_types(folder: Path) -> dict[str, NodeType]:
    """Every `nodes/<type>.csv|npy` of `folder`, by type name (sorted)."""
    files = _files(folder / "nodes", NODE_FILES, "nodes/<type>.csv (id, then features) or nodes/<type>.npy")
    types = {}
    for name, file in files.items():
        types[name] = _read_npy_nodes(name, file) if file.suffix == ".npy" else _read_csv_nodes(name, file)
    if not types:
        raise UserError(f"{folder / 'nodes'} holds no node file: give nodes/<type>.csv or nodes/<type>.npy per type")
    return types


def _files(folder: Path, suffixes: dict[str, str | None], expected: str) -> dict[str, Path]:
    """The files of `folder` by stem; another suffix, or one stem twice, is a UserError."""
    if not folder.is_dir():
        raise UserError(f"typed graph folder {folder.parent} has no {folder.name}/ folder (it needs {expected})")
    found: dict[str, Path] = {}
    for file in sorted(folder.iterdir()):
        if file.name.startswith("."):
            continue
        if file.suffix.lower() not in suffixes or not file.is_file():
            raise UserError(f"{file}: not a file this folder may hold; it holds {expected}")
        if file.stem in found:
            raise UserError(
                f"{folder} holds both {found[file.stem].name} and {file.name}; it is ambiguous which to read: "
                "keep only one of them"
            )
        found[file.stem] = file
    return found


def _read_npy_nodes(name: str, file: Path) -> NodeType:
    x = check_features(load_npy(file), str(file), None, lambda r: f"row {r}", np_col)
    return NodeType(name, np.arange(len(x), dtype=np.int64), x, file)


def _read_csv_nodes(name: str, file: Path) -> NodeType:
    table = TextTable.read(file, ",", is_header=lambda fields: True)
    if table.empty or header_name(table.header[0]) != "id":
        raise UserError(
            f"{file}: the first line must be a header whose first column is `id` (then one column per feature; "
            "only `id` for a type without features)"
        )
    table.check_widths()
    ids = _ids(table.texts(0)[:, 0], file, table)
    x = None
    if table.ncols > 1:
        x = check_features(
            table.load(np.float32, range(1, table.ncols)),
            str(file),
            None,
            table.where,
            lambda c: f"column {c + 2}",
            lambda r, c: repr(table.token(r, c + 1)),
        )
    elif not len(ids):
        raise UserError(f"{file} has no nodes (no line after the header): the type is empty")
    return NodeType(name, ids, x, file)


def _ids(tokens: np.ndarray, file: Path, table: TextTable) -> np.ndarray:
    """A node file's id column: int64 when every id is an integer, else the strings; unique."""
    try:
        ids = tokens.astype(np.int64)
    except ValueError:
        ids = tokens
    return check_node_ids(ids, len(tokens), f"{file} (id column)", table.where)


def _as_ids(tokens: np.ndarray, integer: bool, file: Path, table: TextTable, column: int) -> np.ndarray:
    """`tokens` as the ids of a type whose ids are integers (`3.0` names 3) or strings."""
    if not integer:
        return tokens
    try:
        return tokens.astype(np.int64)
    except ValueError:
        pass
    numeric = np.array([is_number(token) for token in tokens], dtype=bool)
    values = np.where(numeric, tokens, "nan").astype(np.float64)
    bad = not_whole(values)
    if bad.any():
        r = int(np.flatnonzero(bad)[0])
        raise UserError(
            f"{file} {table.where(r)}, column {column + 1}: {str(tokens[r])!r} is not an id of its type "
            "(whose ids are integers)"
        )
    return values.astype(np.int64)


# --- relations ----------------------------------------------------------------------------------


def _read_relations(folder: Path, types: dict[str, NodeType]) -> dict[EdgeType, np.ndarray]:
    """Every `edges/<src>__<rel>__<dst>.csv|tsv`, as 2 × E row positions within each type."""
    files = _files(folder, EDGE_FILES, "edges/<source type>__<relation>__<target type>.csv or .tsv")
    relations = {}
    for stem, file in files.items():
        try:
            edge_type = parse_relation(stem)
            check_spelling(edge_type)
        except ValueError as exc:
            raise UserError(f"{file}: the file name names no relation: {exc}") from None
        unknown = [name for name in (edge_type[0], edge_type[2]) if name not in types]
        if unknown:
            raise UserError(
                f"{file}: names node type {unknown[0]!r}, which has no node file (nodes/{unknown[0]}.csv or .npy); "
                f"the node types are {', '.join(types)}"
            )
        relations[edge_type] = _read_edges(file, types[edge_type[0]], types[edge_type[2]])
    if not relations:
        raise UserError(f"{folder} holds no relation file: give edges/<source type>__<relation>__<target type>.csv")
    return relations


def _read_edges(file: Path, source: NodeType, target: NodeType) -> np.ndarray:
    """One relation file: two columns (source id, target id); a header is a first line none of
    whose fields can be an id of its column's type (so a first edge with one bad id is an error,
    not a header)."""

    def is_header(fields: list[str]) -> bool:
        return not any(_names_a_node(node, field) for node, field in zip((source, target), fields))

    table = TextTable.read(file, EDGE_FILES[file.suffix.lower()], is_header)
    if table.empty:
        return np.empty((2, 0), dtype=np.int64)
    if table.ncols != 2:
        raise UserError(f"{file} has {table.ncols} columns; a relation file has two (source id, target id)")
    tokens = table.texts()
    return np.stack([source.rows(tokens[:, 0], file, table, 0), target.rows(tokens[:, 1], file, table, 1)])


def _names_a_node(node: NodeType, field: str) -> bool:
    """Whether a text field can be an id of `node`'s type (for telling a header from data)."""
    if node.ids.dtype.kind == "U":
        return bool(np.isin(field, node.ids))
    return is_number(field)


def _check_reverses(graph: HeteroData, folder: Path) -> None:
    """The reverse relations `add_reverse` adds must be new and spelt unambiguously."""
    for edge_type in graph.edge_types:
        if edge_type[0] == edge_type[2]:
            continue
        reverse = reverse_relation(edge_type)
        try:
            check_spelling(reverse)
        except ValueError as exc:
            raise UserError(f"{folder}: dataset.add_reverse: {exc}") from None
        if reverse in graph.edge_types:
            raise UserError(
                f"{folder}: holds both {'__'.join(edge_type)} and {'__'.join(reverse)}, the reverse that "
                "dataset.add_reverse adds; rename one, or set dataset.add_reverse: false"
            )


# --- labels and the target ----------------------------------------------------------------------


@dataclass
class Labels:
    """One labels file: the labelled rows, their labels (class ids or 0/1 rows), their split."""

    file: Path
    rows: np.ndarray
    y: np.ndarray
    split: np.ndarray | None  # one of SPLITS per labelled row


def _read_labels(folder: Path, types: dict[str, NodeType]) -> dict[str, Labels]:
    if not folder.exists():
        return {}
    files = _files(folder, {".csv": ","}, "labels/<type>.csv (id, then a label column or 0/1 columns, [split])")
    return {name: _read_label_file(file, types) for name, file in files.items()}


def _read_label_file(file: Path, types: dict[str, NodeType]) -> Labels:
    node_type = types.get(file.stem)
    if node_type is None:
        raise UserError(
            f"{file}: labels node type {file.stem!r}, which has no node file (nodes/{file.stem}.csv or .npy); "
            f"the node types are {', '.join(types)}"
        )
    table = TextTable.read(file, ",", is_header=lambda fields: True)
    header = [header_name(field) for field in table.header or []]
    if table.empty or header[0] != "id" or len(header) < 2:
        raise UserError(
            f"{file}: the first line must be a header: `id`, then `label` (or one 0/1 column per label), "
            "and optionally `split`"
        )
    tokens = table.texts()
    if not len(tokens):
        raise UserError(f"{file} labels no node (no line after the header)")
    rows = node_type.rows(tokens[:, 0], file, table, 0)
    _labelled_once(rows, tokens[:, 0], file, table)
    label_columns = [c for c in range(1, len(header)) if header[c] != SPLIT_COLUMN]
    split = None
    if len(label_columns) < len(header) - 1:
        split = _split_column(tokens[:, header.index(SPLIT_COLUMN)], file, table, header.index(SPLIT_COLUMN))
    if not label_columns:
        raise UserError(f"{file}: has no label column (the header names only id and split)")
    values = _numbers(tokens, label_columns, file, table)
    y = check_labels(values, len(rows), str(file), table.where, "the file lists", lambda c: f"column {c + 2}")
    return Labels(file, rows, y, split)


def _labelled_once(rows: np.ndarray, tokens: np.ndarray, file: Path, table: TextTable) -> None:
    duplicate = first_duplicate(rows)
    if duplicate is not None:
        first, second = duplicate
        raise UserError(
            f"{file} labels node {str(tokens[first])!r} twice (at {table.where(first)} and "
            f"{table.where(second)}); list each node once"
        )


def _split_column(tokens: np.ndarray, file: Path, table: TextTable, column: int) -> np.ndarray:
    values = np.char.lower(np.char.strip(tokens.astype(str)))
    bad = ~np.isin(values, SPLITS)
    if bad.any():
        r = int(np.flatnonzero(bad)[0])
        raise UserError(
            f"{file} {table.where(r)}, column {column + 1}: split {str(tokens[r])!r} is not one of {', '.join(SPLITS)}"
        )
    return values


def _numbers(tokens: np.ndarray, columns: list[int], file: Path, table: TextTable) -> np.ndarray:
    block = tokens[:, columns]
    try:
        return block.astype(np.float64)
    except ValueError:
        r, c = next((r, c) for r, c in np.ndindex(block.shape) if not is_number(str(block[r, c])))
        raise UserError(
            f"{file} {table.where(r)}, column {columns[c] + 1}: {str(block[r, c])!r} is not a number"
        ) from None


def _target(named: str | None, types: dict[str, NodeType], labels: dict[str, Labels], folder: Path) -> str | None:
    """`dataset.target`, checked; else the one labelled type (None when no type is labelled)."""
    if named is not None:
        if named not in types:
            raise UserError(
                f"dataset.target: {named!r} is not a node type of {folder} (no nodes/{named}.csv or .npy; "
                f"the node types are {', '.join(types)})"
            )
        if named not in labels:
            raise UserError(f"dataset.target: node type {named!r} has no labels ({folder / 'labels' / named}.csv)")
        return named
    if len(labels) > 1:
        raise UserError(
            f"{folder / 'labels'}: several node types have labels ({', '.join(labels)}); "
            "set dataset.target to the one a run scores"
        )
    return next(iter(labels), None)


def _supervise(dataset: TypedDataset, labels: Labels, config: DatasetConfig, seed: int) -> None:
    """The target's labels (-1 or zero rows where unlabelled) and split masks, into `dataset`."""
    count = dataset.graph[dataset.target].num_nodes
    multilabel = labels.y.ndim == 2
    if multilabel:
        y = torch.zeros(count, labels.y.shape[1])
    else:
        y = torch.full((count,), -1, dtype=torch.long)
    rows = torch.from_numpy(labels.rows)
    y[rows] = torch.from_numpy(labels.y).to(y.dtype)
    masks = {}
    if config.split == "masks":
        if labels.split is None:
            raise UserError(
                f"{labels.file}: has no `split` column (train/val/test per node); add one, or set "
                "dataset.split: random (with dataset.train_frac and dataset.val_frac)"
            )
        for split in SPLITS:
            masks[split] = index_to_mask(torch.from_numpy(labels.rows[labels.split == split]), count)
        source = f"{labels.file} (split column)"
    else:
        for split, chosen in split_masks(len(rows), config.train_frac, config.val_frac, seed).items():
            masks[split] = index_to_mask(rows[chosen], count)
        source = f"{labels.file} ({len(rows)} labelled nodes split by dataset.train_frac and dataset.val_frac)"
    for split, mask in masks.items():
        if not bool(mask.any()):
            raise UserError(f"{source}: the {split} split is empty (no labelled node in it)")
    dataset.y, dataset.masks, dataset.multilabel = y, masks, multilabel
    dataset.num_classes = labels.y.shape[1] if multilabel else int(labels.y.max()) + 1

