"""Node pairs a user asks to score (`predict --pairs FILE|-`): csv/tsv lines `source id, target id`.

Rules, for a file and for standard input alike:

- Lines are UTF-8 (a byte-order mark is allowed); empty and blank lines are skipped.
- The separator is a tab when the first non-empty line holds one, else a comma; a field may be
  wrapped in `"` quotes and surrounded by spaces.
- The first non-empty line is a header, and skipped, when none of its fields is a number
  (`source,target`, `src<TAB>dst`). A line with any number in it is data, so a mistyped first
  row (`12,x7`) is an error, never a silently skipped header.
- Every data line holds exactly two integer node ids (`3` or `3.0`; not `3.5`, `1e3`, `3_0`),
  each one of the graph's ids.

A file is checked whole before anything is returned (`read_pairs`); standard input is read as it
arrives and yields a batch per read (`stream_pairs`), so the rows before a bad line have been
scored when its UserError (naming the line) ends the stream.
"""

from __future__ import annotations

import codecs
import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from gnntool.data.graphfile.text_table import IdLookup, is_number, open_text
from gnntool.errors import UserError

__all__ = ["fd_chunks", "read_pairs", "stream_pairs"]

# stricter than the graph folder's integers (`text_table.is_integer`): no exponent (`1e3`), as the
# module docstring promises
_INTEGER = re.compile(r"[+-]?\d+(\.0*)?")
_CHUNK = 1 << 16


class _Parser:
    """Turns text chunks (any cut, lines may span chunks) into batches of pair positions."""

    def __init__(self, node_id: np.ndarray, name: str) -> None:
        self.name = name
        self.lookup = IdLookup(node_id)
        self.line = 0  # lines read so far
        self.delimiter: str | None = None  # set by the first non-empty line
        self.partial = ""  # a line not yet ended

    def batches(self, chunks: Iterable[str]) -> Iterator[Tensor]:
        for chunk in chunks:
            lines = (self.partial + chunk).split("\n")
            self.partial = lines.pop()
            yield from self._batch(lines)
        if self.partial:
            yield from self._batch([self.partial])
            self.partial = ""

    def _batch(self, lines: list[str]) -> Iterator[Tensor]:
        ids: list[tuple[int, int]] = []
        numbers: list[int] = []
        error = None
        for text in lines:
            self.line += 1
            text = text.rstrip("\r")
            if not text.strip():
                continue
            if self.delimiter is None:
                self.delimiter = "\t" if "\t" in text else ","
                fields = self._fields(text)
                if not any(is_number(field) for field in fields):
                    continue  # a header
            try:
                ids.append(self._pair(text))
            except UserError as problem:
                error = problem
                break
            numbers.append(self.line)
        positions, unknown = self._positions(ids)
        if unknown is not None:
            pair, node = unknown
            error = UserError(f"{self.name} line {numbers[pair]}: node {node} is not a node of the graph")
            positions = positions[:, :pair]
        if positions.size(1):
            yield positions
        if error is not None:
            raise error

    def _fields(self, text: str) -> list[str]:
        return [field.strip().strip('"').strip() for field in text.split(self.delimiter)]

    def _pair(self, text: str) -> tuple[int, int]:
        fields = self._fields(text)
        where = f"{self.name} line {self.line}"
        if len(fields) != 2:
            sep = "a tab" if self.delimiter == "\t" else "a comma"
            raise UserError(
                f"{where} has {len(fields)} fields; a pair is two node ids (source, target) separated by {sep}"
            )
        for field in fields:
            if not _INTEGER.fullmatch(field):
                raise UserError(f"{where}: {field!r} is not an integer node id")
        return int(float(fields[0])), int(float(fields[1]))

    def _positions(self, ids: list[tuple[int, int]]) -> tuple[Tensor, tuple[int, int] | None]:
        """The pairs' row positions (2 × P) and (index, id) of the first pair with an unknown id."""
        if not ids:
            return torch.empty((2, 0), dtype=torch.long), None
        positions, unknown = self.lookup.rows(np.array(ids, dtype=np.int64))
        return torch.from_numpy(positions), unknown


def fd_chunks(fd: int, size: int = _CHUNK) -> Iterator[str]:
    """The text arriving on file descriptor `fd` (standard input: 0), one chunk per read, as soon
    as it arrives (a read returns whatever is there; it waits only when nothing is)."""
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    try:
        while data := os.read(fd, size):
            yield decoder.decode(data)
        yield decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise UserError("the pairs on standard input are not UTF-8 text") from None


def stream_pairs(chunks: Iterable[str], node_id: np.ndarray, name: str = "stdin") -> Iterator[Tensor]:
    """Pairs as they arrive: per chunk of text (e.g. `fd_chunks(0)`), the row positions (2 × P,
    int64, into `node_id`, the graph's node ids) of the pairs completed in it, in input order.

    The first bad line (see the module docstring) ends the stream with a UserError naming
    `name` and the line, after the batch of the good lines before it.
    """
    return _Parser(node_id, name).batches(chunks)


def read_pairs(path: Path | str, node_id: np.ndarray) -> Tensor:
    """Every pair of the file at `path` as row positions (2 × P, int64, into `node_id`, the
    graph's node ids), in the file's order; the whole file is checked first (UserError naming
    the first bad line)."""
    path = Path(path)
    with open_text(path, f"the pairs file {path}") as file:
        batches = list(stream_pairs(iter(lambda: file.read(_CHUNK), ""), node_id, str(path)))
    return torch.cat(batches, 1) if batches else torch.empty((2, 0), dtype=torch.long)
