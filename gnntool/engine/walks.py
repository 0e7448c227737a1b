"""Random walks, co-occurrence pairs and negative sampling for unsupervised GraphSAGE.

Hamilton et al. (2017), eq. 1: for a node u and a node v that co-occurs with u on a short uniform
random walk, and Q negatives n_1..n_Q drawn from P_n(v) ∝ deg(v)^0.75,

    J(z_u) = -log σ(z_uᵀ z_v) - Σ_q log σ(-z_uᵀ z_{n_q}).

torch-cluster and pyg-lib are not available, so the walks are written here in plain torch over the
CSR row pointers of `GraphOps`: vectorised over walkers, with a Python loop over walk steps only.

Conventions (shared by every function below):

* **Direction.** A walker at v moves to one of v's *in-neighbours*, `source[rowptr[v]:rowptr[v+1]]`
  (the nodes v aggregates from). For the undirected graphs used here (every edge stored in both
  directions) in- and out-neighbours coincide, so this is the usual walk on the graph; on a
  directed graph the walk runs against the direction messages flow.
* **Dead ends.** A walker at a node with no in-neighbours (isolated node, or a pure source on a
  directed graph) stays where it is for the rest of the walk. `cooccurrence_pairs` never emits
  (u, u), so these stays produce no pairs.
* **Randomness.** Every random number comes from the `generator` argument when one is given (the
  global RNG is then untouched) and is created on `ops.device`, so a CUDA graph needs a CUDA
  generator. With `generator=None` the global RNG of that device is used.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from gnntool.models.graph_ops import GraphOps

NEGATIVE_EXPONENT = 0.75


def random_walks(
    ops: GraphOps, starts: Tensor, walk_length: int, generator: torch.Generator | None = None
) -> Tensor:
    """One uniform random walk of `walk_length` steps from every node in `starts`.

    Returns a long tensor of shape (len(starts), walk_length + 1) on `ops.device`; column 0 holds
    the start nodes. At each step a walker at v moves to `source[rowptr[v] + ⌊u · deg(v)⌋]` with
    u ~ U[0, 1) drawn (in float64, so the choice stays uniform for large degrees) from `generator`:
    a uniformly chosen in-neighbour. A walker at a node without in-neighbours stays there.
    """
    if walk_length < 0:
        raise ValueError(f"walk_length must be >= 0, got {walk_length}")
    device = ops.device
    current = starts.to(device=device, dtype=torch.long).reshape(-1)
    if current.numel() and (int(current.min()) < 0 or int(current.max()) >= ops.num_nodes):
        raise ValueError(f"start nodes must lie in [0, {ops.num_nodes})")
    steps = [current]
    num_edges = ops.source.numel()
    if num_edges == 0:  # nowhere to go: every walker stays at its start
        return current.unsqueeze(1).repeat(1, walk_length + 1)
    rowptr, degree, source = ops.rowptr, ops.in_degree, ops.source
    for _ in range(walk_length):
        deg = degree[current]
        u = torch.rand(current.numel(), generator=generator, device=device, dtype=torch.float64)
        offset = (u * deg).long()
        offset = torch.minimum(offset, (deg - 1).clamp_min(0))  # guard against u·deg rounding up
        index = (rowptr[current] + offset).clamp_max(num_edges - 1)  # in range even when deg = 0
        current = torch.where(deg > 0, source[index], current)
        steps.append(current)
    return torch.stack(steps, dim=1)


def cooccurrence_pairs(walks: Tensor, window: int) -> Tensor:
    """All (u, v) with v at most `window` steps after u on the same walk, in both directions.

    `walks` is (W, L). Returns a long tensor (2, P): for every offset k in 1..window and every
    position i, the pairs (walks[:, i], walks[:, i + k]) and (walks[:, i + k], walks[:, i]).
    Pairs with u == v (a walker staying at a dead end, or returning to a node) are dropped.
    Repeated pairs are kept: how often two nodes co-occur is how strongly they are pulled together.
    """
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    if walks.dim() != 2:
        raise ValueError(f"walks must be 2-D (num_walks, length), got shape {tuple(walks.shape)}")
    heads, tails = [], []
    for k in range(1, min(window, walks.size(1) - 1) + 1):
        first, second = walks[:, :-k].reshape(-1), walks[:, k:].reshape(-1)
        heads += [first, second]
        tails += [second, first]
    if not heads:
        return torch.empty(2, 0, dtype=torch.long, device=walks.device)
    pairs = torch.stack([torch.cat(heads), torch.cat(tails)])
    return pairs[:, pairs[0] != pairs[1]]


def positive_pairs(
    ops: GraphOps,
    walks_per_node: int,
    walk_length: int,
    window: int,
    generator: torch.Generator | None = None,
    nodes: Tensor | None = None,
) -> Tensor:
    """Co-occurrence pairs (2, P) of `walks_per_node` walks from every node (or from `nodes`)."""
    if walks_per_node < 1:
        raise ValueError(f"walks_per_node must be >= 1, got {walks_per_node}")
    if nodes is None:
        nodes = torch.arange(ops.num_nodes, device=ops.device)
    starts = nodes.to(device=ops.device, dtype=torch.long).reshape(-1).repeat(walks_per_node)
    return cooccurrence_pairs(random_walks(ops, starts, walk_length, generator), window)


def negative_distribution(ops: GraphOps) -> Tensor:
    """P_n(v) ∝ deg(v)^0.75 with deg = in-degree, as a float tensor (num_nodes,) summing to 1.

    Nodes of degree 0 get probability 0 (they are never drawn as negatives), unless every node
    has degree 0: then the distribution is uniform, so that sampling still works.
    """
    weight = ops.in_degree.to(torch.float).pow(NEGATIVE_EXPONENT)
    total = weight.sum()
    weight = torch.where(total > 0, weight, torch.ones_like(weight))  # no host sync
    return weight / weight.sum()


def sample_negatives(probabilities: Tensor, count: int, generator: torch.Generator | None = None) -> Tensor:
    """`count` node indices drawn with replacement from `probabilities` (shape (count,)).

    Reshape to (P, Q) for `unsupervised_loss`. torch.multinomial limits the number of categories
    (nodes) to 2^24.
    """
    return torch.multinomial(probabilities, count, replacement=True, generator=generator)


def unsupervised_loss(z: Tensor, pairs: Tensor, negatives: Tensor) -> Tensor:
    """Mean over positive pairs (u, v) of -log σ(z_u·z_v) - Σ_q log σ(-z_u·z_{n_q}).

    `z` is (N, d), `pairs` (2, P) and `negatives` (P, Q): row p holds the Q negatives of pair p.
    Uses `F.logsigmoid` for numerical stability. With no positive pairs (P = 0) the loss is a zero
    that is still connected to `z`, so a training step on a graph of isolated nodes is a no-op.
    """
    if pairs.dim() != 2 or pairs.size(0) != 2:
        raise ValueError(f"pairs must have shape (2, P), got {tuple(pairs.shape)}")
    if negatives.dim() != 2 or negatives.size(0) != pairs.size(1):
        raise ValueError(
            f"negatives must have shape (P, Q) with P = {pairs.size(1)}, got {tuple(negatives.shape)}"
        )
    if pairs.size(1) == 0:
        return z.sum() * 0.0
    z_u = z[pairs[0]]
    positive = (z_u * z[pairs[1]]).sum(-1)  # (P,)
    negative = torch.einsum("pd,pqd->pq", z_u, z[negatives])  # (P, Q)
    loss = -F.logsigmoid(positive) - F.logsigmoid(-negative).sum(-1)
    return loss.mean()
