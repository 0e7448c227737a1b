"""Full-batch training epochs on one torch thread against two, over a range of graph sizes.

    python bench/bench_threads.py [--graphs Cora CiteSeer 10000 30000 100000 300000]
                                  [--configs gcn_cora sage_cora] [--burners 1] [--repeats 5]

Each graph is a shipped Planetoid graph (by name) or a synthetic one of that many nodes (average
degree 10, 128 features, 10 classes; generated once and cached under `--root`). Each config of
configs/ is trained on it with the dataset swapped in, by gnntool's own functions: an epoch is one
full-batch training step (forward, backward, Adam), as `engine.train.fit` runs it, without the
validation pass. After warm-up, blocks of `--epochs` epochs alternate between
`torch.set_num_threads(1)` and `(2)`, `--repeats` blocks each; the table gives median epoch times,
the ratio 2 threads / 1 thread (below 1: two threads win) and the work measure of
`gnntool.engine.runtime.threads` that `gnntool train` picks the thread count by.

`--burners N` keeps N extra processes spinning for the whole run (and stops them after), to
measure as on the usual busy machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

from gnntool.config import Config, load_config
from gnntool.data import load_dataset
from gnntool.engine.inputs import task_tensors
from gnntool.engine.runtime.threads import full_batch_threads, full_batch_work
from gnntool.engine.train import GraphSteps, build_optimizer, train_epoch
from gnntool.models import build_model

REPO = Path(__file__).resolve().parent.parent
THREADS = (1, 2)


def graph_config(base: Config, graph: str, root: str | None) -> Config:
    """`base` with its dataset replaced by `graph`: a Planetoid name or a synthetic node count."""
    if graph.isdigit():
        update = {"name": "synthetic", "nodes": int(graph), "avg_degree": 10, "features": 128, "classes": 10}
        dataset = base.dataset.model_validate({"root": root, **update})
    else:
        dataset = base.dataset.model_validate({"name": graph, "split": "public", "root": root})
    return base.model_validate({**base.model_dump(), "dataset": dataset.model_dump()})


def make_epoch(config: Config) -> tuple[Callable[[], None], dict[str, int]]:
    """One full-batch training step of `config`, and the sizes of its training graph."""
    task = task_tensors(load_dataset(config.dataset, config.seed), torch.device("cpu"))
    torch.manual_seed(config.seed)
    model = build_model(config.model, task.num_features, task.num_classes)
    optimizer = build_optimizer(model, config.train)
    steps = GraphSteps(task, None, 0)
    graph = task.dataset.graphs[0]
    sizes = {"nodes": graph.num_nodes, "edges": graph.edge_index.size(1), "features": task.num_features}

    def epoch() -> None:
        train_epoch(model, optimizer, steps.steps(0), task.multilabel)

    return epoch, sizes


def time_blocks(epoch: Callable[[], None], warmup: int, epochs: int, repeats: int) -> dict[int, list[float]]:
    """Epoch times per thread count, from blocks that alternate between the counts."""
    times: dict[int, list[float]] = {threads: [] for threads in THREADS}
    for threads in THREADS:
        torch.set_num_threads(threads)
        for _ in range(warmup):
            epoch()
    for _ in range(repeats):
        for threads in THREADS:
            torch.set_num_threads(threads)
            for _ in range(epochs):
                started = time.perf_counter()
                epoch()
                times[threads].append(time.perf_counter() - started)
    return times


@contextmanager
def burners(count: int) -> Iterator[None]:
    """`count` processes spinning on a core each until the block ends."""
    spinning = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]
    try:
        yield
    finally:
        for process in spinning:
            process.kill()
            process.wait()


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--graphs", nargs="+", default=["Cora", "CiteSeer", "10000", "30000", "100000", "300000"])
    parser.add_argument("--configs", nargs="+", default=["gcn_cora", "sage_cora"], help="names in configs/")
    parser.add_argument("--root", default=None, help="data root (default: data/)")
    parser.add_argument("--burners", type=int, default=0, help="extra busy processes during the run")
    parser.add_argument("--epochs", type=int, default=5, help="epochs per block")
    parser.add_argument("--repeats", type=int, default=5, help="blocks per thread count")
    parser.add_argument("--warmup", type=int, default=2)
    args = parser.parse_args()
    os.chdir(REPO)
    threads_before = torch.get_num_threads()
    print(f"torch {torch.__version__}, os.cpu_count() {os.cpu_count()}, burners {args.burners}, "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}")  # fmt: skip
    print(f"load average at start: {load_average()}")
    columns = ["graph", "model (hidden)", "nodes", "edges", "features", "work (M)", "1 thread ms", "2 threads ms"]
    print(f"| {' | '.join([*columns, '2 / 1', 'picks'])} |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    with burners(args.burners):
        for graph in args.graphs:
            for name in args.configs:
                config = graph_config(load_config(REPO / "configs" / f"{name}.yaml"), graph, args.root)
                epoch, sizes = make_epoch(config)
                times = time_blocks(epoch, args.warmup, args.epochs, args.repeats)
                one, two = (1000 * statistics.median(times[threads]) for threads in THREADS)
                work = full_batch_work(sizes["nodes"], sizes["edges"], sizes["features"])
                picks = full_batch_threads(sizes["nodes"], sizes["edges"], sizes["features"], available=2)
                model = f"{config.model.arch} ({config.model.hidden})"
                row = [graph, model, f"{sizes['nodes']:,}", f"{sizes['edges']:,}", f"{sizes['features']:,}",
                       f"{work / 1e6:,.1f}", f"{one:.2f}", f"{two:.2f}", f"{two / one:.2f}", str(picks)]  # fmt: skip
                print(f"| {' | '.join(row)} |", flush=True)
    torch.set_num_threads(threads_before)
    print(f"load average at end: {load_average()}")


if __name__ == "__main__":
    main()
