"""Whole-graph prediction's datasets: many small graphs, one target each (`GraphSet`).

Readers: a TU-format folder (`tu.py`), an .npz archive (`npz.py`), OGB graph property prediction
from OGB's raw layout (`ogbg.py`) and the generated set (`synthetic.py`); each sorts its arrays
by graph and builds the set through `assemble.py`; `folds.py` splits the graphs.
"""

from gnntool.data.graphsets.dataset import GraphSet

__all__ = ["GraphSet"]
