"""Random walks, co-occurrence pairs, negative sampling and the unsupervised GraphSAGE loss."""

from __future__ import annotations

from collections import Counter

import pytest
import torch
import torch.nn.functional as F
from scipy.stats import chisquare

from gnntool.engine.walks import (
    cooccurrence_pairs,
    negative_distribution,
    positive_pairs,
    random_walks,
    sample_negatives,
    unsupervised_loss,
)
from gnntool.models.graph_ops import GraphOps


def undirected(edges: list[tuple[int, int]]) -> torch.Tensor:
    both = edges + [(b, a) for a, b in edges]
    return torch.tensor(both, dtype=torch.long).t()


# Degrees 0 (node 7, isolated), 1, 2, 3 and 4; a triangle 0-1-2 plus a tail and a pendant.
EDGES = [(0, 1), (1, 2), (2, 0), (0, 3), (3, 4), (0, 5), (4, 6), (1, 6)]
NUM_NODES = 8
ISOLATED = 7


def graph() -> GraphOps:
    return GraphOps(undirected(EDGES), NUM_NODES)


def neighbours(ops: GraphOps) -> dict[int, set[int]]:
    return {v: set(ops.source[ops.rowptr[v] : ops.rowptr[v + 1]].tolist()) for v in range(ops.num_nodes)}


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_walks_follow_edges_and_start_at_starts() -> None:
    ops = graph()
    adj = neighbours(ops)
    starts = torch.arange(NUM_NODES).repeat(20)
    walks = random_walks(ops, starts, walk_length=6, generator=gen(0))
    assert walks.shape == (len(starts), 7)
    assert walks.dtype == torch.long
    assert torch.equal(walks[:, 0], starts)
    for walk in walks.tolist():
        for a, b in zip(walk, walk[1:]):
            assert b in adj[a] or (a == b and not adj[a]), (walk, a, b)
    assert (walks[starts == ISOLATED] == ISOLATED).all()  # stuck at the isolated node
    assert random_walks(ops, starts, 0, gen(0)).shape == (len(starts), 1)


def test_walks_directed_use_in_neighbours() -> None:
    # 0 -> 1 -> 2: the in-neighbour of 2 is 1, of 1 is 0; node 0 has none and stays.
    ops = GraphOps(torch.tensor([[0, 1], [1, 2]]), 3)
    walks = random_walks(ops, torch.tensor([2, 1, 0]), walk_length=3, generator=gen(0))
    assert walks.tolist() == [[2, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0]]


def test_walks_graph_without_edges() -> None:
    ops = GraphOps(torch.empty(2, 0, dtype=torch.long), 3)
    walks = random_walks(ops, torch.tensor([0, 2]), 4, gen(0))
    assert walks.tolist() == [[0] * 5, [2] * 5]
    assert positive_pairs(ops, 2, 4, 2, gen(0)).shape == (2, 0)


def test_walks_seeded() -> None:
    ops = graph()
    starts = torch.arange(NUM_NODES).repeat(10)
    a = random_walks(ops, starts, 5, gen(1))
    b = random_walks(ops, starts, 5, gen(1))
    c = random_walks(ops, starts, 5, gen(2))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    p = negative_distribution(ops)
    assert torch.equal(sample_negatives(p, 500, gen(1)), sample_negatives(p, 500, gen(1)))
    assert not torch.equal(sample_negatives(p, 500, gen(1)), sample_negatives(p, 500, gen(2)))
    assert torch.equal(positive_pairs(ops, 2, 4, 2, gen(3)), positive_pairs(ops, 2, 4, 2, gen(3)))


def test_generator_leaves_global_rng_alone() -> None:
    ops = graph()
    state = torch.get_rng_state()
    random_walks(ops, torch.arange(NUM_NODES), 5, gen(0))
    sample_negatives(negative_distribution(ops), 100, gen(0))
    assert torch.equal(state, torch.get_rng_state())


