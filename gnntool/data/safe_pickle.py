"""A restricted unpickler for the Planetoid raw files (`ind.<name>.x`, `.graph`, ...).

Those files are Python 2 pickles; a plain `pickle.load` of a file from a mirror or a download runs
whatever the file asks for. `safe_load` resolves only the globals the Planetoid format uses (checked
with pickletools on the shipped Cora and CiteSeer files), under their historical and current module
names, and reads with encoding latin1 as PyG does. Anything else - a forbidden global, a truncated
or corrupt file - is a `UserError` naming the file.

The allowlist maps each accepted (module, name) straight to the object, so unpickling never imports
a module by name (and never touches numpy's/scipy's deprecated aliases `numpy.core`,
`scipy.sparse.csr`, which warn on import).
"""

from __future__ import annotations

import collections
import os
import pickle
from collections.abc import Callable
from typing import IO, Any

from gnntool.errors import UserError

__all__ = ["SafeUnpickler", "safe_load"]


def _numpy_reconstruct() -> Any:
    try:  # numpy 2
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core.multiarray import _reconstruct
    return _reconstruct


def _numpy_ndarray() -> Any:
    import numpy

    return numpy.ndarray


def _numpy_dtype() -> Any:
    import numpy

    return numpy.dtype


def _csr_matrix() -> Any:
    from scipy.sparse import csr_matrix

    return csr_matrix


# (module, name) as written in the pickle -> a function giving the object it may stand for.
_ALLOWED: dict[tuple[str, str], Callable[[], Any]] = {
    ("collections", "defaultdict"): lambda: collections.defaultdict,
    ("__builtin__", "list"): lambda: list,  # Python 2 pickles (the shipped files)
    ("builtins", "list"): lambda: list,
    ("numpy.core.multiarray", "_reconstruct"): _numpy_reconstruct,  # numpy 1 name (shipped files)
    ("numpy._core.multiarray", "_reconstruct"): _numpy_reconstruct,  # numpy 2 name
    ("numpy", "ndarray"): _numpy_ndarray,
    ("numpy", "dtype"): _numpy_dtype,
    ("scipy.sparse.csr", "csr_matrix"): _csr_matrix,  # scipy < 1.8 name (shipped files)
    ("scipy.sparse._csr", "csr_matrix"): _csr_matrix,  # current name
}


class SafeUnpickler(pickle.Unpickler):
    """An Unpickler that resolves only the globals of the Planetoid format."""

    def __init__(self, file: IO[bytes], *, source: str, encoding: str = "latin1") -> None:
        super().__init__(file, encoding=encoding)
        self.source = source

    def find_class(self, module: str, name: str) -> Any:
        resolve = _ALLOWED.get((module, name))
        if resolve is None:
            raise UserError(
                f"{self.source}: refusing to unpickle {module}.{name} "
                "(not part of the Planetoid format)"
            )
        return resolve()

    def persistent_load(self, pid: Any) -> Any:
        raise UserError(
            f"{self.source}: refusing to unpickle a persistent reference "
            "(not part of the Planetoid format)"
        )


def _describe(file: Any) -> str:
    for attr in ("name", "path"):
        value = getattr(file, attr, None)
        if isinstance(value, (str, os.PathLike)):
            return os.fspath(value)
    return "<pickle>"


def _load_from(file: IO[bytes], source: str, encoding: str) -> Any:
    try:
        return SafeUnpickler(file, source=source, encoding=encoding).load()
    except UserError:
        raise
    except MemoryError:
        raise UserError(f"{source}: corrupt pickle (it asks for more memory than there is)") from None
    except Exception as exc:  # EOFError, UnpicklingError, ValueError, struct errors, ...
        detail = str(exc) or type(exc).__name__
        raise UserError(f"{source}: truncated or corrupt pickle ({detail})") from None


def safe_load(file: str | os.PathLike[str] | IO[bytes], *, encoding: str = "latin1") -> Any:
    """Unpickle a Planetoid raw file (a path or a binary file object), refusing foreign globals.

    Has `pickle.load`'s calling convention (`safe_load(f, encoding="latin1")`), so it can stand in
    for it. Every failure is a `UserError` naming the file.
    """
    if isinstance(file, (str, os.PathLike)):
        source = os.fspath(file)
        try:
            with open(file, "rb") as handle:
                return _load_from(handle, source, encoding)
        except OSError as exc:
            raise UserError(f"{source}: cannot read: {exc.strerror or exc}") from None
    return _load_from(file, _describe(file), encoding)
