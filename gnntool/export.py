"""Per-node tables (embeddings, predictions) to a file or stdout: npy, pt, csv, tsv or parquet.

A table is an ordered mapping of column name → 1-D array, the node id first. Text and parquet
are written in chunks of rows, so a large graph never becomes one giant string or table; binary
formats cannot go to stdout (a terminal or pipe would get bytes it cannot use). Parquet needs
pyarrow (`pip install 'gnntool[parquet]'`). `write_chunked_table` writes a table that arrives as
a sequence of row chunks (top-k link prediction) as each chunk comes, byte for byte what
`write_table` writes for the chunks joined.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from gnntool.errors import UserError
from gnntool.rundir.layout import atomic_open, write_with

CHUNK_BYTES = 1 << 20  # text is formatted and written about a megabyte at a time

Table = dict[str, np.ndarray]
Payload = Any  # a binary format's own form of a table (npy: an array; pt: a dict of tensors)


def resolve_format(output: str, format: str | None, formats: tuple[str, ...]) -> str:
    """`--format` if given, else the output file's suffix, else tsv (as the contract says)."""
    if format is None:
        suffix = Path(output).suffix.lstrip(".").lower() if output != "-" else ""
        format = suffix if suffix in formats else "tsv"
    if format not in formats:
        raise UserError(f"--format {format}: unknown format; choose one of {', '.join(formats)}")
    if output == "-" and not FORMATS[format].text:
        raise UserError(f"--format {format} is binary and cannot go to stdout: give --output FILE")
    return format


def cell_format(column: np.ndarray) -> str:
    """Integers as integers, floats losslessly for float32 (9 significant digits), text as is."""
    if np.issubdtype(column.dtype, np.integer):
        return "%d"
    if np.issubdtype(column.dtype, np.floating):
        return "%.9g"
    return "%s"


