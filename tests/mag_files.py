"""Small ogbn-mag files in OGB's own raw layout, for the loader's tests
(tests/data/typed/test_ogbn_mag.py) and the end-to-end ones (tests/cli/test_typed_mag.py)."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from gnntool.data.typed.ogb_mag import MAG_RELATIONS

COUNTS = {"author": 12, "field_of_study": 5, "institution": 3, "paper": 20}
FEATURES = 6


def write_csv_gz(path: Path, rows, header: list[str] | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt") as handle:
        if header is not None:
            handle.write(",".join(header) + "\n")
        for row in rows:
            handle.write(",".join(str(value) for value in np.atleast_1d(row)) + "\n")


def make_mag(root: Path, seed: int = 0) -> tuple[Path, dict]:
    """A small ogbn-mag in OGB's layout (and the extra files OGB ships that the loader skips)."""
    rng = np.random.default_rng(seed)
    folder = root / "ogbn_mag"
    raw = folder / "raw"
    write_csv_gz(raw / "num-node-dict.csv.gz", [list(COUNTS.values())], header=list(COUNTS))
    write_csv_gz(raw / "triplet-type-list.csv.gz", [list(relation) for relation in MAG_RELATIONS])
    edges = {}
    for head, relation, tail in MAG_RELATIONS:
        pairs = np.unique(
            np.stack([rng.integers(0, COUNTS[head], 15), rng.integers(0, COUNTS[tail], 15)], axis=1), axis=0
        )
        edges[head, relation, tail] = pairs
        sub = raw / "relations" / f"{head}___{relation}___{tail}"
        write_csv_gz(sub / "edge.csv.gz", pairs)
        write_csv_gz(sub / "num-edge-list.csv.gz", [len(pairs)])
        write_csv_gz(sub / "edge_reltype.csv.gz", np.zeros(len(pairs), dtype=int))
    x = np.round(rng.normal(size=(COUNTS["paper"], FEATURES)), 4)
    y = rng.integers(0, 349, COUNTS["paper"])
    write_csv_gz(raw / "node-feat" / "paper" / "node-feat.csv.gz", x)
    write_csv_gz(raw / "node-feat" / "paper" / "node_year.csv.gz", rng.integers(2010, 2020, COUNTS["paper"]))
    write_csv_gz(raw / "nodetype-has-label.csv.gz", [[False, False, False, True]], header=list(COUNTS))
    write_csv_gz(raw / "node-label" / "paper" / "node-label.csv.gz", y)
    split = folder / "split" / "time"
    write_csv_gz(split / "nodetype-has-split.csv.gz", [[False, False, False, True]], header=list(COUNTS))
    order = rng.permutation(COUNTS["paper"])
    parts = dict(zip(("train", "valid", "test"), np.split(order, [10, 15])))
    for name, part in parts.items():
        write_csv_gz(split / "paper" / f"{name}.csv.gz", np.sort(part))
    return folder, {"edges": edges, "x": x, "y": y, "split": parts}
