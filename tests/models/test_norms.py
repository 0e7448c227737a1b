"""The normalisation layers against their definitions.

Each layer takes mu and a biased variance sigma^2 (1/m) over a set S of positions and computes
``z = gamma * (x - mu) / sqrt(sigma^2 + eps) + beta``, gamma and beta per channel (the transform of
Ioffe & Szegedy 2015, Algorithm 1). For graphs one sample is one graph and its nodes are the
positions. The papers, and S in each:

- BatchNorm: Ioffe & Szegedy 2015, "Batch Normalization: Accelerating Deep Network Training by
  Reducing Internal Covariate Shift", Algorithm 1 (https://arxiv.org/abs/1502.03167). S: every node
  of the batch, per channel; inference reads the running statistics (torch keeps the variance
  unbiased, as the paper's Algorithm 2 does for inference).
- Batch Renormalization: Ioffe 2017, "Batch Renormalization: Towards Reducing Minibatch Dependence
  in Batch-Normalized Models", Algorithm 1 (https://arxiv.org/abs/1702.03275). S as BatchNorm,
  corrected by r and d towards the running mean and std; r_max = 1, d_max = 0 is BatchNorm.
- LayerNorm: Ba, Kiros & Hinton 2016, "Layer Normalization", Sec. 3, eq. 3
  (https://arxiv.org/abs/1607.06450). S: one node's channels (``mode: node``), or every node and
  channel of one graph (``mode: graph``).
- InstanceNorm: Ulyanov, Vedaldi & Lempitsky 2016, "Instance Normalization: The Missing Ingredient
  for Fast Stylization" (https://arxiv.org/abs/1607.08022). S: one graph's nodes, per channel.
- GroupNorm(G): Wu & He 2018, "Group Normalization", Sec. 3.1, eq. 7
  (https://arxiv.org/abs/1803.08494). S: one graph's nodes and one group's C/G channels. G = 1 is
  per-graph LayerNorm and G = C is InstanceNorm (Sec. 3.1, Figure 2), which
  `test_group_norm_identities` checks. The textbook chapter the project was first specified from
  has both identities the other way round and swaps its LayerNorm and InstanceNorm formulas:
  errata, not followed here.

Every reference below is written out with loops over graphs, channels or groups and plain torch ops,
biased variance and eps inside the square root, so that it shares no code with the layers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import get_args

import pytest
import torch
import yaml
from torch import Tensor, nn

from gnntool.config import NormArgs, NormName
from gnntool.models.norms import NORMS, BatchRenorm, build_norm

SIZES = (5, 9, 2)  # three graphs of different sizes
C = 8
EPS = 1e-5
TOL = {"rtol": 1e-9, "atol": 1e-10}


def make_batch(sizes: tuple[int, ...] = SIZES, seed: int = 0) -> tuple[Tensor, Tensor]:
    """Random float64 node features with per-channel scale and offset, and a shuffled `batch`."""
    gen = torch.Generator().manual_seed(seed)
    n = sum(sizes)
    scale = 0.5 + 3.0 * torch.rand(C, generator=gen, dtype=torch.float64)
    offset = 2.0 * torch.randn(C, generator=gen, dtype=torch.float64)
    x = torch.randn(n, C, generator=gen, dtype=torch.float64) * scale + offset
    batch = torch.repeat_interleave(torch.arange(len(sizes)), torch.tensor(sizes))
    # Graph membership need not be contiguous for the statistics; shuffling checks that.
    return x, batch[torch.randperm(n, generator=gen)]


def make(name: str, seed: int = 1, **options: object) -> tuple[nn.Module, Tensor, Tensor]:
    """A float64 layer with random gamma and beta, returned with them."""
    layer = build_norm(name, C, NormArgs(eps=EPS, **options)).double()
    gen = torch.Generator().manual_seed(seed)
    gamma = 0.5 + torch.rand(C, generator=gen, dtype=torch.float64)
    beta = torch.randn(C, generator=gen, dtype=torch.float64)
    with torch.no_grad():
        for param_name, param in layer.named_parameters():
            param.copy_(gamma if param_name.endswith("weight") else beta)
    return layer, gamma, beta


def standardise(values: Tensor) -> Tensor:
    mean = values.mean()
    var = ((values - mean) ** 2).mean()  # biased, 1/m
    return (values - mean) / torch.sqrt(var + EPS)


def ref_batch(x: Tensor, batch: Tensor) -> Tensor:
    out = torch.empty_like(x)
    for c in range(C):
        out[:, c] = standardise(x[:, c])
    return out


def ref_layer_node(x: Tensor, batch: Tensor) -> Tensor:
    out = torch.empty_like(x)
    for i in range(x.size(0)):
        out[i] = standardise(x[i])
    return out


def ref_layer_graph(x: Tensor, batch: Tensor) -> Tensor:
    out = torch.empty_like(x)
    for g in range(int(batch.max()) + 1):
        out[batch == g] = standardise(x[batch == g])
    return out


def ref_instance(x: Tensor, batch: Tensor) -> Tensor:
    out = torch.empty_like(x)
    for g in range(int(batch.max()) + 1):
        for c in range(C):
            out[batch == g, c] = standardise(x[batch == g, c])
    return out


def ref_group(groups: int) -> Callable[[Tensor, Tensor], Tensor]:
    def ref(x: Tensor, batch: Tensor) -> Tensor:
        width = C // groups
        out = torch.empty_like(x)
        for g in range(int(batch.max()) + 1):
            for k in range(groups):
                cols = slice(k * width, (k + 1) * width)
                out[batch == g, cols] = standardise(x[batch == g, cols])
        return out

    return ref


def run(layer: nn.Module, x: Tensor, batch: Tensor) -> Tensor:
    return layer(x, batch, int(batch.max()) + 1)


# Layers with no running statistics: the same definition in training and in eval.
STATELESS = [
    ("layer", {"mode": "node"}, ref_layer_node),
    ("layer", {"mode": "graph"}, ref_layer_graph),
    ("instance", {}, ref_instance),
    ("group", {"groups": 2}, ref_group(2)),
    ("group", {"groups": 4}, ref_group(4)),
]


@pytest.mark.parametrize(("name", "options", "ref"), STATELESS)
@pytest.mark.parametrize("training", [True, False])
def test_stateless_layers_match_definition(name, options, ref, training):
    layer, gamma, beta = make(name, **options)
    layer.train(training)
    x, batch = make_batch()
    torch.testing.assert_close(run(layer, x, batch), gamma * ref(x, batch) + beta, **TOL)


@pytest.mark.parametrize(("name", "options", "ref"), STATELESS)
def test_stateless_layers_on_low_variance_input(name, options, ref):
    # Variance near eps: where PyG's LayerNorm(mode="graph") without `batch` departs from the
    # formula (it divides by sigma + eps).
    layer, gamma, beta = make(name, **options)
    x, batch = make_batch(seed=3)
    x = 1e-3 * x
    torch.testing.assert_close(run(layer, x, batch), gamma * ref(x, batch) + beta, **TOL)


@pytest.mark.parametrize(("name", "options", "ref"), STATELESS)
def test_single_graph(name, options, ref):
    layer, gamma, beta = make(name, **options)
    x, _ = make_batch(sizes=(7,), seed=4)
    x = 1e-3 * x
    batch = torch.zeros(7, dtype=torch.long)
    torch.testing.assert_close(layer(x, batch, 1), gamma * ref(x, batch) + beta, **TOL)


def test_group_norm_identities():
    x, batch = make_batch(seed=5)
    one_group, _, _ = make("group", groups=1)
    layer_graph, _, _ = make("layer", mode="graph")
    torch.testing.assert_close(run(one_group, x, batch), run(layer_graph, x, batch), **TOL)
    all_groups, _, _ = make("group", groups=C)
    instance, _, _ = make("instance")
    torch.testing.assert_close(run(all_groups, x, batch), run(instance, x, batch), **TOL)


def test_group_norm_rejects_groups_not_dividing_channels():
    with pytest.raises(ValueError, match="must divide"):
        build_norm("group", C, NormArgs(groups=3))


def test_batch_norm_training_matches_definition():
    layer, gamma, beta = make("batch")
    x, batch = make_batch()
    torch.testing.assert_close(run(layer, x, batch), gamma * ref_batch(x, batch) + beta, **TOL)


def test_batch_norm_inference_uses_its_running_statistics():
    layer, gamma, beta = make("batch", momentum=0.3)
    for seed in range(3):
        run(layer, *make_batch(seed=seed))
    layer.eval()
    x, batch = make_batch(seed=10)
    # torch keeps an unbiased running variance; read the buffers rather than recompute them.
    mean, var = layer.module.running_mean, layer.module.running_var
    expected = gamma * (x - mean) / torch.sqrt(var + EPS) + beta
    torch.testing.assert_close(run(layer, x, batch), expected, **TOL)


# Batch Renormalization


def renorm(**options: object) -> tuple[BatchRenorm, Tensor, Tensor]:
    layer, gamma, beta = make("batchrenorm", **options)
    assert isinstance(layer, BatchRenorm)
    return layer, gamma, beta


def batch_stats(x: Tensor) -> tuple[Tensor, Tensor]:
    """Per-channel batch mean and sigma_B = sqrt(var_B + eps), by loops."""
    mean = torch.stack([x[:, c].mean() for c in range(C)])
    var = torch.stack([((x[:, c] - mean[c]) ** 2).mean() for c in range(C)])
    return mean, torch.sqrt(var + EPS)


def test_batch_renorm_without_slack_is_batch_norm():
    layer, gamma, beta = renorm(r_max=1.0, d_max=0.0, warmup_steps=0)
    batch_norm, _, _ = make("batch")
    for seed in range(4):  # running statistics drift away from the batch's; r, d must stay 1, 0
        x, batch = make_batch(seed=seed)
        expected = gamma * ref_batch(x, batch) + beta
        torch.testing.assert_close(run(layer, x, batch), expected, **TOL)
        torch.testing.assert_close(run(batch_norm, x, batch), expected, **TOL)


def test_batch_renorm_inference_uses_running_statistics():
    layer, gamma, beta = renorm()
    gen = torch.Generator().manual_seed(6)
    mean = torch.randn(C, generator=gen, dtype=torch.float64)
    std = 0.5 + torch.rand(C, generator=gen, dtype=torch.float64)
    layer.running_mean.copy_(mean)
    layer.running_std.copy_(std)
    layer.eval()
    x, batch = make_batch()
    torch.testing.assert_close(run(layer, x, batch), gamma * (x - mean) / std + beta, **TOL)
    # Inference leaves the statistics and the warm-up alone.
    torch.testing.assert_close(layer.running_mean, mean, **TOL)
    torch.testing.assert_close(layer.running_std, std, **TOL)
    assert int(layer.num_batches_tracked) == 0


def test_batch_renorm_moving_averages():
    momentum = 0.3
    layer, _, _ = renorm(momentum=momentum)
    mean, std = torch.zeros(C, dtype=torch.float64), torch.ones(C, dtype=torch.float64)
    torch.testing.assert_close(layer.running_mean, mean)
    torch.testing.assert_close(layer.running_std, std)
    for seed in range(3):
        x, batch = make_batch(seed=seed)
        run(layer, x, batch)
        mean_b, std_b = batch_stats(x)
        mean = mean + momentum * (mean_b - mean)
        std = std + momentum * (std_b - std)
        torch.testing.assert_close(layer.running_mean, mean, **TOL)
        torch.testing.assert_close(layer.running_std, std, **TOL)
    assert int(layer.num_batches_tracked) == 3


def expected_renorm(layer: BatchRenorm, x: Tensor, r_max: float, d_max: float) -> Tensor:
    """Algorithm 1 with the layer's current running statistics and the given bounds."""
    mean_b, std_b = batch_stats(x)
    r = torch.clamp(std_b / layer.running_std, 1.0 / r_max, r_max)
    d = torch.clamp((mean_b - layer.running_mean) / layer.running_std, -d_max, d_max)
    return layer.weight.detach() * ((x - mean_b) / std_b * r + d) + layer.bias.detach()


