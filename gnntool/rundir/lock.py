"""One writer per run directory: an exclusive `fcntl.flock` on RUN/.lock, which holds the writer's pid.

The operating system releases the lock when the process ends, however it ends (`kill -9`, out of
memory), so a lock left behind never blocks a later `--resume`; the file itself stays, harmless.
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


@contextmanager
def hold_run_lock(run_dir: Path) -> Iterator[None]:
    """Hold `run_dir`'s lock while the block runs; a UserError naming the holder's pid if another
    process holds it. Creates `run_dir` if needed."""
    usable_dir(run_dir)
    path = run_dir / LOCK
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as exc:
        raise UserError(f"{run_dir}: cannot write to the directory: {exc.strerror}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise UserError(f"{path}: cannot lock: {exc.strerror}") from None
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise UserError(
                f"{run_dir}: another gnntool process (pid {holder}) is writing to it; "
                "wait for it to end, or use another --out"
            ) from None
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except OSError as exc:
            raise UserError(f"{path}: cannot write: {exc.strerror}") from None
        yield
    finally:
        os.close(fd)  # releases the lock
