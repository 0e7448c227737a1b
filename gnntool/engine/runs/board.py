"""TensorBoard event files of a run (the `tensorboard` tracker), written by rank 0; torch-free until used.

`RUN/tensorboard/seed-N/` per training seed: per epoch `train/loss`, `val/<metric>` for every
validation metric and `time/epoch_seconds`; when the seed is done, its final metrics
(`final/<split>_<metric>`, at the best epoch) and the flattened config as hyper-parameters, so
TensorBoard's HParams tab lines up the runs of a sweep. A resumed seed starts its writer with
`purge_step` at the first epoch it trains again: TensorBoard drops whatever an earlier process
wrote from that step on, so curves never double back. A parent run (several seeds, a study) has
no events of its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from gnntool.engine.runs.tracking.base import Logger, Param, RunInfo, final_scalars
from gnntool.rundir.layout import TENSORBOARD, seed_dir


class TensorBoardLogger(Logger):
    """One training seed's event writer, opened at its first epoch (with `purge_step` there)."""

    artifacts = False  # the events are the run directory's own files

    log_dir: Path | None = None
    hparams: Mapping[str, Param] = {}
    writer: Any = None

    def start(self, run: RunInfo, params: Mapping[str, Param], tags: Mapping[str, str], kept: str | None) -> None:
        if run.seed is not None:
            self.log_dir, self.hparams = seed_dir(run.home / TENSORBOARD, run.seed), params
        return None

    def _writer(self, purge_step: int | None) -> Any:
        if self.writer is None:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(self.log_dir), purge_step=purge_step)
        return self.writer

    def log_epoch(self, metrics: Mapping[str, float], step: int) -> None:
        if self.log_dir is None:
            return
        writer = self._writer(purge_step=step)
        for tag, value in metrics.items():
            writer.add_scalar(tag, value, step)

    def log_final(self, metrics: Mapping[str, Any], step: int | None) -> None:
        """The final metrics as scalars at the best epoch, and the hyper-parameters with them."""
        if self.log_dir is None:
            return
        from torch.utils.tensorboard.summary import hparams

        writer = self._writer(purge_step=None)
        final = final_scalars(metrics)
        for tag, value in final.items():
            writer.add_scalar(tag, value, step)
        for summary in hparams(dict(self.hparams), final):
            writer.file_writer.add_summary(summary)

    def log_artifacts(self, paths: Sequence[Path]) -> None:
        """Nothing: TensorBoard keeps no files."""

    def end(self, status: str) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
