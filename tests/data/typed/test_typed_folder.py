"""A typed folder (nodes/, edges/, labels/) through `dataset.name: graph`: what it reads, and every
bad input as one error naming the file (and line)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from gnntool.cli import app
from gnntool.config import validate
from gnntool.data import load_dataset
from gnntool.data.dataset import GraphDataset
from gnntool.data.typed.dataset import TypedDataset
from gnntool.errors import UserError

FILES = {
    "nodes/user.csv": "id,age,score\n10,1,2\n11,3,4\n12,5,6\n13,7,8\n",
    "nodes/item.csv": "id\nitem_a\nitem_b\nitem_c\n",
    "edges/user__buys__item.csv": "src,dst\n10,item_a\n11,item_b\n12.0,item_a\n13,item_c\n",
    "edges/user__knows__user.tsv": "10\t11\n12\t13\n",
    "labels/user.csv": "id,label,split\n10,0,train\n11,1,val\n12,1,test\n",
}


def write(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    return folder


def load(folder: Path, **keys) -> TypedDataset:
    dataset = load_dataset(validate({"dataset": {"name": "graph", "path": str(folder), **keys}}).dataset, 0)
    assert isinstance(dataset, TypedDataset)
    return dataset


def error(folder: Path, **keys) -> str:
    with pytest.raises(UserError) as info:
        load(folder, **keys)
    return str(info.value)


def test_reads_types_relations_labels_and_splits(tmp_path: Path) -> None:
    shop = np.arange(6, dtype=np.float32).reshape(2, 3)
    folder = write(tmp_path, {**FILES, "edges/item__in__shop.csv": "item_b,1\n"})
    np.save(folder / "nodes" / "shop.npy", shop)
    dataset = load(folder)
    assert dataset.node_types() == ["item", "shop", "user"] and dataset.featureless() == ["item"]
    assert dataset.node_id["user"].tolist() == [10, 11, 12, 13]
    assert dataset.node_id["item"].tolist() == ["item_a", "item_b", "item_c"]
    assert dataset.node_id["shop"].tolist() == [0, 1]
    assert torch.equal(dataset.graph["shop"].x, torch.from_numpy(shop))
    assert dataset.graph["user"].x.tolist() == [[1, 2], [3, 4], [5, 6], [7, 8]]
    assert dataset.graph["user", "buys", "item"].edge_index.tolist() == [[0, 1, 2, 3], [0, 1, 0, 2]]
    assert dataset.graph["item", "rev_buys", "user"].edge_index.tolist() == [[0, 1, 0, 2], [0, 1, 2, 3]]
    assert dataset.graph["shop", "rev_in", "item"].edge_index.tolist() == [[1], [1]]
    assert dataset.graph["user", "knows", "user"].edge_index.tolist() == [[1, 0, 3, 2], [0, 1, 2, 3]]
    assert dataset.target == "user" and dataset.num_classes == 2 and not dataset.multilabel
    assert dataset.y.tolist() == [0, 1, 1, -1]  # node 13 is unlabelled
    assert {split: mask.tolist() for split, mask in dataset.masks.items()} == {
        "train": [True, False, False, False],
        "val": [False, True, False, False],
        "test": [False, False, True, False],
    }


def test_add_reverse_false_keeps_the_files_edges(tmp_path: Path) -> None:
    dataset = load(write(tmp_path, FILES), add_reverse=False)
    assert sorted(dataset.relations()) == [("user", "buys", "item"), ("user", "knows", "user")]
    assert dataset.graph["user", "knows", "user"].edge_index.tolist() == [[0, 2], [1, 3]]


def test_multilabel_and_a_random_split_over_the_labelled_nodes(tmp_path: Path) -> None:
    labels = "id,a,b,c\n10,1,0,1\n11,0,1,0\n12,1,1,0\n13,0,0,1\n"
    folder = write(tmp_path, {**FILES, "labels/user.csv": labels, "labels/item.csv": "id,label\nitem_a,3\n"})
    assert "several node types have labels (item, user)" in error(folder, split="random")
    dataset = load(folder, target="user", split="random", train_frac=0.5, val_frac=0.25)
    assert dataset.multilabel and dataset.num_classes == 3 and dataset.y.dtype == torch.float32
    assert dataset.y[0].tolist() == [1, 0, 1]
    assert sorted(int(mask.sum()) for mask in dataset.masks.values()) == [1, 1, 2]


def test_without_labels_there_is_no_target(tmp_path: Path) -> None:
    files = {name: text for name, text in FILES.items() if not name.startswith("labels")}
    dataset = load(write(tmp_path, files), split="random")
    assert dataset.target is None and dataset.y is None and dataset.masks == {} and dataset.num_classes == 0


@pytest.mark.parametrize(
    ("change", "keys", "expected"),
    [
        ({"edges/user_buys_item.csv": "10,item_a\n"}, {}, "edges/user_buys_item.csv: the file name names no relation"),
        ({"edges/user__buys__thing.csv": "10,1\n"}, {}, "user__buys__thing.csv: names node type 'thing'"),
        (
            {"edges/user__buys__item.csv": "10,item_a\n11,item_z\n"},
            {},
            "user__buys__item.csv line 2, column 2: 'item_z' is not an id of node type 'item'",
        ),
        ({"edges/user__knows__user.tsv": "10\t99\n"}, {}, "line 1, column 2: 99 is not an id of node type 'user'"),
        ({"edges/user__knows__user.tsv": "10\t1.5\n"}, {}, "line 1, column 2: '1.5' is not an id of its type"),
        ({"nodes/user.csv": "id,a\n10,1\n11,2\n10,3\n"}, {}, "duplicate node id 10 (at line 2 and line 4)"),
        ({"nodes/item.csv": "id\nx\ny\nx\n"}, {}, "duplicate node id 'x' (at line 2 and line 4)"),
        ({"nodes/user.csv": "id,a,b\n10,1,2\n11,3,4,5\n"}, {}, "user.csv line 3 has 4 columns but line 2 has 3"),
        ({"nodes/user.csv": "id,a,b\n10,1,2\n11,3\n"}, {}, "user.csv line 3 has 2 columns but line 2 has 3"),
        ({"nodes/user.csv": "id,a\n10,x\n"}, {}, "user.csv line 2, column 2: 'x' is not a number"),
        ({"nodes/user.csv": "node,a\n10,1\n"}, {}, "user.csv: the first line must be a header whose first"),
        ({}, {"target": "item"}, "dataset.target: node type 'item' has no labels"),
        ({}, {"target": "shop"}, "dataset.target: 'shop' is not a node type"),
        ({"labels/shop.csv": "id,label\n1,0\n"}, {}, "shop.csv: labels node type 'shop', which has no node file"),
        ({"labels/user.csv": "id,label\n10,0\n"}, {}, "user.csv: has no `split` column"),
        ({"labels/user.csv": "id,label,split\n10,0,train\n11,1,dev\n"}, {}, "line 3, column 3: split 'dev' is not"),
        ({"labels/user.csv": "id,label,split\n10,0,train\n11,1,val\n"}, {}, "the test split is empty"),
        ({"labels/user.csv": "id,label,split\n10,0,train\n10,1,val\n"}, {}, "labels node '10' twice"),
        ({"labels/user.csv": "id,label,split\n10,0,train\n19,1,val\n"}, {}, "19 is not an id of node type 'user'"),
        ({"labels/user.csv": "id,label,split\n10,-2,train\n"}, {}, "class id -2"),
        ({"nodes/user.npy": ""}, {}, "holds both user.csv and user.npy"),
        ({"edges/notes.txt": "x"}, {}, "notes.txt: not a file this folder may hold"),
        ({"edges/item__rev_buys__user.csv": "item_a,10\n"}, {}, "the reverse that dataset.add_reverse adds"),
        ({"edges/user__buys___item.csv": "10,item_a\n"}, {}, "names node type '_item'"),
    ],
)
def test_bad_input_is_one_error_naming_the_file(tmp_path: Path, change: dict, keys: dict, expected: str) -> None:
    folder = write(tmp_path, {**FILES, **change})
    message = error(folder, **keys)
    assert expected in message, message
    assert str(tmp_path) in message or "dataset.target" in message


def test_no_nodes_folder_and_no_relation_files(tmp_path: Path) -> None:
    (tmp_path / "edges").mkdir()
    assert "has no nodes/ folder" in error(tmp_path)
    write(tmp_path, {"nodes/user.csv": "id\n1\n"})
    assert "holds no relation file" in error(tmp_path)


def test_typed_keys_on_a_homogeneous_graph_are_refused(tmp_path: Path) -> None:
    np.savez(tmp_path / "g.npz", x=np.ones((6, 2)), edge_index=np.array([[0, 1], [1, 2]]), y=np.arange(6) % 2)
    for keys in ({"target": "node"}, {"add_reverse": False}):
        config = validate({"dataset": {"name": "graph", "path": str(tmp_path / "g.npz"), "split": "random", **keys}})
        with pytest.raises(UserError, match="is for typed graphs; .*g.npz is a graph of one node and one edge type"):
            load_dataset(config.dataset, 0)
    plain = validate({"dataset": {"name": "graph", "path": str(tmp_path / "g.npz"), "split": "random"}})
    assert isinstance(load_dataset(plain.dataset, 0), GraphDataset)


def test_a_bad_typed_folder_exits_2_through_the_cli(tmp_path: Path, runner, write_config) -> None:
    folder = write(tmp_path / "graph", {**FILES, "edges/user__buys__item.csv": "10,item_q\n"})
    config = write_config({"dataset": {"name": "graph", "path": str(folder)}, "train": {"epochs": 1}})
    result = runner.invoke(app, ["train", str(config), "--out", str(tmp_path / "run")])
    assert result.exit_code == 2
    assert "user__buys__item.csv line 1, column 2: 'item_q' is not an id of node type 'item'" in result.output
    assert "Traceback" not in result.output
