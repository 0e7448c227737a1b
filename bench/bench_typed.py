"""Typed graphs: a full-batch R-GCN epoch, gnntool against PyG's own `RGCNConv`, and a
neighbour-sampled typed GraphSAGE epoch, on the generated typed graph; printed as one table.

    python bench/bench_typed.py [--nodes 100000] [--repeats 3] [--epochs 5] [--threads N]
                                [--dgl-python /work/dgl-venv/bin/python] [--root data] [--dgl-workers 0]

The graph is `synthetic_typed` (`--nodes` nodes, average degree 10, 128 features, 10 classes,
two relations, seed 0), generated in every measuring process. Both full-batch sides train the
same model: 2 layers, 128 -> 64 -> 10, a weight per relation and a root weight, mean per
relation, ReLU, dropout 0.5, Adam (lr 0.01, weight decay 5e-4), cross-entropy on the training
nodes; gnntool's through `gnntool.models.build_typed_model` and its typed operators, PyG's as two
`torch_geometric.nn.RGCNConv(aggr="mean")` layers on the graph's edge_index and edge_type (pure
torch: PyG's default path without pyg-lib's segment matmul). Rows: seconds per epoch (median
over `--epochs` epochs after one warm-up), and peak RSS of the measuring process (the graph, the
model and training).

The sampled table: one epoch (epoch 0, every training node once) of typed GraphSAGE (mean, 2
layers, hidden 64, dropout 0.5 on each layer's input, ReLU, fanout [10, 10] on every relation,
batches of 1024 seeds, Adam lr 0.01 and weight decay 5e-4, cross-entropy on the seeds): training
seeds per second over the whole epoch and peak RSS. gnntool runs `gnntool train`'s epoch
(`objective.train_epoch`, the next batch prepared in a background thread, glibc's allocator set as
the command sets it). DGL 2.1 trains the same model on the same batches: the graph (each
relation's edges as gnntool samples them, the features, the labels) and gnntool's epoch-0 order
of the training nodes are written once as .npy files under `--root` that DGL's side reads; a
heterograph, `dgl.dataloading.NeighborSampler([10, 10])` (10 per relation at each hop, as
gnntool's list) and `DataLoader` over those seeds in that order (DGL's defaults otherwise:
sampling in the training thread; `--dgl-workers N` samples in N worker processes), two
`HeteroGraphConv({relation: SAGEConv(..., "mean")}, aggregate="sum")` layers.

Every measurement runs in a fresh process (`--side`), the sides alternating, `--repeats` each;
the tables give medians. DGL's side runs in its own virtualenv (`--dgl-python`; the recipe is in
docs/speed.md); without that interpreter the DGL table is left out. This file runs under both
interpreters: its top level imports the standard library only.
"""

from __future__ import annotations

import argparse
import json
import os
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
FANOUT, BATCH, DROPOUT = [10, 10], 1024, 0.5
DEFAULT_DGL_PYTHON = "/work/dgl-venv/bin/python"


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


def ours(args: argparse.Namespace) -> dict[str, float]:
    import torch
    import torch.nn.functional as F

    from gnntool.config import validate
    from gnntool.engine.tasks import build_task
    from gnntool.models import build_typed_model

    _, dataset = typed_dataset(args.nodes)
    task = build_task(dataset, torch.device("cpu"))
    config = validate({"model": {"arch": "rgcn", "hidden": HIDDEN, "dropout": DROPOUT}})
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

    return {"epoch_s": epochs_seconds(step, args.epochs), "peak_rss_gib": peak_rss_gib()}


def pyg(args: argparse.Namespace) -> dict[str, float]:
    import torch
    import torch.nn.functional as F
    from torch_geometric.nn import RGCNConv

    _, dataset = typed_dataset(args.nodes)
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

    return {"epoch_s": epochs_seconds(step, args.epochs), "peak_rss_gib": peak_rss_gib()}


def sampled_objective(nodes: int):
    """gnntool's typed GraphSAGE run on the generated graph: its config, task and objective."""
    import torch

    from gnntool.config import validate
    from gnntool.engine.objectives import build_objective
    from gnntool.engine.tasks import build_task

    _, dataset = typed_dataset(nodes)
    config = validate({
        "dataset": {"name": "synthetic_typed", "nodes": nodes},
        "model": {"arch": "sage", "hidden": HIDDEN, "dropout": DROPOUT},
        "train": {"batch_size": BATCH, "fanout": FANOUT, **TRAIN},
    })  # fmt: skip
    task = build_task(dataset, torch.device("cpu"), config.inference_chunk)
    return config, task, build_objective(config, task, 0)


