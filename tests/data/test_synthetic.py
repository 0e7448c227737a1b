"""`dataset.name: synthetic`: the stochastic block model, its cache, its split, and training on it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml

from gnntool.cli import app
from gnntool.config import DatasetConfig, validate
from gnntool.data import load_dataset, synthetic
from gnntool.data.dataset import GraphDataset
from gnntool.errors import UserError


@pytest.fixture
def make_config(tmp_path: Path):
    """A resolved synthetic dataset section, data root in tmp_path; small unless told otherwise."""

    def make(**keys) -> DatasetConfig:
        dataset = {"name": "synthetic", "root": str(tmp_path / "data"), "nodes": 2000, "features": 32, **keys}
        return validate({"dataset": dataset}).dataset

    return make


def graph(dataset: GraphDataset):
    (data,) = dataset.graphs
    return data


def no_generation(*args, **kwargs):
    raise AssertionError("generated again: the cache was not used")


def test_same_parameters_give_the_same_graph_from_the_cache(make_config, monkeypatch) -> None:
    config = make_config()
    first = graph(synthetic.load_synthetic(config, seed=0))
    assert (synthetic.cache_path(config) / "x.npy").is_file()
    assert synthetic.cache_path(config).name == "n2000_d10_f32_c10_h0.7_v1"
    monkeypatch.setattr(synthetic, "generate", no_generation)
    monkeypatch.setattr(synthetic, "_structure", no_generation)
    second = graph(synthetic.load_synthetic(config, seed=1))
    for key in ("x", "edge_index", "y"):
        assert torch.equal(first[key], second[key]), key
    assert second.num_nodes == 2000


def test_the_graph_depends_on_the_parameters_only(make_config, tmp_path: Path) -> None:
    config = make_config()
    elsewhere = make_config(root=str(tmp_path / "other"))
    fresh = synthetic.generate(2000, 10.0, 32, 10, 0.7)  # no cache involved
    for loaded in (graph(load_dataset(config, 0)), graph(load_dataset(elsewhere, 3))):
        assert all(torch.equal(a, b) for a, b in zip(fresh, (loaded.x, loaded.edge_index, loaded.y)))
    # the feature width does not change the labels or the edges
    wider = synthetic.generate(2000, 10.0, 8, 10, 0.7)
    assert torch.equal(wider[1], fresh[1]) and torch.equal(wider[2], fresh[2])


@pytest.mark.parametrize(
    "change", [{"nodes": 2001}, {"avg_degree": 10.5}, {"features": 33}, {"classes": 9}, {"homophily": 0.71}]
)
def test_other_parameters_use_another_cache_file(make_config, change: dict) -> None:
    base, other = make_config(), make_config(**change)
    assert synthetic.cache_path(other) != synthetic.cache_path(base)
    assert synthetic.cache_path(other).parent == synthetic.cache_path(base).parent
    load_dataset(base, 0)
    data = graph(load_dataset(other, 0))
    assert all((synthetic.cache_path(c) / "arrays.json").is_file() for c in (base, other))
    assert data.x.shape == (other.nodes, other.features)


def test_an_unreadable_cache_is_generated_again(make_config) -> None:
    config = make_config()
    expected = graph(load_dataset(config, 0))
    (synthetic.cache_path(config) / "edge_index.npy").write_bytes(b"not an npy file")
    again = graph(load_dataset(config, 0))
    assert torch.equal(again.edge_index, expected.edge_index)
    assert graph(load_dataset(config, 0)).x.equal(expected.x)  # and the file was rewritten


@pytest.mark.parametrize(
    "nodes, avg_degree, classes, homophily",
    [(2000, 10.0, 10, 0.7), (1000, 50.0, 10, 0.7), (1000, 50.0, 10, 1.0), (3000, 3.5, 2, 0.0)],
)
def test_average_degree_within_two_percent(nodes, avg_degree, classes, homophily) -> None:
    _, edge_index, _ = synthetic.generate(nodes, avg_degree, 4, classes, homophily)
    assert edge_index.size(1) / nodes == pytest.approx(avg_degree, rel=0.02)


def test_a_degree_the_blocks_cannot_hold_is_refused() -> None:
    # homophily 1: each node has only the 9 others of its class to link to
    with pytest.raises(UserError, match="dataset.avg_degree"):
        synthetic.generate(100, 50.0, 4, 10, 1.0)


def test_edges_are_symmetric_simple_and_sorted_by_target() -> None:
    nodes = 2000
    _, edge_index, _ = synthetic.generate(nodes, 10.0, 4, 10, 0.7)
    assert edge_index.dtype == torch.int64 and edge_index.shape[0] == 2
    source, target = edge_index
    assert not (source == target).any()
    keys = target * nodes + source
    assert (keys[1:] > keys[:-1]).all()  # sorted by (target, source), no repeats
    reversed_keys = torch.sort(source * nodes + target).values
    assert torch.equal(reversed_keys, keys)  # every edge also stored the other way
    assert int(edge_index.max()) < nodes and int(edge_index.min()) >= 0


@pytest.mark.parametrize("homophily, classes", [(0.7, 10), (0.2, 10), (0.9, 3)])
def test_measured_homophily_matches_the_request(homophily: float, classes: int) -> None:
    _, edge_index, y = synthetic.generate(4000, 10.0, 4, classes, homophily)
    inside = (y[edge_index[0]] == y[edge_index[1]]).float().mean().item()
    # targets drawn from all nodes land in the source's class by chance too
    assert inside == pytest.approx(homophily + (1 - homophily) / classes, abs=0.02)
    assert torch.bincount(y, minlength=classes).min() > 0.8 * 4000 / classes  # uniform labels


def test_features_inform_but_do_not_give_the_class_away() -> None:
    x, _, y = synthetic.generate(4000, 10.0, 128, 10, 0.7)
    assert x.dtype == torch.float32 and x.shape == (4000, 128)
    train, test = slice(0, 3000), slice(3000, None)
    centroids = torch.stack([x[train][y[train] == c].mean(0) for c in range(10)])
    accuracy = (torch.cdist(x[test], centroids).argmin(1) == y[test]).float().mean().item()
    assert 0.4 < accuracy < 0.75  # chance: 0.1


def test_random_split_by_fractions_and_run_seed(make_config) -> None:
    config = make_config(train_frac=0.5, val_frac=0.3)
    masks = {}
    for seed in (0, 1):
        dataset = load_dataset(config, seed)
        data = graph(dataset)
        train, val, test = data.train_mask, data.val_mask, data.test_mask
        assert int(train.sum()) == 1000 and int(val.sum()) == 600 and int(test.sum()) == 400
        assert not (train & val).any() and not (train & test).any() and not (val & test).any()
        assert (train | val | test).all()
        for split, mask in (("train", train), ("val", val), ("test", test)):
            (part,) = dataset.splits[split]
            assert part.graph is data and torch.equal(part.mask, mask)  # transductive
        masks[seed] = train
    assert not torch.equal(masks[0], masks[1])


def test_load_dataset_dispatches_to_synthetic(make_config) -> None:
    dataset = load_dataset(make_config(classes=4, features=16), seed=0)
    assert isinstance(dataset, GraphDataset)
    assert dataset.num_classes == 4 and dataset.num_features == 16 and not dataset.multilabel
    assert graph(dataset).y.dtype == torch.long


def test_normalize_features_is_honoured(make_config) -> None:
    plain = graph(load_dataset(make_config(), 0)).x
    normalised = graph(load_dataset(make_config(normalize_features=True), 0)).x
    assert not torch.equal(plain, normalised)
    # PyG's NormalizeFeatures: shifted to be non-negative, then each row divided by its sum
    assert (normalised >= 0).all() and torch.allclose(normalised.sum(-1), torch.ones(2000))


def test_generation_is_logged_once(make_config, capsys) -> None:
    config = make_config()
    load_dataset(config, 0)
    assert "generating the synthetic graph" in capsys.readouterr().err
    load_dataset(config, 0)
    assert "generating" not in capsys.readouterr().err


def test_train_gcn_on_a_small_synthetic_graph(runner, tmp_path: Path) -> None:
    config = {
        "dataset": {"name": "synthetic", "root": str(tmp_path / "data"), "nodes": 2000, "features": 32},
        "model": {"arch": "gcn", "hidden": 32},
        "train": {"epochs": 30, "weight_decay": 0.0},
    }
    path = tmp_path / "synthetic.yaml"
    path.write_text(yaml.safe_dump(config))
    run_dir = tmp_path / "run"
    result = runner.invoke(app, ["train", str(path), "--out", str(run_dir), "-q"])
    assert result.exit_code == 0, result.output
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["test"]["accuracy"] > 0.8  # chance: 0.1; features alone: about 0.57


def test_mmap_features_are_mapped_and_sampled_training_runs(runner, tmp_path: Path) -> None:
    """dataset.mmap_features: x stays a map of the cache's x.npy; sampled training, layer-wise
    evaluation and embeddings read the rows they need from it."""
    root = tmp_path / "data"
    config = DatasetConfig(name="synthetic", root=str(root), nodes=2000, features=32, mmap_features=True)
    x = graph(load_dataset(config, 0)).x
    assert str(synthetic.cache_path(config) / "x.npy") in Path("/proc/self/maps").read_text()
    assert torch.equal(x, synthetic.generate(2000, 10.0, 32, 10, 0.7)[0])
    raw = {
        "dataset": {"name": "synthetic", "root": str(root), "nodes": 2000, "features": 32, "mmap_features": True},
        "model": {"arch": "sage", "hidden": 16},
        "train": {"epochs": 2, "batch_size": 256, "fanout": [5, 5], "chunk_size": 300},
    }
    path = tmp_path / "mmap.yaml"
    path.write_text(yaml.safe_dump(raw))
    result = runner.invoke(app, ["train", str(path), "--out", str(tmp_path / "run"), "-q"])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["test"]["accuracy"] > 0.3
