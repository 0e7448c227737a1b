"""The sparse products' backward with a cached transpose: bit-identical to torch's own backward."""

from __future__ import annotations

import pytest
import torch

from gnntool.config import ModelConfig
from gnntool.engine.metrics import loss_fn
from gnntool.models import base, build_model
from gnntool.models.base import dropout_features
from gnntool.models.graph_ops import GraphOps, sparse_csr, transpose_plan


def random_csr(rows: int, cols: int, density: float, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    dense = torch.rand(rows, cols, generator=generator)
    return (dense * (torch.rand(rows, cols, generator=generator) < density)).to_sparse_csr()


def same_csr(a: torch.Tensor, b: torch.Tensor) -> bool:
    """The same CSR tensors: structure and values, bit for bit."""
    parts = (torch.Tensor.crow_indices, torch.Tensor.col_indices, torch.Tensor.values)
    return all(torch.equal(part(a), part(b)) for part in parts)


@pytest.mark.parametrize("shape", [(7, 5), (40, 90), (1, 3), (6, 6)])
def test_plan_transposes_like_torch_for_any_values(shape: tuple[int, int]) -> None:
    matrix = random_csr(*shape, density=0.3, seed=sum(shape))
    plan = transpose_plan(matrix)
    assert transpose_plan(matrix) is plan  # built once per tensor
    expected = matrix.t().to_sparse_csr()
    got = plan(matrix.values())
    assert same_csr(got, expected)
    # The same structure with other values (dropout): still the exact transpose.
    dropped = dropout_features(matrix, 0.5, training=True)
    assert transpose_plan(dropped) is plan
    assert torch.equal(plan(dropped.values()).to_dense(), dropped.to_dense().t())


def directed_graph(num_nodes: int = 30, seed: int = 0) -> GraphOps:
    generator = torch.Generator().manual_seed(seed)
    return GraphOps(torch.randint(0, num_nodes, (2, 120), generator=generator), num_nodes)


@pytest.mark.parametrize("arch,aggregator", [("gcn", None), ("sage", "mean"), ("sage", "gcn"), ("sage", "pool")])
@pytest.mark.parametrize("sparse_input", [True, False])
def test_gradients_equal_torch_autograd_bit_for_bit(
    arch: str, aggregator: str | None, sparse_input: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    ops = directed_graph()  # directed: Âᵀ differs from Â
    x = random_csr(30, 12, density=0.2, seed=1)
    x = x if sparse_input else x.to_dense()
    pool = "mean" if aggregator == "pool" else "max"
    config = ModelConfig(arch=arch, hidden=8, aggregator=aggregator, pool=pool, dropout=0.5)
    torch.manual_seed(0)
    model = build_model(config, 12, 3)
    y = torch.randint(0, 3, (30,), generator=torch.Generator().manual_seed(2))

    def gradients() -> list[torch.Tensor]:
        torch.manual_seed(1)  # the same dropout masks
        model.zero_grad()
        loss_fn(model(x, ops), y, False).backward()
        return [p.grad.clone() for p in model.parameters()]

    cached = gradients()
    monkeypatch.setattr(base, "sparse_matmul", torch.sparse.mm)  # torch's own backward
    from gnntool.models import sage

    monkeypatch.setattr(sage, "sparse_matmul", torch.sparse.mm)
    plain = gradients()
    assert all(torch.equal(a, b) for a, b in zip(cached, plain))


@pytest.mark.parametrize("num_targets", [None, 20])
def test_operators_without_self_loops_are_built_in_csr_order(num_targets: int | None) -> None:
    """mean_adjacency and sym_adjacency come straight from the canonical edges (no sort): the
    same matrix that coalescing the edges gives."""
    edge_index = torch.randint(0, 50, (2, 300), generator=torch.Generator().manual_seed(3))
    if num_targets is not None:
        edge_index = edge_index[:, edge_index[1] < num_targets]
    ops = GraphOps(edge_index, 50, num_targets=num_targets)
    built = ops.mean_adjacency
    coalesced = sparse_csr(ops.target, ops.source, 1.0 / ops.in_degree[ops.target].float(), ops.shape)
    assert same_csr(built, coalesced)
