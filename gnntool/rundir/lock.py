"""One writer per run directory: an exclusive `fcntl.flock` on RUN/.lock, which holds the writer's pid.

The operating system releases the lock when the process ends, however it ends (`kill -9`, out of
memory), so a lock left behind never blocks a later `--resume`; the file itself stays, harmless.
A tuning study's directory is held shared by each of its workers (`shared=True`): they exclude a
train or sweep writing there, not one another. `is_locked` tells a dead worker's trial (nobody holds
its directory) from a live one's; `waiting_lock` and `first_free_lock` serve the workers' short
critical sections and their numbering.
"""

from __future__ import annotations

import errno
import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from gnntool.errors import UserError

LOCK = ".lock"


def usable_dir(path: Path) -> None:
    """Create directory `path` (and its parents), or a UserError saying why it cannot be one."""
    if path.exists() and not path.is_dir():
        raise UserError(f"{path}: is a file, not a directory; choose another --out")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"{path}: cannot create the directory: {exc.strerror}") from None


def _open(path: Path) -> int:
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as exc:
        raise UserError(f"{path.parent}: cannot write to the directory: {exc.strerror}") from None


def _try_lock(fd: int, path: Path, mode: int = fcntl.LOCK_EX) -> bool:
    """Take `mode` on `fd` without waiting: False if another open file holds a conflicting lock."""
    try:
        fcntl.flock(fd, mode | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            raise UserError(f"{path}: cannot lock: {exc.strerror}") from None
        return False
    return True


@contextmanager
def hold_run_lock(run_dir: Path, shared: bool = False) -> Iterator[None]:
    """Hold `run_dir`'s lock while the block runs (`shared`: alongside other shared holders); a
    UserError naming the holder's pid if another process holds it. Creates `run_dir` if needed."""
    usable_dir(run_dir)
    path = run_dir / LOCK
    fd = _open(path)
    try:
        if not _try_lock(fd, path, fcntl.LOCK_SH if shared else fcntl.LOCK_EX):
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise UserError(
                f"{run_dir}: another gnntool process (pid {holder}) is writing to it; "
                "wait for it to end, or use another --out"
            ) from None
        try:  # a shared holder writes its pid too: any one of them names a process to wait for
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except OSError as exc:
            raise UserError(f"{path}: cannot write: {exc.strerror}") from None
        yield
    finally:
        os.close(fd)  # releases the lock


def is_locked(run_dir: Path) -> bool:
    """Whether some process holds `run_dir`'s lock (False where there is no such directory)."""
    path = run_dir / LOCK
    if not path.is_file():
        return False
    fd = _open(path)
    try:
        return not _try_lock(fd, path)
    finally:
        os.close(fd)


@contextmanager
def waiting_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on file `path` while the block runs, waiting for other holders (who
    hold it for moments only)."""
    fd = _open(path)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


@contextmanager
def first_free_lock(folder: Path, prefix: str) -> Iterator[int]:
    """Hold the first of `folder/<prefix>0.lock`, `<prefix>1.lock`, ... that no process holds and
    yield its number: a number unique among the processes doing this, reused once its holder ends."""
    number = 0
    while True:
        path = folder / f"{prefix}{number}{LOCK}"
        fd = _open(path)
        if _try_lock(fd, path):
            break
        os.close(fd)
        number += 1
    try:
        yield number
    finally:
        os.close(fd)
