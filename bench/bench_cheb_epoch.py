"""A gnntool Chebyshev epoch against a gnntool GCN epoch on the same Planetoid graph.

    python bench/bench_cheb_epoch.py [--dataset CiteSeer] [--k 2 3] [--epochs 10] [--repeats 8]

An epoch is what `gnntool train` runs per epoch (training step + validation pass), built by
gnntool's own functions from `configs/gcn_<dataset>.yaml` and `configs/cheb_cora.yaml` (with the
dataset swapped in and `model.k` set). Warm-up, then interleaved blocks (GCN, cheb k=2, cheb k=3,
GCN, ...) of `--epochs` epochs each; the table gives median epoch times and the ratio to GCN.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import torch

from gnntool.config import load_config
from gnntool.data import load_dataset
from gnntool.engine.evaluate import evaluate
from gnntool.engine.inputs import task_tensors
from gnntool.engine.objectives.supervised import GraphSteps, train_epoch
from gnntool.engine.train import build_optimizer
from gnntool.models import build_model

REPO = Path(__file__).resolve().parent.parent


def make_epoch(config):
    """One gnntool epoch of `config`, as `engine.train.fit` runs it."""
    task = task_tensors(load_dataset(config.dataset, config.seed), torch.device("cpu"))
    torch.manual_seed(config.seed)
    model = build_model(config.model, task.num_features, task.num_classes)
    optimizer = build_optimizer(model, config.train)

    def epoch() -> None:
        train_epoch(model, optimizer, GraphSteps(task, None, 0).steps(0), task.multilabel)
        evaluate(model, task, ("val",))

    return epoch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="CiteSeer")
    parser.add_argument("--k", type=int, nargs="+", default=[2, 3])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=5)
    args = parser.parse_args()
    os.chdir(REPO)
    gcn = load_config(REPO / "configs" / f"gcn_{args.dataset.lower()}.yaml")
    cheb = load_config(REPO / "configs" / "cheb_cora.yaml")
    configs = {"gcn": gcn}
    for k in args.k:
        dataset = cheb.dataset.model_copy(update={"name": args.dataset})
        model = cheb.model.model_copy(update={"k": k})
        configs[f"cheb k={k}"] = cheb.model_copy(update={"dataset": dataset, "model": model})
    epochs = {name: make_epoch(config) for name, config in configs.items()}
    times: dict[str, list[float]] = {name: [] for name in epochs}
    for epoch in epochs.values():
        for _ in range(args.warmup):
            epoch()
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"load average at start: {load}; torch {torch.__version__}, {torch.get_num_threads()} threads")
    for _ in range(args.repeats):
        for name, epoch in epochs.items():
            for _ in range(args.epochs):
                started = time.perf_counter()
                epoch()
                times[name].append(time.perf_counter() - started)
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    gcn_median = statistics.median(times["gcn"])
    print(f"| {args.dataset} epoch (train step + validation) | median ms | × GCN |")
    print("|---|---|---|")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"| {name} | {1000 * median:.2f} | {median / gcn_median:.2f} |")


if __name__ == "__main__":
    main()
