"""One target row per graph, and what kind it is: a class, a 0/1 vector with missing labels, or reals.

The data decides: integer (or boolean) labels, one per graph, are classes; a matrix of 0, 1 and
NaN (missing) is multi-label; real values are regression targets. Classes are renumbered
0..C-1 in the sorted order of the original labels (MUTAG's -1 and 1 become 0 and 1), and the
original labels are kept (`class_names`) so that predictions can name them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from gnntool.data.graphfile.validate import Where, is_real, show
from gnntool.errors import UserError

__all__ = ["Targets", "class_targets", "multilabel_targets", "regression_targets", "targets_of"]


@dataclass
class Targets:
    """`y` as the GraphSet holds it, with its `task`, `num_outputs` and `class_names` (classes only)."""

    y: Tensor
    task: str
    num_outputs: int
    class_names: np.ndarray | None = None


def class_targets(labels: np.ndarray, name: str, where: Where) -> Targets:
    """Classes 0..C-1 in the sorted order of `labels` (one per graph); NaN is refused."""
    labels = labels.reshape(-1)
    if np.issubdtype(labels.dtype, np.floating):
        missing = np.isnan(labels)
        if missing.any():
            first = where(int(np.flatnonzero(missing)[0]))
            raise UserError(f"{name}: no label at {first} (NaN); every graph needs one")
    names, ids = np.unique(labels, return_inverse=True)
    return Targets(torch.from_numpy(ids.astype(np.int64).reshape(-1)), "classes", len(names), names)


def regression_targets(values: np.ndarray, name: str, where: Where) -> Targets:
    """Real targets, G × T float32; NaN or infinite values are refused."""
    values = values.reshape(len(values), -1)
    finite = np.isfinite(values)
    if not finite.all():
        row, col = np.argwhere(~finite)[0]
        raise UserError(
            f"{name}: target {show(values[row, col])} at {where(int(row))}, column {int(col) + 1}; "
            "regression targets must be finite numbers"
        )
    return Targets(torch.from_numpy(values.astype(np.float32)), "regression", values.shape[1])


def multilabel_targets(matrix: np.ndarray, name: str, where: Where) -> Targets:
    """A G × C matrix of 0, 1 and NaN (a missing label) as float32."""
    values = matrix.astype(np.float32)
    known = ~np.isnan(values)
    bad = known & (values != 0) & (values != 1)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise UserError(
            f"{name}: {show(matrix[row, col])} at {where(int(row))}, column {int(col) + 1}; "
            "a multi-label target holds 0, 1 or NaN (missing)"
        )
    return Targets(torch.from_numpy(values), "multilabel", values.shape[1])


def _zero_one_nan(values: np.ndarray) -> bool:
    with np.errstate(invalid="ignore"):
        return bool(((values == 0) | (values == 1) | np.isnan(values)).all())


def targets_of(y: np.ndarray, name: str, where: Where) -> Targets:
    """The targets an array says: integers or booleans, one per graph: classes; a matrix (graphs ×
    labels) of integers, or of floats that are all 0, 1 or NaN: multi-label; other floats:
    regression (a 1-D float array is one real target per graph)."""
    if not is_real(y.dtype):
        raise UserError(f"{name} must hold numbers (classes, 0/1 labels or real targets); got dtype {y.dtype}")
    if y.ndim not in (1, 2) or (y.ndim == 2 and y.shape[1] == 0):
        raise UserError(f"{name} must be one row per graph (1-D, or graphs × columns); got shape {tuple(y.shape)}")
    integral = y.dtype == np.bool_ or np.issubdtype(y.dtype, np.integer)
    if integral and (y.ndim == 1 or y.shape[1] == 1):
        return class_targets(y, name, where)
    if integral or (y.ndim == 2 and _zero_one_nan(y)):
        return multilabel_targets(y, name, where)
    return regression_targets(y, name, where)
