"""The one table of metric facts: every reported metric is in it, and tables, plot and monitor agree."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from gnntool.engine.link.filtered import ranking_metrics
from gnntool.engine.link.metrics import link_metrics
from gnntool.engine.metrics import f1_from_counts, metrics_from_sums
from gnntool.metric_facts import METRICS, facts, format_value, main_metric, minimise, score
from gnntool.traits import OBJECTIVES

REPO = Path(__file__).resolve().parents[1]


def reported_names() -> set[str]:
    """Every metric name the scorers report, read off the scorers themselves."""
    counts = torch.ones(3, dtype=torch.float64), torch.zeros(3, dtype=torch.float64), torch.ones(3)
    sums = {"nodes": torch.tensor(2.0), "loss": torch.tensor(1.0), "correct": torch.tensor(1.0)}
    names = {*f1_from_counts(*counts), *metrics_from_sums(sums)}
    names |= set(link_metrics(torch.tensor([0.9, 0.2]), torch.tensor([0.1, 0.5]), [1, 20, 50, 100]))
    names |= set(ranking_metrics(torch.tensor([1.0, 2.5])))
    names |= {"probe_accuracy", "probe_micro_f1"}  # unsupervised.linear_probe's (needs a fitted probe)
    names |= {monitor.removeprefix("val_") for traits in OBJECTIVES.values() for monitor in traits.monitors}
    return names


def test_every_reported_metric_is_in_the_table() -> None:
    for name in reported_names():
        facts(name)  # a KeyError names the missing one
    assert facts("hits@20") is facts("hits@100") is METRICS["hits@"]
    with pytest.raises(KeyError, match="hitsx"):
        facts("hitsx")


def test_main_metric_order() -> None:
    everything = dict.fromkeys(["loss", "probe_accuracy", "probe_micro_f1", "accuracy", "micro_f1", "auc"], 0.5)
    order = []
    while everything:
        order.append(main_metric(everything))
        del everything[order[-1]]
    assert order == ["auc", "micro_f1", "accuracy", "probe_micro_f1", "probe_accuracy", "loss"]
    assert main_metric({"ap": 0.5, "mrr": 0.1}) == "loss"  # nothing quotable: the loss, as before


def test_the_monitor_ranks_by_the_tables_direction() -> None:
    assert score({"accuracy": 0.8, "loss": 0.5}, "val_accuracy") == (0.8, -0.5)  # ties to the lower loss
    assert score({"accuracy": 0.8, "loss": 0.5}, "val_loss") == (-0.5,)
    assert score({"auc": 0.9, "loss": 0.3}, "val_auc") == (0.9, -0.3)
    assert minimise("val_loss") and not minimise("val_auc") and not minimise("val_micro_f1")


def test_rates_in_percent_others_in_four_decimals() -> None:
    assert format_value("probe_accuracy", 0.8171, 0.0112) == "81.7 ± 1.1"
    assert format_value("macro_f1", 0.5, None) == "50.0"
    assert format_value("auc", 0.93904, 0.00702) == "0.9390 ± 0.0070"
    assert format_value("hits@20", 0.70712, None) == "0.7071"
    assert format_value("loss", None, None) == ""


def link_sweep(sweep_dir: Path) -> None:
    """sweep.json of two link cells (made-up AUC)."""
    metrics = {"val": {"auc": 0.91, "loss": 0.5}, "test": {"auc": 0.93, "loss": 0.5}}
    metrics["std"] = {"val": {"auc": 0.01, "loss": 0.1}, "test": {"auc": 0.02, "loss": 0.1}}
    rows = [
        {"cell": {"model.hidden": hidden}, "run_dir": str(sweep_dir / f"c{hidden}"), "metrics": metrics}
        for hidden in (8, 16)
    ]
    sweep_dir.mkdir()
    (sweep_dir / "sweep.json").write_text(json.dumps(rows))


def test_sweep_table_and_plot_show_auc_alike(tmp_path: Path, monkeypatch) -> None:
    """Both show AUC as a fraction (the plot drew it in percent before)."""
    from gnntool import plot as plot_module
    from gnntool.engine.studies.sweep import display_table

    sweep_dir = tmp_path / "sweep"
    link_sweep(sweep_dir)
    rows = json.loads((sweep_dir / "sweep.json").read_text())
    assert display_table(rows)[1][0] == ["8", "0.9100 ± 0.0100", "0.9300 ± 0.0200"]
    drawn = []
    monkeypatch.setattr(plot_module, "save", lambda figure, path: drawn.append(figure) or path)
    plot_module.plot_sweep(sweep_dir)
    (axis,) = drawn[0].axes
    assert axis.get_xlabel() == "auc"
    bars = {container.get_label(): container for container in axis.containers}
    assert np.allclose(bars["test"].lines[0].get_xdata(), [0.93, 0.93])  # not 93


def test_plot_and_sweep_tables_do_not_import_torch(tmp_path: Path) -> None:
    sweep_dir = tmp_path / "sweep"
    link_sweep(sweep_dir)
    code = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from gnntool.plot import plot\n"
        "from gnntool.engine.studies.sweep import display_table\n"
        f"sweep = Path({str(sweep_dir)!r})\n"
        "plot(sweep)\n"
        "display_table(json.loads((sweep / 'sweep.json').read_text()))\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)
