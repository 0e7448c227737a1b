"""The layer stack every architecture shares: conv → norm → activation → dropout, repeated.

An architecture only says how to build one conv layer (see `gnntool.models.MODELS`); the stack,
the normalisation layers between convs and the embedding read-out live here, once.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gnntool.models.graph_ops import GraphOps, share_transpose_plan, sparse_matmul

# From this many entries on, CPU dropout draws its mask from random bits (see `dropout`); below
# it, torch's own dropout costs little and keeps small-graph results as they were.
LARGE_DROPOUT = 1 << 20


def keep_multiplier(n: int, p: float) -> Tensor:
    """Inverted dropout's multiplier for `n` entries: each independently 1 / q with probability
    q = round((1 - p) 2^16) / 2^16 (p rounded to a multiple of 2^-16), else 0.

    A decision costs the fewest random bits that give q exactly: b bits (b = 1, 2, 4, 8 or 16,
    the smallest with q 2^b an integer) make a uniform integer below 2^b, kept when below q 2^b.
    For b <= 4 (p = 0.5, 0.25, ...: one random byte holds several decisions) a byte's decisions
    are looked up in a 256-row table, one gather for all; p = 0.5 costs one random bit an entry.
    """
    kept = round((1.0 - p) * 65536)
    bits = next(b for b in (1, 2, 4, 8, 16) if kept % (1 << (16 - b)) == 0)
    kept >>= 16 - bits
    scale = (1 << bits) / kept
    words = torch.empty((n * bits + 63) // 64, dtype=torch.int64).random_(-(2**63), None)  # every bit random
    if bits <= 4:
        return byte_multipliers(bits, kept).index_select(0, words.view(torch.uint8).int()).view(-1)[:n]
    if bits == 8:
        keep = words.view(torch.uint8)[:n] < kept
    else:
        keep = words.view(torch.int16)[:n] < kept - 32768  # int16 is signed: shift the bound
    return keep.float().mul_(scale)


@functools.cache
def byte_multipliers(bits: int, kept: int) -> Tensor:
    """Row r: the multipliers of the 8 / `bits` decisions that a random byte r holds, its low bits first."""
    fields = torch.arange(256)[:, None] >> (bits * torch.arange(8 // bits)) & ((1 << bits) - 1)
    return (fields < kept).float() * ((1 << bits) / kept)


def dropout(x: Tensor, p: float) -> Tensor:
    """Inverted dropout (training mode) of a dense `x`.

    On a large CPU tensor, torch's Bernoulli draws cost ~20 ns per entry, most of a sampled
    GraphSAGE step. There the mask comes from `keep_multiplier` (random bits, 5-20x cheaper): an
    entry is kept with probability q (p rounded to a multiple of 2^-16) and scaled by the exact
    1 / q, so that the expectation of every entry is unchanged, as with torch's dropout.
    """
    if x.device.type != "cpu" or x.numel() < LARGE_DROPOUT or not 2**-17 < p < 1 - 2**-17:
        return F.dropout(x, p, training=True)  # (p that rounds to 0 or 1: nothing to draw)
    # The mask in x's dtype: a float32 mask would promote a bf16/fp16 x to float32, which torch's
    # dropout (the small-tensor path) never does.
    return x.mul(keep_multiplier(x.numel(), p).view_as(x).to(x.dtype))


def dropout_features(x: Tensor, p: float, training: bool) -> Tensor:
    """Dropout that also accepts a sparse CSR `x`.

    Dropping an explicit zero leaves it zero, so on a sparse input only the stored values need a
    mask: the same distribution of dropped features as dense dropout, at a fraction of the cost
    (Cora's input is 98.7% zeros). The dropped matrix shares `x`'s cached transpose structure.
    """
    if not training or p == 0.0:
        return x
    if x.layout == torch.sparse_csr:
        values = dropout(x.values(), p)
        dropped = torch.sparse_csr_tensor(x.crow_indices(), x.col_indices(), values, x.shape, check_invariants=False)
        return share_transpose_plan(x, dropped)
    return dropout(x, p)


def linear_map(x: Tensor, weight: Tensor) -> Tensor:
    """`x @ weight.t()` (no bias) for a dense or a sparse CSR `x`."""
    if x.layout == torch.sparse_csr:
        return sparse_matmul(x, weight.t())
    return x @ weight.t()


def linear(layer: nn.Linear, x: Tensor) -> Tensor:
    """`layer(x)` for a dense or a sparse CSR `x`."""
    if x.layout == torch.sparse_csr:
        out = linear_map(x, layer.weight)
        return out if layer.bias is None else out + layer.bias
    return layer(x)


def aggregate_linear(adjacency: Tensor, layer: nn.Linear, x: Tensor) -> Tensor:
    """``layer(adjacency @ x)`` for a `targets × nodes` aggregation operator, in the cheaper order.

    Projecting first costs ``nodes·in·out + edges·out``, aggregating first ``edges·in +
    targets·in·out``: on a whole graph that means projecting first whenever the layer narrows the
    features, while a block with far more sources than targets (layer-wise inference) aggregates
    first. A sparse `x` is always projected first. Exact for a bias-free `layer`, and for a biased
    one when every row of `adjacency` sums to one.
    """
    targets, nodes = adjacency.shape
    edges = adjacency.values().numel()
    project_cost = nodes * layer.in_features * layer.out_features + edges * layer.out_features
    aggregate_cost = edges * layer.in_features + targets * layer.in_features * layer.out_features
    if x.layout == torch.sparse_csr or project_cost < aggregate_cost:
        return sparse_matmul(adjacency, linear(layer, x))
    return layer(sparse_matmul(adjacency, x))


class GNN(nn.Module):
    r"""A stack of L message-passing layers with a normalisation, ReLU and dropout between them.

    .. math::
        \mathbf{H}^{(0)} = \mathbf{X}, \qquad
        \mathbf{H}^{(l)} = \mathrm{ReLU}\Big(\mathrm{norm}_l\big(\mathrm{conv}_l
        (\mathrm{dropout}_{p_l}(\mathbf{H}^{(l-1)}))\big)\Big), \quad l = 1, \dots, L - 1,

        \mathbf{Y} = \mathrm{conv}_L\big(\mathrm{dropout}_{p}(\mathbf{H}^{(L-1)})\big)

    with :math:`p_1` = `input_dropout` (default `dropout`) and :math:`p_l = p` = `dropout` after
    that (a one-layer stack drops its input with :math:`p`, by the last line). With
    `l2_normalize`, every hidden :math:`\mathbf{H}^{(l)}` is then divided row by row by its L2 norm
    (Hamilton et al. 2017, Algorithm 1 line 7). The last layer outputs the logits
    :math:`\mathbf{Y}` with no norm and no activation; the embedding of a node is its row of
    :math:`\mathbf{H}^{(L-1)}` (`embed`). Dropout acts in training only and also accepts a sparse
    CSR input (`dropout_features`).

    Args:
        convs (list[torch.nn.Module]): The L layers, each called as ``conv(x, ops)``.
        norms (list[torch.nn.Module]): The L - 1 normalisation layers, each called as
            ``norm(x, batch, num_graphs)`` (see :mod:`gnntool.models.norms`).
        dropout (float): The dropout probability :math:`p` of every hidden representation.
        l2_normalize (bool, optional): Whether to L2-normalise every hidden representation per node.
            (default: ``False``)
        input_dropout (float, optional): The dropout probability :math:`p_1` of the input features.
            (default: ``dropout``)

    Shapes:
        - **inputs:** node features :math:`(|\mathcal{V}|, F_{in})`, dense or sparse CSR;
          the graph as one :class:`~gnntool.models.graph_ops.GraphOps` for every layer, or a
          sequence of L blocks, one per layer, whose targets are the next block's nodes (a sampled
          mini-batch trimmed to each layer's receptive field)
        - **outputs:** logits :math:`(|\mathcal{V}_t|, F_{out})`: every node for one graph, the
          last block's targets for a sequence of blocks
    """

    def __init__(
        self,
        convs: list[nn.Module],
        norms: list[nn.Module],
        dropout: float,
        l2_normalize: bool = False,
        input_dropout: float | None = None,
    ) -> None:
        super().__init__()
        if len(norms) != len(convs) - 1:
            raise ValueError("one norm per hidden layer")
        self.convs = nn.ModuleList(convs)
        self.norms = nn.ModuleList(norms)
        self.dropout = dropout
        self.input_dropout = dropout if input_dropout is None else input_dropout
        self.l2_normalize = l2_normalize

    def reset_parameters(self) -> None:
        for module in [*self.convs, *self.norms]:
            if hasattr(module, "reset_parameters"):
                module.reset_parameters()

    def activate(self, index: int, x: Tensor, ops: GraphOps, inplace: bool = False) -> Tensor:
        """What follows hidden conv `index`: its norm, ReLU and optional L2 normalisation; the ReLU
        overwrites the norm's output when `inplace` (`x` is then the caller's to give up)."""
        x = F.relu(self.norms[index](x, ops.batch[: x.size(0)], ops.num_graphs), inplace=inplace)
        return F.normalize(x, p=2.0, dim=-1) if self.l2_normalize else x

    def embed(self, x: Tensor, ops: GraphOps | Sequence[GraphOps]) -> Tensor:
        """The hidden representation entering the last layer.

        `ops` is one graph for every layer, or one block per layer whose targets are the next
        block's nodes (a sampled mini-batch trimmed to each layer's receptive field).
        """
        for index, conv in enumerate(self.convs[:-1]):
            layer_ops = ops if isinstance(ops, GraphOps) else ops[index]
            p = self.input_dropout if index == 0 else self.dropout
            x = conv(dropout_features(x, p, self.training), layer_ops)
            x = self.activate(index, x, layer_ops)
        return x

    def forward(self, x: Tensor, ops: GraphOps | Sequence[GraphOps]) -> Tensor:
        hidden = self.embed(x, ops)
        last_ops = ops if isinstance(ops, GraphOps) else ops[-1]
        return self.convs[-1](dropout_features(hidden, self.dropout, self.training), last_ops)
