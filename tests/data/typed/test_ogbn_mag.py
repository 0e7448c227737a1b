"""ogbn-mag: the typed loader on small files written in OGB's own raw layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from mag_files import COUNTS, make_mag, write_csv_gz

from gnntool.config import validate
from gnntool.data import load_dataset
from gnntool.data.typed.dataset import TypedDataset
from gnntool.data.typed.ogb_mag import MAG_RELATIONS, mag_files
from gnntool.errors import UserError


def config(root: Path, **keys):
    return validate({"dataset": {"name": "ogbn-mag", "root": str(root), **keys}}).dataset


def test_loads_every_type_relation_feature_label_and_the_time_split(tmp_path: Path) -> None:
    _, written = make_mag(tmp_path)
    dataset = load_dataset(config(tmp_path, add_reverse=False), 0)
    assert isinstance(dataset, TypedDataset) and dataset.target == "paper" and dataset.num_classes == 349
    assert {name: dataset.graph[name].num_nodes for name in dataset.node_types()} == COUNTS
    assert sorted(dataset.relations()) == sorted(MAG_RELATIONS)
    for relation, pairs in written["edges"].items():
        assert dataset.graph[relation].edge_index.T.tolist() == pairs.tolist()
    assert torch.allclose(dataset.graph["paper"].x, torch.tensor(written["x"], dtype=torch.float32))
    assert dataset.featureless() == ["author", "field_of_study", "institution"]
    assert dataset.y.tolist() == written["y"].tolist()
    for ours, theirs in (("train", "train"), ("val", "valid"), ("test", "test")):
        assert sorted(torch.nonzero(dataset.masks[ours]).view(-1).tolist()) == sorted(written["split"][theirs].tolist())
    # OGB's Evaluator: accuracy of the argmax
    logits = torch.nn.functional.one_hot(dataset.y[:4], 349).float()
    assert dataset.scorer(logits, dataset.y[:4]) == {"accuracy": 1.0}


def test_add_reverse_gives_reverse_relations_and_symmetric_citations(tmp_path: Path) -> None:
    _, written = make_mag(tmp_path)
    dataset = load_dataset(config(tmp_path), 0)
    assert len(dataset.relations()) == 7  # 4 + 3 reverses (cites is made symmetric instead)
    writes = written["edges"][("author", "writes", "paper")]
    assert dataset.graph["paper", "rev_writes", "author"].edge_index.T.tolist() == writes[:, ::-1].tolist()
    cites = dataset.graph["paper", "cites", "paper"].edge_index
    assert {tuple(edge) for edge in cites.T.tolist()} == {
        pair for a, b in written["edges"][("paper", "cites", "paper")].tolist() for pair in ((a, b), (b, a))
    }


def test_missing_files_are_listed_and_come_from_the_mirror(tmp_path: Path, monkeypatch) -> None:
    make_mag(tmp_path / "mirror")
    monkeypatch.setenv("GNNTOOL_OFFLINE", "1")
    with pytest.raises(UserError) as error:
        load_dataset(config(tmp_path / "data"), 0)
    message = str(error.value)
    assert "ogbn-mag: raw files missing" in message
    assert all(file in message for file in mag_files("time"))
    monkeypatch.setenv("GNNTOOL_MIRROR", str(tmp_path / "mirror"))
    assert load_dataset(config(tmp_path / "data"), 0).graph["paper"].num_nodes == COUNTS["paper"]


def test_the_target_is_paper(tmp_path: Path) -> None:
    make_mag(tmp_path)
    with pytest.raises(UserError, match="dataset.target: ogbn-mag scores node type 'paper'; 'author'"):
        load_dataset(config(tmp_path, target="author"), 0)


def truncated(folder: Path) -> Path:
    path = folder / "raw" / "node-feat" / "paper" / "node-feat.csv.gz"
    path.write_bytes(path.read_bytes()[:-30])
    return path


def short_count(folder: Path) -> Path:
    path = folder / "raw" / "relations" / "author___writes___paper" / "num-edge-list.csv.gz"
    write_csv_gz(path, [1])
    return path


def out_of_range(folder: Path) -> Path:
    path = folder / "raw" / "relations" / "paper___has_topic___field_of_study" / "edge.csv.gz"
    write_csv_gz(path, [[0, 1], [2, COUNTS["field_of_study"]]])
    write_csv_gz(path.parent / "num-edge-list.csv.gz", [2])
    return path


def bad_label(folder: Path) -> Path:
    path = folder / "raw" / "node-label" / "paper" / "node-label.csv.gz"
    write_csv_gz(path, np.full(COUNTS["paper"], 349))
    return path


def bad_counts(folder: Path) -> Path:
    path = folder / "raw" / "num-node-dict.csv.gz"
    write_csv_gz(path, [[12, 5, 3]], header=["author", "field_of_study", "institution"])
    return path


def bad_split(folder: Path) -> Path:
    path = folder / "split" / "time" / "paper" / "test.csv.gz"
    write_csv_gz(path, [0, COUNTS["paper"]])
    return path


def missing_relation(folder: Path) -> Path:
    path = folder / "raw" / "triplet-type-list.csv.gz"
    write_csv_gz(path, [list(relation) for relation in MAG_RELATIONS[:3]])
    return path


@pytest.mark.parametrize(
    "corrupt", [truncated, short_count, out_of_range, bad_label, bad_counts, bad_split, missing_relation]
)
def test_a_bad_raw_file_is_one_error_naming_it(tmp_path: Path, corrupt) -> None:
    folder, _ = make_mag(tmp_path)
    bad = corrupt(folder)
    with pytest.raises(UserError, match=str(bad).replace("\\", "\\\\")):
        load_dataset(config(tmp_path), 0)
