"""Whole-graph training: one epoch of gnntool's graph objective against plain PyG, in one run.

    python bench/bench_graph_level.py [--graphs 10000] [--repeats 5] [--threads 1]

The set is gnntool's generated `synthetic_graphs` (10,000 graphs of ~25 nodes by default). Both
sides train the same GIN: 5 layers of width 64 (each an MLP of two linear maps, then BatchNorm and
ReLU), sum readout of the last layer, a two-layer head, Adam (lr 0.01), 128 graphs per step in a
shuffled order. gnntool: `GraphLevel.train_epoch` (its batches cut by index gathers from the set's
node and edge pointers). PyG: a list of `Data` objects (built once, as a user's dataset is) through
`DataLoader(shuffle=True)`, `GINConv` and `global_add_pool`, Adam as torch defaults it. Times
include batching. A third row, "dense work alone", is the floor of any implementation of this
model: the same layers without their neighbour sums (each GINConv's MLP on the node's own row),
BatchNorm, ReLU, the pooling, the head, the loss and Adam, on batches of the same graphs built
beforehand. The sides alternate epoch by epoch (gnntool, PyG, floor, gnntool, ...) after one
warm-up epoch each; the table gives the median seconds per epoch over `--repeats` epochs:
wall-clock, and the CPU time of this process (on one thread, what the epoch itself cost: on a
shared machine the wall clock also counts the time other processes held the core).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn
from torch_geometric.data import Data
from torch_geometric.loader import DataLoader
from torch_geometric.nn import GINConv, global_add_pool

from gnntool.config import validate
from gnntool.data import load_dataset
from gnntool.engine.graphs.task import graph_task
from gnntool.engine.objectives.graph import GraphLevel
from gnntool.engine.steps import EpochPosition
from gnntool.engine.train import build_optimizer

HIDDEN, LAYERS, BATCH, LR = 64, 5, 128, 0.01


class PygGIN(nn.Module):
    """The same model in PyG: GINConv(MLP) → BatchNorm → ReLU per layer, global_add_pool, MLP head."""

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        widths = [in_dim] + [HIDDEN] * LAYERS
        self.convs = nn.ModuleList(
            GINConv(nn.Sequential(nn.Linear(a, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, HIDDEN)), train_eps=True)
            for a in widths[:-1]
        )
        self.norms = nn.ModuleList(nn.BatchNorm1d(HIDDEN) for _ in range(LAYERS))
        self.head = nn.Sequential(nn.Linear(HIDDEN, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, out_dim))

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor, batch: torch.Tensor) -> torch.Tensor:
        for conv, norm in zip(self.convs, self.norms):
            x = torch.relu(norm(conv(x, edge_index)))
        return self.head(global_add_pool(x, batch))


def dense_only(model: PygGIN, x: torch.Tensor, batch: torch.Tensor, num_graphs: int) -> torch.Tensor:
    """`model` without its aggregation (each GINConv's MLP on the node's own row): the dense work
    that every implementation of this GIN does, whatever it does to sum neighbours."""
    for conv, norm in zip(model.convs, model.norms):
        x = torch.relu(norm(conv.nn(x)))
    return model.head(global_add_pool(x, batch, num_graphs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--graphs", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    config = validate(
        {
            "dataset": {"name": "synthetic_graphs", "graphs": args.graphs, "graph_nodes": 25, "split": "random",
                        "train_frac": 0.98, "val_frac": 0.01},
            "model": {"arch": "gin", "hidden": HIDDEN, "layers": LAYERS, "dropout": 0.0, "norm": "batch",
                      "readout": "sum"},
            "train": {"objective": "graph", "batch_size": BATCH, "lr": LR, "weight_decay": 0.0},
        }
    )  # fmt: skip
    graphs = load_dataset(config.dataset, 0)
    objective = GraphLevel(config, graph_task(graphs, torch.device("cpu"), 0), 0)
    torch.manual_seed(0)
    ours = objective.build_model()
    ours_optimizer = build_optimizer(ours, config.train)

    train = objective.task.splits["train"]
    x, y = graphs.x.float(), graphs.y
    data = [
        Data(x=x[graphs.node_ptr[g] : graphs.node_ptr[g + 1]],
             edge_index=graphs.edge_index[:, graphs.edge_ptr[g] : graphs.edge_ptr[g + 1]] - graphs.node_ptr[g],
             y=y[g : g + 1])
        for g in train.tolist()
    ]  # fmt: skip
    loader = DataLoader(data, batch_size=BATCH, shuffle=True)
    theirs = PygGIN(graphs.num_features, graphs.num_outputs)
    theirs_optimizer = torch.optim.Adam(theirs.parameters(), lr=LR)
    loss_fn = nn.CrossEntropyLoss()

    def gnntool_epoch(epoch: int) -> None:
        objective.train_epoch(ours, ours_optimizer, epoch, EpochPosition())

    def pyg_epoch(epoch: int) -> None:
        theirs.train()
        for batch in loader:
            theirs_optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(theirs(batch.x, batch.edge_index, batch.batch), batch.y)
            loss.backward()
            theirs_optimizer.step()

    # the floor: the same layers' dense work alone on batches of the same sizes, built beforehand
    floor = PygGIN(graphs.num_features, graphs.num_outputs)
    floor_optimizer = torch.optim.Adam(floor.parameters(), lr=LR, foreach=True)
    floor_batches = [(b.x, b.ops.batch, b.ops.num_graphs, b.y) for b in objective.task.batcher.batches(train, BATCH)]

    def floor_epoch(epoch: int) -> None:
        floor.train()
        for x, batch, num_graphs, y in floor_batches:
            floor_optimizer.zero_grad(set_to_none=True)
            loss_fn(dense_only(floor, x, batch, num_graphs), y).backward()
            floor_optimizer.step()

    sides = {"gnntool": gnntool_epoch, "PyG": pyg_epoch, "dense work alone": floor_epoch}
    for run in sides.values():
        run(0)  # warm-up
    times: dict[str, list[tuple[float, float]]] = {side: [] for side in sides}
    for epoch in range(1, args.repeats + 1):
        for side, run in sides.items():
            wall, cpu = time.perf_counter(), time.process_time()
            run(epoch)
            times[side].append((time.perf_counter() - wall, time.process_time() - cpu))
    nodes = int(graphs.node_ptr[-1])
    print(f"{len(train):,} training graphs, {nodes / graphs.num_graphs:.1f} nodes per graph on average, "
          f"batch {BATCH}, {torch.get_num_threads()} thread(s), median of {args.repeats} epochs")  # fmt: skip
    print("| side | wall s per epoch | CPU s per epoch | ratio to PyG (wall) | ratio to PyG (CPU) |")
    print("|---|---|---|---|---|")
    pyg = [statistics.median(value[i] for value in times["PyG"]) for i in (0, 1)]
    for side, values in times.items():
        wall, cpu = (statistics.median(value[i] for value in values) for i in (0, 1))
        print(f"| {side} | {wall:.3f} | {cpu:.3f} | {wall / pyg[0]:.2f} | {cpu / pyg[1]:.2f} |")


if __name__ == "__main__":
    main()
