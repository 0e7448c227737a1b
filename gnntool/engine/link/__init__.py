"""Link prediction's parts beside its objective: the pair files `predict --pairs` reads
(`pairs.py`), top-k targets per source node (`top_k.py`), the ranking metrics (`metrics.py`) and
the neighbour-sampled link batches (`sampling.py`)."""
