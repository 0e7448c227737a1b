"""`train.monitor` left for the data to settle: the monitor a run's kind of targets calls for.

Where a dataset leaves its kind of targets to the data (a TU folder or a graphs .npz: classes,
multi-label or regression) and neither `train.monitor` nor `train.loss` is set, the validated
config holds no monitor (`Config.monitor_waits_for_data`). Before anything reads it (the run's
config.yaml, early stopping, a study's direction and tables), `settle_monitor` reads the data,
asks the objective what kind of targets it holds (`Objective.targets_kind`) and sets the monitor
that `ObjectiveTraits.data_monitors` names for that kind. Torch is imported only then, so that
the torch-free paths (a sweep's or a tune's planning) stay so for every other config.
"""

from __future__ import annotations

from typing import Any

from gnntool.config import Config, validate

# (objective, dataset section) -> the settled monitor: a sweep's or a study's points read their data once
_SETTLED: dict[tuple[str, str], str] = {}


def settle_monitor(config: Config, dataset: Any = None) -> Config:
    """`config` with the monitor its data calls for, when it left that to the data; else `config`.
    `dataset`: the data already loaded (else it is loaded here, with `config.seed`)."""
    if not config.monitor_waits_for_data:
        return config
    from gnntool.data import load_dataset
    from gnntool.engine.objectives import OBJECTIVE_CLASSES

    key = (config.train.objective, config.dataset.model_dump_json())
    if key not in _SETTLED or dataset is not None:
        loaded = dataset if dataset is not None else load_dataset(config.dataset, config.seed)
        traits = config.objective_traits
        kind = OBJECTIVE_CLASSES[config.train.objective].targets_kind(loaded)
        # no targets (None): the default, and training says what is missing
        _SETTLED[key] = traits.data_monitors.get(kind, traits.default_monitor) if kind else traits.default_monitor
    raw = config.model_dump(mode="json")
    raw["train"]["monitor"] = _SETTLED[key]
    return validate(raw)
