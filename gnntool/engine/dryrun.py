"""`gnntool train CONFIG --dry-run`: everything a run checks before its first step, and no training.

The config is already validated when this runs. Here: the device is resolved, the dataset is
loaded as a run loads it (raw files missing from the data root are named, never downloaded), the
data is checked against the config, and the model is built. Nothing is written to the run
directory; the data root may gain what loading always leaves there (copied raw files, caches).
"""

from __future__ import annotations

from pathlib import Path

import torch

from gnntool.config import Config
from gnntool.data import load_dataset
from gnntool.data.fetch import no_downloads
from gnntool.engine.monitor import settle_monitor
from gnntool.engine.runtime.device import resolve_device
from gnntool.engine.tasks import build_task
from gnntool.engine.train import setup


def dry_run(config: Config, run_dir: Path) -> str:
    """Check `config` as far as a run does before training; return the report (lines of text)."""
    device = resolve_device(config.device)
    with no_downloads("a dry run downloads nothing"):
        dataset = load_dataset(config.dataset, config.seed)
    config = settle_monitor(config, dataset)
    task = build_task(dataset, torch.device("cpu"), config.inference_chunk)
    training = setup(config, task, config.seed)  # the model as a run builds it, to its optimiser
    model = training.model
    parameters = sum(p.numel() for p in model.parameters())
    return "\n".join(
        [
            *training.objective.data_report(),
            f"model: {config.model.arch}, {parameters:,} parameters",
            *(f"  {line}" for line in repr(model).splitlines()),
            f"device: {device}",
            f"run directory: {run_dir} (nothing written: dry run)",
        ]
    )