def far_running_stats(layer: BatchRenorm) -> None:
    """Running statistics far enough from any batch's that r and d clip in every channel."""
    layer.running_mean.fill_(-20.0)
    layer.running_std.fill_(0.1)


def test_batch_renorm_warmup_schedule():
    layer, _, _ = renorm(r_max=3.0, d_max=5.0, warmup_steps=4)
    schedule = [(1.0, 0.0), (1.5, 1.25), (2.0, 2.5), (2.5, 3.75)] + [(3.0, 5.0)] * 3
    for step, (r_max, d_max) in enumerate(schedule):
        assert [float(b) for b in layer.bounds()] == pytest.approx([r_max, d_max])
        x, batch = make_batch(seed=step)
        far_running_stats(layer)
        expected = expected_renorm(layer, x, r_max, d_max)
        torch.testing.assert_close(run(layer, x, batch), expected, **TOL)
        assert int(layer.num_batches_tracked) == step + 1


def test_batch_renorm_without_warmup_starts_at_final_bounds():
    layer, _, _ = renorm(r_max=3.0, d_max=5.0, warmup_steps=0)
    assert [float(b) for b in layer.bounds()] == pytest.approx([3.0, 5.0])
    x, batch = make_batch()
    far_running_stats(layer)
    expected = expected_renorm(layer, x, 3.0, 5.0)
    torch.testing.assert_close(run(layer, x, batch), expected, **TOL)


