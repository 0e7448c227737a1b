"""Text tables (csv/tsv) that name nodes: reading them, the number test, and id → row lookup.

One home for what every text reader of the package needs: the graph folder's files
(`features.csv`, `edges.*`, `labels.csv`, held-out pairs) and `predict --pairs`
(`gnntool.engine.link.pairs`) both tell a header from data with `is_number` and turn node ids into
row positions with `IdLookup`, so the two cannot drift apart.
"""

from __future__ import annotations

import csv
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

import numpy as np

from gnntool.data.graphfile.validate import not_whole
from gnntool.errors import UserError

__all__ = ["IdLookup", "TextTable", "header_name", "is_integer", "is_number", "open_text"]


def is_number(field: str) -> bool:
    """Whether a text field is a number (`3`, `-2.5`, `1e3`, `nan`); `3_0` is not, though
    Python's `float` takes it, because no csv writer means a digit separator by it."""
    text = field.strip()
    if not text or "_" in text:
        return False
    try:
        float(text)
    except ValueError:
        return False
    return True


def is_integer(field: str) -> bool:
    """Whether a text field is a whole number (`3`, `3.0`, `1e3`; not `3.5`, `inf`)."""
    if not is_number(field):
        return False
    value = float(field)
    return value == int(value) if np.isfinite(value) else False


def header_name(field: str) -> str:
    """A header field as a name to compare: unquoted, trimmed, lower-case (`"ID"` is `id`)."""
    return field.strip().strip('"').strip().lower()


Columns = int | Sequence[int] | None  # one column, some, or all


def _columns(column: Columns, ncols: int) -> Sequence[int]:
    return range(ncols) if column is None else [column] if isinstance(column, int) else column


def _names_a_column(fields: list[str]) -> bool:
    return any(field and not is_number(field) for field in fields)


class IdLookup:
    """The row position of each node id: sorted once, then any number of lookups.

    `node_id` holds one unique integer per node (row); ids are looked up by binary search, so a
    lookup costs O(P log N) for P ids and no id → row dict is ever built.
    """

    def __init__(self, node_id: np.ndarray) -> None:
        self.order = np.argsort(node_id, kind="stable")
        self.sorted_ids = np.asarray(node_id)[self.order]

    def rows(self, pairs: np.ndarray) -> tuple[np.ndarray, tuple[int, object] | None]:
        """`pairs` (P × 2 node ids; P × 1 for single ids) as row positions (2 × P, int64), and
        `(pair, id)` for the first pair naming an id that is no node's (None when every id is
        known); an unknown id's position is meaningless. Ids may be integers or strings."""
        if len(self.sorted_ids):
            slot = np.minimum(np.searchsorted(self.sorted_ids, pairs), len(self.sorted_ids) - 1)
            found = self.sorted_ids[slot] == pairs
            positions = self.order[slot]
        else:  # no nodes: every id is unknown
            found = np.zeros(pairs.shape, dtype=bool)
            positions = np.zeros(pairs.shape, dtype=np.int64)
        unknown = None
        if not found.all():
            r = int(np.flatnonzero(~found.all(axis=1))[0])
            unknown = r, (pairs[r, 0] if not found[r, 0] else pairs[r, 1]).item()
        return np.ascontiguousarray(positions.T, dtype=np.int64), unknown


@contextmanager
def open_text(path: Path, name: str) -> Iterator[TextIO]:
    """`path` open as UTF-8 text (a byte-order mark is skipped); failures are UserErrors, an
    unreadable file's saying `cannot read {name}`."""
    try:
        with open(path, encoding="utf-8-sig") as file:
            yield file
    except UnicodeDecodeError:
        raise UserError(f"{path} is not a UTF-8 text file") from None
    except OSError as error:
        raise UserError(f"cannot read {name}: {error}") from None


