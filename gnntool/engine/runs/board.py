"""TensorBoard event files of a run (`output.tensorboard: true`), written by rank 0; torch-free until used.

`RUN/tensorboard/seed-N/` per training seed: per epoch `train/loss`, `val/<metric>` for every
validation metric and `time/epoch_seconds`; when the seed is done, its final metrics
(`final/<split>_<metric>`, at the best epoch) and the flattened config as hyper-parameters, so
TensorBoard's HParams tab lines up the runs of a sweep. A resumed seed starts its writer with
`purge_step` at the first epoch it trains again: TensorBoard drops whatever an earlier process
wrote from that step on, so curves never double back.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gnntool.config import Config
from gnntool.errors import UserError
from gnntool.rundir.layout import TENSORBOARD, fold_dir, seed_dir

if TYPE_CHECKING:
    from gnntool.engine.train import EpochObserver

INSTALL = "pip install 'gnntool[tensorboard]'"
HParam = bool | int | float | str


def summary_writer() -> type:
    """torch's SummaryWriter, or a UserError naming the extra to install."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise UserError(f"output.tensorboard: the tensorboard package is not installed; {INSTALL}") from None
    return SummaryWriter


def check_tensorboard(config: Config) -> None:
    """Fail before training when the config asks for TensorBoard and the package is missing."""
    if config.output.tensorboard:
        summary_writer()


def scalar_tag(key: str) -> str:
    """A history column's tag: loss → train/loss, val_accuracy → val/accuracy, seconds → time/epoch_seconds."""
    if key == "seconds":
        return "time/epoch_seconds"
    split, sep, name = key.partition("_")
    return f"{split}/{name}" if sep and split == "val" else f"train/{key}"


def flatten(value: Any, prefix: str = "") -> dict[str, HParam]:
    """A config dump as `dotted.key → value`; lists become their text, null the string "null"."""
    if isinstance(value, dict):
        flat: dict[str, HParam] = {}
        for key, item in value.items():
            flat.update(flatten(item, f"{prefix}{key}."))
        return flat
    key = prefix.removesuffix(".")
    if value is None:
        return {key: "null"}
    return {key: value if isinstance(value, (bool, int, float, str)) else str(value)}


def final_scalars(metrics: dict[str, Any]) -> dict[str, float]:
    """`final/<split>_<metric>` for every number of a seed's metrics (train, val, test ...)."""
    return {
        f"final/{split}_{name}": float(value)
        for split, values in metrics.items()
        if isinstance(values, dict)
        for name, value in values.items()
        if isinstance(value, (int, float))
    }


@dataclass
class SeedBoard:
    """One seed's event writer, opened at its first epoch (with `purge_step` there)."""

    log_dir: Path | None
    hparams: dict[str, HParam] = field(default_factory=dict)
    writer: Any = None

    @property
    def observers(self) -> list[EpochObserver]:
        return [self.epoch] if self.log_dir is not None else []

    def _writer(self, purge_step: int | None) -> Any:
        if self.writer is None:
            self.writer = summary_writer()(str(self.log_dir), purge_step=purge_step)
        return self.writer

    def epoch(self, row: dict[str, float]) -> None:
        step = int(row["epoch"])
        writer = self._writer(purge_step=step)
        for key, value in row.items():
            if key != "epoch":
                writer.add_scalar(scalar_tag(key), value, step)

    def finish(self, metrics: dict[str, Any], best_epoch: int) -> None:
        """The final metrics as scalars at `best_epoch`, and the hyper-parameters with them."""
        if self.log_dir is None:
            return
        from torch.utils.tensorboard.summary import hparams

        writer = self._writer(purge_step=None)
        final = final_scalars(metrics)
        for tag, value in final.items():
            writer.add_scalar(tag, value, best_epoch)
        for summary in hparams(self.hparams, final):
            writer.file_writer.add_summary(summary)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


@contextmanager
def seed_board(
    config: Config, run_dir: Path, seed: int, enabled: bool = True, fold: int | None = None
) -> Iterator[SeedBoard]:
    """The seed's board (a no-op one unless `output.tensorboard` and `enabled`), closed at the end;
    a cross-validation fold's in its own folder under the seed's (`seed-N/fold-K`)."""
    if not (config.output.tensorboard and enabled):
        yield SeedBoard(None)
        return
    hparams = {**flatten(config.model_dump(mode="json")), "seed": seed, **({"fold": fold} if fold is not None else {})}
    folder = seed_dir(run_dir / TENSORBOARD, seed)
    board = SeedBoard(folder if fold is None else fold_dir(folder, fold), hparams)
    try:
        yield board
    finally:
        board.close()
