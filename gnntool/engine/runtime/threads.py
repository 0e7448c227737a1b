"""How many torch threads full-batch training on the CPU uses: one on small graphs.

Torch's intra-op threads pay a fork-join per operator; a small graph's operators are too short to
gain from a second thread, and on a busy machine the second thread waits for a core at every join
(on the busy 2-core machine a Cora training step took 4-56x as long on two threads as on one).
`full_batch_threads` is a pure function of the graph's size (measured by `bench/bench_threads.py`,
see docs/speed.md); `chosen_threads` applies it for one training run unless the user set
OMP_NUM_THREADS.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

    from gnntool.config import Config
    from gnntool.engine.tasks import AnyTask

# Below this work (`full_batch_work`) one thread; from it on, all. On the busy 2-core machine one
# thread won every measurement below 15M, by 1.7-56x (bench/bench_threads.py, docs/speed.md);
# from 41M on (300k and 1M nodes) two threads took 0.71-1.6x as long: the load decides there, not
# the graph, and an idle machine's second core can pay.
CROSSOVER_WORK = 50_000_000


def full_batch_work(num_nodes: int, num_edges: int, features: int) -> int:
    """The size of one full-batch step: edge_index entries plus input feature values."""
    return num_edges + num_nodes * features


def full_batch_threads(num_nodes: int, num_edges: int, features: int, available: int) -> int:
    """1 below the crossover work, else all `available` threads."""
    if full_batch_work(num_nodes, num_edges, features) < CROSSOVER_WORK:
        return 1
    return max(1, available)


@contextmanager
def chosen_threads(
    num_nodes: int,
    num_edges: int,
    features: int,
    get_threads: Callable[[], int] | None = None,
    set_threads: Callable[[int], None] | None = None,
    report: Callable[[str], None] | None = None,
) -> Iterator[int]:
    """Train inside this block on `full_batch_threads` threads (restored after); yields the count.

    OMP_NUM_THREADS in the environment means the user chose: nothing changes. The callables
    default to torch's and `gnntool.log.info` (tests pass fakes).
    """
    if get_threads is None or set_threads is None:
        import torch  # here, so that the rule above stays importable without torch

        get_threads, set_threads = get_threads or torch.get_num_threads, set_threads or torch.set_num_threads
    if report is None:
        from gnntool import log

        report = log.info
    before = get_threads()
    if "OMP_NUM_THREADS" in os.environ:
        yield before
        return
    threads = full_batch_threads(num_nodes, num_edges, features, before)
    why = "small graph" if threads == 1 else "large graph"
    plural = "thread" if threads == 1 else "threads"
    report(f"{threads} {plural}: {why} ({num_nodes:,} nodes, {num_edges:,} edges); set OMP_NUM_THREADS to choose")
    set_threads(threads)
    try:
        yield threads
    finally:
        set_threads(before)


def training_threads(
    config: Config, task: AnyTask, device: torch.device, distributed: bool
) -> AbstractContextManager[int | None]:
    """`chosen_threads` for full-batch training on the CPU in one process, sized by the training
    graphs (all of them: one full-batch step; batches of whole graphs are sized by all training
    graphs too); anything else keeps torch's thread count."""
    if device.type != "cpu" or distributed or config.neighbour_sampling:
        return nullcontext()
    return chosen_threads(*task.training_size())
