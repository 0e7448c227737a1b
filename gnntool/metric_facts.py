"""What gnntool knows about each metric it reports, torch-free: one table, read everywhere.

Whether a metric is shown in percent, which way is better and which one a result is quoted in
are decided here only: the sweep and tune tables, `gnntool plot`, `main_metric` (the metric a
run's log and plot title quote) and the monitor's ranking of epochs (`score`) all read `METRICS`,
so a metric looks and ranks the same everywhere. Plot and the tables import this without torch.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MetricFacts:
    """One metric. `percent`: a share of nodes (or labels) shown ×100 with one decimal (81.7);
    else four decimals (0.9390). `primary`: its rank as the metric a result is quoted in (0 first),
    None if it never is."""

    percent: bool
    higher_is_better: bool = True
    primary: int | None = None


PREFIX = "@"  # a key ending in it stands for every name it begins: `hits@` for hits@20, hits@50, ...

METRICS: dict[str, MetricFacts] = {
    # ROC-AUC: OGB's metric for ogbn-proteins and link prediction's; quoted as 0.xxx, as both do.
    "auc": MetricFacts(percent=False, primary=0),
    "micro_f1": MetricFacts(percent=True, primary=1),  # multi-label tasks are quoted in micro-F1
    "accuracy": MetricFacts(percent=True, primary=2),
    "probe_micro_f1": MetricFacts(percent=True, primary=3),  # unsupervised: a linear probe's scores
    "probe_accuracy": MetricFacts(percent=True, primary=4),
    "rmse": MetricFacts(percent=False, higher_is_better=False, primary=5),  # regression (graph objective)
    "loss": MetricFacts(percent=False, higher_is_better=False, primary=6),  # when there is nothing else
    "macro_f1": MetricFacts(percent=True),
    "ap": MetricFacts(percent=False),
    "mrr": MetricFacts(percent=False),
    "hits@": MetricFacts(percent=False),  # hits@K for every K in train.hits_k
    # knowledge graphs' filtered ranking (gnntool.engine.link.filtered): hits@1, @3, @10
    "filtered_mrr": MetricFacts(percent=False),
    "filtered_hits@": MetricFacts(percent=False),
    "mae": MetricFacts(percent=False, higher_is_better=False),
}

_RANKS = {name: entry.primary for name, entry in METRICS.items() if entry.primary is not None}
PRIMARY_ORDER = tuple(sorted(_RANKS, key=_RANKS.__getitem__))  # auc, micro_f1, ..., loss


def facts(name: str) -> MetricFacts:
    """The table's entry for `name` (`hits@20` finds `hits@`); a KeyError for a metric it lacks."""
    if name in METRICS:
        return METRICS[name]
    for key, entry in METRICS.items():
        if key.endswith(PREFIX) and name.startswith(key):
            return entry
    raise KeyError(f"metric {name!r} is not in gnntool.metric_facts.METRICS")


def main_metric(metrics: dict[str, float]) -> str:
    """The metric a result is quoted in: the first of `PRIMARY_ORDER` that `metrics` has (ROC-AUC,
    micro-F1, accuracy, their probe versions), else the loss."""
    return next((name for name in PRIMARY_ORDER if name in metrics), "loss")


def score(metrics: dict[str, float], monitor: str) -> tuple[float, ...]:
    """An epoch's rank under `monitor` (`val_<metric>`): higher is better, so a lower-is-better
    metric counts negated. Ties, common in accuracy on 500 nodes, go to the lower loss."""
    name = monitor.removeprefix("val_")
    value = metrics[name] if facts(name).higher_is_better else -metrics[name]
    return (value,) if name == "loss" else (value, -metrics["loss"])


def minimise(monitor: str) -> bool:
    """Whether a study minimises the monitored `val_<metric>`."""
    return not facts(monitor.removeprefix("val_")).higher_is_better


def format_value(metric: str, mean: float | None, std: float | None) -> str:
    """`81.7 ± 1.1` for a percent metric, `0.9390 ± 0.0070` for the others; "" for no value."""
    if mean is None:
        return ""
    if facts(metric).percent:
        return f"{100 * mean:.1f}" + (f" ± {100 * std:.1f}" if std is not None else "")
    return f"{mean:.4f}" + (f" ± {std:.4f}" if std is not None else "")
