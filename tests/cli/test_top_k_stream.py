"""`predict --top-k` writes each chunk of sources as it is found (issue 21), byte for byte as the
whole table written at once. Only names the old code had are imported, so the tests fail there
on what they check."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import pytest
import torch
from test_link import link_config, two_communities

from gnntool import export
from gnntool.cli import app
from gnntool.engine.link import top_k
from gnntool.engine.objectives import link
from gnntool.export import Table, write_table

FORMATS = ["csv", "tsv", "npy", "parquet"]


def pair_chunks(sizes: list[int], seed: int = 0) -> list[dict[str, np.ndarray]]:
    """Chunks of a source, target, score, rank table (sizes may be 0)."""
    rng = np.random.default_rng(seed)
    return [
        {
            "source": rng.integers(-5, 10**12, size),
            "target": rng.integers(-5, 10**12, size),
            "score": rng.random(size, dtype=np.float32),
            "rank": np.arange(1, size + 1, dtype=np.int64),
        }
        for size in sizes
    ]


DTYPES = {name: column.dtype for name, column in pair_chunks([0])[0].items()}


def write_at_once(
    chunks: list[dict[str, np.ndarray]], output: str, format: str, header: bool, dtypes: dict = DTYPES
) -> None:
    """The writer as it was: the chunks joined into one table, npy through np.save."""
    table = {
        name: np.concatenate([np.empty(0, dtype)] + [chunk[name] for chunk in chunks]) for name, dtype in dtypes.items()
    }
    binary = np.zeros(len(table["source"]), dtype=list(dtypes.items()))
    for name, column in table.items():
        binary[name] = column
    write_table(table, output, format, header, {"npy": lambda: binary})


def temporary_size(folder: Path) -> int:
    """Bytes in the atomic writer's temporary file(s) of `folder` so far."""
    return sum(path.stat().st_size for path in folder.glob(".*.tmp"))


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    from typer.testing import CliRunner

    tmp = tmp_path_factory.mktemp("link")
    config = link_config(tmp, two_communities(tmp / "g.npz"), epochs=3)
    result = CliRunner().invoke(app, ["train", str(config), "--out", str(tmp / "run"), "-q"])
    assert result.exit_code == 0, result.output
    return tmp / "run"


def spy_on_chunks(monkeypatch: pytest.MonkeyPatch, written: Callable[[], int]) -> list[int]:
    """Patch torch.topk (one call per chunk of sources) to record `written()` at each call."""
    calls: list[int] = []
    real_topk = torch.topk

    def spy(*args, **kwargs):
        calls.append(written())
        return real_topk(*args, **kwargs)

    monkeypatch.setattr(torch, "topk", spy)
    return calls


def write_rows_at_end(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make predict write as it did: every row at once, after the last chunk (the same search, so
    the same chunks and float sums as the streamed run it is compared with)."""

    def all_at_once(chunks: Iterable[Table], dtypes: dict, rows: int, output: str, format: str, header: bool) -> None:
        write_at_once(list(chunks), output, format, header, dtypes)

    monkeypatch.setattr(link, "write_chunked_table", all_at_once)


@pytest.mark.parametrize("format", FORMATS)
def test_predict_top_k_writes_each_chunk_as_found(
    runner, trained: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, format: str
) -> None:
    monkeypatch.setattr(export, "CHUNK_BYTES", 8 * 4 * 100)  # parquet row groups of 100 rows
    monkeypatch.setattr(top_k, "MAX_SCORES", 80 * 10)  # 10 of the 80 sources per chunk
    chunked = tmp_path / "chunked" / f"top.{format}"
    chunked.parent.mkdir()
    calls = spy_on_chunks(monkeypatch, lambda: temporary_size(chunked.parent))
    result = runner.invoke(app, ["predict", str(trained), "--top-k", "60", "--output", str(chunked), "--header"])
    assert result.exit_code == 0, result.output
    assert calls[-1] > 0, "no row reached the output before the last chunk of sources was scored"
    assert len(calls) == 8 and calls == sorted(calls)
    write_rows_at_end(monkeypatch)
    whole = tmp_path / f"whole.{format}"
    result = runner.invoke(app, ["predict", str(trained), "--top-k", "60", "--output", str(whole), "--header"])
    assert result.exit_code == 0, result.output
    assert chunked.read_bytes() == whole.read_bytes()


def test_predict_top_k_to_stdout_streams(runner, trained: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(top_k, "MAX_SCORES", 80 * 10)  # 10 of the 80 sources per chunk
    calls = spy_on_chunks(monkeypatch, lambda: sys.stdout.buffer.getvalue().count(b"\n"))
    chunked = runner.invoke(app, ["predict", str(trained), "--top-k", "5", "--format", "csv", "--header"])
    assert chunked.exit_code == 0, chunked.output
    assert calls == [1 + 50 * i for i in range(8)]  # the header, then 10 sources × 5 rows per chunk
    write_rows_at_end(monkeypatch)
    whole = runner.invoke(app, ["predict", str(trained), "--top-k", "5", "--format", "csv", "--header"])
    assert chunked.stdout == whole.stdout and len(whole.stdout.splitlines()) == 1 + 5 * 80
