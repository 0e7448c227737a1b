"""A knowledge-graph folder (train.txt, valid.txt, test.txt of head<TAB>relation<TAB>tail)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gnntool.config import validate
from gnntool.data import load_dataset
from gnntool.data.typed.dataset import TypedDataset
from gnntool.errors import UserError

TRAIN = "/m/a\t/film/genre\t/m/b\n/m/b\t_hypernym\t/m/c\n\n/m/a\t_hypernym\t/m/c\n"
VALID = "/m/c\t/film/genre\t/m/a\n"
TEST = "/m/d\t_also_see\t/m/a\n"


def write(folder: Path, train: str = TRAIN, valid: str = VALID, test: str = TEST) -> Path:
    folder.mkdir(exist_ok=True)
    for name, text in (("train.txt", train), ("valid.txt", valid), ("test.txt", test)):
        if text is not None:
            (folder / name).write_text(text)
    return folder


def load(folder: Path, **keys) -> TypedDataset:
    config = validate({"dataset": {"name": "graph", "path": str(folder), **keys}, "train": {"objective": "link"}})
    dataset = load_dataset(config.dataset, 0)
    assert isinstance(dataset, TypedDataset)
    return dataset


def test_entities_relations_and_held_out_triples(tmp_path: Path) -> None:
    dataset = load(write(tmp_path), add_reverse=False)
    assert dataset.knowledge_graph and dataset.target is None and dataset.masks == {}
    assert dataset.node_types() == ["entity"] and dataset.featureless() == ["entity"]
    entities = dataset.node_id["entity"].tolist()
    assert entities == ["/m/a", "/m/b", "/m/c", "/m/d"]  # from every file, sorted
    row = {name: i for i, name in enumerate(entities)}
    genre, hypernym, also = ("entity", "/film/genre", "entity"), ("entity", "_hypernym", "entity"), (
        "entity", "_also_see", "entity")  # fmt: skip
    assert sorted(dataset.relations()) == sorted([genre, hypernym, also])  # every relation, one with no train edge
    assert dataset.graph[genre].edge_index.tolist() == [[row["/m/a"]], [row["/m/b"]]]
    assert dataset.graph[hypernym].edge_index.tolist() == [[row["/m/b"], row["/m/a"]], [row["/m/c"], row["/m/c"]]]
    assert dataset.graph[also].edge_index.shape == (2, 0)
    assert dataset.held_out["val"][genre].tolist() == [[row["/m/c"]], [row["/m/a"]]]
    assert dataset.held_out["val"][hypernym].shape == (2, 0)
    assert dataset.held_out["test"][also].tolist() == [[row["/m/d"]], [row["/m/a"]]]


def test_add_reverse_makes_training_relations_symmetric_only(tmp_path: Path) -> None:
    dataset = load(write(tmp_path))
    genre = ("entity", "/film/genre", "entity")
    assert sorted(dataset.graph[genre].edge_index.T.tolist()) == [[0, 1], [1, 0]]
    assert len(dataset.relations()) == 3  # no rev_ relations: every relation joins entities to entities
    assert dataset.held_out["val"][genre].tolist() == [[2], [0]]  # held-out triples stay as listed


@pytest.mark.parametrize(
    ("files", "keys", "expected"),
    [
        ({"train": "a\tr\tb\nc\tr\n"}, {}, "train.txt line 2: 2 tab-separated fields"),
        ({"valid": "a r b\n"}, {}, "valid.txt line 1: 1 tab-separated field;"),
        ({"test": "a\t\tb\n"}, {}, "test.txt line 1: 3 tab-separated fields (one empty)"),
        ({"train": ""}, {}, "train.txt holds no triple"),
        ({"valid": None}, {}, "has no valid.txt"),
        ({"train": "a\tx__y\tb\n"}, {}, "relation 'x__y'"),
        ({}, {"target": "entity"}, "is a knowledge graph, whose entities have no labels"),
    ],
)
def test_bad_knowledge_graphs(tmp_path: Path, files: dict, keys: dict, expected: str) -> None:
    (tmp_path / "kg").mkdir()
    if files.get("valid", "") is None:
        (tmp_path / "kg" / "train.txt").write_text(TRAIN)
        (tmp_path / "kg" / "test.txt").write_text(TEST)
    else:
        write(tmp_path / "kg", **{"train": TRAIN, "valid": VALID, "test": TEST, **files})
    with pytest.raises(UserError) as error:
        load(tmp_path / "kg", **keys)
    assert expected in str(error.value), str(error.value)
