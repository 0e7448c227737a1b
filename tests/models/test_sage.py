"""GraphSAGE layers against their definitions, computed node by node.

The definitions are Hamilton, Ying & Leskovec 2017, "Inductive Representation Learning on Large
Graphs" (NIPS 2017, https://arxiv.org/abs/1706.02216): the layer is Algorithm 1 line 5, whose
``W · CONCAT(h_v, a_v)`` is written ``W a_v + B h_v`` (`lin_neighbour`, `lin_root`); the mean and
LSTM aggregators are those of Sec. 3.3, the gcn aggregator is eq. 2 and the pooling aggregator
eq. 3 (max, or mean). Where these tests pin down more than the paper says:

- gcn is the paper's eq. 2, the mean over v and its neighbours with one weight matrix. The textbook
  chapter the project was first specified from writes a symmetric-normalised sum
  1/sqrt(|N(u)| |N(v)|) instead: an erratum of that chapter, not followed here.
- A node without in-neighbours aggregates to a zero vector; self-loops and repeated edges are
  dropped, so N(v) is v's distinct in-neighbours, v excluded.
- The LSTM aggregator (Sec. 3.3: an LSTM over a random permutation of the neighbours) is read at
  the hidden state after each node's own last neighbour, not at a padded position (PyG's
  `LSTMAggregation` reads the last padded slot); in evaluation the order is fixed by a seed, so
  inference repeats, and training draws a fresh order each step.
"""

from __future__ import annotations

import itertools

import pytest
import torch

from gnntool.config import ModelConfig
from gnntool.models.graph_ops import GraphOps
from gnntool.models.sage import (
    SAGEGCNConv,
    SAGELSTMConv,
    SAGEMeanConv,
    SAGEPoolConv,
    make_conv,
    neighbour_sequences,
)

NUM_NODES = 6
# Directed (source, target) pairs: in-degrees 0 (node 5), 1, 2, 3 and 4, plus a self-loop and a
# duplicate edge that GraphOps drops. Node 5 only sends.
EDGES = [
    (1, 0), (2, 0), (3, 0), (5, 0),
    (0, 1), (2, 1), (4, 1),
    (1, 2), (5, 2),
    (0, 3),
    (3, 3), (1, 2),
]
IN_DIM, OUT_DIM = 5, 3


def edge_index() -> torch.Tensor:
    return torch.tensor(EDGES, dtype=torch.long).t()


def neighbours(v: int) -> list[int]:
    """The distinct in-neighbours of v, self excluded."""
    return sorted({s for s, t in EDGES if t == v and s != v})