@pytest.mark.parametrize("node", [0, 1, 2, 4, 6])
def test_steps_are_uniform(node: int) -> None:
    ops = graph()
    adj = sorted(neighbours(ops)[node])
    samples = 20_000
    walks = random_walks(ops, torch.full((samples,), node), 1, gen(node))
    counts = torch.bincount(walks[:, 1], minlength=NUM_NODES)
    assert counts.sum() == samples
    assert set(torch.nonzero(counts).flatten().tolist()) == set(adj)
    observed = counts[adj].numpy()
    expected = [samples / len(adj)] * len(adj)
    assert chisquare(observed, expected).pvalue > 1e-3


def test_steps_uniform_at_large_degree() -> None:
    # A star with 50 leaves: from the centre every leaf is equally likely.
    leaves = 50
    ops = GraphOps(undirected([(0, i) for i in range(1, leaves + 1)]), leaves + 1)
    samples = 50_000
    walks = random_walks(ops, torch.zeros(samples, dtype=torch.long), 2, gen(7))
    counts = torch.bincount(walks[:, 1], minlength=leaves + 1)
    assert counts[0] == 0
    assert chisquare(counts[1:].numpy()).pvalue > 1e-3
    assert (walks[:, 2] == 0).all()  # each leaf's only neighbour is the centre


def reference_pairs(walks: list[list[int]], window: int) -> Counter:
    pairs: Counter = Counter()
    for walk in walks:
        for i, u in enumerate(walk):
            for j in range(i + 1, min(i + window, len(walk) - 1) + 1):
                v = walk[j]
                if u != v:
                    pairs[(u, v)] += 1
                    pairs[(v, u)] += 1
    return pairs


WALKS = [
    [0, 1, 2, 3, 4],
    [5, 5, 5, 5, 5],  # stuck at an isolated node: no pairs
    [1, 0, 1, 0, 6],  # revisits: (0, 0) and (1, 1) at distance 2 are dropped
    [2, 3, 2, 7, 8],
]


@pytest.mark.parametrize("window", [1, 2, 3, 4, 10])
def test_cooccurrence_pairs_against_loop(window: int) -> None:
    pairs = cooccurrence_pairs(torch.tensor(WALKS), window)
    assert pairs.shape[0] == 2 and pairs.dtype == torch.long
    got = Counter(map(tuple, pairs.t().tolist()))
    assert got == reference_pairs(WALKS, window)
    assert (pairs[0] != pairs[1]).all()


def test_cooccurrence_window_respected() -> None:
    walk = torch.arange(10).unsqueeze(0)  # node i sits at position i
    for window in (1, 3):
        pairs = cooccurrence_pairs(walk, window)
        distance = (pairs[0] - pairs[1]).abs()
        assert distance.min() >= 1 and distance.max() <= window
        assert pairs.size(1) == 2 * sum(10 - k for k in range(1, window + 1))
    with pytest.raises(ValueError):
        cooccurrence_pairs(walk, 0)
    assert cooccurrence_pairs(torch.tensor([[3], [4]]), 2).shape == (2, 0)


def test_positive_pairs_are_walk_neighbours() -> None:
    ops = graph()
    pairs = positive_pairs(ops, walks_per_node=3, walk_length=4, window=1, generator=gen(0))
    adj = neighbours(ops)
    assert pairs.size(1) > 0
    for u, v in pairs.t().tolist():
        assert v in adj[u]  # window 1: consecutive nodes are adjacent
    assert ISOLATED not in pairs.flatten().tolist()
    subset = positive_pairs(ops, 2, 3, 2, gen(0), nodes=torch.tensor([3]))
    # each pair involves nodes reachable from 3 within 3 steps; both directions present
    assert Counter(map(tuple, subset.t().tolist())) == Counter(map(tuple, subset.flip(0).t().tolist()))