def sampled(args: argparse.Namespace) -> dict[str, float]:
    import torch

    from gnntool.engine.runtime.allocator import retain_freed_memory
    from gnntool.engine.steps import EpochPosition
    from gnntool.engine.train import build_optimizer

    retain_freed_memory()  # as the gnntool command sets it
    config, task, objective = sampled_objective(args.nodes)
    torch.manual_seed(0)
    model = objective.build_model()
    optimizer = build_optimizer(model, config.train)
    started = time.perf_counter()
    objective.train_epoch(model, optimizer, 0, EpochPosition())
    seconds = time.perf_counter() - started
    return {"seeds_per_s": int(task.masks["train"].sum()) / seconds, "peak_rss_gib": peak_rss_gib()}


def export_dir(args: argparse.Namespace) -> Path:
    return Path(args.root) / "bench_typed" / f"n{args.nodes}_d{DEGREE}_f{FEATURES}_c{CLASSES}"


def export_graph(args: argparse.Namespace) -> Path:
    """Write the graph and gnntool's epoch-0 order of the training nodes as .npy files that DGL's
    side reads (once): per node type `x__<type>.npy`, per relation `<src>__<rel>__<dst>.npy`
    (2 x edges, positions within the types), the target's `y.npy`, `order.npy`, `graph.json`."""
    import numpy as np
    import torch

    out = export_dir(args)
    if (out / "graph.json").exists():
        return out
    out.mkdir(parents=True, exist_ok=True)
    _, task, objective = sampled_objective(args.nodes)
    graph = task.graph
    relations = {}
    for edge_type, relation in graph.ops.relations.items():
        name = "__".join(edge_type)
        # the edges gnntool samples from: its CSR over the targets, sources within their own type
        degree = relation.ops.rowptr[1 : relation.num_targets + 1] - relation.ops.rowptr[: relation.num_targets]
        target = torch.repeat_interleave(torch.arange(relation.num_targets), degree)
        source = relation.ops.source[: target.numel()] - relation.offset
        np.save(out / f"{name}.npy", np.stack([source.numpy(), target.numpy()]))
        relations[name] = list(edge_type)
    for node_type, x in graph.x.items():
        np.save(out / f"x__{node_type}.npy", x.numpy())
    np.save(out / "y.npy", graph.y.numpy())
    np.save(out / "order.npy", objective.stepper.shard(0).numpy())
    meta = {"num_nodes": {t: int(ids.numel()) for t, ids in graph.node_ids.items()}, "relations": relations,
            "target": task.target, "classes": task.num_classes}  # fmt: skip
    (out / "graph.json").write_text(json.dumps(meta))  # written last
    return out


def dgl_side(args: argparse.Namespace) -> dict[str, Any]:
    """DGL 2.1: heterograph neighbour sampling and `HeteroGraphConv(SAGEConv)`, one epoch over
    the exported seed order (run by DGL's interpreter; imports nothing of gnntool)."""
    import dgl
    import numpy as np
    import torch
    import torch.nn.functional as F
    from dgl.dataloading import DataLoader, NeighborSampler
    from dgl.nn import HeteroGraphConv, SAGEConv
    from torch import nn

    folder = export_dir(args)
    meta = json.loads((folder / "graph.json").read_text())
    edges = {tuple(edge_type): torch.from_numpy(np.load(folder / f"{name}.npy"))
             for name, edge_type in meta["relations"].items()}  # fmt: skip
    graph = dgl.heterograph({edge_type: (e[0], e[1]) for edge_type, e in edges.items()}, meta["num_nodes"])
    target = meta["target"]
    for node_type in meta["num_nodes"]:
        graph.nodes[node_type].data["feat"] = torch.from_numpy(np.load(folder / f"x__{node_type}.npy"))
    graph.nodes[target].data["label"] = torch.from_numpy(np.load(folder / "y.npy"))
    order = torch.from_numpy(np.load(folder / "order.npy"))
    relations = [edge_type[1] for edge_type in edges]

    class HeteroSAGE(nn.Module):
        """Two `HeteroGraphConv` layers of per-relation `SAGEConv(mean)`, summed over relations."""

        def __init__(self) -> None:
            super().__init__()
            widths = [FEATURES, HIDDEN, meta["classes"]]
            self.layers = nn.ModuleList(
                HeteroGraphConv({r: SAGEConv(widths[i], widths[i + 1], "mean") for r in relations}, aggregate="sum")
                for i in range(2)
            )
            self.dropout = nn.Dropout(DROPOUT)

        def forward(self, blocks, h: dict) -> dict:
            for index, (layer, block) in enumerate(zip(self.layers, blocks)):
                if index:
                    h = {t: F.relu(v) for t, v in h.items()}
                h = layer(block, {t: self.dropout(v) for t, v in h.items()})
            return h

    torch.manual_seed(0)
    model = HeteroSAGE()
    optimizer = torch.optim.Adam(model.parameters(), **TRAIN)
    sampler = NeighborSampler(FANOUT, prefetch_node_feats={t: ["feat"] for t in meta["num_nodes"]},
                              prefetch_labels={target: ["label"]})  # fmt: skip
    started = time.perf_counter()
    loader = DataLoader(graph, {target: order}, sampler, batch_size=BATCH, shuffle=False, drop_last=False,
                        num_workers=args.dgl_workers)  # fmt: skip
    model.train()
    for _, _, blocks in loader:
        x = {t: blocks[0].srcnodes[t].data["feat"] for t in blocks[0].srctypes}
        out = model(blocks, x)[target]
        loss = F.cross_entropy(out, blocks[-1].dstnodes[target].data["label"])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    seconds = time.perf_counter() - started
    return {"seeds_per_s": order.numel() / seconds, "peak_rss_gib": peak_rss_gib(), "dgl": dgl.__version__,
            "torch": torch.__version__}  # fmt: skip


