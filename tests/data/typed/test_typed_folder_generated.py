"""Hypothesis writes typed folders (ids as integers or names, csv or npy nodes, csv or tsv edges,
headers or not, labels with a split column) and checks the loaded graph against what it wrote."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gnntool.config import validate
from gnntool.data import load_dataset

TYPES = ["user", "item", "shop_2"]
RELATIONS = ["likes", "r", "has_a"]
NAME_ID = st.text(alphabet="abcdxyz", min_size=1, max_size=4)  # never a number, nor "src"/"dst"


@st.composite
def node_type(draw, name: str) -> dict:
    count = draw(st.integers(1, 6))
    form = draw(st.sampled_from(["npy", "csv", "featureless"]))
    if form == "npy":
        ids = list(range(count))
    elif draw(st.booleans()):
        ids = draw(st.lists(st.integers(-50, 50), min_size=count, max_size=count, unique=True))
    else:
        ids = draw(st.lists(NAME_ID, min_size=count, max_size=count, unique=True))
    width = 0 if form == "featureless" else draw(st.integers(1, 3))
    x = np.array(draw(st.lists(st.integers(-8, 8), min_size=count * width, max_size=count * width)), dtype=np.float32)
    return {"name": name, "form": form, "ids": ids, "x": x.reshape(count, width) / 4}


@st.composite
def typed_folder(draw) -> dict:
    names = draw(st.lists(st.sampled_from(TYPES), min_size=1, max_size=3, unique=True))
    types = {name: draw(node_type(name)) for name in names}
    relations = {}
    for _ in range(draw(st.integers(1, 3))):
        source, target = draw(st.sampled_from(names)), draw(st.sampled_from(names))
        relation = (source, draw(st.sampled_from(RELATIONS)), target)
        pair = st.tuples(st.integers(0, len(types[source]["ids"]) - 1), st.integers(0, len(types[target]["ids"]) - 1))
        relations[relation] = {
            "edges": draw(st.lists(pair, max_size=6)),
            "suffix": draw(st.sampled_from([".csv", ".tsv"])),
            "header": draw(st.booleans()),
            "float_ids": draw(st.booleans()),
        }
    first = types[names[0]]
    labels = None
    if len(first["ids"]) >= 3:
        count = len(first["ids"])
        rows = sorted(draw(st.sets(st.integers(0, count - 1), min_size=3, max_size=count)))
        splits = ["train", "val", "test"] + draw(st.lists(st.sampled_from(["train", "val", "test"]),
                                                          min_size=len(rows) - 3, max_size=len(rows) - 3))  # fmt: skip
        labels = {"rows": rows, "y": draw(st.lists(st.integers(0, 4), min_size=len(rows), max_size=len(rows))),
                  "split": splits}  # fmt: skip
    return {"types": types, "relations": relations, "labels": labels}


def write_folder(folder: Path, spec: dict) -> None:
    for sub in ("nodes", "edges", "labels"):
        (folder / sub).mkdir()
    for name, node in spec["types"].items():
        if node["form"] == "npy":
            np.save(folder / "nodes" / f"{name}.npy", node["x"])
            continue
        columns = ["id", *(f"f{j}" for j in range(node["x"].shape[1]))]
        lines = [",".join(columns)]
        lines += [",".join([str(i), *(repr(float(v)) for v in row)]) for i, row in zip(node["ids"], node["x"])]
        (folder / "nodes" / f"{name}.csv").write_text("\n".join(lines) + "\n")
    for (source, relation, target), edges in spec["relations"].items():
        separator = "\t" if edges["suffix"] == ".tsv" else ","

        def spelt(node: dict, row: int, float_ids: bool) -> str:
            value = node["ids"][row]
            return f"{value}.0" if float_ids and isinstance(value, int) else str(value)

        lines = [separator.join(["src", "dst"])] if edges["header"] else []
        lines += [
            separator.join([spelt(spec["types"][source], s, edges["float_ids"]), spelt(spec["types"][target], t, 0)])
            for s, t in edges["edges"]
        ]
        (folder / "edges" / f"{source}__{relation}__{target}{edges['suffix']}").write_text("\n".join(lines) + "\n")
    labels = spec["labels"]
    if labels is not None:
        first = next(iter(spec["types"].values()))
        lines = ["id,label,split"] + [
            f"{first['ids'][r]},{y},{split}" for r, y, split in zip(labels["rows"], labels["y"], labels["split"])
        ]
        (folder / "labels" / f"{first['name']}.csv").write_text("\n".join(lines) + "\n")


@settings(max_examples=30, deadline=None)
@given(spec=typed_folder(), add_reverse=st.booleans())
def test_a_written_typed_folder_loads_as_written(spec: dict, add_reverse: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_folder(folder, spec)
        config = validate({"dataset": {"name": "graph", "path": str(folder), "add_reverse": add_reverse}})
        dataset = load_dataset(config.dataset, 0)
    assert sorted(dataset.node_types()) == sorted(spec["types"])
    for name, node in spec["types"].items():
        assert dataset.graph[name].num_nodes == len(node["ids"])
        assert dataset.node_id[name].tolist() == node["ids"]
        if node["form"] == "featureless":
            assert name in dataset.featureless()
        else:
            assert torch.equal(dataset.graph[name].x, torch.from_numpy(node["x"]))
    expected, symmetric = {}, set()
    for (source, relation, target), edges in spec["relations"].items():
        if add_reverse and source == target:  # made symmetric: compared as sets, sorted
            symmetric.add((source, relation, target))
            expected[source, relation, target] = sorted({edge for s, t in edges["edges"] for edge in ((s, t), (t, s))})
            continue
        expected[source, relation, target] = edges["edges"]  # in the file's order
        if add_reverse:
            expected[target, f"rev_{relation}", source] = [(t, s) for s, t in edges["edges"]]
    assert sorted(dataset.relations()) == sorted(expected)
    for relation, pairs in expected.items():
        got = [tuple(edge) for edge in dataset.graph[relation].edge_index.T.tolist()]
        assert (sorted(got) if relation in symmetric else got) == [tuple(pair) for pair in pairs]
    labels = spec["labels"]
    if labels is None:
        assert dataset.target is None and dataset.masks == {}
        return
    count = len(next(iter(spec["types"].values()))["ids"])
    y = [-1] * count
    for r, label in zip(labels["rows"], labels["y"]):
        y[r] = label
    assert dataset.y.tolist() == y and dataset.num_classes == max(labels["y"]) + 1
    for split in ("train", "val", "test"):
        chosen = [r for r, s in zip(labels["rows"], labels["split"]) if s == split]
        assert torch.nonzero(dataset.masks[split]).view(-1).tolist() == chosen
