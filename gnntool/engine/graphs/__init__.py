"""Whole-graph prediction's parts: batches of graphs (`batches.py`), the task (`task.py`), metrics (`metrics.py`)."""
