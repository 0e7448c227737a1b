"""The tracked runs of a command: one training run (and its seeds), a study and its points.

A training run on its own is one tracked run; with several seeds it is a parent with one child
per seed. A study (sweep, tune) is a parent with one child per point (cell, trial); a point with
several seeds has one child per seed instead, tagged with its point. Every run is given the
resolved config as flat parameters (`model.hidden`, ...; a seed's `seed` is its own), tags (the
gnntool version, dataset, arch, objective, seed, run directory) and, at its end, its final
metrics and files.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gnntool
from gnntool.config import Config
from gnntool.engine.runs.tracking.base import Param, RunInfo, flatten
from gnntool.engine.runs.tracking.tracker import Draw, Settings, TrackedRun, Tracking, tracked
from gnntool.rundir.layout import CONFIG, HISTORY, METRICS, seed_dir


@dataclass
class Scope:
    """Where one training run's tracked runs go: on their own, or under a study's run (`parent`)
    as a point of kind `kind` (cell, trial) with the point's `tags`."""

    tracking: Tracking
    parent: TrackedRun | None = None
    kind: str = "run"
    tags: dict[str, str] = field(default_factory=dict)


@contextmanager
def open_tracking(
    config: Config, experiment: str, enabled: bool = True, draw: Draw | None = None
) -> Iterator[Tracking]:
    """The command's trackers (`output.loggers`; none unless `enabled`, e.g. on torchrun's other
    ranks); `experiment` is the default MLflow experiment and W&B project; `draw` adds a finished
    run's pictures to its files (the CLI's curves.png)."""
    tracking = Tracking(config.output.active_loggers if enabled else (), Settings(config, experiment, draw))
    try:
        yield tracking
    finally:
        tracking.close()


def config_tags(config: Config, run_dir: Path) -> dict[str, str]:
    """What every tracked run of `config` is tagged with."""
    return {
        "gnntool": gnntool.__version__,
        "dataset": config.dataset.name,
        "arch": config.model.arch,
        "objective": config.train.objective,
        "run_dir": str(run_dir.resolve()),
    }


def config_params(config: Config, **extra: Param) -> dict[str, Param]:
    return {**flatten(config.model_dump(mode="json")), **extra}


class TrainingRuns:
    """The tracked runs of one training run into `run_dir` with `seeds`."""

    def __init__(self, scope: Scope, config: Config, run_dir: Path, seeds: Sequence[int]) -> None:
        self.scope, self.config, self.run_dir, self.seeds = scope, config, run_dir, list(seeds)
        self.several = len(self.seeds) > 1
        self.group = scope.parent.run.group if scope.parent is not None else run_dir.name
        self.top: TrackedRun | None = None
        self._stack = ExitStack()

    def __enter__(self) -> TrainingRuns:
        # Under a study, a point with several seeds has no run of its own: its seeds are the study's.
        if not (self.several and self.scope.parent is not None):
            seed = None if self.several else self.seeds[0]
            tags = {**self._tags(), "seed": str(seed) if seed is not None else ",".join(map(str, self.seeds))}
            params = config_params(self.config, **({"seed": seed} if seed is not None else {"seeds": len(self.seeds)}))
            info = RunInfo(self.run_dir.name, self.scope.kind, self.run_dir, "run", self.group, seed)
            opened = self.scope.tracking.open(info, params, tags, self.scope.parent)
            self.top = self._stack.enter_context(tracked(opened))
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stack.__exit__(*exc)

    def _tags(self) -> dict[str, str]:
        return {**config_tags(self.config, self.run_dir), **self.scope.tags}

    @contextmanager
    def seed(self, seed: int) -> Iterator[TrackedRun]:
        """The tracked run that trains `seed`: the run itself, or its child for that seed."""
        if not self.several:
            assert self.top is not None
            yield self.top
            return
        name = f"{self.run_dir.name}/seed-{seed}"
        info = RunInfo(name, "seed", self.run_dir, f"seed-{seed}", self.group, seed)
        tags, params = {**self._tags(), "seed": str(seed)}, config_params(self.config, seed=seed)
        with tracked(self.scope.tracking.open(info, params, tags, self.top or self.scope.parent)) as run:
            yield run

    def seed_done(self, run: TrackedRun, seed: int, metrics: Mapping[str, Any], best_epoch: int | None) -> None:
        """A seed of several has written its files: its final metrics and files."""
        if self.several:
            folder = seed_dir(self.run_dir, seed)
            run.finish(metrics, best_epoch, lambda: [folder / METRICS, folder / HISTORY])

    def finish(self, metrics: Mapping[str, Any], best_epoch: int | None) -> None:
        """The run has written metrics.json: its final metrics and files."""
        if self.top is None:
            return
        names = [CONFIG, METRICS] if self.several else [CONFIG, METRICS, HISTORY]
        draw = self.scope.tracking.settings.draw

        def files() -> list[Path]:
            return [*(self.run_dir / name for name in names), *(draw(self.run_dir) if draw else [])]

        self.top.finish(metrics, best_epoch, files)


@contextmanager
def study_run(
    config: Config, experiment: str, out: Path, kind: str, params: Mapping[str, Param], draw: Draw | None = None
) -> Iterator[TrackedRun]:
    """The command's trackers (`open_tracking`) and a study's (sweep's, tune's) tracked run in them,
    the parent of its points; its ids kept in OUT."""
    info = RunInfo(out.name, kind, out, kind, out.name)
    with open_tracking(config, experiment, draw=draw) as tracking:
        with tracked(tracking.open(info, params, config_tags(config, out))) as run:
            yield run


def point_scope(parent: TrackedRun, kind: str, name: str) -> Scope:
    """Where a study's point (cell, trial) `name` is tracked: under `parent`, tagged `kind: name`."""
    return Scope(parent.tracking, parent, kind, {kind: name})