def test_batch_renorm_warmup_survives_a_checkpoint():
    layer, _, _ = renorm(warmup_steps=10)
    for seed in range(3):
        run(layer, *make_batch(seed=seed))
    restored, _, _ = renorm(warmup_steps=10)
    restored.load_state_dict(layer.state_dict())
    assert int(restored.num_batches_tracked) == 3
    bounds = [float(b) for b in layer.bounds()]
    assert [float(b) for b in restored.bounds()] == pytest.approx(bounds)


def test_batch_renorm_gradient_holds_r_and_d_constant():
    layer, gamma, beta = renorm(r_max=1.5, d_max=0.5, warmup_steps=0)
    x, batch = make_batch(seed=7)
    gen = torch.Generator().manual_seed(8)
    # Running statistics that clip r and d in some channels and not in others.
    layer.running_mean.copy_(x.mean(0) + torch.randn(C, generator=gen, dtype=torch.float64))
    layer.running_std.copy_(x.std(0) * (0.5 + torch.rand(C, generator=gen, dtype=torch.float64)))
    mean_b, std_b = batch_stats(x)
    r = torch.clamp(std_b / layer.running_std, 1 / 1.5, 1.5)
    d = torch.clamp((mean_b - layer.running_mean) / layer.running_std, -0.5, 0.5)
    assert 0 < int(((r - 1.5).abs() < 1e-12).sum()) < C  # some clipped, some not
    upstream = torch.randn(x.shape, generator=gen, dtype=torch.float64)

    def loss(x: Tensor, gamma: Tensor, beta: Tensor) -> Tensor:
        """The training forward with r and d frozen at the values above."""
        mean, std = batch_stats(x)
        return (upstream * (gamma * ((x - mean) / std * r + d) + beta)).sum()

    def finite_differences(f: Callable[[Tensor], Tensor], at: Tensor, h: float = 1e-6) -> Tensor:
        grad = torch.empty_like(at)
        for i in range(at.numel()):
            step = torch.zeros_like(at).view(-1)
            step[i] = h
            step = step.view_as(at)
            grad.view(-1)[i] = (f(at + step) - f(at - step)) / (2 * h)
        return grad

    x_in = x.clone().requires_grad_(True)
    (upstream * run(layer, x_in, batch)).sum().backward()

    fd_tol = {"rtol": 1e-6, "atol": 1e-6}
    fd_x = finite_differences(lambda v: loss(v, gamma, beta), x)
    torch.testing.assert_close(x_in.grad, fd_x, **fd_tol)
    fd_gamma = finite_differences(lambda v: loss(x, v, beta), gamma)
    torch.testing.assert_close(layer.weight.grad, fd_gamma, **fd_tol)
    fd_beta = finite_differences(lambda v: loss(x, gamma, v), beta)
    torch.testing.assert_close(layer.bias.grad, fd_beta, **fd_tol)

    # The paper's closed form (Ioffe 2017, Algorithm 1, backward) gives the same gradient of x.
    m = x.size(0)
    g_hat = upstream * gamma
    g_std = (g_hat * (x - mean_b) * (-r / std_b**2)).sum(0)
    g_mean = (g_hat * (-r / std_b)).sum(0)
    closed = g_hat * r / std_b + g_std * (x - mean_b) / (m * std_b) + g_mean / m
    torch.testing.assert_close(x_in.grad, closed, **TOL)


