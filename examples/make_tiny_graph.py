"""Write examples/tiny_graph.npz: a small labelled graph in gnntool's graph format.

Three communities of 40 nodes (a stochastic block model: edges are 8x likelier inside a
community), 16 features whose mean depends on the community, labels = community, and a 50/25/25
split as boolean masks; node ids start at 1000 to show that ids come back in the output.
Deterministic: `python examples/make_tiny_graph.py` rewrites the same file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

NODES_PER_CLASS, CLASSES, FEATURES = 40, 3, 16


def tiny_graph(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    n = NODES_PER_CLASS * CLASSES
    y = np.repeat(np.arange(CLASSES), NODES_PER_CLASS)
    same = y[:, None] == y[None, :]
    upper = np.triu(rng.random((n, n)) < np.where(same, 0.16, 0.02), k=1)
    source, target = np.nonzero(upper)
    edge_index = np.concatenate([np.stack([source, target]), np.stack([target, source])], axis=1)
    centres = rng.normal(0.0, 1.0, (CLASSES, FEATURES))
    x = (centres[y] + rng.normal(0.0, 1.5, (n, FEATURES))).astype(np.float32)
    order = rng.permutation(n)
    masks = {name: np.zeros(n, dtype=bool) for name in ("train_mask", "val_mask", "test_mask")}
    masks["train_mask"][order[: n // 2]] = True
    masks["val_mask"][order[n // 2 : 3 * n // 4]] = True
    masks["test_mask"][order[3 * n // 4 :]] = True
    return {"x": x, "edge_index": edge_index.astype(np.int64), "y": y, "node_id": np.arange(n) + 1000, **masks}


if __name__ == "__main__":
    path = Path(__file__).resolve().parent / "tiny_graph.npz"
    np.savez(path, **tiny_graph())
    print(path)
