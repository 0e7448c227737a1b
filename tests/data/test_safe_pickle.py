"""The restricted unpickler for the Planetoid raw files."""

from __future__ import annotations

import io
import os
import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse

from gnntool import shipped
from gnntool.data.safe_pickle import safe_load
from gnntool.errors import UserError

SHIPPED = shipped.data_dir() / "Planetoid"
PICKLED = ["x", "tx", "allx", "y", "ty", "ally", "graph"]  # test.index is a text file
SHIPPED_FILES = [
    SHIPPED / name / "raw" / f"ind.{name.lower()}.{part}"
    for name in ("Cora", "CiteSeer")
    for part in PICKLED
]


def plain_load(path: Path) -> object:
    with open(path, "rb") as f, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numpy.core / scipy.sparse.csr deprecation aliases
        return pickle.load(f, encoding="latin1")


class RunsCommand:
    """Unpickling this runs a shell command (the attack the safe loader exists to stop)."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


@pytest.mark.parametrize("path", SHIPPED_FILES, ids=lambda p: p.name)
def test_reads_shipped_files_like_pickle(path: Path) -> None:
    expected = plain_load(path)
    got = safe_load(path)
    assert type(got) is type(expected)
    if scipy.sparse.issparse(expected):
        assert got.shape == expected.shape and got.dtype == expected.dtype
        assert (got != expected).nnz == 0
        np.testing.assert_array_equal(got.toarray(), expected.toarray())
    elif isinstance(expected, np.ndarray):
        assert got.dtype == expected.dtype
        np.testing.assert_array_equal(got, expected)
    else:  # the graph: defaultdict(list) of neighbour lists
        assert got.default_factory is expected.default_factory is list
        assert got == expected


def test_accepts_a_file_object() -> None:
    path = SHIPPED / "Cora" / "raw" / "ind.cora.y"
    with open(path, "rb") as f:
        got = safe_load(f, encoding="latin1")
    np.testing.assert_array_equal(got, plain_load(path))


@pytest.mark.parametrize("protocol", [3, 4])
def test_reads_current_module_names(protocol: int) -> None:
    # What Python 3 with numpy 2 / current scipy writes: builtins.list, numpy._core.multiarray,
    # scipy.sparse._csr. (Protocol 5 pickles arrays through numpy._core.numeric._frombuffer, and
    # Python 3's protocol 2 pickles bytes through _codecs.encode: neither is in the format.)
    from collections import defaultdict

    graph = defaultdict(list, {0: [1, 2], 1: [0]})
    got = safe_load(io.BytesIO(pickle.dumps(graph, protocol)))
    assert got == graph and got.default_factory is list

    labels = np.arange(6, dtype=np.int32).reshape(2, 3)
    got = safe_load(io.BytesIO(pickle.dumps(labels, protocol)))
    assert got.dtype == labels.dtype
    np.testing.assert_array_equal(got, labels)

    matrix = scipy.sparse.csr_matrix(np.eye(3, dtype=np.float32))
    got = safe_load(io.BytesIO(pickle.dumps(matrix, protocol)))
    assert type(got) is type(matrix) and (got != matrix).nnz == 0


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_refuses_os_system(tmp_path: Path, protocol: int) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "ind.cora.x"
    path.write_bytes(pickle.dumps(RunsCommand(f"touch {marker}"), protocol=protocol))
    with pytest.raises(UserError) as info:
        safe_load(path)
    message = str(info.value)
    assert str(path) in message
    assert "refusing to unpickle" in message and "system" in message
    assert "not part of the Planetoid format" in message
    assert not marker.exists()


def test_refuses_forbidden_global_nested_in_allowed_structure(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    payload = pickle.dumps([np.zeros(2), {"a": RunsCommand(f"touch {marker}")}], protocol=2)
    with pytest.raises(UserError, match="refusing to unpickle"):
        safe_load(io.BytesIO(payload))
    assert not marker.exists()


@pytest.mark.parametrize(
    "payload, name",
    [
        (b"c__builtin__\neval\n(S'1+1'\ntR.", "__builtin__.eval"),  # Python 2 spelling
        (b"cbuiltins\neval\n(S'1+1'\ntR.", "builtins.eval"),
        (b"csubprocess\ncall\n(S'true'\ntR.", "subprocess.call"),
        (b"cnumpy\nload\n(S'x'\ntR.", "numpy.load"),
    ],
)
def test_refuses_other_globals(payload: bytes, name: str) -> None:
    with pytest.raises(UserError, match=f"refusing to unpickle {name}"):
        safe_load(io.BytesIO(payload))


def test_refuses_persistent_ids() -> None:
    with pytest.raises(UserError, match="persistent"):
        safe_load(io.BytesIO(b"P1\n."))


@pytest.mark.parametrize("keep", [0, 1, 100, 0.5])
def test_truncated_file_is_a_user_error(tmp_path: Path, keep: float) -> None:
    data = (SHIPPED / "Cora" / "raw" / "ind.cora.x").read_bytes()
    path = tmp_path / "ind.cora.x"
    path.write_bytes(data[: int(len(data) * keep) if isinstance(keep, float) else keep])
    with pytest.raises(UserError, match="truncated or corrupt pickle") as info:
        safe_load(path)
    assert str(path) in str(info.value)


def test_garbage_is_a_user_error(tmp_path: Path) -> None:
    path = tmp_path / "ind.cora.x"
    path.write_bytes(b"\x80\x02\xff\xfe not a pickle at all")
    with pytest.raises(UserError, match="truncated or corrupt pickle"):
        safe_load(path)


def test_missing_file_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="cannot read"):
        safe_load(tmp_path / "nope")