def features(num_nodes: int = NUM_NODES, dim: int = IN_DIM, seed: int = 0) -> torch.Tensor:
    """Random features with about half the entries exactly zero (so the sparse form is sparse)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(num_nodes, dim, generator=g)
    return x * (torch.rand(num_nodes, dim, generator=g) < 0.5)


def ops() -> GraphOps:
    return GraphOps(edge_index(), NUM_NODES)


def build(kind: str, in_dim: int = IN_DIM, out_dim: int = OUT_DIM, **kwargs) -> torch.nn.Module:
    torch.manual_seed(0)
    classes = {"mean": SAGEMeanConv, "gcn": SAGEGCNConv, "lstm": SAGELSTMConv, "pool": SAGEPoolConv}
    if kind == "pool_mean":
        return SAGEPoolConv(in_dim, out_dim, reduce="mean", **kwargs)
    return classes[kind](in_dim, out_dim, **kwargs)


ALL = ["mean", "gcn", "lstm", "pool", "pool_mean"]


def root_term(conv, x: torch.Tensor, v: int) -> torch.Tensor:
    return conv.lin_root.weight @ x[v] + conv.lin_root.bias


# --- definitions, node by node ---------------------------------------------------------------


def test_mean_matches_definition() -> None:
    conv, x = build("mean"), features()
    out = conv(x, ops())
    for v in range(NUM_NODES):
        nbrs = neighbours(v)
        a = torch.stack([x[u] for u in nbrs]).mean(0) if nbrs else torch.zeros(IN_DIM)
        expected = conv.lin_neighbour.weight @ a + root_term(conv, x, v)
        torch.testing.assert_close(out[v], expected, rtol=1e-5, atol=1e-6)


def test_gcn_matches_definition() -> None:
    conv, x = build("gcn"), features()
    out = conv(x, ops())
    for v in range(NUM_NODES):
        mean = torch.stack([x[u] for u in [v, *neighbours(v)]]).mean(0)
        expected = conv.lin.weight @ mean + conv.lin.bias
        torch.testing.assert_close(out[v], expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("reduce", ["max", "mean"])
def test_pool_matches_definition(reduce: str) -> None:
    conv, x = build("pool" if reduce == "max" else "pool_mean", pool_channels=4), features()
    assert conv.lin_pool.out_features == 4
    out = conv(x, ops())
    for v in range(NUM_NODES):
        nbrs = neighbours(v)
        if nbrs:
            pooled = torch.stack([torch.relu(conv.lin_pool.weight @ x[u] + conv.lin_pool.bias) for u in nbrs])
            a = pooled.max(0).values if reduce == "max" else pooled.mean(0)
        else:
            a = torch.zeros(4)
        expected = conv.lin_neighbour.weight @ a + root_term(conv, x, v)
        torch.testing.assert_close(out[v], expected, rtol=1e-5, atol=1e-6)


def lstm_candidates(conv: SAGELSTMConv, x: torch.Tensor, v: int) -> list[torch.Tensor]:
    """conv's output at v for every order of v's neighbours, running its LSTM by hand."""
    outs = []
    for order in itertools.permutations(neighbours(v)):
        sequence = torch.stack([conv.proj.weight @ x[u] for u in order]).unsqueeze(1)  # (d, 1, width)
        _, (hidden, _) = conv.lstm(sequence)
        outs.append(conv.lin_neighbour.weight @ hidden[-1, 0] + root_term(conv, x, v))
    return outs


def test_lstm_matches_definition_after_own_last_neighbour() -> None:
    conv, x = build("lstm", hidden_channels=4).eval(), features()
    assert conv.proj.out_features == 4 and conv.lstm.hidden_size == 4
    with torch.no_grad():
        out = conv(x, ops())
        for v in range(NUM_NODES):
            if not neighbours(v):
                torch.testing.assert_close(out[v], root_term(conv, x, v))  # zero aggregate
                continue
            # The state after v's own last neighbour, for some order of v's neighbours.
            candidates = lstm_candidates(conv, x, v)
            errors = [float((out[v] - c).abs().max()) for c in candidates]
            assert min(errors) < 1e-5, (v, errors)


def test_lstm_sequences_are_permutations_of_the_neighbours() -> None:
    g = ops()
    seen = {}
    order = torch.randperm(g.source.numel(), generator=torch.Generator().manual_seed(3))
    for nodes, sequences in neighbour_sequences(g, order):
        assert sequences.shape == (len(neighbours(int(nodes[0]))), len(nodes))
        for i, v in enumerate(nodes.tolist()):
            seen[v] = sequences[:, i].tolist()
    assert set(seen) == {v for v in range(NUM_NODES) if neighbours(v)}
    for v, order in seen.items():
        assert sorted(order) == neighbours(v)


def test_lstm_orders_vary_across_draws() -> None:
    g = ops()
    orders = set()
    for seed in range(30):
        order = torch.randperm(g.source.numel(), generator=torch.Generator().manual_seed(seed))
        for _nodes, sequences in neighbour_sequences(g, order):
            if len(sequences) == 4:  # node 0, four neighbours
                orders.add(tuple(sequences[:, 0].tolist()))
    assert len(orders) > 10


# --- symmetry, randomness and repeatability ---------------------------------------------------


@pytest.mark.parametrize("kind", ["mean", "gcn", "pool", "pool_mean"])
def test_invariant_to_node_relabelling(kind: str) -> None:
    conv, x = build(kind), features()
    out = conv(x, ops())
    perm = torch.tensor([3, 5, 0, 4, 1, 2])  # old node i becomes perm[i]
    shuffled_edges = perm[edge_index()][:, torch.randperm(len(EDGES), generator=torch.Generator().manual_seed(1))]
    x_new = torch.empty_like(x)
    x_new[perm] = x
    out_new = conv(x_new, GraphOps(shuffled_edges, NUM_NODES))
    torch.testing.assert_close(out_new[perm], out, rtol=1e-5, atol=1e-6)


def test_lstm_inference_repeats_and_leaves_global_rng_alone() -> None:
    conv, x, g = build("lstm"), features(), ops()
    conv.eval()
    state = torch.get_rng_state()
    first = conv(x, g)
    assert torch.equal(torch.get_rng_state(), state)
    conv.train()
    conv(x, g)  # a training forward in between changes nothing at inference
    conv.eval()
    torch.manual_seed(123)
    assert torch.equal(conv(x, g), first)


def test_lstm_training_draws_fresh_orders() -> None:
    conv, g = build("lstm"), ops()
    x = torch.randn(NUM_NODES, IN_DIM)
    conv.train()
    torch.manual_seed(0)
    a = conv(x, g)
    torch.manual_seed(0)
    a_again = conv(x, g)
    outs = []
    for seed in range(1, 6):
        torch.manual_seed(seed)
        outs.append(conv(x, g))
    assert torch.equal(a, a_again)  # a seeded run repeats
    assert any(not torch.allclose(a, o) for o in outs)


# --- nodes without neighbours, sparse input, gradients, builder -------------------------------


@pytest.mark.parametrize("kind", ALL)
def test_graph_without_edges_aggregates_to_zero(kind: str) -> None:
    conv, x = build(kind).eval(), features()
    g = GraphOps(torch.empty(2, 0, dtype=torch.long), NUM_NODES)
    out = conv(x, g)
    if kind == "gcn":
        expected = x @ conv.lin.weight.t() + conv.lin.bias
    else:
        expected = x @ conv.lin_root.weight.t() + conv.lin_root.bias
    torch.testing.assert_close(out, expected)


@pytest.mark.parametrize("kind", ALL)
@pytest.mark.parametrize("in_dim,out_dim", [(5, 3), (3, 5)])  # project first / aggregate first
def test_sparse_input_equals_dense(kind: str, in_dim: int, out_dim: int) -> None:
    conv, x = build(kind, in_dim, out_dim).eval(), features(dim=in_dim)
    g = ops()
    dense = conv(x, g)
    sparse = conv(x.to_sparse_csr(), g)
    assert sparse.layout == torch.strided
    torch.testing.assert_close(sparse, dense, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", ALL)
def test_gradients_flow(kind: str) -> None:
    conv, g = build(kind).train(), ops()
    x = features().requires_grad_()
    conv(x, g).pow(2).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    for name, param in conv.named_parameters():
        assert param.grad is not None, name
        assert torch.isfinite(param.grad).all(), name
        assert param.grad.abs().sum() > 0, name
    # Sparse first-layer input: the weights still get gradients.
    conv.zero_grad()
    conv(features().to_sparse_csr(), g).sum().backward()
    assert all(p.grad is not None for p in conv.parameters())


@pytest.mark.parametrize(
    "aggregator,cls", [("mean", SAGEMeanConv), ("gcn", SAGEGCNConv), ("lstm", SAGELSTMConv), ("pool", SAGEPoolConv)]
)
def test_make_conv(aggregator: str, cls: type) -> None:
    config = ModelConfig(arch="sage", aggregator=aggregator, hidden=8, pool="mean")
    conv = make_conv(IN_DIM, OUT_DIM, config)
    assert type(conv) is cls
    assert conv(features(), ops()).shape == (NUM_NODES, OUT_DIM)
    if aggregator == "lstm":
        assert conv.hidden_channels == 8
    if aggregator == "pool":
        assert conv.pool_channels == 8 and conv.reduce == "mean"
    assert aggregator in repr(conv)
    conv.reset_parameters()


def test_default_aggregator_is_mean() -> None:
    assert type(make_conv(IN_DIM, OUT_DIM, ModelConfig(arch="sage"))) is SAGEMeanConv