# Registry and common signature


def test_registry_covers_every_configurable_name():
    assert set(NORMS) == set(get_args(NormName))


def test_unknown_name_is_an_error():
    with pytest.raises(ValueError, match="unknown norm"):
        build_norm("batchnorm", C, NormArgs())


@pytest.mark.parametrize("name", sorted(get_args(NormName)))
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("sizes", [SIZES, (6,)], ids=["three graphs", "one graph"])
def test_every_norm_runs_forward_and_backward(name, affine, sizes):
    layer = build_norm(name, C, NormArgs(groups=2, mode="graph", affine=affine))
    x, batch = make_batch(sizes=sizes)
    x = x.float().requires_grad_(True)
    for training in (True, False):
        layer.train(training)
        out = layer(x, batch, len(sizes))
        assert out.shape == x.shape and torch.isfinite(out).all()
        out.pow(2).sum().backward()
        assert x.grad is not None and torch.isfinite(x.grad).all()
    assert all(p.grad is not None for p in layer.parameters())
    assert len(list(layer.parameters())) == (2 if affine and name != "none" else 0)
    if hasattr(layer, "reset_parameters"):
        layer.reset_parameters()
    repr(layer)


@pytest.mark.parametrize("name", ["batch", "batchrenorm"])
def test_a_one_row_batch_uses_and_keeps_the_running_statistics(name):
    layer, _, _ = make(name)
    x, batch = make_batch()
    layer.train()
    layer(x, batch, len(SIZES))  # running statistics away from their initial values
    before = {key: value.clone() for key, value in layer.state_dict().items()}
    row = x[:1] * 3.0 + 1.0
    out = layer(row, torch.zeros(1, dtype=torch.long), 1)
    assert all(torch.equal(value, before[key]) for key, value in layer.state_dict().items())
    layer.eval()
    torch.testing.assert_close(out, layer(row, torch.zeros(1, dtype=torch.long), 1), **TOL)
    assert torch.isfinite(out).all() and out.abs().max() < 100  # not divided by sqrt(eps)


