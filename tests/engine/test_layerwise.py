"""Layer-wise inference over chunks equals one-pass inference; sampled mini-batches trimmed per
layer give the seeds the outputs of the untrimmed subgraph."""

from __future__ import annotations

import pytest
import torch

from gnntool.config import ModelConfig
from gnntool.engine.inference import infer
from gnntool.engine.inputs import GraphTensors
from gnntool.engine.sampled import layer_blocks
from gnntool.models import build_model
from gnntool.models.graph_ops import GraphOps, is_canonical

NUM_NODES, NUM_EDGES, IN_DIM, CLASSES = 300, 2000, 24, 5

MODELS = [
    ("gcn", None, "none"),
    ("gcn", None, "batch"),
    ("sage", "mean", "group"),
    ("sage", "gcn", "instance"),
    ("sage", "pool", "layer"),
    ("sage", "lstm", "batchrenorm"),
]


def random_graph(seed: int = 0) -> GraphTensors:
    generator = torch.Generator().manual_seed(seed)
    edge_index = torch.randint(0, NUM_NODES, (2, NUM_EDGES), generator=generator)
    x = torch.randn(NUM_NODES, IN_DIM, generator=generator)
    return GraphTensors(x, None, GraphOps(edge_index, NUM_NODES))


def model_for(arch: str, aggregator: str | None, norm: str, layers: int = 3):
    torch.manual_seed(0)
    config = ModelConfig(arch=arch, aggregator=aggregator, hidden=32, layers=layers, norm=norm, norm_args={"groups": 4})
    model = build_model(config, IN_DIM, CLASSES)
    # Running statistics away from their initial values, so that eval-mode norms do real work.
    model.train()
    graph = random_graph(1)
    with torch.no_grad():
        for _ in range(3):
            model(graph.x, graph.ops)
    return model.eval()


@pytest.mark.parametrize(("arch", "aggregator", "norm"), MODELS)
@pytest.mark.parametrize("chunk_size", [7, 128, NUM_NODES])
def test_layerwise_equals_one_pass(arch: str, aggregator: str | None, norm: str, chunk_size: int) -> None:
    model, graph = model_for(arch, aggregator, norm), random_graph()
    for final in (False, True):
        whole = infer(model, graph, None, final)
        chunked = infer(model, graph, chunk_size, final)
        torch.testing.assert_close(chunked, whole, rtol=0, atol=1e-5)


def test_blocks_hold_every_in_edge_once() -> None:
    ops = random_graph().ops
    seen = []
    for nodes, block in ops.blocks(50):
        targets = nodes[: block.num_targets]
        assert torch.equal(targets, torch.arange(int(targets[0]), int(targets[0]) + block.num_targets))
        assert nodes.unique().numel() == nodes.numel()  # a node once per block
        seen.append(torch.stack([nodes[block.source], nodes[block.target]]))
        # The GCN normalisation uses whole-graph degrees even for sources outside the chunk.
        assert torch.equal(block.degree, ops.in_degree[nodes])
    edges = torch.cat(seen, dim=1)
    keys = (edges[1] * NUM_NODES + edges[0]).sort().values
    assert torch.equal(keys, ops.target * NUM_NODES + ops.source)


def test_blocks_are_cached_per_chunk_size() -> None:
    ops = random_graph().ops
    assert ops.blocks(64) is ops.blocks(64)
    assert len(ops.blocks(64)) == 5 and len(ops.blocks(300)) == 1


def sampled_subgraph(seed: int = 0):
    """A two-hop sampled subgraph laid out as a sampler returns it: nodes and edges by hop, edges
    by target, each target's sources in random order."""
    generator = torch.Generator().manual_seed(seed)
    hop_sizes = [8, 20, 40]  # seeds, hop 1, hop 2
    offsets = [0, 8, 28, 68]
    edges = []
    for hop in (1, 2):
        targets = torch.arange(offsets[hop - 1], offsets[hop])
        for target in targets.tolist():
            count = int(torch.randint(1, 5, (1,), generator=generator))
            sources = torch.randint(0, offsets[hop + 1], (count,), generator=generator)
            sources = sources[sources != target].unique()
            sources = sources[torch.randperm(sources.numel(), generator=generator)]  # sampled order
            edges.append(torch.stack([sources, torch.full_like(sources, target)]))
    hop_edges = [torch.cat(edges[:8], dim=1), torch.cat(edges[8:], dim=1)]
    edge_index = torch.cat(hop_edges, dim=1)
    return edge_index, hop_sizes, [hop_edges[0].size(1), hop_edges[1].size(1)], offsets[-1]


