"""Atomic outputs: written whole or not at all, with the permissions a plain open() gives."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gnntool.rundir.layout import atomic_open, write_text


def test_atomic_file_gets_the_umask_mode(tmp_path: Path) -> None:
    previous = os.umask(0o022)
    try:
        write_text(tmp_path / "a.txt", "x")
        os.umask(0o077)
        write_text(tmp_path / "b.txt", "y")
    finally:
        os.umask(previous)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "b.txt").stat().st_mode & 0o777 == 0o600


def test_failed_write_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), atomic_open(tmp_path / "c.bin") as handle:
        handle.write(b"half")
        raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


def test_seed_dirs_are_in_seed_order(tmp_path: Path) -> None:
    from gnntool.rundir.layout import seed_dir, seed_dirs

    for seed in (10, 2, 0):
        seed_dir(tmp_path, seed).mkdir()
    (tmp_path / "seed-notes").mkdir()
    (tmp_path / "seed-3").write_text("a file, not a seed's folder")
    assert [path.name for path in seed_dirs(tmp_path)] == ["seed-0", "seed-2", "seed-10", "seed-notes"]
