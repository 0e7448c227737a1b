"""A run directory as the engine writes and reads it: `gnntool train` writes one (`train_run.py`,
with TensorBoard events from `board.py`), its model files (`saved.py`), and a finished run read
back for `eval`, `embed` and `predict` (`loaded.py`). The layout itself is `gnntool.rundir`."""
