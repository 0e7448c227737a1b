"""GCN layer (Kipf & Welling 2017, eq. 2, with the renormalisation trick of eq. 8) over the
renormalised adjacency cached in `GraphOps`."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from gnntool.config import ModelConfig
from gnntool.models.base import aggregate_linear
from gnntool.models.graph_ops import GraphOps


class GCNConv(nn.Module):
    r"""H' = Â H W + b, with Â = D~^{-1/2} (A + I) D~^{-1/2} computed once per graph.

    H W is formed first when the layer narrows the features, so that the sparse product with Â
    touches narrow rows only (see `aggregate_linear`).
    """

    row_slices = True  # computes a row slice's targets from every node's features (layer-wise inference)

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.lin = nn.Linear(in_channels, out_channels, bias=False)
        self.bias = nn.Parameter(torch.empty(out_channels))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.xavier_uniform_(self.lin.weight)  # Glorot, as Kipf & Welling and PyG
        nn.init.zeros_(self.bias)

    def forward(self, x: Tensor, ops: GraphOps) -> Tensor:
        return aggregate_linear(ops.gcn_adjacency, self.lin, x) + self.bias

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.in_channels}, {self.out_channels})"


def make_conv(in_dim: int, out_dim: int, config: ModelConfig) -> GCNConv:
    return GCNConv(in_dim, out_dim)
