"""The run directory: its file names, atomic writes, and the model/checkpoint formats.

Every file is written to a temporary name in the same folder and renamed into place, so an
interrupted run never leaves a half-written file that looks complete.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from gnntool.errors import UserError

MODEL_FORMAT_VERSION = 1

CONFIG = "config.yaml"
MODEL = "model.pt"
CHECKPOINT = "checkpoint.pt"
METRICS = "metrics.json"
HISTORY = "history.csv"
EMBEDDINGS = "embeddings.npy"
TYPED_EMBEDDINGS = "embeddings"  # a folder: a typed run's embeddings, one <type>.npy per node type
RUN_INFO = "run.json"
TENSORBOARD = "tensorboard"  # a folder: one sub-folder of event files per seed
TRACKING = "tracking.json"  # the experiment trackers' run ids (output.loggers), so --resume continues them
WANDB = "wandb"  # a folder: W&B's files of the run's W&B runs (offline: everything, for `wandb sync`)
RUN_FILES = (CONFIG, MODEL, CHECKPOINT, METRICS, HISTORY, EMBEDDINGS, RUN_INFO)
SEED_PREFIX = "seed-"  # a multi-seed run keeps each seed's files in RUN/seed-N (and RUN/tensorboard/seed-N)
# What a sweep's and a tuning study's folder holds besides its runs (gnntool.engine.studies writes them).
SWEEP_CSV = "sweep.csv"
SWEEP_JSON = "sweep.json"
TRIALS_CSV = "trials.csv"
BEST_YAML = "best.yaml"
FOLD_PREFIX = "fold-"  # a cross-validated run keeps each fold's files in RUN/fold-K (RUN/seed-N/fold-K with seeds)


TEMPORARY_SUFFIX = ".tmp"


@contextmanager
def atomic_open(path: Path, mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a temporary file beside `path`; on success it replaces `path` in one rename.

    A write that fails for want of space or permission (the previous `path` stays as it was) is a
    UserError naming the file and the reason.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMPORARY_SUFFIX, dir=path.parent)
    except OSError as exc:
        raise UserError(f"{path}: cannot write: {exc.strerror or exc}") from None
    try:
        # mkstemp creates the file private (0600); give it the mode a plain open() would.
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, mode) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        cause = os_error_behind(exc)
        if cause is not None:
            reason = cause.strerror or cause
            raise UserError(f"{path}: cannot write: {reason}; the previous file, if any, is unchanged") from None
        raise


def os_error_behind(exc: BaseException) -> OSError | None:
    """The OSError that `exc` is or arose from (torch.save reports a full disk as a RuntimeError
    raised while handling the OSError), else None. A closed pipe is not a write failure here."""
    if isinstance(exc, RuntimeError):
        exc = exc.__cause__ or exc.__context__
    return exc if isinstance(exc, OSError) and not isinstance(exc, BrokenPipeError) else None


def remove_temporaries(run_dir: Path) -> None:
    """Delete what a killed writer left of unfinished atomic writes (call with the run lock held)."""
    for folder in [run_dir, *seed_dirs(run_dir), *unit_dirs(run_dir)]:
        for path in folder.glob(f".*{TEMPORARY_SUFFIX}"):
            if path.is_file():
                path.unlink(missing_ok=True)


def _umask() -> int:
    mask = os.umask(0)  # reading the umask means setting it; put it straight back
    os.umask(mask)
    return mask


def write_text(path: Path, text: str) -> None:
    with atomic_open(path, "w") as handle:
        handle.write(text)


def write_json(path: Path, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2) + "\n")


def write_csv(path: Path, header: list[str], rows: Iterable[Iterable[Any]]) -> None:
    with atomic_open(path, "w") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def write_with(path: Path, save: Callable[[IO[bytes]], None]) -> None:
    """Atomically write whatever `save(handle)` writes (torch.save, np.save, ...)."""
    with atomic_open(path, "wb") as handle:
        save(handle)


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"{path}: not found") from None
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}: not valid JSON ({exc})") from None


def seed_dir(run_dir: Path, seed: int) -> Path:
    """Where seed `seed` of a multi-seed run keeps its model, history and checkpoint."""
    return run_dir / f"{SEED_PREFIX}{seed}"


def seed_dirs(run_dir: Path) -> list[Path]:
    """The run's seed folders in seed order (any other `seed-*` folder last, by name)."""
    return _numbered_dirs(run_dir, SEED_PREFIX)