class TextTable:
    """A delimited text file: header detection, vectorised parsing (numpy), precise errors.

    Data rows are numbered from 0 after the header, skipping empty lines (as `numpy.loadtxt`
    does); `where(row)` turns a row into "line N" of the file (a scan, only on the error path).
    """

    def __init__(self, path: Path, delimiter: str) -> None:
        self.path = path
        self.delimiter = delimiter
        self.header: list[str] | None = None
        self.skip = 0  # physical lines before the data (the header and empty lines before it)
        self.ncols = 0
        self.empty = True  # no non-empty line at all

    @classmethod
    def read(cls, path: Path, delimiter: str, is_header: Callable[[list[str]], bool] | None = None) -> TextTable:
        """Open the file far enough to find the header and count the columns. The first non-empty
        line is a header when `is_header(fields)`; by default when a field is not a number."""
        table = cls(path, delimiter)
        for number, line in table._lines():
            if not line:
                continue
            fields = table._split(line)
            if (is_header or _names_a_column)(fields):
                table.header = fields
                table.skip = number
            else:
                table.skip = number - 1
            table.ncols = len(fields)
            table.empty = False
            break
        return table

    def load(self, dtype: type, column: Columns = None, what: str = "number") -> np.ndarray:
        """Every data row (or one column, or some) as a 2-D `dtype` array; malformed rows are UserErrors."""
        try:
            values = self._loadtxt(dtype, column)
        except ValueError as error:
            self._diagnose(column, what)
            raise UserError(f"{self.path} is malformed: {error}") from None
        return self._shaped(values, column)

    def texts(self, column: Columns = None) -> np.ndarray:
        """Every data row (or some columns) as a 2-D array of strings, as written (quotes removed)."""
        return self.load(str, column, "text")

    def check_widths(self) -> None:
        """Every data row must have as many columns as the first line (reading some columns only
        would not notice a longer row)."""
        for _, line in self._data_lines():
            if line.count(self.delimiter) + 1 != self.ncols and len(self._split(line)) != self.ncols:
                self._diagnose(None, "text")

    def integers(self, what: str) -> np.ndarray:
        """All values as int64 (whole-number floats such as `3.0` accepted)."""
        return self._integers(None, what)

    def integer_column(self, column: int, what: str) -> np.ndarray:
        """One column's values as int64, as `integers` reads them."""
        return self._integers(column, what)[:, 0]

    def where(self, row: int) -> str:
        """Where data row `row` is, for messages: "line N" of the file."""
        found = self._row(row)
        return f"line {found[0]}" if found else f"data row {row}"

    def token(self, row: int, column: int) -> str:
        """The text of one value, as written in the file."""
        found = self._row(row)
        if found is None:
            return ""
        fields = self._split(found[1])
        return fields[column] if column < len(fields) else ""

    # --- internals ---

    def _lines(self) -> Iterator[tuple[int, str]]:
        with open_text(self.path, str(self.path)) as f:
            for number, line in enumerate(f, start=1):
                yield number, line.rstrip("\r\n")

    def _data_lines(self) -> Iterator[tuple[int, str]]:
        """The lines after the header, empty ones skipped: data row k is the k-th."""
        for number, line in self._lines():
            if number > self.skip and line:
                yield number, line

    def _row(self, row: int) -> tuple[int, str] | None:
        for seen, found in enumerate(self._data_lines()):
            if seen == row:
                return found
        return None

    def _separator_hint(self) -> str:
        sep = "tabs" if self.delimiter == "\t" else f"'{self.delimiter}'"
        return f" (columns must be separated by {sep})"

    def _split(self, line: str) -> list[str]:
        return [field.strip() for field in next(csv.reader([line], delimiter=self.delimiter, quotechar='"'))]

    def _loadtxt(self, dtype: type, column: Columns) -> np.ndarray:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "input contained no data"
                return np.loadtxt(
                    self.path,
                    delimiter=self.delimiter,
                    dtype=dtype,
                    ndmin=2,
                    skiprows=self.skip,
                    usecols=column,
                    quotechar='"',
                    comments=None,
                    encoding="utf-8-sig",
                )
        except UnicodeDecodeError:
            raise UserError(f"{self.path} is not a UTF-8 text file") from None

    def _shaped(self, values: np.ndarray, column: Columns) -> np.ndarray:
        if values.size == 0:
            return np.empty((0, len(_columns(column, self.ncols))), dtype=values.dtype)
        if column is None:
            if self.header is not None and values.shape[1] != len(self.header):
                named = len(self.header)
                hint = self._separator_hint() if named == 1 else ""
                raise UserError(
                    f"{self.path}: the header (line {self.skip}) names {named} "
                    f"column{'s' if named != 1 else ''} but the rows have {values.shape[1]}{hint}"
                )
            self.ncols = values.shape[1]
        return values

    def _integers(self, column: int | None, what: str) -> np.ndarray:
        try:
            values = self._loadtxt(np.int64, column)
        except ValueError:
            # maybe written as floats ("3.0"): accept whole numbers only
            values = self.load(np.float64, column, what)
            bad = not_whole(values)
            if bad.any():
                r, c = np.argwhere(bad)[0]
                c = int(c) if column is None else column
                raise UserError(
                    f"{self.path} {self.where(int(r))}, column {c + 1}: {self.token(int(r), c)!r} is not an "
                    f"integer {what}"
                ) from None
            return values.astype(np.int64)
        return self._shaped(values, column)

    def _diagnose(self, column: Columns, what: str) -> None:
        """Find the first bad line and raise a UserError saying what is wrong with it."""
        expected = first = 0
        integer = what != "number"
        for number, line in self._data_lines():
            if not line.strip():
                raise UserError(f"{self.path} line {number} holds only whitespace; remove it")
            fields = self._split(line)
            if not first:
                expected, first = len(fields), number
            elif len(fields) != expected:
                hint = self._separator_hint() if self.delimiter not in line else ""
                raise UserError(
                    f"{self.path} line {number} has {len(fields)} column{'s' if len(fields) != 1 else ''} "
                    f"but line {first} has {expected}: every row needs the same number of columns{hint}"
                )
            for c in _columns(column, len(fields)) if what != "text" else ():
                if c >= len(fields):
                    continue
                field = fields[c]
                if not field:
                    raise UserError(f"{self.path} line {number}, column {c + 1} is empty")
                if integer and not is_integer(field):
                    raise UserError(f"{self.path} line {number}, column {c + 1}: {field!r} is not an integer {what}")
                if not is_number(field):
                    raise UserError(f"{self.path} line {number}, column {c + 1}: {field!r} is not a number")