@pytest.mark.parametrize("name", ["batch", "batchrenorm"])
def test_isolated_training_nodes_alone_in_a_sampled_batch(name, runner, tmp_path):
    """Five isolated training nodes in batches of two: the last batch's norm input is one row."""
    import numpy as np

    from gnntool.cli import app

    rng = np.random.default_rng(0)
    n = 20
    ring = np.arange(5, n)  # the validation and test nodes form a ring; nodes 0-4 have no edge
    edges = np.stack([np.concatenate([ring, np.roll(ring, 1)]), np.concatenate([np.roll(ring, 1), ring])])
    split = np.repeat(["train", "val", "test"], [5, 8, 7])
    np.savez(
        tmp_path / "graph.npz",
        x=rng.normal(size=(n, 4)).astype(np.float32),
        edge_index=edges,
        y=np.arange(n) % 2,
        **{f"{part}_mask": split == part for part in ("train", "val", "test")},
    )
    config = {
        "dataset": {"name": "graph", "path": str(tmp_path / "graph.npz")},
        "model": {"arch": "sage", "hidden": 4, "norm": name},
        "train": {"epochs": 3, "batch_size": 2, "fanout": [3, 3]},
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    result = runner.invoke(app, ["train", str(tmp_path / "config.yaml"), "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