def test_negative_distribution() -> None:
    ops = graph()
    p = negative_distribution(ops)
    degree = ops.in_degree.double()
    expected = degree**0.75 / (degree**0.75).sum()
    assert torch.allclose(p.double(), expected, atol=1e-6)
    assert p[ISOLATED] == 0
    assert torch.isclose(p.sum(), torch.tensor(1.0))
    empty = GraphOps(torch.empty(2, 0, dtype=torch.long), 4)
    assert torch.allclose(negative_distribution(empty), torch.full((4,), 0.25))


def test_negatives_follow_degree_power() -> None:
    # Degrees from 0 to 9 (a varied-degree graph): node v connects to v' for v' in [10, 10 + v).
    edges = [(v, 10 + k) for v in range(10) for k in range(v)]
    ops = GraphOps(undirected(edges), 19)
    degree = ops.in_degree.double()
    assert set(degree[:10].tolist()) == set(range(10))
    samples = 200_000
    drawn = sample_negatives(negative_distribution(ops), samples, gen(11))
    assert drawn.shape == (samples,)
    counts = torch.bincount(drawn, minlength=ops.num_nodes)
    zero = degree == 0
    assert zero.any() and (counts[zero] == 0).all()
    weight = degree[~zero] ** 0.75
    expected = (weight / weight.sum() * samples).numpy()
    assert chisquare(counts[~zero].numpy(), expected).pvalue > 1e-3


def test_unsupervised_loss_by_hand() -> None:
    z = torch.tensor([[1.0, 0.0], [0.5, -1.0], [-2.0, 1.0], [0.3, 0.3]], requires_grad=True)
    pairs = torch.tensor([[0, 1, 3], [1, 2, 0]])
    negatives = torch.tensor([[2, 3], [0, 0], [1, 2]])
    total = 0.0
    for p in range(pairs.size(1)):
        u, v = pairs[:, p].tolist()
        term = -torch.log(torch.sigmoid(z[u] @ z[v]))
        for n in negatives[p].tolist():
            term = term - torch.log(torch.sigmoid(-(z[u] @ z[n])))
        total = total + term
    expected = total / pairs.size(1)
    loss = unsupervised_loss(z, pairs, negatives)
    assert torch.allclose(loss, expected, atol=1e-6)
    loss.backward()
    assert z.grad is not None and z.grad.abs().sum() > 0
    (grad,) = torch.autograd.grad(expected, z)
    assert torch.allclose(z.grad, grad, atol=1e-6)


def test_unsupervised_loss_stable_and_shapes() -> None:
    z = torch.tensor([[100.0], [-100.0], [100.0]], requires_grad=True)
    loss = unsupervised_loss(z, torch.tensor([[0], [1]]), torch.tensor([[2]]))
    assert torch.isfinite(loss)
    assert torch.allclose(loss, -2 * F.logsigmoid(torch.tensor(-1e4)))
    with pytest.raises(ValueError):
        unsupervised_loss(z, torch.tensor([[0], [1]]), torch.tensor([[2], [2]]))
    empty = unsupervised_loss(z, torch.empty(2, 0, dtype=torch.long), torch.empty(0, 3, dtype=torch.long))
    assert empty.item() == 0.0
    empty.backward()
    assert z.grad is not None


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_walks_on_cuda() -> None:
    device = torch.device("cuda")
    ops = GraphOps(undirected(EDGES).to(device), NUM_NODES)
    g = torch.Generator(device=device).manual_seed(0)
    walks = random_walks(ops, torch.arange(NUM_NODES, device=device), 4, g)
    assert walks.device.type == "cuda"
    cpu = graph()
    adj = neighbours(cpu)
    for walk in walks.tolist():
        for a, b in zip(walk, walk[1:]):
            assert b in adj[a] or (a == b and not adj[a])
    pairs = positive_pairs(ops, 2, 4, 2, g)
    negatives = sample_negatives(negative_distribution(ops), pairs.size(1) * 3, g).view(-1, 3)
    z = torch.randn(NUM_NODES, 4, device=device, requires_grad=True)
    unsupervised_loss(z, pairs, negatives).backward()
    assert z.grad.device.type == "cuda"
