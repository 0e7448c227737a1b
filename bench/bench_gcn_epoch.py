"""Time one GCN training epoch: gnntool's GCN against the plain PyG script, in one process.

    python bench/bench_gcn_epoch.py [--datasets Cora CiteSeer] [--epochs N] [--repeats R] [--profile]

An *epoch* is what `gnntool train` does per epoch: one full-batch training step (forward,
cross-entropy on the training nodes, backward, Adam step) AND the validation pass (eval mode,
forward without autograd, accuracy on the validation nodes).

A. gnntool, through its own functions, as `gnntool train configs/gcn_<name>.yaml` runs it:
   `load_config` -> `load_dataset` -> `task_tensors` -> `build_model` -> Adam, then per epoch
   `train_epoch(model, optimizer, GraphSteps(task, batch_size, seed).steps(epoch), multilabel)` and
   `evaluate(model, task, ("val",))`.
B. The plain PyG script a user writes (PyG's GCN example): `Planetoid(root, name,
   transform=T.NormalizeFeatures())`, `GCNConv(in, 16)` and `GCNConv(16, classes)` with PyG's
   defaults, `F.dropout(p=0.5)` on the input and on the hidden layer, ReLU, Adam(lr=0.01,
   weight_decay=5e-4), cross-entropy on `train_mask`; validation: `model.eval()`, forward under
   `torch.no_grad()`, accuracy on `val_mask`.

Both run on the CPU with torch's default thread count (not changed here), on the same data (the
script checks that features, edges, labels and masks are identical), after a warm-up, in
alternating blocks A, B, A, B, ... of `--epochs` epochs each, `--repeats` blocks per
implementation, so that machine noise hits both alike. Every epoch is timed on its own
(`time.perf_counter`); the table reports medians.

`--profile` then runs torch.profiler over `--profile-epochs` epochs of each implementation and
prints the operators with the most self CPU time (overall and split by input shape).
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
import torch_geometric
import torch_geometric.transforms as T
from torch import Tensor, nn
from torch_geometric.datasets import Planetoid
from torch_geometric.nn import GCNConv

import gnntool.engine.inputs as gnntool_inputs
import gnntool.engine.objectives.supervised as gnntool_supervised
import gnntool.engine.train as gnntool_train
from gnntool.config import load_config, validate
from gnntool.data import load_dataset
from gnntool.data.fetch import data_root
from gnntool.engine.evaluate import evaluate
from gnntool.errors import UserError
from gnntool.models import build_model

REPO = Path(__file__).resolve().parent.parent
DEVICE = torch.device("cpu")
# Noise check: on an idle machine p75/p25 stayed under 1.4 and median/min under 1.3 here; another
# busy process on the 2 cores made both jump (gnntool's median up to 100x its minimum).
NOISY_SPREAD = 1.5  # warn when an implementation's p75 epoch exceeds 1.5 x its p25 epoch
NOISY_FLOOR = 2.0  # ... or its median epoch exceeds 2 x its fastest epoch

# The plain script's hyper-parameters (Kipf & Welling, PyG's examples/gcn.py); gnntool's config
# must say the same, or the comparison is refused.
HIDDEN, DROPOUT, LR, WEIGHT_DECAY = 16, 0.5, 0.01, 5e-4


# --- A: gnntool ----------------------------------------------------------------------------------


def gnntool_config(name: str):
    """`configs/gcn_<name>.yaml` when the repository has it, else the same settings inline."""
    path = REPO / "configs" / f"gcn_{name.lower()}.yaml"
    if path.is_file():
        return load_config(path)
    return validate(
        {
            "dataset": {"name": name, "split": "public", "normalize_features": True},
            "model": {"arch": "gcn", "hidden": HIDDEN, "layers": 2, "dropout": DROPOUT},
            "train": {"lr": LR, "weight_decay": WEIGHT_DECAY},
        }
    )


@dataclass
class Impl:
    label: str
    epoch: Callable[[], None]
    phases: Callable[[], None]  # the same epoch with profiler labels around its parts


@dataclass
class GraphView:
    """What the data check needs from gnntool's side: its tensors of the one (transductive) graph."""

    x: Tensor
    y: Tensor
    ops: object  # gnntool.models.graph_ops.GraphOps
    masks: dict[str, Tensor]


