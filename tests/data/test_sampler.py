"""The torch neighbour sampler: uniformity, PyG's output structure, and the NodeLoader around it."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from scipy.stats import chi2
from torch_geometric.data import Data
from torch_geometric.sampler import NodeSamplerInput

from gnntool.data.sampler import (
    SMALL_DEGREE,
    UniformNeighborSampler,
    floyd_sample,
    floyd_steps_on_bitsets,
    neighbor_loader,
)
from gnntool.models.graph_ops import GraphOps

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def sample(sampler: UniformNeighborSampler, seeds: list[int] | torch.Tensor):
    return sampler.sample_from_nodes(NodeSamplerInput(None, torch.as_tensor(seeds)))


def random_graph(num_nodes: int = 60, num_edges: int = 400, seed: int = 0) -> GraphOps:
    """Random directed edges, self-loops and duplicates included (GraphOps drops them), plus
    isolated nodes: the last 5 nodes have no in-neighbours."""
    generator = torch.Generator().manual_seed(seed)
    edge_index = torch.randint(0, num_nodes, (2, num_edges), generator=generator)
    edge_index = edge_index[:, edge_index[1] < num_nodes - 5]
    return GraphOps(edge_index, num_nodes)


def in_neighbours(ops: GraphOps, v: int) -> set[int]:
    return set(ops.source[ops.rowptr[v] : ops.rowptr[v + 1]].tolist())


# --- uniformity ---------------------------------------------------------------------------------


def star_copies(copies: int, degree: int) -> GraphOps:
    """Node i < copies has in-neighbours copies + i·degree + j, j = 0..degree-1."""
    j = torch.arange(copies * degree)
    return GraphOps(torch.stack([copies + j, j // degree]), copies * (degree + 1))


def drawn_subsets(copies: int, degree: int, k: int) -> torch.Tensor:
    """`(copies, k)`: the neighbour indices j that one call sampled for each of the `copies` stars."""
    ops = star_copies(copies, degree)
    out = sample(UniformNeighborSampler(ops.rowptr, ops.source, [k]), torch.arange(copies))
    assert torch.equal(out.col, torch.arange(copies).repeat_interleave(k))
    return (out.node[out.row] - copies - out.col * degree).view(copies, k)


def uniformity_failures(subsets: torch.Tensor, degree: int, z: float = 5.0) -> list[str]:
    """What says that the rows of `subsets` (draws of k of `degree` items) are not uniform k-subsets.

    Each item is in a draw with probability k/d and each pair with k(k-1)/(d(d-1)); a count more
    than `z` binomial standard deviations off fails. Over all C(d, k) subsets (when there are
    few), a chi-square test at p < 1e-4 fails too. A sampler can pass the items and fail the
    pairs (a random cyclic window): only the pairs and subsets test subset-uniformity.
    """
    draws, k = subsets.shape
    failures = []

    def check(name: str, counts: torch.Tensor, p: float) -> None:
        bound = z * math.sqrt(draws * p * (1 - p))
        worst = (counts.double() - draws * p).abs().max().item()
        if worst > bound:
            failures.append(f"{name}: a count is {worst:.0f} off its mean {draws * p:.0f} (bound {bound:.0f})")

    if (subsets.sort(1).values.diff(dim=1) == 0).any():
        failures.append("a draw repeats an item")
    check("items", torch.bincount(subsets.view(-1), minlength=degree), k / degree)
    a, b = torch.tensor(list(itertools.combinations(range(k), 2))).t()
    pair = subsets[:, a].minimum(subsets[:, b]) * degree + subsets[:, a].maximum(subsets[:, b])
    upper = torch.triu_indices(degree, degree, 1)
    pair_counts = torch.bincount(pair.view(-1), minlength=degree * degree)[upper[0] * degree + upper[1]]
    check("pairs", pair_counts, k * (k - 1) / (degree * (degree - 1)))
    num_subsets = math.comb(degree, k)
    if num_subsets <= 100:
        code = (2 ** subsets).sum(1)
        all_codes = torch.tensor([sum(2**i for i in c) for c in itertools.combinations(range(degree), k)])
        counts = (code[:, None] == all_codes).sum(0).double()
        statistic = ((counts - draws / num_subsets) ** 2 / (draws / num_subsets)).sum().item()
        if chi2.sf(statistic, num_subsets - 1) < 1e-4:
            failures.append(f"subsets: chi-square {statistic:.1f} on {num_subsets - 1} degrees of freedom")
    return failures


# Degrees up to 63 run Floyd's steps on bitsets, larger ones by comparison (70 here).
@pytest.mark.parametrize(
    ("degree", "k", "copies"), [(6, 3, 20_000), (5, 4, 20_000), (4, 2, 20_000), (40, 3, 5_000), (70, 3, 5_000)]
)
def test_every_subset_is_equally_likely(degree: int, k: int, copies: int) -> None:
    torch.manual_seed(0)
    assert uniformity_failures(drawn_subsets(copies, degree, k), degree) == []


def test_the_uniformity_check_catches_biased_samplers() -> None:
    torch.manual_seed(0)
    draws, degree, k = 20_000, 4, 2
    first_k = torch.arange(k).repeat(draws, 1)
    assert any(f.startswith("items") for f in uniformity_failures(first_k, degree))
    # Every item with probability k/d, but only pairs of neighbours in cyclic order.
    start = torch.randint(0, degree, (draws, 1))
    window = (start + torch.arange(k)) % degree
    failures = uniformity_failures(window, degree)
    assert not any(f.startswith("items") for f in failures)
    assert any(f.startswith("pairs") for f in failures)
    assert any(f.startswith("subsets") for f in failures)


@pytest.mark.parametrize("k", [1, 2, 10, 25])
def test_floyd_steps_on_bitsets_take_what_the_comparisons_take(k: int) -> None:
    torch.manual_seed(k)
    degree = torch.randint(k, SMALL_DEGREE + 1, (500,))
    upper = torch.arange(k)[:, None] + (degree - k)  # step-major, as floyd_sample draws them
    draw = torch.randint(0, 2**62, upper.shape) % (upper + 1)
    expected = draw.clone()
    for j in range(1, k):  # Floyd's step j: a draw already taken is replaced by the step's upper bound
        taken = (expected[:j] == expected[j]).any(0)
        expected[j] = torch.where(taken, upper[j], expected[j])
    floyd_steps_on_bitsets(draw, upper)
    assert torch.equal(draw, expected)


def test_floyd_sample_draws_distinct_offsets_in_range() -> None:
    torch.manual_seed(0)
    degree = torch.tensor([3, 4, 10, 1000, 3])
    steps = floyd_sample(degree, 3)
    assert steps.shape == (3, 5)  # step-major
    offsets = steps.t()  # row i: node i's offsets
    assert (offsets >= 0).all() and (offsets < degree[:, None]).all()
    assert (offsets.sort(1).values.diff(dim=1) > 0).all()
    assert torch.equal(offsets[0].sort().values, torch.arange(3))  # k = d takes everything


# --- the output's structure ---------------------------------------------------------------------


def check_structure(ops: GraphOps, out, seeds: list[int], fanout: list[int]) -> None:
    """Everything PyG's NeighborSampler promises, checked against the graph."""
    node, row, col = out.node.cpu(), out.row.cpu(), out.col.cpu()
    source, target = ops.source.cpu(), ops.target.cpu()
    assert node.dtype == row.dtype == col.dtype == out.edge.dtype == torch.long
    assert node[: len(seeds)].tolist() == seeds
    assert len(out.num_sampled_nodes) == len(fanout) + 1 and len(out.num_sampled_edges) == len(fanout)
    assert all(isinstance(n, int) for n in out.num_sampled_nodes + out.num_sampled_edges)
    assert sum(out.num_sampled_nodes) == node.numel() and sum(out.num_sampled_edges) == row.numel() == col.numel()
    assert out.num_sampled_nodes[0] == len(seeds)
    # Every sampled edge is an edge of the graph, and `edge` is its CSR position.
    assert torch.equal(source[out.edge.cpu()], node[row]) and torch.equal(target[out.edge.cpu()], node[col])
    # Beyond the seeds, no node twice.
    assert node[len(seeds) :].unique().numel() == node.numel() - len(seeds)
    assert not set(node[len(seeds) :].tolist()) & set(seeds)

    node_bounds = [0, *itertools.accumulate(out.num_sampled_nodes)]
    edge_bounds = [0, *itertools.accumulate(out.num_sampled_edges)]
    for hop, k in enumerate(fanout):
        edges = slice(edge_bounds[hop], edge_bounds[hop + 1])
        hop_row, hop_col = row[edges], col[edges]
        begin, end = node_bounds[hop], node_bounds[hop + 1]
        # Hop h samples for the nodes added at hop h-1 (the seeds first), grouped in their order.
        assert ((hop_col >= begin) & (hop_col < end)).all()
        assert (hop_col.diff() >= 0).all()
        assert ((hop_row >= 0) & (hop_row < node_bounds[hop + 2])).all()
        for slot in range(begin, end):
            neighbours = node[hop_row[hop_col == slot]].tolist()
            degree = len(in_neighbours(ops, int(node[slot])))
            assert len(neighbours) == len(set(neighbours)) == (degree if k < 0 else min(degree, k))
        # The nodes added at this hop: the unseen neighbours in order of first appearance.
        seen = set(node[:end].tolist())
        fresh = [v for v in dict.fromkeys(node[hop_row].tolist()) if v not in seen]
        assert node[end : node_bounds[hop + 2]].tolist() == fresh


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("fanout", [[4, 3], [-1], [2, -1, 1], [0, 3], []])
def test_output_has_pyg_structure(device: str, fanout: list[int]) -> None:
    ops = random_graph()
    sampler = UniformNeighborSampler(ops.rowptr.to(device), ops.source.to(device), fanout)
    torch.manual_seed(0)
    for seeds in ([3, 17, 42, 8], [56, 57, 58], [0], list(range(60))):  # 55-59 have no in-neighbours
        out = sample(sampler, seeds)
        assert out.node.device.type == out.row.device.type == out.edge.device.type == device
        check_structure(ops, out, seeds, fanout)


