"""The objective registry: every objective through the same engine path (that nothing outside the
objective modules asks which objective it runs is in test_registries.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from gnntool import traits
from gnntool.cli import app
from gnntool.config import validate
from gnntool.engine.objectives import OBJECTIVE_CLASSES
from gnntool.engine.runs import train_run as run_module
from gnntool.models.base import GNN


def dataset_for(objective: str) -> dict[str, object]:
    """The default dataset (Cora), or a small generated set of graphs for a whole-graph objective."""
    whole_graphs = traits.OBJECTIVES[objective].graph_level
    return {"name": "synthetic_graphs", "graphs": 40, "graph_nodes": 10} if whole_graphs else {}


def test_registry_and_schema_table_agree() -> None:
    assert set(OBJECTIVE_CLASSES) == set(traits.OBJECTIVES)
    for name, known in traits.OBJECTIVES.items():
        config = validate({"train": {"objective": name}, "dataset": dataset_for(name)})
        assert config.train.monitor == known.default_monitor


@pytest.mark.parametrize("objective", sorted(traits.OBJECTIVES))
def test_every_objective_trains_evaluates_and_embeds(runner, write_config, tmp_path: Path, objective: str) -> None:
    config = write_config(
        {"dataset": dataset_for(objective), "model": {"hidden": 8}, "train": {"objective": objective, "epochs": 3}}
    )
    run_dir = tmp_path / "run"
    result = runner.invoke(app, ["train", str(config), "--out", str(run_dir), "-q"])
    assert result.exit_code == 0, result.output
    metrics = json.loads((run_dir / "metrics.json").read_text())
    again = runner.invoke(app, ["eval", str(run_dir), "--json", "--device", "cpu"])
    assert again.exit_code == 0, again.output
    recomputed = json.loads(again.stdout)
    for split, values in metrics.items():
        assert recomputed[split] == pytest.approx(values, rel=1e-5), split
    embedded = runner.invoke(app, ["embed", str(run_dir), "-o", str(tmp_path / "e.npy"), "--device", "cpu"])
    assert embedded.exit_code == 0, embedded.output
    np.testing.assert_allclose(np.load(tmp_path / "e.npy"), np.load(run_dir / "embeddings.npy"), atol=1e-6)


def test_device_option_is_checked(runner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["eval", str(tmp_path), "--device", "gpu"])
    assert result.exit_code == 2 and "--device" in result.stderr


def test_final_metrics_and_embeddings_share_one_pass(
    write_config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After training, the metrics (last layer) and embeddings (the layer before) run the hidden
    layers once."""
    calls = []
    embed = GNN.embed
    monkeypatch.setattr(GNN, "embed", lambda self, x, ops: calls.append(1) or embed(self, x, ops))
    fit = run_module.fit

    def fit_then_count(*args, **kwargs):
        result = fit(*args, **kwargs)
        calls.clear()
        return result

    monkeypatch.setattr(run_module, "fit", fit_then_count)
    config = validate({"dataset": {"root": str(Path(__file__).resolve().parents[2] / "data")}, "train": {"epochs": 2}})
    run_module.train_run(config, tmp_path / "run", 1, resume=False, force=False)
    assert len(calls) == 1
    assert (tmp_path / "run" / "embeddings.npy").is_file()


def test_unsupervised_l2_normalize_normalises_the_output(runner, write_config, tmp_path: Path) -> None:
    model = {"arch": "sage", "hidden": 8, "l2_normalize": True}
    config = write_config({"model": model, "train": {"objective": "unsupervised", "epochs": 2}})
    result = runner.invoke(app, ["train", str(config), "--out", str(tmp_path / "run"), "-q"])
    assert result.exit_code == 0, result.output
    norms = np.linalg.norm(np.load(tmp_path / "run" / "embeddings.npy"), axis=1)
    np.testing.assert_allclose(norms, 1.0, atol=1e-5)


def test_unsupervised_split_without_pairs_names_it(runner, tmp_path: Path) -> None:
    """Validation nodes without edges give no walk pairs: exit 2 naming the split."""
    n = 20
    ring = np.arange(10)
    edges = np.concatenate([np.stack([ring, np.roll(ring, 1)]), np.stack([np.roll(ring, 1), ring])], axis=1)
    masks = {name: np.zeros(n, dtype=bool) for name in ("train_mask", "val_mask", "test_mask")}
    masks["train_mask"][:8], masks["test_mask"][8:10], masks["val_mask"][10:] = True, True, True
    path = tmp_path / "g.npz"
    np.savez(path, x=np.random.default_rng(0).normal(size=(n, 4)).astype(np.float32), edge_index=edges, **masks)
    config = tmp_path / "c.yaml"
    config.write_text(
        f"dataset: {{name: graph, path: {path}}}\nmodel: {{arch: sage, hidden: 4}}\n"
        "train: {objective: unsupervised, epochs: 2}\n"
    )
    result = runner.invoke(app, ["train", str(config), "--out", str(tmp_path / "run")])
    assert result.exit_code == 2, result.output
    assert "val split" in result.stderr and "Traceback" not in result.output
