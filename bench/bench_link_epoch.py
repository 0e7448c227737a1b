"""Time one link-prediction epoch on Cora: gnntool's path against the plain PyG script, in one process.

    python bench/bench_link_epoch.py [--epochs N] [--repeats R] [--profile]

An *epoch* is a training step (encode the graph, fresh negatives, one per training positive,
binary cross-entropy on the dot decoder's logits, backward, Adam) AND the validation pass
(eval mode, encode without autograd, score the validation positives and negatives).

A. gnntool's building blocks, as a `train.objective: link` run uses them: `load_dataset` (Cora,
   normalised features) -> `split_edges` (85/5/10, seeded) -> `task_tensors`-style features
   (sparse CSR) and `GraphOps` of the message-passing graph -> `build_model` (gcn, 128 -> 64,
   no dropout) + `build_decoder("dot")`; per epoch `NegativeSampler` draws the negatives and
   validation reports `link_metrics` (AUC, AP, Hits@20/50/100, MRR).
B. PyG's examples/link_pred.py: `Planetoid(transform=NormalizeFeatures + RandomLinkSplit(0.05,
   0.1, is_undirected=True, add_negative_train_samples=False))`, `GCNConv(in, 128)`, ReLU,
   `GCNConv(128, 64)`, `negative_sampling(method="sparse")` per epoch, `BCEWithLogitsLoss`,
   Adam(lr=0.01); validation: `no_grad` encode, sigmoid, scikit-learn's `roc_auc_score`.
C. (row `engine`) the epoch exactly as `gnntool train` runs it: `task_tensors` ->
   `build_objective` (the `link` objective, gcn, `model.hidden` 128 for both layers, so its
   embedding is 128 wide where A's and B's is 64; no dropout, lr 0.01, 1 negative) ->
   `objective.build_model()` + Adam; per epoch `objective.train_epoch` + `objective.validate`
   (as `engine.train.fit`; the split and the validation negatives are the objective's own).

All on the CPU with torch's default threads, the same features (A and B checked) and equally
large splits, after a warm-up, in alternating blocks A, B, C, A, B, C, ... (`bench_gcn_epoch`'s
timing and table: medians, ratio gnntool/pyg, then the ratio engine/pyg). `--profile` adds
torch.profiler summaries of each.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
import warnings
from collections.abc import Callable

import torch
import torch.nn.functional as F
import torch_geometric.transforms as T
from bench_gcn_epoch import (
    DEVICE,
    REPO,
    Impl,
    Result,
    print_table,
    profile_impls,
    time_block,
)
from sklearn.metrics import roc_auc_score
from torch import Tensor, nn
from torch_geometric.datasets import Planetoid
from torch_geometric.nn import GCNConv
from torch_geometric.utils import negative_sampling

from gnntool.config import validate
from gnntool.data import load_dataset
from gnntool.data.edge_split import NegativeSampler, split_edges
from gnntool.data.fetch import data_root
from gnntool.engine.inputs import feature_tensor, task_tensors
from gnntool.engine.link.metrics import link_metrics
from gnntool.engine.objectives import build_objective
from gnntool.models import build_model
from gnntool.models.decoders import build_decoder
from gnntool.models.graph_ops import GraphOps

HIDDEN, OUT, LR, VAL, TEST = 128, 64, 0.01, 0.05, 0.1


def timed_impl(label: str, train: Callable[[], object], validate_: Callable[[], object]) -> Impl:
    """An epoch (training step, then validation) and the same with profiler labels per phase."""

    def epoch() -> None:
        train()
        validate_()

    def phases() -> None:
        with torch.profiler.record_function(f"## {label} train"):
            train()
        with torch.profiler.record_function(f"## {label} validate"):
            validate_()

    return Impl(label, epoch, phases)


def make_gnntool(seed: int) -> tuple[Impl, Tensor]:
    config = validate(
        {
            "seed": seed,
            "dataset": {"name": "Cora", "split": "public", "normalize_features": True},
            "model": {"arch": "gcn", "hidden": HIDDEN, "layers": 2, "dropout": 0.0},
            "train": {"lr": LR, "weight_decay": 0.0},
        }
    )
    (data,) = load_dataset(config.dataset, seed).graphs
    split = split_edges(data.edge_index, data.num_nodes, VAL, TEST, torch.Generator().manual_seed(seed))
    x = feature_tensor(data.x).to(DEVICE)
    ops = GraphOps(split.edge_index.to(DEVICE), data.num_nodes)
    torch.manual_seed(seed)
    model = build_model(config.model, data.num_features, OUT).to(DEVICE)
    decoder = build_decoder("dot", OUT)
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    negatives = NegativeSampler(split.edge_index, data.num_nodes)
    generator = torch.Generator().manual_seed(seed)
    positives = split.train_pos.to(DEVICE)
    labels = torch.cat([torch.ones(positives.size(1)), torch.zeros(positives.size(1))]).to(DEVICE)

    def train() -> None:
        model.train()
        optimizer.zero_grad()
        z = model(x, ops)
        pairs = torch.cat([positives, negatives(positives.size(1), generator)], 1)
        F.binary_cross_entropy_with_logits(decoder(z, pairs), labels).backward()
        optimizer.step()

    def validate_() -> dict[str, float]:
        model.eval()
        with torch.inference_mode():
            z = model(x, ops)
            return link_metrics(decoder(z, split.val_pos), decoder(z, split.val_neg), [20, 50, 100])

    return timed_impl("gnntool", train, validate_), data.x


def make_engine(seed: int) -> Impl:
    """The `link` objective's epoch as `engine.train.fit` runs it (training step, then validate)."""
    from gnntool.engine.steps import EpochPosition

    config = validate(
        {
            "seed": seed,
            "dataset": {"name": "Cora", "normalize_features": True, "edge_split": {"val": VAL, "test": TEST}},
            "model": {"arch": "gcn", "hidden": HIDDEN, "layers": 2, "dropout": 0.0},
            "train": {"objective": "link", "lr": LR, "weight_decay": 0.0, "negatives": 1},
        }
    )
    task = task_tensors(load_dataset(config.dataset, seed), DEVICE, config.inference_chunk)
    objective = build_objective(config, task, seed)
    objective.check()
    torch.manual_seed(seed)
    model = objective.build_model().to(DEVICE)
    optimizer = torch.optim.Adam(model.parameters(), lr=LR, weight_decay=0.0)
    epochs = iter(range(1 << 62))

    def train() -> None:
        objective.train_epoch(model, optimizer, next(epochs), EpochPosition())

    def validate_() -> None:
        objective.validate(model)

    return timed_impl("engine", train, validate_)


