"""Typed graphs: a full-batch R-GCN epoch, gnntool against PyG's own `RGCNConv`, and a
neighbour-sampled typed GraphSAGE epoch, on the generated typed graph; printed as one table.

    python bench/bench_typed.py [--nodes 100000] [--repeats 3] [--epochs 5] [--threads N]

The graph is `synthetic_typed` (`--nodes` nodes, average degree 10, 128 features, 10 classes,
two relations, seed 0), generated in every measuring process. Both full-batch sides train the
same model: 2 layers, 128 -> 64 -> 10, a weight per relation and a root weight, mean per
relation, ReLU, dropout 0.5, Adam (lr 0.01, weight decay 5e-4), cross-entropy on the training
nodes; gnntool's through `gnntool.models.build_typed_model` and its typed operators, PyG's as two
`torch_geometric.nn.RGCNConv(aggr="mean")` layers on the graph's edge_index and edge_type (pure
torch: PyG's default path without pyg-lib's segment matmul). Rows: seconds per epoch (median
over `--epochs` epochs after one warm-up), and peak RSS of the measuring process (the graph, the
model and training). The sampled row is gnntool's typed GraphSAGE (mean, hidden 64, fanout
[10, 10] on every relation, batches of 1024 seeds, the next batch prepared in a background
thread): training seeds per second over one epoch.

Every measurement runs in a fresh process (`--side`), the sides alternating, `--repeats` each;
the table gives medians. DGL's heterograph sampling (`HeteroGraphConv(SAGEConv)`) needs DGL 2.1
in its own virtualenv (docs/speed.md) and is not part of this script.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
FEATURES, CLASSES, HIDDEN, DEGREE = 128, 10, 64, 10
TRAIN = {"lr": 0.01, "weight_decay": 5e-4}


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def typed_dataset(nodes: int):
    from gnntool.config import validate
    from gnntool.data import load_dataset

    config = validate({"dataset": {"name": "synthetic_typed", "nodes": nodes, "avg_degree": DEGREE,
                                   "features": FEATURES, "classes": CLASSES}})  # fmt: skip
    return config, load_dataset(config.dataset, 0)


def epochs_seconds(step, epochs: int) -> float:
    """Median seconds of `epochs` calls of `step` after one warm-up call."""
    step()
    times = []
    for _ in range(epochs):
        started = time.perf_counter()
        step()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def ours(nodes: int, epochs: int) -> dict[str, float]:
    import torch
    import torch.nn.functional as F

    from gnntool.config import validate
    from gnntool.engine.tasks import build_task
    from gnntool.models import build_typed_model

    _, dataset = typed_dataset(nodes)
    task = build_task(dataset, torch.device("cpu"))
    config = validate({"model": {"arch": "rgcn", "hidden": HIDDEN, "dropout": 0.5}})
    torch.manual_seed(0)
    model = build_typed_model(config.model, task.schema, CLASSES)
    optimizer = torch.optim.Adam(model.parameters(), **TRAIN)
    graph, mask = task.graph, task.masks["train"]
    labels = graph.y[mask]

    def step() -> None:
        model.train()
        optimizer.zero_grad(set_to_none=True)
        logits = model(graph.x, graph.node_ids, graph.ops)[task.target]
        F.cross_entropy(logits[mask], labels).backward()
        optimizer.step()

    return {"epoch_s": epochs_seconds(step, epochs), "peak_rss_gib": peak_rss_gib()}


def pyg(nodes: int, epochs: int) -> dict[str, float]:
    import torch
    import torch.nn.functional as F
    from torch_geometric.nn import RGCNConv

    _, dataset = typed_dataset(nodes)
    graph = dataset.graph
    relations = dataset.relations()
    edge_index = torch.cat([graph[relation].edge_index for relation in relations], dim=1)
    edge_type = torch.cat([torch.full((graph[r].edge_index.size(1),), i) for i, r in enumerate(relations)])
    x, mask = graph[dataset.target].x, dataset.masks["train"]
    labels = dataset.y[mask]
    torch.manual_seed(0)
    convs = torch.nn.ModuleList([RGCNConv(FEATURES, HIDDEN, len(relations)), RGCNConv(HIDDEN, CLASSES, len(relations))])
    optimizer = torch.optim.Adam(convs.parameters(), **TRAIN)

    def step() -> None:
        convs.train()
        optimizer.zero_grad(set_to_none=True)
        h = F.relu(convs[0](F.dropout(x, 0.5), edge_index, edge_type))
        logits = convs[1](F.dropout(h, 0.5), edge_index, edge_type)
        F.cross_entropy(logits[mask], labels).backward()
        optimizer.step()

    return {"epoch_s": epochs_seconds(step, epochs), "peak_rss_gib": peak_rss_gib()}


def sampled(nodes: int, epochs: int) -> dict[str, float]:
    import torch

    from gnntool.config import validate
    from gnntool.engine.objectives import build_objective
    from gnntool.engine.steps import EpochPosition
    from gnntool.engine.tasks import build_task
    from gnntool.engine.train import build_optimizer

    _, dataset = typed_dataset(nodes)
    config = validate({
        "dataset": {"name": "synthetic_typed", "nodes": nodes},
        "model": {"arch": "sage", "hidden": HIDDEN, "dropout": 0.5},
        "train": {"batch_size": 1024, "fanout": [10, 10], **TRAIN},
    })  # fmt: skip
    task = build_task(dataset, torch.device("cpu"), config.inference_chunk)
    objective = build_objective(config, task, 0)
    torch.manual_seed(0)
    model = objective.build_model()
    optimizer = build_optimizer(model, config.train)
    started = time.perf_counter()
    objective.train_epoch(model, optimizer, 0, EpochPosition())
    seconds = time.perf_counter() - started
    return {"seeds_per_s": int(task.masks["train"].sum()) / seconds, "peak_rss_gib": peak_rss_gib()}


SIDES = {"gnntool": ours, "pyg": pyg, "sampled": sampled}


def measure(side: str, args: argparse.Namespace) -> dict[str, Any]:
    """One fresh process measuring `side`."""
    command = [sys.executable, __file__, "--side", side, "--nodes", str(args.nodes), "--epochs", str(args.epochs)]
    if args.threads:
        command += ["--threads", str(args.threads)]
    done = subprocess.run(command, capture_output=True, text=True, check=True, env={"PYTHONPATH": str(REPO)})
    return json.loads(done.stdout.splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0, help="torch threads in each process (0: torch's default)")
    parser.add_argument("--side", choices=list(SIDES), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        import torch

        if args.threads:
            torch.set_num_threads(args.threads)
        print(json.dumps(SIDES[args.side](args.nodes, args.epochs)))
        return
    runs: dict[str, list[dict[str, Any]]] = {side: [] for side in SIDES}
    for _ in range(args.repeats):
        for side in SIDES:
            runs[side].append(measure(side, args))
    median = {
        side: {key: statistics.median(run[key] for run in rows) for key in rows[0]} for side, rows in runs.items()
    }
    ours_row, pyg_row = median["gnntool"], median["pyg"]
    print(f"synthetic_typed, {args.nodes:,} nodes, {args.repeats} processes per side (medians)")
    print("| | gnntool | PyG RGCNConv | gnntool / PyG |")
    print("|---|---|---|---|")
    print(f"| full-batch R-GCN epoch (s) | {ours_row['epoch_s']:.3f} | {pyg_row['epoch_s']:.3f} | "
          f"{ours_row['epoch_s'] / pyg_row['epoch_s']:.2f}x |")  # fmt: skip
    print(f"| peak RSS (GiB) | {ours_row['peak_rss_gib']:.2f} | {pyg_row['peak_rss_gib']:.2f} | "
          f"{ours_row['peak_rss_gib'] / pyg_row['peak_rss_gib']:.2f}x |")  # fmt: skip
    print(f"| sampled typed GraphSAGE (training seeds/s) | {median['sampled']['seeds_per_s']:,.0f} | | |")


if __name__ == "__main__":
    main()
