"""A knowledge-graph folder (`dataset: {name: graph, path: DIR}`, DIR holding `train.txt`).

`train.txt`, `valid.txt` and `test.txt` hold one triple per line, `head<TAB>relation<TAB>tail`
(the layout of FB15k-237, WN18RR and the small knowledge-graph benchmarks; empty lines skipped).
The graph has one node type, `entity` (featureless; its ids are the entity names, sorted), and
one relation `(entity, <name>, entity)` per distinct relation name of the three files. The
training triples are the graph's edges; the valid and test ones are held out (`held_out`), never
in the graph. `dataset.add_reverse` applies to the training edges only, for message passing: as
every relation joins entities to entities, it makes each relation symmetric.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import HeteroData

from gnntool.config import DatasetConfig
from gnntool.data.graphfile.text_table import open_text
from gnntool.data.typed.dataset import TypedDataset, add_reverse_relations
from gnntool.errors import UserError
from gnntool.relation_names import EdgeType, check_spelling

__all__ = ["ENTITY", "TRIPLE_FILES", "load_knowledge_graph", "read_triples"]

ENTITY = "entity"
TRIPLE_FILES = {"train": "train.txt", "val": "valid.txt", "test": "test.txt"}


def load_knowledge_graph(config: DatasetConfig, seed: int) -> TypedDataset:
    """`dataset.path`'s knowledge graph (`seed` is unused: the files split the triples)."""
    folder = Path(config.path)
    if config.target is not None:
        raise UserError(f"dataset.target: {folder} is a knowledge graph, whose entities have no labels")
    missing = [name for name in TRIPLE_FILES.values() if not (folder / name).is_file()]
    if missing:
        raise UserError(
            f"knowledge graph folder {folder} has no {' or '.join(missing)} (it needs train.txt, valid.txt and "
            "test.txt: head<TAB>relation<TAB>tail per line)"
        )
    triples = {split: read_triples(folder / name) for split, name in TRIPLE_FILES.items()}
    entities = np.unique(np.concatenate([t[:, [0, 2]].reshape(-1) for t in triples.values()]))
    names = np.unique(np.concatenate([t[:, 1] for t in triples.values()]))
    for name in names:
        try:
            check_spelling((ENTITY, str(name), ENTITY))
        except ValueError as exc:
            raise UserError(f"{folder}: relation {str(name)!r}: {exc}") from None
    graph = HeteroData()
    graph[ENTITY].num_nodes = len(entities)
    by_relation = {split: _by_relation(t, entities, names) for split, t in triples.items()}
    for edge_type, edge_index in by_relation["train"].items():
        graph[edge_type].edge_index = edge_index
    if config.add_reverse is not False:
        add_reverse_relations(graph)
    return TypedDataset(
        graph=graph,
        target=None,
        y=None,
        masks={},
        num_classes=0,
        node_id={ENTITY: entities},
        # "train": the directed training triples, the known triples of the filtered ranking
        # (gnntool.engine.link.filtered), which add_reverse's symmetric edges cannot tell.
        held_out={split: by_relation[split] for split in ("train", "val", "test")},
        knowledge_graph=True,
    )


def read_triples(path: Path) -> np.ndarray:
    """The (T, 3) strings of a triples file: head, relation, tail per line; a line that is not
    three non-empty tab-separated fields is a UserError naming it."""
    rows = []
    with open_text(path, str(path)) as file:
        for number, line in enumerate(file, start=1):
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            fields = line.split("\t")
            if len(fields) != 3 or not all(field.strip() for field in fields):
                raise UserError(
                    f"{path} line {number}: {len(fields)} tab-separated field{'s' if len(fields) != 1 else ''}"
                    f"{' (one empty)' if len(fields) == 3 else ''}; a triple is head<TAB>relation<TAB>tail"
                )
            rows.append([field.strip() for field in fields])
    if not rows and path.name == TRIPLE_FILES["train"]:
        raise UserError(f"{path} holds no triple: the graph would have no edges")
    return np.array(rows, dtype=str).reshape(-1, 3)


def _by_relation(triples: np.ndarray, entities: np.ndarray, names: np.ndarray) -> dict[EdgeType, Tensor]:
    """Every relation's triples as 2 × P entity rows (heads, tails), every relation present."""
    heads = np.searchsorted(entities, triples[:, 0])
    tails = np.searchsorted(entities, triples[:, 2])
    relation = np.searchsorted(names, triples[:, 1])
    pairs = torch.from_numpy(np.stack([heads, tails]).astype(np.int64))
    kinds = torch.from_numpy(relation.astype(np.int64))
    return {(ENTITY, str(name), ENTITY): pairs[:, kinds == k].contiguous() for k, name in enumerate(names)}
