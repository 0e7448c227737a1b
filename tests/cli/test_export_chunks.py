"""`write_chunked_table`: each chunk reaches the output before the next is made, and the bytes
are those of the whole table written at once (`write_table`, npy through np.save)."""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from test_top_k_stream import DTYPES, FORMATS, pair_chunks, temporary_size, write_at_once

from gnntool import export
from gnntool.export import write_chunked_table


@pytest.mark.parametrize("header", [False, True])
@pytest.mark.parametrize("format", FORMATS)
@pytest.mark.parametrize("sizes", [[70_001], [9_999, 0, 33_000, 1, 40_000], [], [0]])
def test_chunked_file_is_the_table_written_at_once(tmp_path: Path, format: str, header: bool, sizes) -> None:
    chunks = pair_chunks(sizes)
    write_at_once(chunks, str(tmp_path / f"old.{format}"), format, header)
    rows = sum(sizes)
    write_chunked_table(iter(chunks), DTYPES, rows, str(tmp_path / f"new.{format}"), format, header)
    assert (tmp_path / f"new.{format}").read_bytes() == (tmp_path / f"old.{format}").read_bytes()
    assert not list(tmp_path.glob(".*.tmp"))


@pytest.mark.parametrize("format", ["csv", "tsv"])
def test_chunks_reach_stdout_as_they_come(monkeypatch: pytest.MonkeyPatch, format: str) -> None:
    chunks = pair_chunks([50, 60, 70])
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    write_at_once(chunks, "-", format, True)
    want = sys.stdout.getvalue()

    seen: list[int] = []

    def produce() -> Iterator[dict[str, np.ndarray]]:
        for chunk in chunks:
            seen.append(sys.stdout.getvalue().count("\n"))  # lines out before this chunk is made
            yield chunk

    monkeypatch.setattr(sys, "stdout", io.StringIO())
    write_chunked_table(produce(), DTYPES, 180, "-", format, True)
    assert sys.stdout.getvalue() == want
    assert seen == [1, 51, 111]  # the header, then each chunk before the next is computed


@pytest.mark.parametrize("format", FORMATS)
def test_chunks_reach_the_file_as_they_come(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, format: str) -> None:
    monkeypatch.setattr(export, "CHUNK_BYTES", 8 * 4 * 1000)  # parquet row groups of 1000 rows
    chunks = pair_chunks([3000, 3000, 3000])
    sizes: list[int] = []

    def produce() -> Iterator[dict[str, np.ndarray]]:
        for chunk in chunks:
            sizes.append(temporary_size(tmp_path))
            yield chunk

    write_chunked_table(produce(), DTYPES, 9000, str(tmp_path / f"out.{format}"), format, False)
    assert 0 < sizes[1] < sizes[2]  # the earlier chunks are in the file before the last is made


def test_npy_row_count_must_match(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="10 rows written, 11 announced"):
        write_chunked_table(iter(pair_chunks([10])), DTYPES, 11, str(tmp_path / "out.npy"), "npy", False)
    assert not list(tmp_path.iterdir())  # no file, no temporary left
