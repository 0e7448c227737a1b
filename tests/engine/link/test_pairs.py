"""Pair files and streams (`predict --pairs`): formats, header rule, bad lines, streaming."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gnntool.engine.link.pairs import fd_chunks, read_pairs, stream_pairs
from gnntool.errors import UserError

NODE_ID = np.array([7, 3, 10, 42, 0, -5])  # a graph's ids, unsorted; positions 0..5
POSITION = {int(v): i for i, v in enumerate(NODE_ID)}
ids = st.sampled_from([int(v) for v in NODE_ID])
pairs_st = st.lists(st.tuples(ids, ids), max_size=30)


def render(pairs: list[tuple[int, int]], sep: str, header: bool, padded: bool, crlf: bool) -> str:
    end = "\r\n" if crlf else "\n"
    lines = [f"source{sep}target"] if header else []
    for k, (u, v) in enumerate(pairs):
        fields = [f' "{u}" ', f"{v}.0 "] if padded and k % 2 else [str(u), str(v)]
        lines.append(sep.join(fields))
        if padded and k % 3 == 0:
            lines.append("")  # blank lines are skipped
    return end.join(lines) + (end if pairs else "")


def cut(text: str, points: list[int]) -> list[str]:
    bounds = sorted({0, len(text), *(p % (len(text) + 1) for p in points)})
    return [text[a:b] for a, b in itertools.pairwise(bounds)]


def expected(pairs: list[tuple[int, int]]) -> torch.Tensor:
    return torch.tensor([[POSITION[u] for u, _ in pairs], [POSITION[v] for _, v in pairs]], dtype=torch.long).view(
        2, -1
    )


def collect(chunks: list[str]) -> tuple[torch.Tensor, UserError | None]:
    got: list[torch.Tensor] = []
    error = None
    try:
        got.extend(stream_pairs(chunks, NODE_ID))
    except UserError as problem:
        error = problem
    return (torch.cat(got, 1) if got else torch.empty((2, 0), dtype=torch.long)), error


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    pairs=pairs_st,
    sep=st.sampled_from([",", "\t"]),
    header=st.booleans(),
    padded=st.booleans(),
    crlf=st.booleans(),
    points=st.lists(st.integers(0, 10_000), max_size=6),
)
def test_valid_input_reads_the_same_from_file_and_stream(
    tmp_path: Path, pairs, sep, header, padded, crlf, points
) -> None:
    text = render(pairs, sep, header, padded, crlf)
    got, error = collect(cut(text, points))
    assert error is None and torch.equal(got, expected(pairs))
    path = tmp_path / "pairs.csv"
    path.write_text(text, encoding="utf-8-sig")
    assert torch.equal(read_pairs(path, NODE_ID), expected(pairs))


BAD_LINES = ["7", "7,3,10", "7,x", "7;3", "3.5,7", "1e3,7", "3_0,7", "7,99", "-6,7", "x,7,", '7,""']


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    before=pairs_st, after=pairs_st, bad=st.sampled_from(BAD_LINES), points=st.lists(st.integers(0, 10_000), max_size=4)
)
def test_first_bad_line_is_named_and_ends_the_stream(tmp_path: Path, before, after, bad, points) -> None:
    lines = [f"{u},{v}" for u, v in before] + [bad] + [f"{u},{v}" for u, v in after]
    text = "\n".join(["src,dst", *lines]) + "\n"
    number = len(before) + 2  # the header is line 1
    got, error = collect(cut(text, points))
    assert error is not None and f"stdin line {number}" in str(error)
    assert torch.equal(got, expected(before))  # what came before was yielded, nothing after
    path = tmp_path / "pairs.csv"
    path.write_text(text)
    with pytest.raises(UserError, match=f"pairs.csv line {number}"):
        read_pairs(path, NODE_ID)


def test_header_rule() -> None:
    assert collect(["a,b\n7,3\n"])[0].tolist() == [[0], [1]]  # no number: a header
    got, error = collect(["12,x7\n7,3\n"])  # a number in it: a bad data row, not a header
    assert got.numel() == 0 and "line 1" in str(error)
    got, error = collect(["\n\n10\t42\n"])  # tab-separated, blank lines first
    assert error is None and got.tolist() == [[2], [3]]


def test_unknown_id_names_the_node() -> None:
    _, error = collect(["7,3\n42,99\n"])
    assert "stdin line 2: node 99 is not a node of the graph" in str(error)


def test_empty_and_unreadable_files(tmp_path: Path) -> None:
    (tmp_path / "empty.csv").write_text("source,target\n")
    assert read_pairs(tmp_path / "empty.csv", NODE_ID).shape == (2, 0)
    (tmp_path / "latin.csv").write_bytes(b"7,3\n\xff\xfe,1\n")
    with pytest.raises(UserError, match="not a UTF-8"):
        read_pairs(tmp_path / "latin.csv", NODE_ID)
    with pytest.raises(UserError, match="cannot read"):
        read_pairs(tmp_path / "missing.csv", NODE_ID)


def test_fd_chunks_yields_what_has_arrived() -> None:
    read, write = os.pipe()
    os.write(write, "\ufeff7,3\n42,".encode())
    batches = stream_pairs(fd_chunks(read), NODE_ID)
    assert next(batches).tolist() == [[0], [1]]  # scored before the rest arrives
    os.write(write, b"10\n")
    os.close(write)
    assert [b.tolist() for b in batches] == [[[3], [2]]]
    os.close(read)
