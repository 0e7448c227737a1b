"""Per-node tables (embeddings) to a file or stdout, in npy, pt, csv, tsv or parquet.

Text and parquet are written in chunks of rows so a large graph never becomes one giant string
or table; binary formats cannot go to stdout (a terminal or pipe would get bytes it cannot use).
Parquet needs pyarrow (`pip install 'gnntool[parquet]'`).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import IO

import numpy as np

from gnntool.errors import UserError
from gnntool.outputs import atomic_open, write_with

FORMATS = ("npy", "csv", "tsv", "pt", "parquet")
TEXT_FORMATS = {"csv": ",", "tsv": "\t"}
CHUNK_BYTES = 1 << 20  # text is formatted and written about a megabyte at a time


def resolve_format(output: str, format: str | None) -> str:
    """`--format` if given, else the output file's suffix, else tsv (as the contract says)."""
    if format is None:
        suffix = Path(output).suffix.lstrip(".").lower() if output != "-" else ""
        format = suffix if suffix in FORMATS else "tsv"
    if format not in FORMATS:
        raise UserError(f"--format {format}: unknown format; choose one of {', '.join(FORMATS)}")
    if output == "-" and format not in TEXT_FORMATS:
        raise UserError(f"--format {format} is binary and cannot go to stdout: give --output FILE")
    return format


def write_text_table(
    handle: IO[str], node_id: np.ndarray, values: np.ndarray, sep: str, header: list[str] | None
) -> None:
    """Rows of `id<sep>v1<sep>v2...`, float32 values printed losslessly (9 significant digits)."""
    if header is not None:
        handle.write(sep.join(header) + "\n")
    row_format = sep.join(["%d"] + ["%.9g"] * values.shape[1]) + "\n"
    chunk_rows = max(1, CHUNK_BYTES // (12 * (values.shape[1] + 1)))
    for start in range(0, len(values), chunk_rows):
        ids = node_id[start : start + chunk_rows].tolist()
        rows = values[start : start + chunk_rows].tolist()
        handle.write("".join(row_format % (i, *row) for i, row in zip(ids, rows)))


def write_embeddings(
    embeddings: np.ndarray, node_id: np.ndarray, output: str, format: str, header: bool
) -> None:
    """Write `embeddings` (nodes × dim, float32) with their node ids to `output` (a path or -)."""
    columns = ["id"] + [f"dim_{i}" for i in range(embeddings.shape[1])] if header else None
    if format in TEXT_FORMATS:
        if output == "-":
            write_text_table(sys.stdout, node_id, embeddings, TEXT_FORMATS[format], columns)
            sys.stdout.flush()
        else:
            with atomic_open(Path(output), "w") as handle:
                write_text_table(handle, node_id, embeddings, TEXT_FORMATS[format], columns)
    elif format == "npy":
        write_with(Path(output), lambda handle: np.save(handle, embeddings))
    elif format == "parquet":
        write_parquet(Path(output), node_id, embeddings)
    elif format == "pt":
        import torch

        payload = {
            "embeddings": torch.from_numpy(np.ascontiguousarray(embeddings, dtype=np.float32)),
            "node_id": torch.from_numpy(node_id.astype(np.int64)),
        }
        write_with(Path(output), lambda handle: torch.save(payload, handle))


def write_parquet(path: Path, node_id: np.ndarray, values: np.ndarray) -> None:
    """Columns `id`, `dim_0`, ...; one row group per chunk of rows."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise UserError("--format parquet needs pyarrow: pip install 'gnntool[parquet]'") from None
    schema = pa.schema([("id", pa.int64())] + [(f"dim_{i}", pa.float32()) for i in range(values.shape[1])])
    chunk_rows = max(1, CHUNK_BYTES // (4 * (values.shape[1] + 2)))
    with atomic_open(path, "wb") as handle, pq.ParquetWriter(handle, schema) as writer:
        for start in range(0, len(values), chunk_rows):
            columns = [pa.array(node_id[start : start + chunk_rows].astype(np.int64))]
            columns += [pa.array(column) for column in values[start : start + chunk_rows].T.astype(np.float32)]
            writer.write_table(pa.Table.from_arrays(columns, schema=schema))
