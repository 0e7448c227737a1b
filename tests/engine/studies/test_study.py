"""What sweep and tune share: flat metrics, the results columns, and both tables built from them."""

from __future__ import annotations

from pathlib import Path

from gnntool.config import validate
from gnntool.engine.studies import sweep, tune
from gnntool.engine.studies.study import (
    csv_cells,
    csv_header,
    flat_metrics,
    metric_columns,
    shown_cells,
    shown_columns,
)

TWO_SEEDS = {
    "train": {"accuracy": 1.0, "loss": 0.1},
    "val": {"accuracy": 0.8, "loss": 0.9},
    "test": {"accuracy": 0.817, "loss": 1.0},
    "std": {"val": {"accuracy": 0.01, "loss": 0.02}, "test": {"accuracy": 0.011, "loss": 0.03}},
    "runs": [],
}


def test_flat_metrics_keep_val_and_test_with_their_std() -> None:
    assert flat_metrics(TWO_SEEDS) == {
        "val_accuracy": 0.8,
        "val_accuracy_std": 0.01,
        "val_loss": 0.9,
        "val_loss_std": 0.02,
        "test_accuracy": 0.817,
        "test_accuracy_std": 0.011,
        "test_loss": 1.0,
        "test_loss_std": 0.03,
    }
    assert flat_metrics({"val": {"auc": 0.9}, "test": {"auc": 0.8}}) == {"val_auc": 0.9, "test_auc": 0.8}


def test_columns_are_val_first_and_cells_fill_gaps() -> None:
    rows = [{"test_auc": 0.8, "val_auc": 0.9}, {"val_loss": 0.5, "val_ap": 0.7, "val_ap_std": 0.1}]
    columns = metric_columns(rows)
    assert columns == ["val_auc", "val_loss", "val_ap", "test_auc"]
    assert csv_header(["val_ap"], std=True) == ["val_ap", "val_ap_std"]
    assert csv_cells(rows[1], ["val_ap", "test_auc"], std=True) == [0.7, 0.1, "", ""]
    assert shown_columns(columns) == ["val_auc", "val_ap", "test_auc"]
    assert shown_columns(["val_loss", "test_loss"]) == ["val_loss", "test_loss"]  # nothing else to show
    assert shown_cells(rows[1], ["val_ap", "val_loss", "test_auc"]) == ["0.7000 ± 0.1000", "0.5000", ""]


def test_sweep_and_tune_tables_agree_on_a_run() -> None:
    """The same run's metrics give the same metric columns and cells in sweep's and tune's tables."""
    flat = flat_metrics(TWO_SEEDS)
    sweep_rows = [{"cell": {"model.hidden": 8}, "run_dir": "r", "metrics": TWO_SEEDS}]
    trial_rows = [
        {
            "trial": 0,
            "state": "COMPLETE",
            "value": 0.8,
            "params": {"model.hidden": 8},
            "metrics": flat,
            "seconds": 1.0,
            "run_dir": "r",
        }
    ]
    tuning = tune.Tuning([tune.Param("model.hidden", choices=(8, 16))], {}, validate({}), 2, Path("o"), "s")
    sweep_header, sweep_table = sweep.csv_table(sweep_rows)
    tune_header, tune_table = tune.trials_table(trial_rows, tuning)
    assert sweep_header[1:-1] == tune_header[4:-2]
    assert sweep_table[0][1:-1] == tune_table[0][4:-2]
    shown = sweep.display_table(sweep_rows)
    assert shown[0][1:] == tune.display_table(trial_rows, tuning)[0][2:] == ["val_accuracy", "test_accuracy"]
    assert shown[1][0][1:] == tune.display_table(trial_rows, tuning)[1][0][2:] == ["80.0 ± 1.0", "81.7 ± 1.1"]