def test_minus_one_takes_every_neighbour() -> None:
    ops = random_graph()
    out = sample(UniformNeighborSampler(ops.rowptr, ops.source, [-1]), list(range(60)))
    for v in range(60):
        assert set(out.node[out.row[out.col == v]].tolist()) == in_neighbours(ops, v)


def test_edge_ids_map_through_edge_id() -> None:
    ops = random_graph()
    edge_id = torch.randperm(ops.source.numel())
    torch.manual_seed(0)
    plain = sample(UniformNeighborSampler(ops.rowptr, ops.source, [3, 2]), [1, 2, 3])
    torch.manual_seed(0)
    mapped = sample(UniformNeighborSampler(ops.rowptr, ops.source, [3, 2], edge_id=edge_id), [1, 2, 3])
    assert torch.equal(mapped.edge, edge_id[plain.edge])


def test_metadata_carries_input_id_and_time() -> None:
    ops = random_graph()
    index = NodeSamplerInput(torch.tensor([7, 9]), torch.tensor([3, 4]), time=torch.tensor([1, 2]))
    out = UniformNeighborSampler(ops.rowptr, ops.source, [2]).sample_from_nodes(index)
    assert out.metadata[0].tolist() == [7, 9] and out.metadata[1].tolist() == [1, 2]


