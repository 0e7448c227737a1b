"""Checks on the arrays of a graph, shared by the .npz and the folder reader.

Each check takes the array as read, a `name` for messages (the file, and the array or column),
and `where`, which says where a row is ("row 4" in arrays, "line 6" in text files); it returns the
array in the type the graph holds, or raises a UserError naming the first bad value.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from gnntool.errors import UserError

_EXACT_FLOAT = 2**53  # whole-number floats beyond this cannot name an integer exactly

# row (0-based) -> where it is, for messages: "row 4" in arrays, "line 6" in text files
Where = Callable[[int], str]


def np_col(c: int) -> str:
    """Column `c` of an array, for messages (array positions are 0-based)."""
    return f"column {c}"


def check_features(
    x: np.ndarray,
    name: str,
    num_features: int | None,
    where: Where,
    col: Callable[[int], str],
    text: Callable[[int, int], str] | None = None,
) -> np.ndarray:
    """`x` as float32 after checking shape, type, width and values; `text(r, c)` shows a value."""
    if x.ndim != 2:
        raise UserError(f"{name} must be 2-D (nodes × features); got shape {tuple(x.shape)}")
    if not is_real(x.dtype):
        raise UserError(f"{name} must hold numbers; got dtype {x.dtype}")
    n, width = x.shape
    if n == 0:
        raise UserError(f"{name} has no nodes (0 rows): the graph is empty")
    if width == 0:
        raise UserError(f"{name} has 0 features per node")
    if num_features is not None and width != num_features:
        raise UserError(f"{name} has {width} features per node; the model was trained on {num_features}")
    bad: np.ndarray | None = None
    if np.issubdtype(x.dtype, np.floating):
        finite = np.isfinite(x)
        if not finite.all():
            bad = ~finite
    with np.errstate(over="ignore"):
        out = x.astype(np.float32, copy=False)
    if bad is None and out is not x and np.issubdtype(x.dtype, np.floating):
        finite = np.isfinite(out)
        if not finite.all():  # finite float64 values beyond float32's range
            r, c = np.argwhere(~finite)[0]
            raise UserError(
                f"{name} has {int((~finite).sum())} feature values too large for 32-bit floats "
                f"(first at {where(int(r))}, {col(int(c))}: {show(x[r, c])})"
            )
    if bad is not None:
        r, c = np.argwhere(bad)[0]
        kind = "NaN or infinite" if text is None else "NaN or infinite (or too large for 32-bit floats)"
        raise UserError(
            f"{name} has {int(bad.sum())} {kind} feature values "
            f"(first at {where(int(r))}, {col(int(c))}: {text(int(r), int(c)) if text else show(x[r, c])})"
        )
    return np.ascontiguousarray(out)


def check_node_ids(ids: np.ndarray, n: int, name: str, where: Where) -> np.ndarray:
    """`ids` as int64: one unique integer per node; string ids (a typed folder's) stay strings."""
    if ids.ndim != 1:
        raise UserError(f"{name} must be 1-D (one id per node); got shape {tuple(ids.shape)}")
    if len(ids) != n:
        raise UserError(f"{name} has {len(ids)} ids for {n} nodes (one id per node)")
    if ids.dtype.kind != "U":
        ids = whole_numbers(ids, name, where, "node id")
    duplicate = first_duplicate(ids)
    if duplicate is not None:
        first, second = duplicate
        raise UserError(
            f"{name} has duplicate node id {show(ids[first])} (at {where(first)} and {where(second)}); "
            "node ids must be unique"
        )
    return ids


def first_duplicate(values: np.ndarray) -> tuple[int, int] | None:
    """The positions (in order) of two equal values, of the smallest repeated value; None when all differ."""
    order = np.argsort(values, kind="stable")
    same = np.flatnonzero(values[order][1:] == values[order][:-1])
    if not len(same):
        return None
    first, second = np.sort(order[same[0] : same[0] + 2])
    return int(first), int(second)


def check_positions(edges: np.ndarray, n: int, name: str, where: Where, has: str) -> np.ndarray:
    """`edges` (2 × E, int64) must hold row positions 0..n-1."""
    bad = (edges < 0) | (edges >= n)
    if bad.any():
        e = int(np.flatnonzero(bad.any(axis=0))[0])
        value = int(edges[0, e] if bad[0, e] else edges[1, e])
        raise UserError(
            f"{name} names node position {value} at {where(e)}, out of range: {has} {n} nodes "
            f"(valid positions 0..{n - 1})"
        )
    return edges


def check_labels(
    y: np.ndarray, n: int, name: str, where: Where, has: str, col: Callable[[int], str] = np_col
) -> np.ndarray:
    """`y` as int64 class ids (one per node, ≥ 0), or as a float32 0/1 matrix (multi-label)."""
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim not in (1, 2):
        raise UserError(
            f"{name} must be one class id per node (1-D) or a 0/1 matrix (nodes × classes); got shape {tuple(y.shape)}"
        )
    if len(y) != n:
        raise UserError(f"{name} has {len(y)} labels, but {has} {n} nodes (one label per node)")
    if not is_real(y.dtype):
        raise UserError(f"{name} must hold numbers (class ids or 0/1); got dtype {y.dtype}")
    if y.ndim == 2:
        if y.shape[1] == 0:
            raise UserError(f"{name} has 0 label columns")
        ok = (y == 0) | (y == 1)
        if not ok.all():
            r, c = np.argwhere(~ok)[0]
            raise UserError(
                f"{name} is neither class ids nor a 0/1 matrix: it has {y.shape[1]} columns but holds "
                f"{show(y[r, c])} at {where(int(r))}, {col(int(c))}; a multi-label matrix holds only "
                "0 and 1 (for class ids, give a single column)"
            )
        return y.astype(np.float32)
    if y.dtype == np.bool_:
        return y.astype(np.int64)
    y = whole_numbers(y, name, where, "class id")
    if (y < 0).any():
        r = int(np.flatnonzero(y < 0)[0])
        raise UserError(
            f"{name} holds class id {int(y[r])} at {where(r)}; class ids must be integers ≥ 0 "
            "(every node needs a label)"
        )
    return y


def whole_numbers(a: np.ndarray, name: str, where: Where, what: str) -> np.ndarray:
    """`a` as int64: integers, or floats that are finite whole numbers; unsigned values must fit
    int64, and booleans or other types are refused (`{name} must hold integer {what}s`).

    `a` is 1-D (`where` gets a row) or 2 × E edges (`where` gets the edge, a column).
    """
    if a.dtype == np.bool_ or not is_real(a.dtype):
        raise UserError(f"{name} must hold integer {what}s; got dtype {a.dtype}")

    def first(bad: np.ndarray) -> tuple[int, object]:
        if a.ndim == 1:
            i = int(np.flatnonzero(bad)[0])
            return i, a[i]
        e = int(np.flatnonzero(bad.any(axis=0))[0])
        return e, a[0, e] if bad[0, e] else a[1, e]

    if np.issubdtype(a.dtype, np.floating):
        bad = not_whole(a)
        if bad.any():
            i, value = first(bad)
            raise UserError(f"{name} holds {show(value)} at {where(i)}: a {what} must be an integer")
    elif np.issubdtype(a.dtype, np.unsignedinteger) and a.dtype.itemsize >= 8:
        bad = a > np.iinfo(np.int64).max
        if bad.any():
            i, value = first(bad)
            raise UserError(f"{name} holds {value} at {where(i)}: too large for a {what}")
    return a.astype(np.int64)


def not_whole(a: np.ndarray) -> np.ndarray:
    """Where float array `a` is no integer that int64 holds exactly: NaN, ±inf, a fraction, or
    beyond 2**53 (where floats skip integers)."""
    return ~np.isfinite(a) | (a != np.floor(a)) | (np.abs(a) > _EXACT_FLOAT)


def is_real(dtype: np.dtype) -> bool:
    """Whether `dtype` holds plain numbers (bool, integer or float; not complex, str or object)."""
    return dtype == np.bool_ or np.issubdtype(dtype, np.integer) or np.issubdtype(dtype, np.floating)


def show(value: object) -> str:
    """A value for messages: `3` for 3.0, `'x'` for a string."""
    if isinstance(value, (float, np.floating)):
        value = float(value)
        whole = np.isfinite(value) and value == int(value) and abs(value) < 1e15
        return str(int(value)) if whole else repr(value)
    if isinstance(value, (str, np.str_)):
        return repr(str(value))
    return str(value)