SIDES = {"gnntool": ours, "pyg": pyg, "sampled": sampled, "dgl": dgl_side}


def measure(side: str, args: argparse.Namespace) -> dict[str, Any]:
    """One fresh process measuring `side` (DGL's in DGL's interpreter)."""
    python = args.dgl_python if side == "dgl" else sys.executable
    command = [python, __file__, "--side", side, "--nodes", str(args.nodes), "--epochs", str(args.epochs)]
    command += ["--root", args.root, "--threads", str(args.threads), "--dgl-workers", str(args.dgl_workers)]
    env = {"PYTHONPATH": str(REPO), **{k: v for k, v in os.environ.items() if k.startswith(("OMP_", "MKL_"))}}
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0, help="torch threads in each process (0: torch's default)")
    parser.add_argument("--dgl-python", default=DEFAULT_DGL_PYTHON, help="DGL 2.1's interpreter (its own venv)")
    parser.add_argument("--root", default=str(REPO / "data"), help="where the graph is exported for DGL")
    parser.add_argument("--dgl-workers", type=int, default=0, help="DGL DataLoader's sampling processes (default 0)")
    parser.add_argument("--side", choices=list(SIDES), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        import torch

        if args.threads:
            torch.set_num_threads(args.threads)
        print(json.dumps(SIDES[args.side](args)))
        return
    sides = ["gnntool", "pyg", "sampled"]
    if Path(args.dgl_python).exists():
        export_graph(args)
        sides.append("dgl")
    else:
        print(f"no DGL interpreter at {args.dgl_python}: no DGL column", file=sys.stderr)
    load_start = os.getloadavg()
    runs: dict[str, list[dict[str, Any]]] = {side: [] for side in sides}
    for _ in range(args.repeats):
        for side in sides:
            runs[side].append(measure(side, args))
            print(f"  {side}: {json.dumps(runs[side][-1])}", file=sys.stderr, flush=True)
    median = {
        side: {key: statistics.median(run[key] for run in rows) for key in rows[0] if not isinstance(rows[0][key], str)}
        for side, rows in runs.items()
    }
    load = " -> ".join(" ".join(f"{x:.2f}" for x in avg) for avg in (load_start, os.getloadavg()))
    ours_row, pyg_row, sampled_row = median["gnntool"], median["pyg"], median["sampled"]
    print(f"synthetic_typed, {args.nodes:,} nodes, {args.repeats} processes per side (medians); load average {load}")
    print("| | gnntool | PyG RGCNConv | gnntool / PyG |")
    print("|---|---|---|---|")
    print(f"| full-batch R-GCN epoch (s) | {ours_row['epoch_s']:.3f} | {pyg_row['epoch_s']:.3f} | "
          f"{ours_row['epoch_s'] / pyg_row['epoch_s']:.2f}x |")  # fmt: skip
    print(f"| peak RSS (GiB) | {ours_row['peak_rss_gib']:.2f} | {pyg_row['peak_rss_gib']:.2f} | "
          f"{ours_row['peak_rss_gib'] / pyg_row['peak_rss_gib']:.2f}x |")  # fmt: skip
    print()
    if "dgl" not in median:
        print(f"| sampled typed GraphSAGE (training seeds/s) | {sampled_row['seeds_per_s']:,.0f} |")
        return
    dgl_row, versions = median["dgl"], runs["dgl"][0]
    print(f"| sampled typed GraphSAGE, one epoch | gnntool | DGL {versions['dgl']} (torch {versions['torch']}) "
          "| gnntool / DGL |")  # fmt: skip
    print("|---|---|---|---|")
    print(f"| training seeds/s | {sampled_row['seeds_per_s']:,.0f} | {dgl_row['seeds_per_s']:,.0f} | "
          f"{sampled_row['seeds_per_s'] / dgl_row['seeds_per_s']:.2f}x |")  # fmt: skip
    print(f"| peak RSS (GiB) | {sampled_row['peak_rss_gib']:.2f} | {dgl_row['peak_rss_gib']:.2f} | "
          f"{sampled_row['peak_rss_gib'] / dgl_row['peak_rss_gib']:.2f}x |")  # fmt: skip


if __name__ == "__main__":
    main()
