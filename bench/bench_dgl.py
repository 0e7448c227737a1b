"""Sampled GraphSAGE: gnntool against DGL 2.1, side by side on one graph, printed as one table.

    python bench/bench_dgl.py [--dgl-python /work/dgl-venv/bin/python] [--repeats 3]
                              [--batches 40] [--warmup 5] [--no-inference] [--profile]

The graph is gnntool's `synthetic` block model (1M nodes, average degree 10, 128 features, 10
classes; cached under `--root`), exported once as .npy files that both sides read; the seeds are
the first epoch's training nodes in gnntool's order (run seed 0), the same batches of 1024 in the
same order on both sides. Fanout [25, 10] from the seeds out (DGL lists it from the input layer:
[10, 25]). Every measurement process is fresh and the sides alternate (gnntool, DGL, control,
gnntool, ...), `--repeats` processes each; the table gives medians over processes. Rows, per
batch of 1024 seeds (mean over `--batches` batches after `--warmup`):

1. sampler alone: gnntool's `SampledSteps.blocks` (sample + one block per layer) against DGL's
   `NeighborSampler.sample` (which returns its blocks).
2. sampler + feature gather: the loaders as users run them: `SampledSteps.steps` (features and
   labels gathered, the next batch prepared in a background thread) against DGL's `DataLoader`
   with `prefetch_node_feats` / `prefetch_labels`.
3. training, same model: GraphSAGE-mean, 2 layers, hidden 128, dropout 0.5 on the input and the
   hidden layer, Adam (lr 0.01, weight decay 5e-4): gnntool's `train_epoch` over its steps
   against `dgl.nn.SAGEConv` ×2 (`feat_drop=0.5`) over DGL's loader. Seeds per second.
4. training, each side's recipe: gnntool's shipped `configs/sage_synthetic.yaml` model and
   optimiser against DGL's examples/pytorch/graphsage/node_classification.py (dropout on the
   hidden layer only; gnntool's `model.input_dropout: 0` does the same).
5. peak RSS of the measuring process (rows 1-4 plus loading the graph).
6. gnntool only: one layer-wise inference pass over all 1M nodes (what validation and the final
   evaluation cost after sampled training), `--inference` chunk size from the config.

`--profile` instead runs torch.profiler over `--batches` serial training steps of gnntool's
shipped recipe (batches prepared beforehand, so the table is the model's step alone) and prints
the operators with the most self CPU time per step, by input shape.

The DGL side runs in its own virtualenv (`--dgl-python`; see docs/speed.md for the recipe);
"control" is gnntool run by that same interpreter (DGL's torch), with this repository on its
PYTHONPATH. Without that interpreter the DGL and control columns are skipped.
This file runs under both interpreters: its top level imports the standard library only.
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
NODES, DEGREE, FEATURES, CLASSES, HIDDEN = 1_000_000, 10, 128, 10, 128
FANOUT, BATCH = [25, 10], 1024
SAME_MODEL = {"input_dropout": 0.5, "dropout": 0.5}
SAME_TRAIN = {"lr": 0.01, "weight_decay": 5e-4}
DGL_RECIPE = {"input_dropout": 0.0, "dropout": 0.5}
DEFAULT_DGL_PYTHON = "/work/dgl-venv/bin/python"


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def per_batch(times: list[float]) -> float:
    return sum(times) / len(times)


# --- the shared graph ---------------------------------------------------------------------------


def gnntool_config(root: str, **model: Any):
    """The synthetic 1M-node graph with GraphSAGE-mean and neighbour sampling (gnntool's Config)."""
    import yaml

    from gnntool.config import validate

    shipped = yaml.safe_load((REPO / "configs" / "sage_synthetic.yaml").read_text())
    raw = {
        "seed": 0,
        "device": "cpu",
        "dataset": {**shipped["dataset"], "root": root, "nodes": NODES, "avg_degree": DEGREE,
                    "features": FEATURES, "classes": CLASSES},  # fmt: skip
        "model": {**shipped["model"], "hidden": HIDDEN, "layers": 2, **model},
        "train": {**shipped["train"], "batch_size": BATCH, "fanout": FANOUT},
    }
    return validate(raw)


def export_dir(root: str) -> Path:
    return Path(root) / "bench_dgl" / f"n{NODES}_d{DEGREE}_f{FEATURES}_c{CLASSES}"


def gnntool_sampled_steps(root: str):
    """The shared graph's config, task tensors and run-seed `SampledSteps`, with the allocator set
    as the gnntool command sets it."""
    import torch

    from gnntool.data import load_dataset
    from gnntool.engine.inputs import task_tensors
    from gnntool.engine.runtime.allocator import retain_freed_memory
    from gnntool.engine.runtime.distributed import SINGLE
    from gnntool.engine.sampled import SampledSteps

    retain_freed_memory()
    config = gnntool_config(root)
    task = task_tensors(load_dataset(config.dataset, config.seed), torch.device("cpu"), config.inference_chunk)
    return config, task, SampledSteps(config, task, SINGLE, config.seed)


def export_graph(root: str) -> Path:
    """Write the graph and the first epoch's seed order as .npy files both sides read (once)."""
    import numpy as np

    out = export_dir(root)
    if (out / "order.npy").exists():
        return out
    out.mkdir(parents=True, exist_ok=True)
    _, task, sampled = gnntool_sampled_steps(root)
    graph = task.splits["train"][0].graph
    np.save(out / "src.npy", graph.ops.source.numpy())
    np.save(out / "dst.npy", graph.ops.target.numpy())
    np.save(out / "x.npy", graph.x.numpy())
    np.save(out / "y.npy", graph.y.numpy())
    np.save(out / "order.npy", sampled.shard(0).numpy())  # written last
    return out


# --- workers: all rows of one side, in one fresh process ------------------------------------------


def worker_gnntool(args) -> dict:
    import itertools

    import torch

    from gnntool.engine.inference import infer
    from gnntool.engine.objectives.supervised import train_epoch
    from gnntool.engine.train import build_optimizer
    from gnntool.models import build_model

    torch.manual_seed(0)
    config, task, sampled = gnntool_sampled_steps(args.root)
    shard = sampled.shard(0)
    total = args.warmup + args.batches
    result: dict[str, Any] = {"torch": torch.__version__, "threads": torch.get_num_threads()}

    times, edges = [], 0
    for batch in range(total):
        started = time.perf_counter()
        _, blocks = sampled.blocks(shard, 0, batch)
        if batch >= args.warmup:
            times.append(time.perf_counter() - started)
            edges += blocks[0].source.numel()
    result["sampler_ms"] = 1000 * per_batch(times)
    result["edges_per_batch"] = edges / args.batches

    steps = sampled.steps(0)
    times = []
    for batch in range(total):
        started = time.perf_counter()
        next(steps)
        if batch >= args.warmup:
            times.append(time.perf_counter() - started)
    steps.close()
    result["gather_ms"] = 1000 * per_batch(times)

    def train(name: str, model_options: dict) -> None:
        model_config = gnntool_config(args.root, **model_options).model
        train_config = config.train if name == "recipe" else config.train.model_copy(update=SAME_TRAIN)
        torch.manual_seed(0)
        model = build_model(model_config, task.num_features, task.num_classes)
        optimizer = build_optimizer(model, train_config)
        train_epoch(model, optimizer, itertools.islice(sampled.steps(0), args.warmup), False)
        started = time.perf_counter()
        train_epoch(model, optimizer, itertools.islice(sampled.steps(0, start=args.warmup), args.batches), False)
        result[f"{name}_seeds_per_s"] = args.batches * BATCH / (time.perf_counter() - started)
        result[f"{name}_model"] = {"input_dropout": model.input_dropout, "dropout": model.dropout,
                                   "lr": train_config.lr, "weight_decay": train_config.weight_decay}  # fmt: skip

    train("same", SAME_MODEL)
    train("recipe", {})
    result["peak_mib"] = peak_rss_mib()
    if args.inference:
        model = build_model(config.model, task.num_features, task.num_classes).eval()
        started = time.perf_counter()
        with torch.no_grad():
            infer(model, task.splits["train"][0].graph, task.chunk_size)
        result["inference_s"] = time.perf_counter() - started
    return result



def worker_dgl(args) -> dict:
    import dgl
    import numpy as np
    import torch
    import torch.nn.functional as F
    from dgl.dataloading import DataLoader, NeighborSampler
    from dgl.nn import SAGEConv
    from torch import nn

    torch.manual_seed(0)
    folder = export_dir(args.root)
    src, dst = (torch.from_numpy(np.load(folder / name)) for name in ("src.npy", "dst.npy"))
    graph = dgl.graph((src, dst), num_nodes=NODES)
    graph.ndata["feat"] = torch.from_numpy(np.load(folder / "x.npy"))
    graph.ndata["label"] = torch.from_numpy(np.load(folder / "y.npy"))
    order = torch.from_numpy(np.load(folder / "order.npy"))
    total = args.warmup + args.batches
    batches = [order[b * BATCH : (b + 1) * BATCH] for b in range(total)]
    fanout = list(reversed(FANOUT))
    result: dict[str, Any] = {"torch": torch.__version__, "dgl": dgl.__version__, "threads": torch.get_num_threads()}

    sampler = NeighborSampler(fanout)
    times, edges = [], 0
    for index, seeds in enumerate(batches):
        started = time.perf_counter()
        _, _, blocks = sampler.sample(graph, seeds)
        if index >= args.warmup:
            times.append(time.perf_counter() - started)
            edges += blocks[0].num_edges()
    result["sampler_ms"] = 1000 * per_batch(times)
    result["edges_per_batch"] = edges / args.batches

    def loader(seeds: torch.Tensor) -> DataLoader:
        sampler = NeighborSampler(fanout, prefetch_node_feats=["feat"], prefetch_labels=["label"])
        return DataLoader(graph, seeds, sampler, batch_size=BATCH, shuffle=False, drop_last=False)

    times = []
    iterator = iter(loader(order[: total * BATCH]))
    for index in range(total):
        started = time.perf_counter()
        _, _, blocks = next(iterator)
        blocks[0].srcdata["feat"], blocks[-1].dstdata["label"]
        if index >= args.warmup:
            times.append(time.perf_counter() - started)
    result["gather_ms"] = 1000 * per_batch(times)

    class SAGE(nn.Module):
        """DGL's examples/pytorch/graphsage/node_classification.py model, two layers, with an
        input dropout (0 in the example)."""

        def __init__(self, input_dropout: float, dropout: float) -> None:
            super().__init__()
            self.layers = nn.ModuleList([SAGEConv(FEATURES, HIDDEN, "mean"), SAGEConv(HIDDEN, CLASSES, "mean")])
            self.input_dropout, self.dropout = nn.Dropout(input_dropout), nn.Dropout(dropout)

        def forward(self, blocks, x):
            h = self.layers[0](blocks[0], self.input_dropout(x))
            h = self.dropout(F.relu(h))
            return self.layers[1](blocks[1], h)

    def epoch(model, optimizer, seeds: torch.Tensor) -> None:
        model.train()
        for _, _, blocks in loader(seeds):
            out = model(blocks, blocks[0].srcdata["feat"])
            loss = F.cross_entropy(out, blocks[-1].dstdata["label"])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    for name, options in (("same", SAME_MODEL), ("recipe", DGL_RECIPE)):
        torch.manual_seed(0)
        model = SAGE(options["input_dropout"], options["dropout"])
        optimizer = torch.optim.Adam(model.parameters(), **SAME_TRAIN)
        epoch(model, optimizer, order[: args.warmup * BATCH])
        started = time.perf_counter()
        epoch(model, optimizer, order[args.warmup * BATCH : total * BATCH])
        result[f"{name}_seeds_per_s"] = args.batches * BATCH / (time.perf_counter() - started)
        result[f"{name}_model"] = {**options, **SAME_TRAIN}
    result["peak_mib"] = peak_rss_mib()
    return result


def profile_gnntool_step(args) -> None:
    """Print where a serial training step of the shipped recipe spends its CPU time."""
    import re

    import torch
    from torch.profiler import profile

    from gnntool.engine.objectives.supervised import train_epoch
    from gnntool.engine.train import build_optimizer
    from gnntool.models import build_model

    config, task, sampled = gnntool_sampled_steps(args.root)
    shard = sampled.shard(0)
    steps = [sampled.step(shard, 0, batch) for batch in range(args.warmup + args.batches)]
    torch.manual_seed(0)
    model = build_model(config.model, task.num_features, task.num_classes)
    optimizer = build_optimizer(model, config.train)
    train_epoch(model, optimizer, iter(steps[: args.warmup]), False)
    with profile(record_shapes=True) as prof:
        train_epoch(model, optimizer, iter(steps[args.warmup :]), False)
    totals: dict[tuple[str, str], list[float]] = {}
    for event in prof.key_averages(group_by_input_shape=True):
        shapes = re.sub(r"\d{4,}", "N", str(event.input_shapes))  # batch sizes vary: N
        total = totals.setdefault((event.key, shapes), [0.0, 0.0])
        total[0] += event.self_cpu_time_total / 1000 / args.batches
        total[1] += event.count / args.batches
    print(f"self CPU time per step: {sum(t for t, _ in totals.values()):.1f} ms over {args.batches} steps")
    print("| ms per step | calls per step | operator | input shapes |\n|---:|---:|---|---|")
    for (name, shapes), (ms, calls) in sorted(totals.items(), key=lambda item: -item[1][0])[:20]:
        print(f"| {ms:.2f} | {calls:g} | `{name}` | {shapes[:80]} |")


WORKERS = {"gnntool": worker_gnntool, "dgl": worker_dgl}


def run_worker(python: str, kind: str, args, inference: bool) -> dict:
    command = [python, __file__, "--worker", kind, "--root", args.root]
    command += ["--batches", str(args.batches), "--warmup", str(args.warmup)]
    if inference:
        command.append("--inference")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run(command, check=False, capture_output=True, text=True, cwd=REPO, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- the table ------------------------------------------------------------------------------------

ROWS = [  # (label, key, unit, lower is better)
    ("sampler alone (ms per batch)", "sampler_ms", "ms", True),
    ("sampler + feature gather (ms per batch)", "gather_ms", "ms", True),
    ("training, same model (seeds/s)", "same_seeds_per_s", "/s", False),
    ("training, each side's recipe (seeds/s)", "recipe_seeds_per_s", "/s", False),
    ("peak RSS (MiB)", "peak_mib", "MiB", True),
]


def median(runs: list[dict], key: str) -> float:
    return statistics.median(run[key] for run in runs)


def table(runs: dict[str, list[dict]]) -> list[str]:
    sides = [side for side in ("gnntool", "dgl", "control") if runs.get(side)]
    names = {"gnntool": f"gnntool (torch {runs['gnntool'][0]['torch']})"}
    if "dgl" in sides:
        names["dgl"] = f"DGL {runs['dgl'][0]['dgl']} (torch {runs['dgl'][0]['torch']})"
        names["control"] = f"gnntool on torch {runs['control'][0]['torch']}" if "control" in sides else ""
    header = "| per batch of 1024 seeds | " + " | ".join(names[side] for side in sides)
    header += " | gnntool / DGL |" if "dgl" in sides else " |"
    lines = [header, "|" + "---|" * (len(sides) + 1 + ("dgl" in sides))]
    for label, key, _, _ in ROWS:
        values = {side: median(runs[side], key) for side in sides}
        cells = [f"{values[side]:,.1f}" for side in sides]
        if key == "sampler_ms":
            cells = [f"{cell} ({median(runs[side], 'edges_per_batch'):,.0f} edges)" for cell, side in zip(cells, sides)]
        ratio = f" | {values['gnntool'] / values['dgl']:.2f}×" if "dgl" in sides else ""
        lines.append(f"| {label} | " + " | ".join(cells) + ratio + " |")
    inference = [run["inference_s"] for run in runs["gnntool"] if "inference_s" in run]
    if inference:
        lines.append(f"| layer-wise inference, all {NODES:,} nodes (s, gnntool) | {statistics.median(inference):.2f} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dgl-python", default=DEFAULT_DGL_PYTHON)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--root", default=str(REPO / "data"))
    parser.add_argument("--no-control", action="store_true", help="skip gnntool on DGL's torch")
    parser.add_argument("--no-inference", action="store_true")
    parser.add_argument("--worker", choices=sorted(WORKERS))
    parser.add_argument("--inference", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--profile", action="store_true", help="profile gnntool's training step instead")
    args = parser.parse_args()
    if args.profile:
        export_graph(args.root)
        profile_gnntool_step(args)
        return
    if args.worker:
        print(json.dumps(WORKERS[args.worker](args)))
        return

    export_graph(args.root)
    sides = {"gnntool": (sys.executable, "gnntool")}
    if Path(args.dgl_python).exists():
        sides["dgl"] = (args.dgl_python, "dgl")
        if not args.no_control:
            sides["control"] = (args.dgl_python, "gnntool")
    else:
        print(f"no DGL interpreter at {args.dgl_python}: gnntool column only", file=sys.stderr)
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    runs: dict[str, list[dict]] = {side: [] for side in sides}
    for _ in range(args.repeats):
        for side, (python, kind) in sides.items():
            runs[side].append(run_worker(python, kind, args, inference=side == "gnntool" and not args.no_inference))
            print(f"  {side}: {json.dumps(runs[side][-1])}", file=sys.stderr, flush=True)
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for line in table(runs):
        print(line)


if __name__ == "__main__":
    main()
