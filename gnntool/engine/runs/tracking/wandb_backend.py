"""The `wandb` tracker (`pip install 'gnntool[wandb]'`): Weights & Biases runs.

Runs go to `output.wandb.project` (else the config file's stem) and `output.wandb.entity`; the
runs of one command share a `group` (the outermost run's name) and have their kind as
`job_type`. With no API key configured (and no WANDB_MODE set), they run offline, their files
under the run's directory (`RUN/wandb/offline-run-*`, for `wandb sync` later), said once on
stderr. Per-epoch metrics are plotted against `epoch` (W&B's own step only ever grows, so a
resumed run would lose the epochs it logs again); final metrics go to the run's summary.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from gnntool import log
from gnntool.engine.runs.tracking.base import FINISHED, KILLED, Logger, Param, RunInfo, final_scalars, safe_name

INIT_TIMEOUT = "10"  # seconds wandb.init waits for its service and server, unless WANDB_INIT_TIMEOUT says (W&B's: 90)
TAG_LENGTH = 64  # W&B's longest tag
EXIT_CODE = {FINISHED: 0, KILLED: 130}  # failed: 1


def offline_mode(wandb: Any) -> str | None:
    """"offline" when the user set no WANDB_MODE and no API key is configured (said once), else
    None: W&B's own choice."""
    if os.environ.get("WANDB_MODE") or wandb.login(prompt=False, verify=False):
        return None
    log.warn("wandb: no API key configured; logging offline under each run's wandb/ folder (upload with `wandb sync`)")
    return "offline"


class WandbLogger(Logger):
    """One W&B run; the offline decision is taken by the outermost run and shared."""

    run: Any = None
    mode: str | None = None

    def start(self, run: RunInfo, params: Mapping[str, Param], tags: Mapping[str, str], kept: str | None) -> str:
        import wandb

        parent = self.parent if isinstance(self.parent, WandbLogger) else None
        self.mode = parent.mode if parent is not None else offline_mode(wandb)
        output = self.settings.config.output.wandb
        settings = wandb.Settings(
            init_timeout=float(os.environ.get("WANDB_INIT_TIMEOUT", INIT_TIMEOUT)),
            console="off",  # gnntool's own stdout and stderr stay as they are
            silent=True,
            disable_git=True,
            save_code=False,
            x_disable_stats=True,
        )
        self.run = wandb.init(
            dir=str(run.home),
            project=output.project or self.settings.experiment,
            entity=output.entity,
            group=run.group,
            job_type=run.kind,
            name=run.name,
            id=kept,
            resume="allow" if kept else None,
            mode=self.mode,
            config={**{safe_name(key): value for key, value in params.items()},
                    **{f"tags.{key}": value for key, value in tags.items()}},
            tags=[text for text in (f"{key}:{value}" for key, value in tags.items()) if len(text) <= TAG_LENGTH],
            reinit="create_new",
            settings=settings,
        )
        self.run.define_metric("*", step_metric="epoch")
        return self.run.id

    def log_epoch(self, metrics: Mapping[str, float], step: int) -> None:
        self.run.log({"epoch": step, **{safe_name(key): value for key, value in metrics.items()}})

    def log_final(self, metrics: Mapping[str, Any], step: int | None) -> None:
        summary = {safe_name(key): value for key, value in final_scalars(metrics).items()}
        if step is not None:
            summary["final/best_epoch"] = step
        self.run.summary.update(summary)

    def log_artifacts(self, paths: Sequence[Path]) -> None:
        """Copies in the run's files folder, which W&B uploads at the end (offline: at `wandb sync`)."""
        for path in paths:
            shutil.copy2(path, Path(self.run.dir) / path.name)

    def end(self, status: str) -> None:
        self.run.finish(exit_code=EXIT_CODE.get(status, 1))