def _numbered_dirs(parent: Path, prefix: str) -> list[Path]:
    """The `<prefix>N` folders in `parent` by N (any other `<prefix>*` folder last, by name)."""
    folders = [path for path in parent.glob(f"{prefix}*") if path.is_dir()]
    return sorted(folders, key=lambda path: _number_order(path, prefix))


def _number_order(path: Path, prefix: str) -> tuple[int, int, str]:
    try:
        return (0, int(path.name.removeprefix(prefix)), "")
    except ValueError:  # not written by gnntool, but still under its name pattern
        return (1, 0, path.name)


def fold_dir(parent: Path, fold: int) -> Path:
    """Where fold `fold` of a cross-validated run (or of one seed of it) keeps its files."""
    return parent / f"{FOLD_PREFIX}{fold}"


def fold_dirs(parent: Path) -> list[Path]:
    """The fold folders under `parent` (a run or a seed folder), in fold order."""
    return _numbered_dirs(parent, FOLD_PREFIX)


def unit_dirs(run_dir: Path) -> list[Path]:
    """The folders that each hold one trained model: seed-N, fold-K or seed-N/fold-K, in order."""
    return [unit for parent in [run_dir, *seed_dirs(run_dir)] for unit in fold_dirs(parent)] or seed_dirs(run_dir)


def is_finished(run_dir: Path) -> bool:
    """metrics.json is written last: its presence marks a finished run."""
    return (run_dir / METRICS).is_file()


def typed_embeddings(node_type: str) -> str:
    """Where a typed run keeps one node type's embeddings, relative to the run directory."""
    return f"{TYPED_EMBEDDINGS}/{node_type}.npy"


def has_progress(run_dir: Path) -> bool:
    """An unfinished run worth resuming: a checkpoint, or seeds already (partly) trained."""
    return (run_dir / CHECKPOINT).is_file() or bool(seed_dirs(run_dir)) or bool(fold_dirs(run_dir))


def clear_run(run_dir: Path) -> None:
    """Remove the files a previous run wrote (and only those: --out may be a shared folder)."""
    for name in (*RUN_FILES, TRACKING):
        (run_dir / name).unlink(missing_ok=True)
    for folder in [*seed_dirs(run_dir), *fold_dirs(run_dir), run_dir / TENSORBOARD, run_dir / WANDB]:
        if folder.is_dir():
            shutil.rmtree(folder)
    typed = run_dir / TYPED_EMBEDDINGS
    if typed.is_dir():
        for path in typed.glob("*.npy"):
            path.unlink()
        if not any(typed.iterdir()):
            typed.rmdir()


def load_torch(path: Path) -> dict[str, Any]:
    """Load a model or checkpoint file safely (`weights_only=True`), with user-facing errors."""
    import pickle

    import torch

    if not path.is_file():
        raise UserError(f"{path}: not found (is this a gnntool run directory?)")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError) as exc:
        raise UserError(f"{path}: not a readable gnntool file ({exc})") from None
    if not isinstance(obj, dict) or obj.get("format_version") != MODEL_FORMAT_VERSION:
        raise UserError(
            f"{path}: unsupported format version {obj.get('format_version') if isinstance(obj, dict) else None!r}"
            f" (this gnntool reads version {MODEL_FORMAT_VERSION})"
        )
    return obj


def save_torch(path: Path, obj: dict[str, Any]) -> None:
    import torch

    write_with(path, lambda handle: torch.save({"format_version": MODEL_FORMAT_VERSION, **obj}, handle))