def test_reproducible_under_manual_seed() -> None:
    ops = random_graph()
    sampler = UniformNeighborSampler(ops.rowptr, ops.source, [3, 2])
    seeds = list(range(20))

    def draw(seed: int) -> list[torch.Tensor]:
        torch.manual_seed(seed)
        out = sample(sampler, seeds)
        return [out.node, out.row, out.col, out.edge]

    first = draw(1)
    assert all(torch.equal(a, b) for a, b in zip(first, draw(1)))
    # A checkpointed RNG state resumes the same draws.
    state = torch.get_rng_state()
    after = sample(sampler, seeds)
    torch.set_rng_state(state)
    assert torch.equal(sample(sampler, seeds).edge, after.edge)
    # A fresh sampler agrees: a call leaves nothing behind that changes the next.
    torch.manual_seed(1)
    fresh = sample(UniformNeighborSampler(ops.rowptr, ops.source, [3, 2]), seeds)
    assert torch.equal(fresh.node, first[0]) and torch.equal(fresh.edge, first[3])
    assert not torch.equal(draw(2)[3], first[3])


def test_duplicated_seeds_keep_their_slots_like_pyg() -> None:
    ops = random_graph()
    seeds = [3, 17, 3, 8, 17]
    torch.manual_seed(0)
    out = sample(UniformNeighborSampler(ops.rowptr, ops.source, [4, 3]), seeds)
    assert out.node[:5].tolist() == seeds and out.num_sampled_nodes[0] == 5
    # Every slot, the repeated ones too, is sampled for; its edges point into its own slot.
    for slot, v in enumerate(seeds):
        neighbours = out.node[out.row[out.col == slot]].tolist()
        assert len(neighbours) == min(len(in_neighbours(ops, v)), 4)
        assert set(neighbours) <= in_neighbours(ops, v)
    # A later edge from a repeated seed comes from its first slot.
    assert not ((out.row == 2) | (out.row == 4)).any()
    assert torch.equal(ops.source[out.edge], out.node[out.row]) and torch.equal(ops.target[out.edge], out.node[out.col])


