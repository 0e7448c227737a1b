"""The `mlflow` tracker (`pip install 'gnntool[mlflow]'`), through `MlflowClient`.

The tracking URI is `MLFLOW_TRACKING_URI`, else `output.mlflow.tracking_uri`, else MLflow's
default; the experiment is `output.mlflow.experiment`, else the config file's stem. A child run
carries MLflow's `mlflow.parentRunId` tag, so the UI nests it under its parent. The client's HTTP
retries are bounded (`HTTP_DEFAULTS`, where the user has not set them) so that a server that is
down costs about 10 seconds before the tracker is switched off.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from gnntool.engine.runs.tracking.base import FAILED, FINISHED, KILLED, Logger, Param, RunInfo, final_scalars, safe_name

# Three tries of at most 2 s each, 0 s and 2 s apart (urllib3's backoff): a refused connection
# costs about 2 s, a server that accepts and never answers about 8 s (MLflow's own: 7 retries, 120 s).
HTTP_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "2",
}
STATUS = {FINISHED: "FINISHED", FAILED: "FAILED", KILLED: "KILLED"}
BATCH = 100  # MLflow takes at most 100 params (and 100 tags) per log_batch
PARENT_TAG = "mlflow.parentRunId"


def tracking_uri(settings: Any) -> str | None:
    """MLFLOW_TRACKING_URI, else output.mlflow.tracking_uri, else None (MLflow's default)."""
    return os.environ.get("MLFLOW_TRACKING_URI") or settings.config.output.mlflow.tracking_uri


def make_client(settings: Any) -> Any:
    """An MlflowClient on the configured tracking URI, its HTTP retries bounded."""
    for name, value in HTTP_DEFAULTS.items():
        os.environ.setdefault(name, value)
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri(settings))


def experiment_id(client: Any, name: str) -> str:
    """The id of experiment `name`, created if new (another process may create it first)."""
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    try:
        return client.create_experiment(name)
    except Exception:
        found = client.get_experiment_by_name(name)
        if found is None:
            raise
        return found.experiment_id


class MlflowLogger(Logger):
    """One MLflow run; a parent's client and experiment are shared with its children."""

    client: Any = None
    run_id: str | None = None
    experiment: str | None = None

    def start(self, run: RunInfo, params: Mapping[str, Param], tags: Mapping[str, str], kept: str | None) -> str:
        from mlflow.entities import Param as MlflowParam
        from mlflow.entities import RunTag

        parent = self.parent if isinstance(self.parent, MlflowLogger) else None
        self.client = parent.client if parent is not None else make_client(self.settings)
        if kept is not None:  # --resume: the same run goes on, in its experiment
            self.experiment = self.client.get_run(kept).info.experiment_id
            self.client.update_run(kept, status="RUNNING")
            self.run_id = kept
        else:
            if parent is not None:
                self.experiment = parent.experiment
            else:
                name = self.settings.config.output.mlflow.experiment or self.settings.experiment
                self.experiment = experiment_id(self.client, name)
            self.run_id = self.client.create_run(self.experiment, run_name=run.name).info.run_id
        all_tags = {**{safe_name(key): value for key, value in tags.items()}, "gnntool.kind": run.kind}
        if parent is not None:
            all_tags[PARENT_TAG] = parent.run_id
        param_list = [MlflowParam(safe_name(key), str(value)) for key, value in params.items()]
        tag_list = [RunTag(key, value) for key, value in all_tags.items()]
        for start in range(0, max(len(param_list), len(tag_list)), BATCH):
            chunk = slice(start, start + BATCH)
            self.client.log_batch(self.run_id, params=param_list[chunk], tags=tag_list[chunk])
        return self.run_id

    def _metrics(self, values: Mapping[str, float], step: int) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(safe_name(key), float(value), now, step) for key, value in values.items()]
        if metrics:  # a study's parent has none
            self.client.log_batch(self.run_id, metrics=metrics)

    def log_epoch(self, metrics: Mapping[str, float], step: int) -> None:
        self._metrics(metrics, step)

    def log_final(self, metrics: Mapping[str, Any], step: int | None) -> None:
        self._metrics(final_scalars(metrics), step or 0)

    def log_artifacts(self, paths: Sequence[Path]) -> None:
        for path in paths:
            self.client.log_artifact(self.run_id, str(path))

    def end(self, status: str) -> None:
        self.client.set_terminated(self.run_id, status=STATUS[status])
