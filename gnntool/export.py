"""Per-node tables (embeddings, predictions) to a file or stdout: npy, pt, csv, tsv or parquet.

A table is an ordered mapping of column name → 1-D array, the node id first. Text and parquet
are written in chunks of rows, so a large graph never becomes one giant string or table; binary
formats cannot go to stdout (a terminal or pipe would get bytes it cannot use). Parquet needs
pyarrow (`pip install 'gnntool[parquet]'`).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import IO

import numpy as np

from gnntool.errors import UserError
from gnntool.outputs import atomic_open, write_with

TEXT_FORMATS = {"csv": ",", "tsv": "\t"}
CHUNK_BYTES = 1 << 20  # text is formatted and written about a megabyte at a time

Table = dict[str, np.ndarray]


def resolve_format(output: str, format: str | None, formats: tuple[str, ...]) -> str:
    """`--format` if given, else the output file's suffix, else tsv (as the contract says)."""
    if format is None:
        suffix = Path(output).suffix.lstrip(".").lower() if output != "-" else ""
        format = suffix if suffix in formats else "tsv"
    if format not in formats:
        raise UserError(f"--format {format}: unknown format; choose one of {', '.join(formats)}")
    if output == "-" and format not in TEXT_FORMATS:
        raise UserError(f"--format {format} is binary and cannot go to stdout: give --output FILE")
    return format


def cell_format(column: np.ndarray) -> str:
    """Integers as integers, floats losslessly for float32 (9 significant digits), text as is."""
    if np.issubdtype(column.dtype, np.integer):
        return "%d"
    if np.issubdtype(column.dtype, np.floating):
        return "%.9g"
    return "%s"


def write_text_table(handle: IO[str], table: Table, sep: str, header: bool) -> None:
    """One line per node; `header` adds a first line of column names."""
    if header:
        handle.write(sep.join(table) + "\n")
    columns = list(table.values())
    row_format = sep.join(cell_format(column) for column in columns) + "\n"
    chunk_rows = max(1, CHUNK_BYTES // (12 * len(columns)))
    for start in range(0, len(columns[0]), chunk_rows):
        rows = zip(*(column[start : start + chunk_rows].tolist() for column in columns))
        handle.write("".join(row_format % row for row in rows))


def write_parquet(path: Path, table: Table) -> None:
    """The table's columns, one row group per chunk of rows."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise UserError("--format parquet needs pyarrow: pip install 'gnntool[parquet]'") from None
    arrays = {name: pa.array(column) for name, column in table.items()}
    schema = pa.schema([(name, array.type) for name, array in arrays.items()])
    chunk_rows = max(1, CHUNK_BYTES // (8 * len(arrays)))
    with atomic_open(path, "wb") as handle, pq.ParquetWriter(handle, schema) as writer:
        for start in range(0, len(next(iter(table.values()))), chunk_rows):
            columns = [array.slice(start, chunk_rows) for array in arrays.values()]
            writer.write_table(pa.Table.from_arrays(columns, schema=schema))


def write_table(table: Table, output: str, format: str, header: bool, binary: np.ndarray | dict | None = None) -> None:
    """Write `table` as csv/tsv/parquet; npy and pt write `binary` (the format's own payload)."""
    if format in TEXT_FORMATS:
        if output == "-":
            write_text_table(sys.stdout, table, TEXT_FORMATS[format], header)
            sys.stdout.flush()
        else:
            with atomic_open(Path(output), "w") as handle:
                write_text_table(handle, table, TEXT_FORMATS[format], header)
    elif format == "parquet":
        write_parquet(Path(output), table)
    elif format == "npy":
        write_with(Path(output), lambda handle: np.save(handle, binary, allow_pickle=False))
    elif format == "pt":
        import torch

        write_with(Path(output), lambda handle: torch.save(binary, handle))


EMBED_FORMATS = ("npy", "csv", "tsv", "pt", "parquet")


def write_embeddings(embeddings: np.ndarray, node_id: np.ndarray, output: str, format: str, header: bool) -> None:
    """Embeddings (nodes × dim, float32) with their node ids: columns id, dim_0, dim_1, ...

    npy holds the float32 matrix alone (rows in node order); pt holds
    `{"embeddings": float32 tensor, "node_id": int64 tensor}`.
    """
    table = {"id": node_id.astype(np.int64)} | {f"dim_{i}": embeddings[:, i] for i in range(embeddings.shape[1])}
    binary: np.ndarray | dict | None = None
    if format == "npy":
        binary = np.ascontiguousarray(embeddings, dtype=np.float32)
    elif format == "pt":
        import torch

        binary = {
            "embeddings": torch.from_numpy(np.ascontiguousarray(embeddings, dtype=np.float32)),
            "node_id": torch.from_numpy(node_id.astype(np.int64)),
        }
    write_table(table, output, format, header, binary)


PREDICT_FORMATS = ("csv", "tsv", "npy", "parquet")


def write_predictions(
    probabilities: np.ndarray, node_id: np.ndarray, multilabel: bool, output: str, format: str, header: bool
) -> None:
    """Per node: id, the prediction, then one probability per class (p_0, p_1, ...).

    Single-label: `predicted` is the most probable class id. Multi-label: `predicted` lists the
    labels with probability > 0.5, separated by `;` (empty when none). npy holds a structured
    array with the same fields (the label set as a 0/1 row).
    """
    if multilabel:
        chosen = probabilities > 0.5
        predicted = np.array([";".join(map(str, np.flatnonzero(row))) for row in chosen])
    else:
        predicted = probabilities.argmax(axis=1).astype(np.int64)
    classes = probabilities.shape[1]
    table = {"id": node_id.astype(np.int64), "predicted": predicted}
    table |= {f"p_{c}": probabilities[:, c].astype(np.float32) for c in range(classes)}
    binary = None
    if format == "npy":
        fields = [
            ("id", np.int64),
            ("predicted", np.int8 if multilabel else np.int64, (classes,) if multilabel else ()),
        ]
        binary = np.zeros(len(node_id), dtype=fields + [("probability", np.float32, (classes,))])
        binary["id"], binary["probability"] = node_id, probabilities
        binary["predicted"] = chosen if multilabel else predicted
    write_table(table, output, format, header, binary)


def write_pair_table(table: Table, output: str, format: str, header: bool) -> None:
    """Rows of node pairs (link prediction): columns source, target, score (and rank); npy holds
    a structured array with the same fields."""
    binary = None
    if format == "npy":
        binary = np.zeros(len(table["source"]), dtype=[(name, column.dtype) for name, column in table.items()])
        for name, column in table.items():
            binary[name] = column
    write_table(table, output, format, header, binary)
