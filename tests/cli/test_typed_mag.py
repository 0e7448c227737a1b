"""ogbn-mag end to end through the command line, on small files in OGB's raw layout (issue 23's
done-when): R-GCN trains, `eval` reports OGB's Evaluator's accuracy, `embed --type author` writes
that type's rows, and a missing or truncated file stops `train` with exit 2 and one message."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from mag_files import COUNTS, make_mag

from gnntool.cli import app

pytest.importorskip("ogb")


def write_config(tmp_path: Path, root: Path) -> Path:
    path = tmp_path / "mag.yaml"
    config = {
        "dataset": {"name": "ogbn-mag", "root": str(root)},
        "model": {"arch": "rgcn", "hidden": 8, "layers": 2, "num_bases": 2},
        "train": {"epochs": 3},
    }
    path.write_text(yaml.safe_dump(config))
    return path


def test_rgcn_trains_is_scored_by_the_evaluator_and_embeds_a_type(runner, tmp_path: Path, monkeypatch) -> None:
    from ogb.nodeproppred import Evaluator

    _, written = make_mag(tmp_path / "data")
    config, run = write_config(tmp_path, tmp_path / "data"), tmp_path / "run"
    result = runner.invoke(app, ["train", str(config), "--out", str(run), "--device", "cpu", "-q"])
    assert result.exit_code == 0, result.output
    assert sorted(path.name for path in (run / "embeddings").iterdir()) == sorted(f"{name}.npy" for name in COUNTS)
    saved = json.loads((run / "metrics.json").read_text())

    scored = []  # every split the Evaluator scores, so that eval's numbers are shown to be its own
    evaluate = Evaluator.eval
    monkeypatch.setattr(Evaluator, "eval", lambda self, given: scored.append(given) or evaluate(self, given))
    evaluated = runner.invoke(app, ["eval", str(run), "--json", "--device", "cpu"])
    assert evaluated.exit_code == 0, evaluated.output
    test = json.loads(evaluated.stdout)["test"]
    assert test["accuracy"] == pytest.approx(saved["test"]["accuracy"])
    assert len(scored) == 3 and [len(given["y_true"]) for given in scored] == [10, 5, 5]  # train, val, test papers

    # the same accuracy from predict's classes on the written test papers
    predicted = runner.invoke(app, ["predict", str(run), "-o", "-", "--format", "csv", "--device", "cpu"])
    assert predicted.exit_code == 0, predicted.output
    classes = {int(row.split(",")[0]): int(row.split(",")[1]) for row in predicted.stdout.splitlines()}
    assert sorted(classes) == list(range(COUNTS["paper"]))
    papers = written["split"]["test"]
    right = [classes[paper] == written["y"][paper] for paper in papers]
    assert test["accuracy"] == pytest.approx(np.mean(right))

    out = tmp_path / "author.csv"
    embedded = runner.invoke(app, ["embed", str(run), "--type", "author", "-o", str(out), "--format", "csv"])
    assert embedded.exit_code == 0, embedded.output
    rows = [line.split(",") for line in out.read_text().splitlines()]
    assert [int(row[0]) for row in rows] == list(range(COUNTS["author"]))  # the author type's own ids
    np.testing.assert_allclose(
        np.array([[float(value) for value in row[1:]] for row in rows]), np.load(run / "embeddings" / "author.npy"),
        rtol=1e-5, atol=1e-6,
    )  # fmt: skip


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-30])


@pytest.mark.parametrize(
    "file, damage",
    [
        ("raw/relations/author___writes___paper/edge.csv.gz", Path.unlink),
        ("raw/node-label/paper/node-label.csv.gz", Path.unlink),
        ("raw/node-feat/paper/node-feat.csv.gz", truncate),
    ],
    ids=["missing-edges", "missing-labels", "truncated-features"],
)
def test_a_missing_or_truncated_file_stops_train_with_one_message(
    runner, tmp_path: Path, monkeypatch, file: str, damage
) -> None:
    monkeypatch.setenv("GNNTOOL_OFFLINE", "1")  # never download what is missing
    folder, _ = make_mag(tmp_path / "data")
    damage(folder / file)
    run = tmp_path / "run"
    result = runner.invoke(app, ["train", str(write_config(tmp_path, tmp_path / "data")), "--out", str(run), "-q"])
    assert result.exit_code == 2, result.output
    assert file in result.stderr and "Traceback" not in result.stderr
    assert not (run / "metrics.json").exists() and not (run / "model.pt").exists()