# --- the loader ---------------------------------------------------------------------------------


def node_data(num_nodes: int = 60, device: str = "cpu") -> Data:
    """Node attributes only: the structure lives in the sampler."""
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(num_nodes, 4, generator=generator)
    y = torch.randint(0, 3, (num_nodes,), generator=generator)
    train_mask = torch.rand(num_nodes, generator=generator) < 0.5
    return Data(x=x, y=y, train_mask=train_mask).to(device)


@pytest.mark.parametrize("device", DEVICES)
def test_loader_yields_neighbor_loader_batches(device: str) -> None:
    ops = random_graph()
    data = node_data(device=device)
    train = data.train_mask.nonzero().view(-1).cpu()
    sampler = UniformNeighborSampler(ops.rowptr.to(device), ops.source.to(device), [3, 2])
    torch.manual_seed(0)
    batches = list(neighbor_loader(data, sampler, train, batch_size=7, shuffle=True))
    assert "edge_index" not in data  # the caller's data is left alone
    assert [b.batch_size for b in batches] == [7] * (len(train) // 7) + ([len(train) % 7] if len(train) % 7 else [])
    seeds = torch.cat([b.n_id[: b.batch_size].cpu() for b in batches])
    assert sorted(seeds.tolist()) == train.tolist()  # every training node exactly once
    assert not torch.equal(seeds, train)  # shuffled
    for batch in batches:
        n = batch.n_id
        assert torch.equal(batch.x, data.x[n]) and torch.equal(batch.y, data.y[n])
        assert torch.equal(batch.train_mask, data.train_mask[n])
        assert batch.x.device.type == batch.edge_index.device.type == n.device.type == device
        assert batch.num_nodes == n.numel()
        assert torch.equal(train[batch.input_id], n[: batch.batch_size].cpu())  # positions in input_nodes
        row, col = batch.edge_index.cpu()
        assert torch.equal(ops.source[batch.e_id.cpu()], n.cpu()[row])
        assert torch.equal(ops.target[batch.e_id.cpu()], n.cpu()[col])
        assert sum(batch.num_sampled_nodes) == n.numel() and sum(batch.num_sampled_edges) == row.numel()

    torch.manual_seed(0)
    again = list(neighbor_loader(data, sampler, train, batch_size=7, shuffle=True))
    assert all(torch.equal(a.edge_index, b.edge_index) and torch.equal(a.n_id, b.n_id) for a, b in zip(batches, again))


def test_loader_takes_a_mask_and_data_with_edges() -> None:
    ops = random_graph()
    data = node_data()
    data.edge_index = torch.stack([ops.source, ops.target])
    sampler = UniformNeighborSampler(ops.rowptr, ops.source, [3])
    batches = list(neighbor_loader(data, sampler, data.train_mask, batch_size=10, shuffle=False))
    seeds = torch.cat([b.n_id[: b.batch_size] for b in batches])
    assert torch.equal(seeds, data.train_mask.nonzero().view(-1))
    for batch in batches:
        assert torch.equal(batch.input_id, batch.n_id[: batch.batch_size])  # a mask gives node ids
        assert torch.equal(data.edge_index[:, batch.e_id], batch.n_id[batch.edge_index])