def check_config(config) -> None:
    model_cfg, train_cfg, data_cfg = config.model, config.train, config.dataset
    expected = {
        "model.arch": (model_cfg.arch, "gcn"),
        "model.hidden": (model_cfg.hidden, HIDDEN),
        "model.layers": (model_cfg.layers, 2),
        "model.dropout": (model_cfg.dropout, DROPOUT),
        "model.norm": (model_cfg.norm, "none"),
        "train.lr": (train_cfg.lr, LR),
        "train.weight_decay": (train_cfg.weight_decay, WEIGHT_DECAY),
        "train.batch_size": (train_cfg.batch_size, None),
        "dataset.split": (data_cfg.split, "public"),
        "dataset.normalize_features": (data_cfg.normalize_features, True),
    }
    wrong = [f"{key}={got!r} (plain script: {want!r})" for key, (got, want) in expected.items() if got != want]
    if wrong:
        raise SystemExit(f"{data_cfg.name}: gnntool's config differs from the plain script: {', '.join(wrong)}")


def make_gnntool(config) -> tuple[Impl, GraphView, str]:
    """gnntool's model, optimiser and epoch, built by gnntool's own functions as `gnntool train` does
    (`engine.runs.train_run.train_one_seed` / `engine.train.fit`)."""
    check_config(config)
    seed = config.seed
    task = gnntool_inputs.task_tensors(load_dataset(config.dataset, seed), DEVICE)
    parts = {split: task.splits[split] for split in ("train", "val", "test")}
    if any(len(p) != 1 for p in parts.values()) or len({id(p[0].graph) for p in parts.values()}) != 1:
        raise SystemExit(f"{config.dataset.name}: expected one graph shared by every split (transductive)")
    graph = parts["train"][0].graph
    view = GraphView(graph.x, graph.y, graph.ops, {split: p[0].mask for split, p in parts.items()})
    num_features, num_classes, target = task.num_features, task.num_classes, task

    def train() -> None:
        gnntool_supervised.train_epoch(
            model,
            optimizer,
            gnntool_supervised.GraphSteps(task, config.train.batch_size, config.seed).steps(0),
            task.multilabel,
        )

    # As `gnntool.engine.train.fit`: seed, then model, then Adam.
    torch.manual_seed(seed)
    model = build_model(config.model, num_features, num_classes).to(DEVICE)
    optimizer = gnntool_train.build_optimizer(model, config.train)

    def epoch() -> None:
        train()
        evaluate(model, target, ("val",))

    def phases() -> None:
        with torch.profiler.record_function("## gnntool training step"):
            train()
        with torch.profiler.record_function("## gnntool evaluate(val)"):
            evaluate(model, target, ("val",))

    return Impl("gnntool", epoch, phases), view, str(model)


# --- B: the plain PyG script ---------------------------------------------------------------------


