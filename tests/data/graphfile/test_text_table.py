"""The text-table reader's shared pieces (`gnntool.data.graphfile.text_table`): the number test
both the graph folder and `predict --pairs` tell headers by, and the one id → row lookup."""

from __future__ import annotations

import numpy as np
import pytest

from gnntool.data.graphfile.text_table import IdLookup, is_integer, is_number


@pytest.mark.parametrize("field", ["3", " -2.5 ", "1e3", "3.0", "nan", "+7"])
def test_numbers(field: str) -> None:
    assert is_number(field)


@pytest.mark.parametrize("field", ["", "  ", "id", "x7", "3_0", "0x1F", "1,5"])
def test_not_numbers(field: str) -> None:
    assert not is_number(field)


@pytest.mark.parametrize(
    ("field", "whole"), [("3", True), ("3.0", True), ("1e3", True), ("3.5", False), ("inf", False)]
)
def test_integers(field: str, whole: bool) -> None:
    assert is_integer(field) is whole


def test_lookup_gives_row_positions_and_the_first_unknown_id() -> None:
    lookup = IdLookup(np.array([7, 3, 10, 42, -5]))  # unsorted ids; rows 0..4
    positions, unknown = lookup.rows(np.array([[3, 7], [-5, 42], [10, 10]]))
    assert positions.tolist() == [[1, 4, 2], [0, 3, 2]] and positions.dtype == np.int64
    assert unknown is None
    _, unknown = lookup.rows(np.array([[3, 7], [3, 8], [99, 3]]))
    assert unknown == (1, 8)  # the pair, then the id that is no node's
    _, unknown = lookup.rows(np.array([[100, 3]]))  # beyond the largest id
    assert unknown == (0, 100)
    positions, unknown = lookup.rows(np.empty((0, 2), dtype=np.int64))
    assert positions.shape == (2, 0) and unknown is None
