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
    r"""No normalisation (``norm: none``).

    .. math::
        \mathbf{z}_v = \mathbf{x}_v

    Shapes:
        - **inputs:** node features :math:`(|\mathcal{V}|, C)`, `batch` :math:`(|\mathcal{V}|)` (the
          graph of every node), `num_graphs` (int)
        - **outputs:** node features :math:`(|\mathcal{V}|, C)`
    """

    def forward(self, x: Tensor, batch: Tensor, num_graphs: int) -> Tensor:
        return x

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}()"


class LibraryNorm(nn.Module):
    r"""A torch or PyG normalisation layer behind the common signature ``norm(x, batch, num_graphs)``.

    The registry wraps three: the `BatchNorm` below (``per_graph=False``), PyG's `LayerNorm` and
    PyG's `InstanceNorm` (``per_graph=True``). Each computes

    .. math::
        \mathbf{z}_{v,c} = \gamma_c \, \frac{x_{v,c} - \mu}{\sqrt{\sigma^2 + \epsilon}} + \beta_c

    with :math:`\mu` and the biased :math:`\sigma^2` (1/m) over a set :math:`S` of positions:

    - LayerNorm, Ba, Kiros & Hinton, `"Layer Normalization" <https://arxiv.org/abs/1607.06450>`_
      (2016), Sec. 3, eq. 3: with ``mode: node`` (the default) :math:`S` is node :math:`v`'s
      C channels; with ``mode: graph`` it is every node and channel of :math:`v`'s graph.
    - InstanceNorm, Ulyanov, Vedaldi & Lempitsky, `"Instance Normalization: The Missing Ingredient
      for Fast Stylization" <https://arxiv.org/abs/1607.08022>`_ (2016): :math:`S` is channel
      :math:`c` over the nodes of :math:`v`'s graph, in training and in evaluation alike (no running
      statistics).
    - BatchNorm: channel :math:`c` over every node of the batch (see `BatchNorm`).

    With `per_graph`, the module is called as ``module(x, batch, num_graphs)``: `batch` is always
    passed, even for a single graph, since PyG's ``LayerNorm(mode="graph")`` without it computes
    ``(x - mu) / (sigma + eps)`` over the whole input, not the definition. Otherwise it is called
    as ``module(x)`` and its statistics ignore which graph a node is in.

    Args:
        module (torch.nn.Module): The wrapped layer.
        per_graph (bool): Whether the wrapped layer takes ``(x, batch, num_graphs)`` rather than
            ``x`` alone.

    Shapes:
        - **inputs:** node features :math:`(|\mathcal{V}|, C)`, `batch` :math:`(|\mathcal{V}|)` (the
          graph of every node), `num_graphs` (int)
        - **outputs:** node features :math:`(|\mathcal{V}|, C)`
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
    r"""Per-graph GroupNorm, from Wu & He, `"Group Normalization" <https://arxiv.org/abs/1803.08494>`_
    (ECCV 2018), Sec. 3.1 (eqs. 1, 2, 6 and 7), with one graph as a sample and its nodes as the
    positions:

    .. math::
        \mathbf{z}_{v,c} = \gamma_c \, \frac{x_{v,c} - \mu_{g,G(c)}}{\sqrt{\sigma^2_{g,G(c)}
        + \epsilon}} + \beta_c

    The C channels form G groups of C/G consecutive channels; :math:`\mu_{g,G(c)}` and the biased
    :math:`\sigma^2_{g,G(c)}` (1/m) are taken over the nodes of :math:`v`'s graph :math:`g` and the
    channels of :math:`c`'s group :math:`G(c)`. G = 1 is per-graph LayerNorm and G = C is
    InstanceNorm, the two extremes Wu & He name (Sec. 3.1, Figure 2); the textbook chapter the
    project was first specified from has these the other way round, an erratum. No library
    layer computes this per graph, so it is written here.

    Args:
        channels (int): The number C of channels.
        groups (int): The number G of groups; it must divide ``channels``.
        eps (float, optional): Added to the variance inside the square root.
            (default: ``1e-5``)
        affine (bool, optional): Whether to learn the per-channel :math:`\gamma` (`weight`) and
            :math:`\beta` (`bias`); without them :math:`\gamma = 1`, :math:`\beta = 0`.
            (default: ``True``)

    Shapes:
        - **inputs:** node features :math:`(|\mathcal{V}|, C)`, `batch` :math:`(|\mathcal{V}|)` (the
          graph of every node), `num_graphs` (int)
        - **outputs:** node features :math:`(|\mathcal{V}|, C)`
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
    r"""torch's `BatchNorm1d`, from Ioffe & Szegedy, `"Batch Normalization: Accelerating Deep Network
    Training by Reducing Internal Covariate Shift" <https://arxiv.org/abs/1502.03167>`_ (ICML 2015),
    Algorithm 1, per channel over every node of the batch:

    .. math::
        \mathbf{z}_{v,c} = \gamma_c \, \frac{x_{v,c} - \mu_{\mathcal{B},c}}
        {\sqrt{\sigma^2_{\mathcal{B},c} + \epsilon}} + \beta_c

    with the batch mean :math:`\mu_{\mathcal{B}}` and biased variance :math:`\sigma^2_{\mathcal{B}}`
    (1/m) in training. Inference reads the running mean and variance instead, the variance kept
    unbiased (1/(m-1)), as the paper's Algorithm 2 does for its population statistics. Unlike
    torch's, a one-row batch in training is normalised with the running statistics, which it leaves
    unchanged (torch refuses it: "Expected more than 1 value per channel").

    Args:
        num_features (int): The number C of channels.
        eps (float, optional): Added to the variance inside the square root.
            (default: ``1e-5``)
        momentum (float, optional): The running statistics' update rate.
            (default: ``0.1``)
        affine (bool, optional): Whether to learn :math:`\gamma` and :math:`\beta`.
            (default: ``True``)
        track_running_stats, device, dtype (optional): As in :class:`torch.nn.BatchNorm1d`.

    Shapes:
        - **input:** node features :math:`(|\mathcal{V}|, C)`
        - **output:** node features :math:`(|\mathcal{V}|, C)`
    """

    def forward(self, x: Tensor) -> Tensor:
        if self.training and x.size(0) == 1:
            return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps)
        return super().forward(x)


