"""Small OGB graph property prediction sets (molecules) in OGB's own raw layout, for the loader's
tests (tests/data/graphsets/test_ogbg.py) and the end-to-end one (tests/cli/test_graph_level.py)."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

ATOMS, BONDS = [119, 5, 12, 12, 10, 6, 6, 2, 2], [5, 6, 2]


def write_csv_gz(path: Path, rows) -> None:
    """OGB's format: gzip-compressed, no header, comma-separated; NaN as an empty field."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = np.asarray(rows)
    rows = rows.reshape(len(rows), -1)
    with gzip.open(path, "wt") as handle:
        for row in rows:
            handle.write(",".join("" if value != value else str(value) for value in row.tolist()) + "\n")


def make_molecules(root: Path, name: str, graphs: int, tasks: int, seed: int = 0) -> Path:
    """`graphs` molecules of 2..6 atoms: a path of bonds (each listed once, per-graph ids), random
    categorical features inside OGB's vocabularies, 0/1 labels (NaN missing when tasks > 1)."""
    rng = np.random.default_rng(seed)
    folder = root / name.replace("-", "_")
    sizes = rng.integers(2, 7, graphs)
    bonds = [np.stack([np.arange(n - 1), np.arange(1, n)], axis=1) for n in sizes]
    write_csv_gz(folder / "raw" / "num-node-list.csv.gz", sizes)
    write_csv_gz(folder / "raw" / "num-edge-list.csv.gz", [len(b) for b in bonds])
    write_csv_gz(folder / "raw" / "edge.csv.gz", np.concatenate(bonds))
    write_csv_gz(folder / "raw" / "node-feat.csv.gz", rng.integers(0, ATOMS, (int(sizes.sum()), len(ATOMS))))
    write_csv_gz(folder / "raw" / "edge-feat.csv.gz", rng.integers(0, BONDS, (int(sizes.sum() - graphs), len(BONDS))))
    labels = rng.integers(0, 2, (graphs, tasks)).astype(float)
    labels[:, 0] = np.arange(graphs) % 2  # both classes everywhere
    if tasks > 1:
        labels[rng.random((graphs, tasks)) < 0.3] = np.nan
        labels[:4, 1:] = [[0], [1], [0], [1]] * np.ones((1, tasks - 1))  # every task has both classes in valid
    write_csv_gz(folder / "raw" / "graph-label.csv.gz", labels)
    order = rng.permutation(graphs)
    for part, ids in zip(("train", "valid", "test"), np.split(order, [graphs // 2, 3 * graphs // 4]), strict=True):
        write_csv_gz(folder / "split" / "scaffold" / f"{part}.csv.gz", np.sort(ids))
    return folder