class GCN(nn.Module):
    def __init__(self, in_channels: int, hidden_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv1 = GCNConv(in_channels, hidden_channels)
        self.conv2 = GCNConv(hidden_channels, out_channels)

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        x = F.dropout(x, p=DROPOUT, training=self.training)
        x = F.relu(self.conv1(x, edge_index))
        x = F.dropout(x, p=DROPOUT, training=self.training)
        return self.conv2(x, edge_index)


def make_pyg(name: str, root: Path, seed: int):
    dataset = Planetoid(str(root), name, transform=T.NormalizeFeatures())
    data = dataset[0].to(DEVICE)
    torch.manual_seed(seed)
    model = GCN(dataset.num_features, HIDDEN, dataset.num_classes).to(DEVICE)
    optimizer = torch.optim.Adam(model.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)

    def train() -> float:
        model.train()
        optimizer.zero_grad()
        out = model(data.x, data.edge_index)
        loss = F.cross_entropy(out[data.train_mask], data.y[data.train_mask])
        loss.backward()
        optimizer.step()
        return loss.item()

    @torch.no_grad()
    def validate_() -> float:
        model.eval()
        pred = model(data.x, data.edge_index).argmax(dim=-1)
        return float((pred[data.val_mask] == data.y[data.val_mask]).float().mean())

    def epoch() -> None:
        train()
        validate_()

    def phases() -> None:
        with torch.profiler.record_function("## pyg train"):
            train()
        with torch.profiler.record_function("## pyg validate"):
            validate_()

    return Impl("pyg", epoch, phases), data, str(model)


def check_same_data(graph: GraphView, data) -> str:
    """Both sides must train on identical inputs; return a one-line description."""
    x = graph.x.to_dense() if graph.x.layout != torch.strided else graph.x
    problems = []
    if x.shape != data.x.shape or not torch.equal(x, data.x):
        problems.append("features")
    if not torch.equal(graph.y, data.y):
        problems.append("labels")
    for split in ("train", "val", "test"):
        if not torch.equal(graph.masks[split], getattr(data, f"{split}_mask")):
            problems.append(f"{split}_mask")
    edges = {tuple(e) for e in data.edge_index.t().tolist() if e[0] != e[1]}
    ours = set(zip(graph.ops.source.tolist(), graph.ops.target.tolist()))
    if edges != ours:
        problems.append("edges")
    if problems:
        raise SystemExit(f"gnntool and the plain script see different data: {', '.join(problems)}")
    nnz = int((data.x != 0).sum())
    return (
        f"{data.num_nodes} nodes, {data.edge_index.size(1)} directed edges, "
        f"x {tuple(data.x.shape)} with {100 * (1 - nnz / data.x.numel()):.1f}% zeros; "
        f"gnntool stores x as {str(graph.x.layout).removeprefix('torch.')}"
    )


# --- timing --------------------------------------------------------------------------------------


def time_block(epoch: Callable[[], None], n: int) -> list[float]:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        epoch()
        times.append(time.perf_counter() - start)
    return times


def quartiles(values: list[float]) -> tuple[float, float, float]:
    if len(values) < 2:
        return values[0], values[0], values[0]
    q = statistics.quantiles(values, n=4, method="inclusive")
    return q[0], q[1], q[2]


@dataclass
class Result:
    name: str
    times: dict[str, list[float]]
    seconds: float


def bench_dataset(name: str, args: argparse.Namespace) -> tuple[Result, list[Impl]]:
    config = gnntool_config(name)
    a, graph, a_repr = make_gnntool(config)  # first: makes sure processed/data.pt exists, safely
    # gnntool's data root holds PyG's own Planetoid layout (<root>/Planetoid/<Name>/{raw,processed}),
    # so the plain script reads the same files.
    b, data, b_repr = make_pyg(name, data_root(config.dataset) / "Planetoid", config.seed)
    print(f"\n{name}: {check_same_data(graph, data)}")
    if args.verbose:
        print(f"  gnntool model: {a_repr}\n  pyg model:     {b_repr}")

    for impl in (a, b):  # warm-up: allocator, caches (gnntool builds its adjacency on first use)
        time_block(impl.epoch, args.warmup)

    times: dict[str, list[float]] = {a.label: [], b.label: []}
    started = time.perf_counter()
    gc.collect()
    for _ in range(args.repeats):
        for impl in (a, b):  # A, B, A, B, ...
            times[impl.label] += time_block(impl.epoch, args.epochs)
    return Result(name, times, time.perf_counter() - started), [a, b]


def print_table(results: list[Result]) -> None:
    header = (
        f"{'dataset':<9} {'impl':<8} {'epochs':>6} {'median ms':>10} {'p25 ms':>8} {'p75 ms':>8} "
        f"{'min ms':>8} {'ratio gnntool/pyg':>18}"
    )
    print("\n" + header)
    print("-" * len(header))
    for result in results:
        medians = {}
        for label, values in result.times.items():
            ms = [1000 * v for v in values]
            p25, med, p75 = quartiles(ms)
            medians[label] = med
            print(
                f"{result.name:<9} {label:<8} {len(ms):>6} {med:>10.2f} {p25:>8.2f} {p75:>8.2f} "
                f"{min(ms):>8.2f}"
            )
        ratio = medians["gnntool"] / medians["pyg"]
        print(f"{result.name:<9} {'ratio':<8} {'':>6} {'':>10} {'':>8} {'':>8} {'':>8} {ratio:>18.3f}")
    print("(ratio = median gnntool epoch / median pyg epoch; < 1 means gnntool is faster)")
    noisy = [
        f"{result.name}/{label}"
        for result in results
        for label, values in result.times.items()
        if quartiles(values)[2] > NOISY_SPREAD * quartiles(values)[0]
        or quartiles(values)[1] > NOISY_FLOOR * min(values)
    ]
    if noisy:
        print(
            f"WARNING: p75 > {NOISY_SPREAD} x p25 or median > {NOISY_FLOOR} x min for {', '.join(noisy)}: "
            "the machine was probably busy during the run (see the load average); these numbers are not "
            "reliable, rerun on an idle machine."
        )


# --- profile -------------------------------------------------------------------------------------


# Operators worth a line of their own in the profile summary (CPU time including children).
WATCH = (
    "aten::dropout",  # dense dropout (the plain script); gnntool's values-only dropout calls it too
    "aten::bernoulli_",  # dropout's random mask
    "aten::_to_sparse_csr",  # CSR conversions; in gnntool's backward: transposes of A_hat and x
    "aten::sort",  # ... whose cost is mostly this sort
    "aten::addmm",  # sparse CSR @ dense (gnntool)
    "aten::mm",  # dense matmuls, and torch.sparse.mm's entry point
    "aten::scatter_add_",  # PyG message passing (aggregation)
    "Optimizer.step#Adam.step",
)


def profile_impls(name: str, impls: list[Impl], epochs: int, rows: int) -> None:
    from torch.profiler import ProfilerActivity, profile

    for impl in impls:
        for _ in range(3):
            impl.epoch()
        with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
            for _ in range(epochs):
                impl.phases()
        events = prof.key_averages()
        total = sum(e.self_cpu_time_total for e in events)
        print(f"\n=== profile: {name} / {impl.label}, {epochs} epochs, self CPU total {total / 1000:.1f} ms "
              f"({total / 1000 / epochs:.2f} ms per epoch) ===")
        by_key = {e.key: e for e in events}
        phases = sorted(key for key in by_key if key.startswith("## "))
        for key in phases + [key for key in WATCH if key in by_key]:
            e = by_key[key]
            print(
                f"  {key.removeprefix('## '):<28} {e.cpu_time_total / 1000 / epochs:8.2f} ms per epoch "
                f"(CPU total, {100 * e.cpu_time_total / total:5.1f}% of self CPU total), {e.count // epochs} calls"
            )
        print(events.table(sort_by="self_cpu_time_total", row_limit=rows, max_name_column_width=48))
        print(
            prof.key_averages(group_by_input_shape=True).table(
                sort_by="self_cpu_time_total", row_limit=rows, max_name_column_width=36, max_shapes_column_width=70
            )
        )


# --- main ----------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=["Cora", "CiteSeer"], choices=["Cora", "CiteSeer", "PubMed"])
    parser.add_argument("--epochs", type=int, default=10, help="epochs per timed block (default 10)")
    parser.add_argument("--repeats", type=int, default=8, help="timed blocks per implementation (default 8)")
    parser.add_argument("--warmup", type=int, default=10, help="untimed epochs of each first (default 10)")
    parser.add_argument("--profile", action="store_true", help="also profile each implementation")
    parser.add_argument("--profile-epochs", type=int, default=10, help="epochs per profile (default 10)")
    parser.add_argument("--rows", type=int, default=15, help="operators listed per profile table (default 15)")
    parser.add_argument("-v", "--verbose", action="store_true", help="print both models")
    args = parser.parse_args(argv)
    if min(args.epochs, args.repeats) < 1 or args.warmup < 0:
        parser.error("--epochs and --repeats must be >= 1, --warmup >= 0")

    os.chdir(REPO)  # gnntool's default data root is ./data
    warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")
    # Threads: torch's default for this machine, deliberately left unchanged.
    print(
        f"torch {torch.__version__}, torch_geometric {torch_geometric.__version__}, "
        f"python {platform.python_version()}, {platform.machine()}"
    )
    print(
        f"device cpu, torch threads {torch.get_num_threads()} (interop {torch.get_num_interop_threads()}), "
        f"os.cpu_count() {os.cpu_count()}, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}"
    )
    print(
        f"per dataset: {args.warmup} warm-up epochs each, then {args.repeats} x (A: {args.epochs} gnntool epochs, "
        f"B: {args.epochs} pyg epochs) interleaved"
    )

    print(f"load average at start (1, 5, 15 min): {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    started = time.perf_counter()
    results, impls = [], {}
    for name in args.datasets:
        try:
            result, pair = bench_dataset(name, args)
        except UserError as exc:  # e.g. PubMed's raw files are not in the repository's data/
            print(f"error: {exc}", file=sys.stderr)
            return 1
        results.append(result)
        impls[name] = pair
        print(f"  timed in {result.seconds:.1f} s")
    print(f"load average after timing (1, 5, 15 min): {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print_table(results)
    if args.profile:
        print(f"\nload average before profiling (1, 5, 15 min): {' '.join(f'{v:.2f}' for v in os.getloadavg())} "
              "(profiles are only meaningful on an idle machine)")
        for name in args.datasets:
            profile_impls(name, impls[name], args.profile_epochs, args.rows)
    print(f"\ntotal {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
