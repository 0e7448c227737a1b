"""Scale benchmark: gnntool against plain PyG on synthetic graphs, printed as one table.

    python bench/bench_scale.py [--device cpu|cuda] [--sizes 100000 1000000] [--repeats 3]
                                [--products] [--mmap] [--rows gcn sampled process]

Rows (each measurement runs in a fresh process, so peak memory is that measurement's own; the
two sides of a comparison alternate, gnntool, pyg, gnntool, pyg, ... `--repeats` times each):

1. gcn: one full-batch GCN epoch (training step + validation pass, what `gnntool train` does per
   epoch) on synthetic graphs (`--sizes` nodes, average degree 10, 128 features, 10 classes,
   hidden 128): gnntool's own engine (`task_tensors`, `build_model`, `train_epoch`, `evaluate`)
   against PyG's examples/gcn.py model (`GCNConv(cached=True)` ×2). Median epoch time over
   `--epochs` epochs after `--warmup`, and the process's peak memory (peak RSS on the CPU,
   `torch.cuda.max_memory_allocated` on CUDA).
2. sampled: on the 1M-node graph, GraphSAGE (mean, hidden 128) with neighbour sampling (fanout
   [25, 10], batch 1024): seed nodes per second of a training epoch, sampled edges per second of
   the sampler alone, and one sampled epoch against one full-batch GraphSAGE training step.
   Against PyG's `NeighborLoader` where pyg-lib or torch-sparse imports (else that column says so).
3. process: `gnntool train` (full-batch GCN, 100k nodes, `--process-epochs` epochs) against
   `bench/plain_pyg_train.py` doing the same work, as whole processes: wall time and peak RSS.
4. products (`--products`): one sampled GraphSAGE epoch (`gnntool train`, epochs 1) on an
   ogbn-products-sized synthetic graph: 2.4M nodes, average degree 50, 100 features, 47 classes,
   train_frac 0.08, fanout [15, 10], batch 1024: wall time, the epoch's time, peak RSS, RssAnon, RssFile.
   With `--checkpoint-seconds S`, the epoch again with a checkpoint every S seconds (the rows
   above run without periodic checkpoints).
5. mmap (`--mmap`): the same on 10M nodes, average degree 20, 128 features (4.8 GiB) with
   `dataset.mmap_features: true`, GraphSAGE-mean hidden 64, train_frac 0.08 (800k seeds): peak
   RssAnon (what must fit in memory) and RssFile (feature pages the kernel may drop again).

The synthetic graphs are generated on first use and cached under `--root` (default: data/).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
FEATURES, DEGREE, CLASSES, HIDDEN = 128, 10, 10, 128


def peak_memory_mib(device: str) -> float:
    import torch

    if device == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def synthetic_config(nodes: int, root: str, device: str, **overrides):
    from gnntool.config import validate

    raw = {
        "device": device,
        "dataset": {
            "name": "synthetic",
            "root": root,
            "nodes": nodes,
            "avg_degree": DEGREE,
            "features": FEATURES,
            "classes": CLASSES,
        },
        "model": {"arch": "gcn", "hidden": HIDDEN},
    }
    for key, value in overrides.items():
        section, name = key.split("__")
        raw.setdefault(section, {})[name] = value
    return validate(raw)


def timed_runs(run: Callable[[int], Any], runs: int, warmup: int, device: str) -> list[tuple[float, Any]]:
    """(seconds, result) of `run(index)` for the last `runs` of `warmup + runs` calls (index
    0, 1, ...), the GPU synchronised before and after each so that its queued work counts."""
    import torch

    timed = []
    for index in range(warmup + runs):
        if device == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        result = run(index)
        if device == "cuda":
            torch.cuda.synchronize()
        if index >= warmup:
            timed.append((time.perf_counter() - started, result))
    return timed


def median_seconds(timed: list[tuple[float, Any]]) -> float:
    return statistics.median(seconds for seconds, _ in timed)


# --- workers: one measurement each, in its own process ------------------------------------------


def worker_gcn(args) -> dict:
    import torch

    from gnntool.data import load_dataset
    from gnntool.engine.evaluate import evaluate
    from gnntool.engine.inputs import task_tensors
    from gnntool.engine.objectives.supervised import GraphSteps, train_epoch
    from gnntool.models import build_model

    torch.manual_seed(0)
    device = torch.device(args.device)
    config = synthetic_config(args.nodes, args.root, args.device)
    dataset = load_dataset(config.dataset, 0)
    if args.impl == "gnntool":
        task = task_tensors(dataset, device)
        model = build_model(config.model, task.num_features, task.num_classes).to(device)
        optimizer = torch.optim.Adam(model.parameters(), lr=0.01, weight_decay=5e-4)

        def epoch() -> None:
            train_epoch(model, optimizer, GraphSteps(task, None, 0).steps(0), False)
            evaluate(model, task, ("val",))
    else:
        import torch.nn.functional as F

        sys.path.insert(0, str(REPO / "bench"))
        from plain_pyg_train import GCN

        data = dataset.graphs[0].to(device)
        model = GCN(data.num_features, HIDDEN, CLASSES).to(device)
        optimizer = torch.optim.Adam(model.parameters(), lr=0.01, weight_decay=5e-4)

        def epoch() -> None:
            model.train()
            optimizer.zero_grad()
            out = model(data.x, data.edge_index)
            F.cross_entropy(out[data.train_mask], data.y[data.train_mask]).backward()
            optimizer.step()
            model.eval()
            with torch.no_grad():
                pred = model(data.x, data.edge_index).argmax(-1)
                (pred[data.val_mask] == data.y[data.val_mask]).float().mean().item()

    timed = timed_runs(lambda _: epoch(), args.epochs, args.warmup, args.device)
    return {"median_s": median_seconds(timed), "peak_mib": peak_memory_mib(args.device)}


def worker_sampled(args) -> dict:
    import torch
    import torch_geometric.typing
    from torch_geometric.sampler import NodeSamplerInput

    from gnntool.data import load_dataset
    from gnntool.engine.inputs import task_tensors
    from gnntool.engine.objectives.supervised import GraphSteps, train_epoch
    from gnntool.engine.runtime.distributed import SINGLE
    from gnntool.engine.sampled import SampledSteps
    from gnntool.models import build_model

    torch.manual_seed(0)
    device = torch.device(args.device)
    config = synthetic_config(
        args.nodes, args.root, args.device, model__arch="sage", train__batch_size=1024, train__fanout=[25, 10]
    )
    task = task_tensors(load_dataset(config.dataset, 0), device, config.inference_chunk)
    model = build_model(config.model, task.num_features, task.num_classes).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01, weight_decay=5e-4)
    sampled = SampledSteps(config, task, SINGLE, config.seed)
    seeds = sampled.seeds.numel()

    def sampler_epoch(epoch: int) -> int:
        """The sampler alone: sample_from_nodes over the epoch's batches; returns sampled edges."""
        shard = sampled.shard(epoch)
        batches = (
            NodeSamplerInput(input_id=None, node=shard[start : start + 1024]) for start in range(0, shard.numel(), 1024)
        )
        return sum(sampled.sampler.sample_from_nodes(batch).row.numel() for batch in batches)

    def loader_epoch(epoch: int) -> int:
        """The training steps as `fit` gets them: sampling, blocks and the feature and label gather
        (the next batch prepared in a background thread); the first layer's block holds every sampled edge."""
        return sum(step.ops[0].source.numel() for step in sampled.steps(epoch))

    result: dict = {"seeds": seeds}
    sampler_runs = timed_runs(sampler_epoch, args.repeats, 0, args.device)
    loader_runs = timed_runs(loader_epoch, args.repeats, 0, args.device)
    result["sampler_edges_per_s"] = statistics.median(edges / seconds for seconds, edges in sampler_runs)
    result["loader_edges_per_s"] = statistics.median(edges / seconds for seconds, edges in loader_runs)
    result["edges_per_batch"] = loader_runs[-1][1] / -(-seeds // 1024)
    # Training: sampled epochs (the first one warms up), then full-batch GraphSAGE training steps.
    sampled_runs = timed_runs(
        lambda epoch: train_epoch(model, optimizer, sampled.steps(epoch), False), args.repeats, 1, args.device
    )
    result["sampled_epoch_s"] = median_seconds(sampled_runs)
    result["seeds_per_s"] = seeds / result["sampled_epoch_s"]
    full_task = task_tensors(task.dataset, device)
    full_runs = timed_runs(
        lambda _: train_epoch(model, optimizer, GraphSteps(full_task, None, 0).steps(0), False),
        args.repeats,
        1,
        args.device,
    )
    result["full_epoch_s"] = median_seconds(full_runs)
    result["pyg_neighborloader"] = torch_geometric.typing.WITH_PYG_LIB or torch_geometric.typing.WITH_TORCH_SPARSE
    if result["pyg_neighborloader"]:
        result["pyg_seeds_per_s"] = pyg_sampled_seeds_per_s(task, args)
    result["peak_mib"] = peak_memory_mib(args.device)
    return result


def pyg_sampled_seeds_per_s(task, args) -> float:
    """PyG's NeighborLoader + SAGEConv, the way PyG's examples/graph_sage_unsup/reddit examples train."""
    import torch
    import torch.nn.functional as F
    from torch_geometric.loader import NeighborLoader
    from torch_geometric.nn import GraphSAGE

    data = task.dataset.graphs[0]
    device = torch.device(args.device)
    model = GraphSAGE(data.num_features, HIDDEN, num_layers=2, out_channels=CLASSES, dropout=0.5).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01, weight_decay=5e-4)
    loader = NeighborLoader(data, num_neighbors=[25, 10], batch_size=1024, input_nodes=data.train_mask, shuffle=True)

    def epoch(_: int) -> None:
        model.train()
        for batch in loader:
            batch = batch.to(device)
            optimizer.zero_grad()
            out = model(batch.x, batch.edge_index)[: batch.batch_size]
            F.cross_entropy(out, batch.y[: batch.batch_size]).backward()
            optimizer.step()

    return int(data.train_mask.sum()) / median_seconds(timed_runs(epoch, args.repeats, 1, args.device))


