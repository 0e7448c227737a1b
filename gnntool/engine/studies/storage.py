"""Where a tuning study lives: an Optuna RDB URL (SQLite by default) or `journal:PATH`, Optuna's
journal storage on a file (`JournalStorage` over `JournalFileBackend`).

The journal file is an append-only log of operations, written under a lock file made with an
atomic `link()`/`open(O_EXCL)` rather than `fcntl`, which is what makes it the safe choice on a
shared (NFS) filesystem, where SQLite's `fcntl` locking is not to be trusted. The default for one
process is `sqlite:///OUT/tune.db` (as before); `--workers` defaults to `journal:OUT/tune.journal`;
an existing study file under OUT is continued whatever the flags.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gnntool.errors import UserError

JOURNAL = "journal:"
JOURNAL_FILE = "tune.journal"
SQLITE_FILE = "tune.db"


def default_storage(out: Path, workers: int) -> str:
    """The study's storage when --storage is not given: the study file already under `out`, else a
    journal file for several workers, else SQLite."""
    journal, sqlite = out / JOURNAL_FILE, out / SQLITE_FILE
    if journal.is_file() or (workers > 1 and not sqlite.is_file()):
        return f"{JOURNAL}{journal}"
    return f"sqlite:///{sqlite.resolve()}"


def open_storage(url: str, optuna: Any) -> Any:
    """The Optuna storage a URL names: `journal:PATH` (the file created if need be), else any URL
    Optuna's `get_storage` takes."""
    if not url.startswith(JOURNAL):
        return optuna.storages.get_storage(url)
    path = Path(url.removeprefix(JOURNAL))
    if not url.removeprefix(JOURNAL).strip() or path.is_dir():
        raise UserError(f"--storage {url}: journal:PATH needs a file path, e.g. journal:runs/study/tune.journal")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        backend = journal_file_backend(optuna)(str(path))
    except OSError as exc:
        raise UserError(f"--storage {url}: cannot write {path}: {exc.strerror or exc}") from None
    return optuna.storages.JournalStorage(backend)


def journal_file_backend(optuna: Any) -> Any:
    """Optuna's journal file class: `journal.JournalFileBackend` since Optuna 4.0, before it
    `JournalFileStorage` (pyproject allows optuna>=3.4)."""
    journal = getattr(optuna.storages, "journal", None)
    return getattr(journal, "JournalFileBackend", None) or optuna.storages.JournalFileStorage
