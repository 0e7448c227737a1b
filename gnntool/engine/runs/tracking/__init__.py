"""Experiment trackers (`output.loggers`, `--logger`): TensorBoard, MLflow, Weights & Biases.

`loggers.py` is the registry of backends (`LOGGERS`) and the check that their packages are
installed; `base.py` the interface each implements; `tracker.py` runs them side by side (a
tracker never costs a run); `training.py` says which tracked runs a command makes. The
backends: `gnntool/engine/runs/board.py` (TensorBoard), `mlflow_backend.py`, `wandb_backend.py`.
"""