class Net(nn.Module):
    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.conv1 = GCNConv(in_channels, HIDDEN)
        self.conv2 = GCNConv(HIDDEN, OUT)

    def encode(self, x: Tensor, edge_index: Tensor) -> Tensor:
        return self.conv2(self.conv1(x, edge_index).relu(), edge_index)

    def decode(self, z: Tensor, edge_label_index: Tensor) -> Tensor:
        return (z[edge_label_index[0]] * z[edge_label_index[1]]).sum(dim=-1)


def make_pyg(seed: int) -> tuple[Impl, Tensor]:
    torch.manual_seed(seed)
    transform = T.Compose(
        [
            T.NormalizeFeatures(),
            T.ToDevice(DEVICE),
            T.RandomLinkSplit(num_val=VAL, num_test=TEST, is_undirected=True, add_negative_train_samples=False),
        ]
    )
    dataset = Planetoid(str(data_root(validate({}).dataset) / "Planetoid"), "Cora", transform=transform)
    train_data, val_data, _ = dataset[0]
    model = Net(dataset.num_features).to(DEVICE)
    optimizer = torch.optim.Adam(params=model.parameters(), lr=LR)
    criterion = nn.BCEWithLogitsLoss()

    def train() -> None:
        model.train()
        optimizer.zero_grad()
        z = model.encode(train_data.x, train_data.edge_index)
        neg_edge_index = negative_sampling(
            edge_index=train_data.edge_index,
            num_nodes=train_data.num_nodes,
            num_neg_samples=train_data.edge_label_index.size(1),
            method="sparse",
        )
        edge_label_index = torch.cat([train_data.edge_label_index, neg_edge_index], dim=-1)
        edge_label = torch.cat([train_data.edge_label, train_data.edge_label.new_zeros(neg_edge_index.size(1))], dim=0)
        out = model.decode(z, edge_label_index).view(-1)
        criterion(out, edge_label).backward()
        optimizer.step()

    @torch.no_grad()
    def validate_() -> float:
        model.eval()
        z = model.encode(val_data.x, val_data.edge_index)
        out = model.decode(z, val_data.edge_label_index).view(-1).sigmoid()
        return roc_auc_score(val_data.edge_label.cpu().numpy(), out.cpu().numpy())

    return timed_impl("pyg", train, validate_), train_data.x


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=10, help="epochs per timed block (default 10)")
    parser.add_argument("--repeats", type=int, default=8, help="timed blocks per implementation (default 8)")
    parser.add_argument("--warmup", type=int, default=10, help="untimed epochs of each first (default 10)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--profile", action="store_true", help="also profile each implementation")
    parser.add_argument("--profile-epochs", type=int, default=10, help="epochs per profile (default 10)")
    parser.add_argument("--rows", type=int, default=15, help="operators listed per profile table (default 15)")
    args = parser.parse_args(argv)
    if min(args.epochs, args.repeats) < 1 or args.warmup < 0:
        parser.error("--epochs and --repeats must be >= 1, --warmup >= 0")
    os.chdir(REPO)  # gnntool's default data root is ./data
    warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, load average {os.getloadavg()[0]:.2f}")

    a, x_a = make_gnntool(args.seed)
    b, x_b = make_pyg(args.seed)
    if not torch.equal(x_a, x_b):
        raise SystemExit("gnntool and the plain script see different features")
    impls = [a, b, make_engine(args.seed)]
    for impl in impls:
        time_block(impl.epoch, args.warmup)
    times: dict[str, list[float]] = {impl.label: [] for impl in impls}
    gc.collect()
    started = time.perf_counter()
    for _ in range(args.repeats):
        for impl in impls:  # A, B, C, A, B, C, ...
            times[impl.label] += time_block(impl.epoch, args.epochs)
    print(f"load average after timing {os.getloadavg()[0]:.2f}")
    print_table([Result("Cora link", times, time.perf_counter() - started)])
    medians = {label: statistics.median(values) for label, values in times.items()}
    print(f"ratio engine/pyg {medians['engine'] / medians['pyg']:.3f} (the `link` objective's own epoch)")
    if args.profile:
        profile_impls("Cora link", impls, args.profile_epochs, args.rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
