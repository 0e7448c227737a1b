"""Normalisation layers between hidden convs, every one called as ``norm(x, batch, num_graphs)``.

Each layer computes the form of batch normalisation (Ioffe & Szegedy 2015, Algorithm 1): mu and a biased
sigma^2 over a set S of positions, ``z = gamma * (x - mu) / sqrt(sigma^2 + eps) + beta`` with
gamma, beta per channel. For graphs one sample is one graph and its nodes are the positions; `batch`
maps each node to its graph. Library layers are reused where they compute exactly that; Batch
Renormalization and per-graph GroupNorm have no library version and are written here.

The batch statistics of a single row say nothing (its variance is 0): in training, BatchNorm and
Batch Renormalization normalise a one-row batch (e.g. a sampled mini-batch of one isolated seed)
with their running statistics, as in inference, and leave those statistics unchanged.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn.norm import InstanceNorm, LayerNorm
from torch_geometric.utils import degree, scatter

from gnntool.config import NormArgs


class Identity(nn.Module):
    r"""z = x (``norm: none``)."""

    def forward(self, x: Tensor, batch: Tensor, num_graphs: int) -> Tensor:
        return x

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}()"


class LibraryNorm(nn.Module):
    r"""A torch or PyG layer behind the common signature.

    With `per_graph`, it is called as ``module(x, batch, num_graphs)``: `batch` is always passed,
    even for a single graph, since PyG's ``LayerNorm(mode="graph")`` without it computes
    ``(x - mu) / (sigma + eps)`` over the whole input, not the definition. Otherwise it is called
    as ``module(x)`` and its statistics ignore which graph a node is in.
    """

    def __init__(self, module: nn.Module, per_graph: bool) -> None:
        super().__init__()
        self.module = module
        self.per_graph = per_graph

    def reset_parameters(self) -> None:
        self.module.reset_parameters()

    def forward(self, x: Tensor, batch: Tensor, num_graphs: int) -> Tensor:
        return self.module(x, batch, num_graphs) if self.per_graph else self.module(x)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.module}, per_graph={self.per_graph})"


def add_affine_parameters(module: nn.Module, channels: int, affine: bool) -> None:
    """Per-channel `weight` (gamma) and `bias` (beta), or None for both when not `affine`."""
    if affine:
        module.weight = nn.Parameter(torch.empty(channels))
        module.bias = nn.Parameter(torch.empty(channels))
    else:
        module.register_parameter("weight", None)
        module.register_parameter("bias", None)


class GroupNorm(nn.Module):
    r"""Per-graph GroupNorm (Wu & He 2018).

    The C channels form G groups of C/G; mu and sigma^2 (biased) are taken over one graph's nodes
    and one group's channels, ``z = gamma * (x - mu) / sqrt(sigma^2 + eps) + beta`` with gamma,
    beta per channel. G = 1 is per-graph LayerNorm, G = C is InstanceNorm.
    """

    def __init__(self, channels: int, groups: int, eps: float = 1e-5, affine: bool = True) -> None:
        super().__init__()
        if channels % groups:
            raise ValueError(f"groups ({groups}) must divide channels ({channels})")
        self.channels = channels
        self.groups = groups
        self.eps = eps
        self.affine = affine
        add_affine_parameters(self, channels, affine)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.affine:
            nn.init.ones_(self.weight)
            nn.init.zeros_(self.bias)

    def forward(self, x: Tensor, batch: Tensor, num_graphs: int) -> Tensor:
        grouped = x.reshape(x.size(0), self.groups, -1)  # nodes × G × C/G
        # Positions per (graph, group): the graph's node count times the group's width. The clamp
        # keeps a graph id with no nodes from dividing by zero; it has no rows to normalise.
        count = degree(batch, num_graphs, dtype=x.dtype).clamp(min=1).view(-1, 1) * grouped.size(-1)
        mean = scatter(grouped.sum(-1), batch, 0, num_graphs, reduce="sum") / count  # graphs × G
        centred = grouped - mean[batch].unsqueeze(-1)
        var = scatter(centred.pow(2).sum(-1), batch, 0, num_graphs, reduce="sum") / count
        out = (centred / (var + self.eps).sqrt()[batch].unsqueeze(-1)).reshape_as(x)
        if self.affine:
            out = out * self.weight + self.bias
        return out

    def __repr__(self) -> str:
        name = self.__class__.__name__
        return f"{name}({self.channels}, groups={self.groups}, affine={self.affine})"


class BatchNorm(nn.BatchNorm1d):
    r"""torch's BatchNorm1d, but a one-row batch in training is normalised with the running
    statistics, which it leaves unchanged (torch refuses it: "Expected more than 1 value per channel")."""

    def forward(self, x: Tensor) -> Tensor:
        if self.training and x.size(0) == 1:
            return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps)
        return super().forward(x)


class BatchRenorm(nn.Module):
    r"""Batch Renormalization (Ioffe 2017), per channel over all nodes of the batch.

    Training, with batch mean mu_B and sigma_B = sqrt(var_B + eps) (biased var_B)::

        r = clip(sigma_B / sigma, 1/r_max, r_max)      d = clip((mu_B - mu) / sigma, -d_max, d_max)
        z = gamma * ((x - mu_B) / sigma_B * r + d) + beta
        mu <- mu + momentum (mu_B - mu)               sigma <- sigma + momentum (sigma_B - sigma)

    with r and d constants for backprop. Inference, and a one-row batch in training:
    ``z = gamma * (x - mu) / sigma + beta``, the running statistics unchanged.
    Over the first `warmup_steps` training steps the bounds go linearly from r_max = 1, d_max = 0
    (exactly BatchNorm) to their final values.
    """

    def __init__(
        self,
        channels: int,
        eps: float = 1e-5,
        momentum: float = 0.1,
        affine: bool = True,
        r_max: float = 3.0,
        d_max: float = 5.0,
        warmup_steps: int = 0,
    ) -> None:
        super().__init__()
        self.channels = channels
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.r_max = r_max
        self.d_max = d_max
        self.warmup_steps = warmup_steps
        add_affine_parameters(self, channels, affine)
        # The paper keeps the running std, not the variance; the step count is a buffer so that
        # the warm-up resumes where it was when a checkpoint is loaded.
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_std", torch.ones(channels))
        self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))
        self.reset_parameters()

    def reset_running_stats(self) -> None:
        self.running_mean.zero_()
        self.running_std.fill_(1.0)
        self.num_batches_tracked.zero_()

    def reset_parameters(self) -> None:
        self.reset_running_stats()
        if self.affine:
            nn.init.ones_(self.weight)
            nn.init.zeros_(self.bias)

    def bounds(self) -> tuple[Tensor, Tensor]:
        """The (r_max, d_max) in force for the next training step, warm-up applied."""
        if self.warmup_steps == 0:
            progress = torch.ones((), device=self.num_batches_tracked.device)
        else:
            # Tensors, not Python numbers: reading the step count would sync a GPU every step.
            progress = self.num_batches_tracked.clamp(max=self.warmup_steps) / self.warmup_steps
        return 1.0 + (self.r_max - 1.0) * progress, self.d_max * progress

    def forward(self, x: Tensor, batch: Tensor, num_graphs: int) -> Tensor:
        if self.training and x.size(0) > 1:
            mean = x.mean(dim=0)
            std = (x.var(dim=0, correction=0) + self.eps).sqrt()
            r_max, d_max = self.bounds()
            with torch.no_grad():  # r and d are constants for backprop (Ioffe 2017, Algorithm 1)
                r = torch.clamp(std / self.running_std, 1.0 / r_max, r_max)
                d = torch.clamp((mean - self.running_mean) / self.running_std, -d_max, d_max)
                # Updated after r and d used the old values.
                self.running_mean.lerp_(mean, self.momentum)
                self.running_std.lerp_(std, self.momentum)
                self.num_batches_tracked.add_(1)
            out = (x - mean) / std * r + d
        else:
            out = (x - self.running_mean) / self.running_std
        if self.affine:
            out = out * self.weight + self.bias
        return out

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.channels}, r_max={self.r_max}, d_max={self.d_max}, "
            f"warmup_steps={self.warmup_steps})"
        )


NormBuilder = Callable[[int, NormArgs], nn.Module]

NORMS: dict[str, NormBuilder] = {
    "none": lambda channels, args: Identity(),
    # torch's BatchNorm1d normalises with the biased batch variance, as the definition; its running
    # variance is the unbiased one, which only inference reads.
    "batch": lambda channels, args: LibraryNorm(
        BatchNorm(channels, eps=args.eps, momentum=args.momentum, affine=args.affine), per_graph=False
    ),
    "batchrenorm": lambda channels, args: BatchRenorm(
        channels, args.eps, args.momentum, args.affine, args.r_max, args.d_max, args.warmup_steps
    ),
    "layer": lambda channels, args: LibraryNorm(
        LayerNorm(channels, eps=args.eps, affine=args.affine, mode=args.mode), per_graph=True
    ),
    # Without running statistics PyG's InstanceNorm uses each graph's own statistics in eval too.
    "instance": lambda channels, args: LibraryNorm(
        InstanceNorm(channels, eps=args.eps, affine=args.affine, track_running_stats=False), per_graph=True
    ),
    "group": lambda channels, args: GroupNorm(channels, args.groups, args.eps, args.affine),
}


def build_norm(name: str, channels: int, args: NormArgs) -> nn.Module:
    """The `name` normalisation layer for `channels`-wide node features."""
    if name not in NORMS:
        raise ValueError(f"unknown norm {name!r}; known: {', '.join(NORMS)}")
    return NORMS[name](channels, args)