class BatchRenorm(nn.Module):
    r"""Batch Renormalization, from Ioffe, `"Batch Renormalization: Towards Reducing Minibatch
    Dependence in Batch-Normalized Models" <https://arxiv.org/abs/1702.03275>`_ (NIPS 2017),
    Algorithm 1, per channel over every node of the batch. In training, with the batch mean
    :math:`\mu_{\mathcal{B}}` and :math:`\sigma_{\mathcal{B}} = \sqrt{\mathrm{var}_{\mathcal{B}} +
    \epsilon}` (biased variance, 1/m):

    .. math::
        r = \mathrm{clip}_{[1/r_{\max}, r_{\max}]}\Big(\frac{\sigma_{\mathcal{B}}}{\sigma}\Big),
        \qquad d = \mathrm{clip}_{[-d_{\max}, d_{\max}]}\Big(\frac{\mu_{\mathcal{B}} - \mu}{\sigma}\Big),

        \mathbf{z} = \gamma \Big(\frac{\mathbf{x} - \mu_{\mathcal{B}}}{\sigma_{\mathcal{B}}} \, r + d\Big)
        + \beta,

        \mu \leftarrow \mu + \alpha (\mu_{\mathcal{B}} - \mu), \qquad
        \sigma \leftarrow \sigma + \alpha (\sigma_{\mathcal{B}} - \sigma)

    with :math:`r` and :math:`d` constants for backprop, the moving averages updated after
    :math:`r` and :math:`d` used their old values, and :math:`\alpha` the ``momentum``. The running
    :math:`\mu` starts at 0 and :math:`\sigma` (a running std, as the paper keeps, not a variance)
    at 1. Inference, and a one-row batch in training:
    :math:`\mathbf{z} = \gamma (\mathbf{x} - \mu) / \sigma + \beta`, the running statistics
    unchanged. Over the first `warmup_steps` training steps the bounds go linearly from
    :math:`r_{\max} = 1`, :math:`d_{\max} = 0` (exactly BatchNorm) to their final values, as the
    paper's experiments relax them.

    Args:
        channels (int): The number C of channels.
        eps (float, optional): Added to the variance inside the square root.
            (default: ``1e-5``)
        momentum (float, optional): The moving averages' rate :math:`\alpha`. (default: ``0.1``)
        affine (bool, optional): Whether to learn the per-channel :math:`\gamma` (`weight`) and
            :math:`\beta` (`bias`); without them :math:`\gamma = 1`, :math:`\beta = 0`.
            (default: ``True``)
        r_max (float, optional): The final bound :math:`r_{\max}` on :math:`r`. (default: ``3.0``)
        d_max (float, optional): The final bound :math:`d_{\max}` on :math:`d`. (default: ``5.0``)
        warmup_steps (int, optional): Training steps over which the bounds relax from BatchNorm's
            to their final values; 0 applies them from the first step. (default: ``0``)

    Shapes:
        - **inputs:** node features :math:`(|\mathcal{V}|, C)`, `batch` :math:`(|\mathcal{V}|)` (the
          graph of every node), `num_graphs` (int)
        - **outputs:** node features :math:`(|\mathcal{V}|, C)`
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
