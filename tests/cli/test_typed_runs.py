"""Typed graphs end to end through the command line: R-GCN and typed GraphSAGE on the generated
typed graph beat homogeneous GraphSAGE on the same graph flattened (issue 23's done-when), and
eval, embed --type, predict, --dry-run, --resume and sweep work on typed runs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from gnntool.cli import app
from gnntool.config import validate
from gnntool.data import load_dataset
from gnntool.data.typed.synthetic import flatten
from gnntool.shipped import configs_dir

# The shipped configs' graph, smaller so that the test stays quick (docs/typed-graphs.md has the
# full-size numbers).
GRAPH = {"nodes": 1500, "avg_degree": 20, "features": 32, "classes": 4}
SMALL = [f"dataset.{key}={value}" for key, value in GRAPH.items()]
FLAT_KEYS = ["dataset.name=graph", "dataset.split=masks", "model.relation_aggr=null"]


def train(runner, config: Path, run_dir: Path, *sets: str, extra: tuple[str, ...] = ()):
    argv = ["train", str(config), "--out", str(run_dir), "--device", "cpu", *extra]
    for assignment in sets:
        argv += ["--set", assignment]
    result = runner.invoke(app, argv)
    assert result.exit_code == 0, result.output
    return result


def test_accuracy(run_dir: Path) -> float:
    return json.loads((run_dir / "metrics.json").read_text())["test"]["accuracy"]


test_accuracy.__test__ = False  # a helper, not a test


@pytest.mark.slow
def test_relation_aware_models_beat_graphsage_on_the_flattened_graph(runner, tmp_path: Path) -> None:
    typed = {}
    for name in ("rgcn", "sage"):
        run_dir = tmp_path / name
        train(runner, configs_dir() / f"{name}_synthetic_typed.yaml", run_dir, *SMALL)
        typed[name] = test_accuracy(run_dir)
    config = validate({"dataset": {"name": "synthetic_typed", **GRAPH}})
    flat = tmp_path / "flat.npz"
    np.savez(flat, **flatten(load_dataset(config.dataset, 0)))
    unset = [f"dataset.{key}=null" for key in GRAPH]
    train(runner, configs_dir() / "sage_synthetic_typed.yaml", tmp_path / "flat", *FLAT_KEYS, *unset,
          f"dataset.path={flat}")  # fmt: skip
    homogeneous = test_accuracy(tmp_path / "flat")
    assert typed["rgcn"] >= homogeneous + 0.15, (typed, homogeneous)
    assert typed["sage"] >= homogeneous + 0.15, (typed, homogeneous)


@pytest.fixture
def typed_config(tmp_path: Path) -> Path:
    path = tmp_path / "typed.yaml"
    path.write_text(
        "dataset: {name: synthetic_typed, nodes: 300, avg_degree: 8, features: 8, classes: 3}\n"
        "model: {arch: rgcn, hidden: 8, num_bases: 2}\n"
        "train: {epochs: 6}\n"
    )
    return path


def test_outputs_eval_embed_predict_and_dry_run(runner, typed_config: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    train(runner, typed_config, run_dir)
    assert not (run_dir / "embeddings.npy").exists()
    embeddings = np.load(run_dir / "embeddings" / "node.npy")
    assert embeddings.shape == (300, 8)

    evaluated = runner.invoke(app, ["eval", str(run_dir), "--json"])
    assert evaluated.exit_code == 0, evaluated.output
    saved = json.loads((run_dir / "metrics.json").read_text())
    assert json.loads(evaluated.stdout)["test"]["accuracy"] == pytest.approx(saved["test"]["accuracy"])

    out = tmp_path / "node.npy"
    embedded = runner.invoke(app, ["embed", str(run_dir), "--type", "node", "-o", str(out)])
    assert embedded.exit_code == 0, embedded.output
    np.testing.assert_allclose(np.load(out), embeddings, rtol=1e-5, atol=1e-6)
    table = runner.invoke(app, ["embed", str(run_dir), "-o", "-", "--format", "csv"])
    assert table.stdout.splitlines()[1].split(",")[0] == "1"  # the type's own ids, target type by default
    wrong = runner.invoke(app, ["embed", str(run_dir), "--type", "paper"])
    assert wrong.exit_code == 2 and "node types are node" in wrong.stderr

    predicted = runner.invoke(app, ["predict", str(run_dir), "-o", "-", "--format", "csv"])
    assert predicted.exit_code == 0, predicted.output
    rows = predicted.stdout.splitlines()
    assert len(rows) == 300 and len(rows[0].split(",")) == 2 + 3

    for extra in (["--embeddings"], []):  # the target type's embeddings, and the curves
        plotted = runner.invoke(app, ["plot", str(run_dir), *extra, "-o", str(tmp_path / "plot.png")])
        assert plotted.exit_code == 0 and (tmp_path / "plot.png").stat().st_size > 0, plotted.output

    dry = runner.invoke(app, ["train", str(typed_config), "--dry-run", "--out", str(tmp_path / "dry")])
    assert dry.exit_code == 0, dry.output
    for line in ("node type node: 300 nodes, 8 features, target", "relation node__same__node:",
                 "relation node__other__node:", "nodes scored (node, 3 classes)"):  # fmt: skip
        assert line in dry.stdout
    assert not (tmp_path / "dry").exists()


@pytest.mark.parametrize("sets", [(), ("train.batch_size=64", "train.fanout=[4, 2]")], ids=["full", "sampled"])
def test_resume_after_interrupt_matches_uninterrupted(
    runner, typed_config: Path, tmp_path: Path, interrupt_at, sets: tuple[str, ...]
) -> None:
    reference = tmp_path / "reference"
    train(runner, typed_config, reference, *sets)
    interrupt_at(3)
    run_dir = tmp_path / "interrupted"
    argv = ["train", str(typed_config), "--out", str(run_dir), "--device", "cpu"]
    result = runner.invoke(app, [*argv, *(arg for assignment in sets for arg in ("--set", assignment))])
    assert result.exit_code == 130, result.output
    train(runner, typed_config, run_dir, *sets, extra=("--resume",))
    assert (run_dir / "metrics.json").read_text() == (reference / "metrics.json").read_text()
    assert np.array_equal(np.load(run_dir / "embeddings/node.npy"), np.load(reference / "embeddings/node.npy"))
    forced = train(runner, typed_config, run_dir, *sets, extra=("--force",))  # clears the typed embeddings too
    assert forced.exit_code == 0 and (run_dir / "embeddings/node.npy").is_file()


def test_sweep_over_typed_models(runner, typed_config: Path, tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    result = runner.invoke(
        app, ["sweep", str(typed_config), "--grid", "model.hidden=4,8", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert len(json.loads((out / "sweep.json").read_text())) == 2
    assert sorted(path.name for path in out.glob("*/embeddings/node.npy")) == ["node.npy", "node.npy"]


def test_untyped_architectures_and_objectives_are_refused(runner, typed_config: Path, tmp_path: Path) -> None:
    cheb = runner.invoke(app, ["train", str(typed_config), "--set", "model.arch=cheb", "--set", "model.k=2",
                               "--set", "model.num_bases=null", "--out", str(tmp_path / "c")])  # fmt: skip
    assert cheb.exit_code == 2 and "does not run on typed graphs" in cheb.stderr
    walks = runner.invoke(app, ["train", str(typed_config), "--set", "train.objective=unsupervised",
                                "--set", "model.arch=sage", "--set", "model.num_bases=null",
                                "--out", str(tmp_path / "u")])  # fmt: skip
    assert walks.exit_code == 2 and "not defined on a typed graph" in walks.stderr


def test_sampled_training_with_a_fanout_per_relation(runner, typed_config: Path, tmp_path: Path, write_config) -> None:
    fanout = "train.fanout={node__same__node: [4, 2], default: [6, 3]}"
    run_dir = tmp_path / "sampled"
    train(runner, typed_config, run_dir, "train.batch_size=64", fanout)
    assert 0.0 <= test_accuracy(run_dir) <= 1.0 and (run_dir / "embeddings/node.npy").is_file()
    unknown_fanout = "train.fanout={node__likes__node: [4, 2]}"
    unknown = runner.invoke(app, ["train", str(typed_config), "--set", "train.batch_size=64", "--set", unknown_fanout,
                                  "--out", str(tmp_path / "u")])  # fmt: skip
    assert unknown.exit_code == 2 and "node__likes__node is not a relation of the graph" in unknown.stderr
    homogeneous = write_config({"model": {"arch": "sage"}, "train": {"batch_size": 64, "fanout": {"default": [4, 2]}}})
    refused = runner.invoke(app, ["train", str(homogeneous), "--out", str(tmp_path / "h")])
    assert refused.exit_code == 2 and "this graph has one edge type" in refused.stderr
    assert not (tmp_path / "h" / "metrics.json").exists()


def write_typed_folder(folder: Path, users: int, items: int, seed: int, item_features: bool = True) -> Path:
    """Users (4 features, labelled by which half of the items they buy, string ids) and items."""
    rng = np.random.default_rng(seed)
    (folder / "nodes").mkdir(parents=True)
    (folder / "edges").mkdir()
    (folder / "labels").mkdir()
    user_ids = [f"u{i}" for i in range(users)]
    label = rng.integers(0, 2, users)
    rows = "\n".join(f"{uid},{','.join(f'{v:.3f}' for v in rng.normal(size=4))}" for uid in user_ids)
    (folder / "nodes" / "user.csv").write_text("id,a,b,c,d\n" + rows + "\n")
    item_rows = "\n".join(f"{i}" + (f",{rng.normal():.3f},{rng.normal():.3f}" if item_features else "")
                          for i in range(items))  # fmt: skip
    (folder / "nodes" / "item.csv").write_text(("id,p,q\n" if item_features else "id\n") + item_rows + "\n")
    edges = [(uid, int(rng.integers(0, items // 2)) + (items // 2) * int(label[i])) for i, uid in enumerate(user_ids)
             for _ in range(3)]  # fmt: skip
    (folder / "edges" / "user__buys__item.csv").write_text("".join(f"{u},{i}\n" for u, i in edges))
    (folder / "labels" / "user.csv").write_text("id,label\n" + "".join(f"{u},{y}\n" for u, y in zip(user_ids, label)))
    return folder


def test_an_unseen_typed_folder_is_scored_embedded_and_predicted(runner, tmp_path: Path) -> None:
    train_folder = write_typed_folder(tmp_path / "train", 60, 20, 0)
    unseen = write_typed_folder(tmp_path / "unseen", 30, 10, 1)
    config = tmp_path / "typed.yaml"
    config.write_text(f"dataset: {{name: graph, path: {train_folder}, split: random}}\n"
                      "model: {arch: sage, hidden: 8}\ntrain: {epochs: 30}\n")  # fmt: skip
    run_dir = tmp_path / "run"
    train(runner, config, run_dir)
    assert sorted(path.name for path in (run_dir / "embeddings").iterdir()) == ["item.npy", "user.npy"]
    scored = runner.invoke(app, ["eval", str(run_dir), "--graph", str(unseen), "--json"])
    assert scored.exit_code == 0, scored.output
    assert 0.0 <= json.loads(scored.stdout)["graph"]["accuracy"] <= 1.0
    embed = ["embed", str(run_dir), "--graph", str(unseen), "--type", "item", "-o", "-", "--format", "csv"]
    embedded = runner.invoke(app, embed)
    assert embedded.exit_code == 0, embedded.output
    assert [line.split(",")[0] for line in embedded.stdout.splitlines()] == [str(i) for i in range(10)]
    predicted = runner.invoke(app, ["predict", str(run_dir), "--graph", str(unseen), "-o", "-", "--format", "csv"])
    assert predicted.exit_code == 0, predicted.output
    assert [line.split(",")[0] for line in predicted.stdout.splitlines()] == [f"u{i}" for i in range(30)]
    own = runner.invoke(app, ["embed", str(run_dir), "-o", str(tmp_path / "users.pt")])  # the target type's own ids
    assert own.exit_code == 0, own.output

    featureless = write_typed_folder(tmp_path / "featureless", 60, 20, 2, item_features=False)
    config.write_text(f"dataset: {{name: graph, path: {featureless}, split: random}}\n"
                      "model: {arch: rgcn, hidden: 8}\ntrain: {epochs: 2}\n")  # fmt: skip
    train(runner, config, tmp_path / "embedded")
    other = write_typed_folder(tmp_path / "other", 30, 10, 3, item_features=False)
    refused = runner.invoke(app, ["embed", str(tmp_path / "embedded"), "--graph", str(other)])
    assert refused.exit_code == 2 and "cannot be embedded inductively" in refused.stderr
