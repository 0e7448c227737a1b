"""Config validation: each class of mistake is one clear message naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import REPO

from gnntool.config import Config, apply_override, dump_config, load_config, validate
from gnntool.errors import UserError


def error_of(raw: dict) -> str:
    with pytest.raises(UserError) as info:
        validate(raw)
    return str(info.value)


def test_defaults_fill_every_key() -> None:
    config = validate({})
    assert config.model.arch == "gcn" and config.model.hidden == 16 and config.train.lr == 0.01
    assert config.dataset.root is None and config.train.monitor == "val_accuracy"


def test_unknown_key_suggests_the_close_one() -> None:
    message = error_of({"model": {"hiden": 32}})
    assert "model.hiden: unknown key — did you mean model.hidden?" in message


def test_unknown_section_and_far_key() -> None:
    assert "modle: unknown key — did you mean model?" in error_of({"modle": {}})
    assert "train.zzz: unknown key" in error_of({"train": {"zzz": 1}})


def test_wrong_type_names_key_and_value() -> None:
    message = error_of({"model": {"hidden": "wide"}})
    assert "model.hidden" in message and "'wide'" in message


@pytest.mark.parametrize(
    "raw, key",
    [
        ({"train": {"lr": -0.1}}, "train.lr"),
        ({"model": {"dropout": 1.0}}, "model.dropout"),
        ({"model": {"layers": 1}}, "model.layers"),
        ({"train": {"monitor": "accuracy"}}, "train.monitor"),
        ({"dataset": {"name": "Reddit"}}, "dataset.name"),
        ({"device": "gpu"}, "device"),
        ({"model": {"norm": "weird"}}, "model.norm"),
    ],
)
def test_impossible_values_name_the_key(raw: dict, key: str) -> None:
    assert f"{key}:" in error_of(raw)


def test_cross_field_checks() -> None:
    assert "model.aggregator is for arch sage, not gcn" in error_of({"model": {"aggregator": "mean"}})
    assert "model.k is required" in error_of({"model": {"arch": "cheb"}})
    assert "must divide model.hidden" in error_of({"model": {"norm": "group", "norm_args": {"groups": 3}}})


def test_several_mistakes_reported_together() -> None:
    message = error_of({"model": {"hiden": 1}, "train": {"lr": 0}})
    assert "model.hiden" in message and "train.lr" in message


def test_sage_aggregator_resolves_to_mean() -> None:
    assert validate({"model": {"arch": "sage"}}).model.aggregator == "mean"


def test_dataset_name_any_case() -> None:
    assert validate({"dataset": {"name": "citeseer"}}).dataset.name == "CiteSeer"


def test_overrides_parse_yaml_values() -> None:
    raw: dict = {"model": {"hidden": 16}}
    apply_override(raw, "model.hidden=64")
    apply_override(raw, "train.lr=1e-3")
    apply_override(raw, "model.arch=sage")
    apply_override(raw, "dataset.normalize_features=false")
    config = validate(raw)
    assert config.model.hidden == 64 and config.train.lr == 1e-3 and config.model.arch == "sage"
    assert config.dataset.normalize_features is False


@pytest.mark.parametrize("assignment", ["model.hidden", "=3", "seed.x=1"])
def test_bad_overrides(assignment: str) -> None:
    with pytest.raises(UserError, match="--set"):
        apply_override({"seed": 0}, assignment)


def test_resolved_config_loads_again(tmp_path: Path) -> None:
    config = validate({"model": {"arch": "sage", "norm": "group", "norm_args": {"groups": 4}}, "seed": 3})
    path = tmp_path / "resolved.yaml"
    path.write_text(dump_config(config))
    assert load_config(path) == config


@pytest.mark.parametrize(
    "text, expected",
    [("model: [1, 2\n", "not valid YAML"), ("- 1\n- 2\n", "must be a YAML mapping")],
)
def test_bad_files(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(UserError, match=expected):
        load_config(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="cannot read config"):
        load_config(tmp_path / "nope.yaml")


def test_empty_file_is_all_defaults(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("")
    assert load_config(path) == Config()


@pytest.mark.parametrize("path", sorted([*REPO.glob("configs/*.yaml"), *REPO.glob("examples/*.yaml")]))
def test_shipped_configs_validate(path: Path) -> None:
    load_config(path)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"train": {"fanout": [10, 5]}}, "set train.batch_size"),
        (
            {"train": {"batch_size": 64, "fanout": [10]}},
            "train.fanout has 1 entries; it needs one per layer (model.layers: 2)",
        ),
        ({"train": {"batch_size": 64, "fanout": [10, 0]}}, "train.fanout: fanout entries are neighbours per layer"),
        ({"train": {"batch_size": 64, "fanout": [10, -2]}}, "train.fanout"),
        ({"model": {"arch": "cheb", "k": 2}, "train": {"batch_size": 64}}, "cheb filters reach k-1 hops"),
        ({"train": {"batch_size": 64, "objective": "unsupervised"}}, "unsupervised training is full-batch"),
        ({"dataset": {"name": "PPI"}, "train": {"batch_size": 2, "fanout": [5, 5]}}, "PPI trains on whole graphs"),
        ({"dataset": {"nodes": 100}}, "dataset.nodes is for dataset.name: synthetic, not Cora"),
        ({"dataset": {"name": "synthetic", "split": "public"}}, "dataset.split: synthetic splits by random"),
        ({"dataset": {"name": "synthetic", "train_frac": 0.8, "val_frac": 0.2}}, "must leave nodes for the test split"),
    ],
)
def test_sampling_and_synthetic_checks(raw: dict, expected: str) -> None:
    assert expected in error_of(raw)


def test_neighbour_sampling_on_one_graph_resolves() -> None:
    config = validate(
        {"dataset": {"name": "synthetic"}, "model": {"arch": "sage"}, "train": {"batch_size": 512, "fanout": [-1, 5]}}
    )
    assert config.neighbour_sampling and config.inference_chunk == config.train.chunk_size
    assert (config.dataset.nodes, config.dataset.avg_degree, config.dataset.split) == (10000, 10.0, "random")
    ppi = validate({"dataset": {"name": "PPI"}, "train": {"batch_size": 2}})
    assert not ppi.neighbour_sampling and ppi.inference_chunk is None
    assert validate({}).inference_chunk is None