def write_text_lines(handle: IO[str], table: Table, sep: str) -> None:
    """One line per row (the header is `write_text_rows`')."""
    columns = list(table.values())
    row_format = sep.join(cell_format(column) for column in columns) + "\n"
    chunk_rows = max(1, CHUNK_BYTES // (12 * len(columns)))
    for start in range(0, len(columns[0]), chunk_rows):
        rows = zip(*(column[start : start + chunk_rows].tolist() for column in columns))
        handle.write("".join(row_format % row for row in rows))


def import_pyarrow() -> tuple[Any, Any]:
    """pyarrow and pyarrow.parquet, else a UserError saying how to install them."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise UserError("--format parquet needs pyarrow: pip install 'gnntool[parquet]'") from None
    return pa, pq


def parquet_rows(columns: int) -> int:
    """Rows per parquet row group: about a megabyte of 8-byte cells."""
    return max(1, CHUNK_BYTES // (8 * columns))


def write_parquet(path: Path, table: Table, payload: Payload) -> None:
    """The table's columns, one row group per chunk of rows."""
    del payload  # parquet holds the table's columns themselves
    pa, pq = import_pyarrow()
    arrays = {name: pa.array(column) for name, column in table.items()}
    schema = pa.schema([(name, array.type) for name, array in arrays.items()])
    chunk_rows = parquet_rows(len(arrays))
    with atomic_open(path, "wb") as handle, pq.ParquetWriter(handle, schema) as writer:
        for start in range(0, len(next(iter(table.values()))), chunk_rows):
            columns = [array.slice(start, chunk_rows) for array in arrays.values()]
            writer.write_table(pa.Table.from_arrays(columns, schema=schema))


def write_npy(path: Path, table: Table, payload: Payload) -> None:
    """npy holds the payload (an array), never pickled objects."""
    del table
    write_with(path, lambda handle: np.save(handle, payload, allow_pickle=False))


def write_pt(path: Path, table: Table, payload: Payload) -> None:
    """pt holds the payload (a dict of tensors), read back with `torch.load(weights_only=True)`."""
    import torch

    del table
    write_with(path, lambda handle: torch.save(payload, handle))


def write_table(
    table: Table, output: str, format: str, header: bool, payloads: dict[str, Callable[[], Payload]] | None = None
) -> None:
    """Write `table` as text to a file or stdout, or in a binary format to a file: parquet holds
    the table, npy and pt the payload that `payloads[format]()` makes (the format's own form of it)."""
    chosen = FORMATS[format]
    if chosen.separator is not None:
        write_text_chunks([table], list(table), output, chosen.separator, header)
    else:
        payload = payloads[format]() if payloads and format in payloads else None
        chosen.write(Path(output), table, payload)


def id_column(node_id: np.ndarray) -> np.ndarray:
    """Node ids as written: int64, or the input's own strings (a typed folder's ids) as they are."""
    return node_id if node_id.dtype.kind in "UO" else node_id.astype(np.int64)


def id_payload(node_id: np.ndarray) -> Any:
    """Node ids in a .pt file: an int64 tensor, or a list of the input's strings."""
    import torch

    ids = id_column(node_id)
    return [str(value) for value in ids] if ids.dtype.kind in "UO" else torch.from_numpy(ids)


def write_embeddings(embeddings: np.ndarray, node_id: np.ndarray, output: str, format: str, header: bool) -> None:
    """Embeddings (nodes × dim, float32) with their node ids: columns id, dim_0, dim_1, ...

    npy holds the float32 matrix alone (rows in node order); pt holds
    `{"embeddings": float32 tensor, "node_id": int64 tensor}` (a list of strings for string ids).
    """
    table = {"id": id_column(node_id)} | {f"dim_{i}": embeddings[:, i] for i in range(embeddings.shape[1])}
    matrix = np.ascontiguousarray(embeddings, dtype=np.float32)

    def tensors() -> dict[str, Any]:
        import torch

        return {"embeddings": torch.from_numpy(matrix), "node_id": id_payload(node_id)}

    write_table(table, output, format, header, {"npy": lambda: matrix, "pt": tensors})


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
    table = {"id": id_column(node_id), "predicted": predicted}
    table |= {f"p_{c}": probabilities[:, c].astype(np.float32) for c in range(classes)}

    def records() -> np.ndarray:
        fields = [
            ("id", id_column(node_id).dtype),
            ("predicted", np.int8 if multilabel else np.int64, (classes,) if multilabel else ()),
        ]
        array = np.zeros(len(node_id), dtype=fields + [("probability", np.float32, (classes,))])
        array["id"], array["probability"] = node_id, probabilities
        array["predicted"] = chosen if multilabel else predicted
        return array

    write_table(table, output, format, header, {"npy": records})


def write_pair_table(table: Table, output: str, format: str, header: bool) -> None:
    """Rows of node pairs (link prediction): columns source, target, score (and rank); npy holds
    a structured array with the same fields."""
    dtypes = {name: column.dtype for name, column in table.items()}
    write_chunked_table([table], dtypes, len(table["source"]), output, format, header)


def write_chunked_table(
    chunks: Iterable[Table], dtypes: dict[str, np.dtype], rows: int, output: str, format: str, header: bool
) -> None:
    """Write the rows of `chunks` (tables with the columns and dtypes of `dtypes`, `rows` rows in
    all) as csv/tsv/npy (a structured array)/parquet, each chunk as it comes, so only one chunk's
    rows are held at a time. The bytes are those of `write_table` for the chunks joined."""
    chosen = FORMATS[format]
    if chosen.separator is not None:
        write_text_chunks(chunks, list(dtypes), output, chosen.separator, header)
    elif chosen.write_chunks is not None:
        chosen.write_chunks(Path(output), chunks, dtypes, rows)
    else:
        raise ValueError(f"{format}: not a format of chunked tables")


def write_text_chunks(chunks: Iterable[Table], names: list[str], output: str, sep: str, header: bool) -> None:
    """csv/tsv to a file (through its temporary file) or stdout."""
    if output == "-":
        write_text_rows(sys.stdout, chunks, names, sep, header)
    else:
        with atomic_open(Path(output), "w") as handle:
            write_text_rows(handle, chunks, names, sep, header)


def write_text_rows(handle: IO[str], chunks: Iterable[Table], names: list[str], sep: str, header: bool) -> None:
    """The header, then each chunk's lines, flushed: a reader of stdout sees the rows while the
    rest are being computed."""
    if header:
        handle.write(sep.join(names) + "\n")
    handle.flush()
    for chunk in chunks:
        write_text_lines(handle, chunk, sep)
        handle.flush()


def write_npy_chunks(path: Path, chunks: Iterable[Table], dtypes: dict[str, np.dtype], rows: int) -> None:
    """A structured array of `rows` rows: the header that `np.save` writes for that shape (format
    version 1.0, as np.save picks for a header this short), then each chunk's records."""
    dtype = np.dtype(list(dtypes.items()))
    header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": (rows,)}
    written = 0
    with atomic_open(path, "wb") as handle:
        np.lib.format.write_array_header_1_0(handle, header)
        for chunk in chunks:
            records = np.zeros(len(next(iter(chunk.values()))), dtype=dtype)
            for name, column in chunk.items():
                records[name] = column
            handle.write(records.tobytes())
            written += len(records)
        if written != rows:  # a wrong count would leave a file np.load misreads: drop it instead
            raise RuntimeError(f"{path}: {written} rows written, {rows} announced in the npy header")


def write_parquet_chunks(path: Path, chunks: Iterable[Table], dtypes: dict[str, np.dtype], rows: int) -> None:
    """Parquet row groups of `parquet_rows` rows, as `write_parquet` cuts them, each written once
    its rows have arrived."""
    del rows  # parquet needs no count up front
    pa, pq = import_pyarrow()
    schema = pa.schema([(name, pa.from_numpy_dtype(dtype)) for name, dtype in dtypes.items()])
    with atomic_open(path, "wb") as handle, pq.ParquetWriter(handle, schema) as writer:
        for group in rebatch(chunks, parquet_rows(len(dtypes))):
            columns = [pa.array(column) for column in group.values()]
            writer.write_table(pa.Table.from_arrays(columns, schema=schema))


def rebatch(chunks: Iterable[Table], size: int) -> Iterator[Table]:
    """The rows of `chunks` in tables of `size` rows (the last one shorter), holding at most one
    chunk and one batch's rows."""
    pending: list[Table] = []
    held = 0
    for chunk in chunks:
        pending.append(chunk)
        held += len(next(iter(chunk.values())))
        if held < size:
            continue
        joined = join_tables(pending)
        full = held - held % size
        for start in range(0, full, size):
            yield {name: column[start : start + size] for name, column in joined.items()}
        pending, held = [{name: column[full:] for name, column in joined.items()}], held - full
    if held:
        yield join_tables(pending)


def join_tables(tables: list[Table]) -> Table:
    """The tables' rows, one after another (tables with the same columns)."""
    return {name: np.concatenate([table[name] for table in tables]) for name in tables[0]}


@dataclass(frozen=True)
class Format:
    """One output format of embed and predict.

    A text format (`separator` between cells) goes to a file or stdout; a binary one to a file
    only, through `write` (the whole table, or the payload a command makes for it) and, where it
    can take rows as they come, `write_chunks`. `commands` are the commands that offer it.
    """

    name: str
    commands: tuple[str, ...]
    separator: str | None = None
    write: Callable[[Path, Table, Payload], None] | None = None
    write_chunks: Callable[[Path, Iterable[Table], dict[str, np.dtype], int], None] | None = None

    @property
    def text(self) -> bool:
        return self.separator is not None


BOTH = ("embed", "predict")
FORMATS: dict[str, Format] = {
    format.name: format
    for format in (
        Format("npy", BOTH, write=write_npy, write_chunks=write_npy_chunks),
        Format("csv", BOTH, separator=","),
        Format("tsv", BOTH, separator="\t"),
        Format("pt", ("embed",), write=write_pt),
        Format("parquet", BOTH, write=write_parquet, write_chunks=write_parquet_chunks),
    )
}


def formats_of(command: str) -> tuple[str, ...]:
    """The names of the formats `command` offers, in the table's order."""
    return tuple(name for name, format in FORMATS.items() if command in format.commands)


EMBED_FORMATS = formats_of("embed")
PREDICT_FORMATS = formats_of("predict")