WORKERS = {"gcn": worker_gcn, "sampled": worker_sampled}


def run_worker(kind: str, **options) -> dict:
    command = [sys.executable, __file__, "--worker", kind]
    for key, value in options.items():
        command += [f"--{key.replace('_', '-')}", str(value)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_process(command: list[str], env: dict | None = None) -> dict:
    """Wall time and peak RSS of one whole process (os.wait4 gives the child's own rusage), and
    the peaks of its anonymous and file-backed resident memory (RssAnon, RssFile: /proc/PID/status
    sampled every 0.1 s, so a peak shorter than that can be missed)."""
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    peaks = {"RssAnon": 0, "RssFile": 0}
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            break
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{process.pid}/status").read_text().splitlines():
                key, _, value = line.partition(":")
                if key in peaks:
                    peaks[key] = max(peaks[key], int(value.split()[0]))
        time.sleep(0.1)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{process.stderr.read().decode()[-4000:]}")
    return {
        "wall_s": wall,
        "peak_mib": usage.ru_maxrss / 1024,
        "anon_mib": peaks["RssAnon"] / 1024,
        "file_mib": peaks["RssFile"] / 1024,
    }


def train_once(config, *options: str, load_first: bool = True) -> tuple[dict, float]:
    """`gnntool train` of `config` (with command-line `options`) as a whole process, after a
    process that only loads the dataset (generating and caching the synthetic graph the first
    time; skipped when `load_first` is false, the cache being warm): the process's measurements
    and the epoch's seconds from history.csv."""
    from gnntool.config import dump_config

    with tempfile.TemporaryDirectory() as scratch:
        config_path = Path(scratch) / "config.yaml"
        config_path.write_text(dump_config(config))
        load = "import sys; from pathlib import Path; from gnntool.config import load_config; "
        load += "from gnntool.data import load_dataset; load_dataset(load_config(Path(sys.argv[1])).dataset, 0)"
        if load_first:
            run_process([sys.executable, "-c", load, str(config_path)])
        argv = [sys.executable, "-m", "gnntool", "train", str(config_path), "--quiet", *options]
        result = run_process([*argv, "--out", str(Path(scratch) / "run")])
        history = (Path(scratch) / "run" / "history.csv").read_text().splitlines()
    return result, float(history[1].split(",")[-1])


# --- the table ------------------------------------------------------------------------------------


def median_of(runs: list[dict], key: str) -> float:
    return statistics.median(run[key] for run in runs)


def row(label: str, gnntool: float, pyg: float | None, unit: str) -> str:
    if pyg is None:
        return f"| {label} | {gnntool:,.3f} {unit} | n/a | n/a |"
    return f"| {label} | {gnntool:,.3f} {unit} | {pyg:,.3f} {unit} | {gnntool / pyg:.2f} |"


def bench_gcn(args) -> list[str]:
    lines = []
    for nodes in args.sizes:
        runs = {"gnntool": [], "pyg": []}
        for _ in range(args.repeats):
            for impl in runs:
                options = dict(nodes=nodes, device=args.device, root=args.root, epochs=args.epochs, warmup=args.warmup)
                runs[impl].append(run_worker("gcn", impl=impl, **options))
        name = f"{nodes // 1000}k" if nodes < 10**6 else f"{nodes / 10**6:g}M"
        for label, key, unit in (("median time", "median_s", "s"), ("peak memory", "peak_mib", "MiB")):
            gnntool, pyg = median_of(runs["gnntool"], key), median_of(runs["pyg"], key)
            lines.append(row(f"GCN epoch, {name} nodes: {label}", gnntool, pyg, unit))
    return lines


def bench_sampled(args) -> list[str]:
    nodes = max(args.sizes)
    result = run_worker(
        "sampled", impl="gnntool", nodes=nodes, device=args.device, root=args.root, repeats=args.repeats
    )
    name = f"{nodes / 10**6:g}M" if nodes >= 10**6 else f"{nodes // 1000}k"
    pyg = result.get("pyg_seeds_per_s")
    return [
        row(f"sampled GraphSAGE [25, 10] ×1024, {name} nodes: seed nodes/s", result["seeds_per_s"], pyg, "/s")
        + ("" if result["pyg_neighborloader"] else " (no pyg-lib/torch-sparse: PyG's NeighborLoader cannot run)"),
        row(
            f"sampler alone, {name} nodes: sampled edges/s ({result['edges_per_batch']:,.0f} per batch)",
            result["sampler_edges_per_s"],
            None,
            "/s",
        ),
        row(
            f"loader (sampler + feature gather), {name} nodes: sampled edges/s",
            result["loader_edges_per_s"],
            None,
            "/s",
        ),
        f"| one sampled epoch ({result['seeds']:,} seeds) vs one full-batch GraphSAGE step, {name} nodes | "
        f"{result['sampled_epoch_s']:.2f} s | {result['full_epoch_s']:.2f} s (full batch, gnntool) | "
        f"{result['sampled_epoch_s'] / result['full_epoch_s']:.2f} |",
    ]


def bench_process(args) -> list[str]:
    from gnntool.config import dump_config
    from gnntool.data.synthetic import cache_path

    nodes = min(args.sizes)
    config = synthetic_config(
        nodes, args.root, args.device, train__epochs=args.process_epochs, train__patience=args.process_epochs
    )
    runs = {"gnntool": [], "pyg": []}
    with tempfile.TemporaryDirectory() as scratch:
        config_path = Path(scratch) / "gcn_synthetic.yaml"
        config_path.write_text(dump_config(config))
        # Generate the cached graph once, outside the timings.
        run_worker("gcn", impl="pyg", nodes=nodes, device=args.device, root=args.root, epochs=1, warmup=0)
        for repeat in range(args.repeats):
            out = Path(scratch) / f"run-{repeat}"
            gnntool_argv = [sys.executable, "-m", "gnntool", "train", str(config_path), "--out", str(out / "gnntool")]
            runs["gnntool"].append(run_process([*gnntool_argv, "--quiet"]))
            pyg_argv = [sys.executable, str(REPO / "bench" / "plain_pyg_train.py"), "--graph"]
            pyg_argv += [str(cache_path(config.dataset)), "--epochs", str(args.process_epochs)]
            pyg_argv += ["--out", str(out / "pyg"), "--device", args.device]
            runs["pyg"].append(run_process(pyg_argv))
    label = f"whole process, GCN {args.process_epochs} epochs, {nodes // 1000}k nodes"
    return [
        row(f"{label}: wall time", median_of(runs["gnntool"], "wall_s"), median_of(runs["pyg"], "wall_s"), "s"),
        row(f"{label}: peak RSS", median_of(runs["gnntool"], "peak_mib"), median_of(runs["pyg"], "peak_mib"), "MiB"),
    ]


def bench_products(args) -> list[str]:
    config = synthetic_config(
        2_400_000, args.root, args.device,
        dataset__avg_degree=50, dataset__features=100, dataset__classes=47, dataset__train_frac=0.08,
        dataset__val_frac=0.02, model__arch="sage", model__hidden=256,
        train__epochs=1, train__batch_size=1024, train__fanout=[15, 10], train__checkpoint_seconds=0,
    )  # fmt: skip
    result, epoch_s = train_once(config)
    rows = [
        f"| products-sized sampled epoch (2.4M nodes, degree 50, 192k seeds): epoch incl. validation "
        f"| {epoch_s:.1f} s | | |",
        f"| products-sized: whole `gnntool train` process (load, epoch, eval, embeddings) | {result['wall_s']:.1f} s, "
        f"peak RSS {result['peak_mib'] / 1024:.2f} GiB (RssAnon {result['anon_mib'] / 1024:.2f}, "
        f"RssFile {result['file_mib'] / 1024:.2f}) | | |",
    ]
    if args.checkpoint_seconds:
        clock = f"train.checkpoint_seconds={args.checkpoint_seconds}"
        _, clock_s = train_once(config, "--set", clock, load_first=False)  # the cache is warm from the run above
        label = f"products-sized sampled epoch, checkpoint every {args.checkpoint_seconds:g} s"
        rows.append(f"| {label} | {clock_s:.1f} s | | |")
    return rows


def bench_mmap(args) -> list[str]:
    """10M nodes, average degree 20, 128 features (4.8 GiB) memory-mapped: one sampled epoch,
    layer-wise evaluation and embeddings."""
    config = synthetic_config(
        10_000_000, args.root, args.device,
        dataset__avg_degree=20, dataset__features=128, dataset__train_frac=0.08, dataset__val_frac=0.02,
        dataset__mmap_features=True, model__arch="sage", model__hidden=64,
        train__epochs=1, train__batch_size=1024, train__fanout=[15, 10],
    )  # fmt: skip
    result, epoch_s = train_once(config)
    return [
        f"| 10M nodes, degree 20, 128 features memory-mapped (800k seeds): epoch incl. validation "
        f"| {epoch_s:.1f} s | | |",
        f"| 10M nodes, mmap: whole `gnntool train` process | {result['wall_s']:.1f} s, peak RssAnon "
        f"{result['anon_mib'] / 1024:.2f} GiB, RssFile {result['file_mib'] / 1024:.2f} GiB "
        f"(peak RSS {result['peak_mib'] / 1024:.2f}) | | |",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--process-epochs", type=int, default=50)
    parser.add_argument("--root", default=str(REPO / "data"))
    parser.add_argument(
        "--rows", nargs="*", default=["gcn", "sampled", "process"], choices=["gcn", "sampled", "process"]
    )
    parser.add_argument("--products", action="store_true")
    parser.add_argument("--mmap", action="store_true", help="the 10M-node memory-mapped row")
    parser.add_argument(
        "--checkpoint-seconds", type=float, default=0.0, help="products: also time the epoch with periodic checkpoints"
    )
    parser.add_argument("--worker", choices=sorted(WORKERS))
    parser.add_argument("--impl", default="gnntool")
    parser.add_argument("--nodes", type=int)
    args = parser.parse_args()
    os.chdir(REPO)
    if args.worker:
        print(json.dumps(WORKERS[args.worker](args)))
        return

    import torch

    device_name = torch.cuda.get_device_name() if args.device == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"device: {device_name}; torch {torch.__version__}")
    print("| measurement | gnntool | plain PyG | ratio |")
    print("|---|---|---|---|")
    sections = {"gcn": bench_gcn, "sampled": bench_sampled, "process": bench_process}
    for name in args.rows:
        for line in sections[name](args):
            print(line, flush=True)
    for flag, bench in ((args.products, bench_products), (args.mmap, bench_mmap)):
        for line in bench(args) if flag else ():
            print(line, flush=True)


if __name__ == "__main__":
    main()