@pytest.mark.parametrize("grouped", [False, True])
@pytest.mark.parametrize(
    ("arch", "aggregator"), [("gcn", None), ("sage", "mean"), ("sage", "gcn"), ("sage", "pool"), ("sage", "lstm")]
)
def test_trimmed_blocks_give_the_seeds_the_untrimmed_outputs(arch: str, aggregator: str | None, grouped: bool) -> None:
    # grouped: the blocks keep the sampled order of each target's sources (no sort).
    edge_index, hop_sizes, edge_counts, num_nodes = sampled_subgraph()
    model = model_for(arch, aggregator, "none", layers=2)
    x = torch.randn(num_nodes, IN_DIM, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        untrimmed = model(x, GraphOps(edge_index, num_nodes))[: hop_sizes[0]]
        trimmed = model(x, layer_blocks(edge_index, hop_sizes, edge_counts, layers=2, grouped=grouped))
    assert trimmed.shape == (hop_sizes[0], CLASSES)
    torch.testing.assert_close(trimmed, untrimmed, rtol=0, atol=1e-5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize(("arch", "aggregator", "norm"), MODELS)
def test_layerwise_on_cuda_equals_cpu(arch: str, aggregator: str | None, norm: str) -> None:
    model, graph = model_for(arch, aggregator, norm), random_graph()
    expected = infer(model, graph, None)
    cuda = torch.device("cuda")
    graph_cuda = GraphTensors(
        graph.x.to(cuda), None, GraphOps(torch.stack([graph.ops.source, graph.ops.target]).to(cuda), NUM_NODES)
    )
    chunked = infer(model.to(cuda), graph_cuda, 64)
    assert chunked.device.type == "cuda"
    torch.testing.assert_close(chunked.cpu(), expected, rtol=1e-4, atol=1e-4)


def test_canonical_edges_are_kept_without_a_copy() -> None:
    ops = random_graph().ops  # sorted by (target, source), deduplicated, no self-loops
    edge_index = torch.stack([ops.source, ops.target])
    again = GraphOps(edge_index, NUM_NODES)
    assert again.source.data_ptr() == edge_index[0].data_ptr()
    assert torch.equal(again.target, ops.target)
    # Anything else is canonicalised: a repeat, a self-loop, or an order across a chunk boundary.
    for broken in (
        torch.cat([edge_index, edge_index[:, :1]], dim=1),
        torch.cat([edge_index, torch.tensor([[5], [5]])], dim=1),
        edge_index.flip(1),
    ):
        assert not is_canonical(broken[0], broken[1], NUM_NODES, chunk=64)
        rebuilt = GraphOps(broken, NUM_NODES)
        assert torch.equal(rebuilt.source, ops.source) and torch.equal(rebuilt.target, ops.target)
    assert is_canonical(edge_index[0], edge_index[1], NUM_NODES, chunk=64)


@pytest.mark.parametrize(("arch", "aggregator"), [("gcn", None), ("sage", "mean"), ("sage", "gcn")])
def test_grouped_blocks_give_the_untrimmed_gradients(arch: str, aggregator: str | None) -> None:
    # The backward multiplies by each block's cached transpose, built from sources in sampled order.
    edge_index, hop_sizes, edge_counts, num_nodes = sampled_subgraph(seed=1)
    model = model_for(arch, aggregator, "none", layers=2)
    x = torch.randn(num_nodes, IN_DIM, generator=torch.Generator().manual_seed(6))
    weights = torch.randn(hop_sizes[0], CLASSES, generator=torch.Generator().manual_seed(7))
    grads = []
    for ops in (GraphOps(edge_index, num_nodes), layer_blocks(edge_index, hop_sizes, edge_counts, 2, grouped=True)):
        inputs = x.clone().requires_grad_()
        model.zero_grad()
        (model(inputs, ops)[: hop_sizes[0]] * weights).sum().backward()
        grads.append([inputs.grad] + [parameter.grad.clone() for parameter in model.parameters()])
    for untrimmed, trimmed in zip(*grads):
        torch.testing.assert_close(trimmed, untrimmed, rtol=0, atol=1e-5)
