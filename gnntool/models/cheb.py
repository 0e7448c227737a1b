"""Chebyshev spectral filters (Defferrard et al. 2016): PyG's `ChebConv` behind the conv interface."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch_geometric.nn import ChebConv

from gnntool.config import ModelConfig
from gnntool.models.graph_ops import GraphOps


class ChebLayer(nn.Module):
    r"""A K-term Chebyshev filter (Kipf & Welling 2017, eq. 5; Defferrard et al. 2016;
    K counting terms as PyG and Defferrard et al. do):

    .. math::
        \mathbf{X}' = \sum_{k=0}^{K-1} T_k(\tilde{\mathbf{L}}) \mathbf{X} \mathbf{\Theta}_k
        + \mathbf{b}, \qquad \tilde{\mathbf{L}} = \frac{2\mathbf{L}}{\lambda_{\max}} - \mathbf{I}

    with :math:`\mathbf{L} = \mathbf{I} - \mathbf{D}^{-1/2} \mathbf{A} \mathbf{D}^{-1/2}`,
    :math:`\lambda_{\max} = 2`, :math:`T_0 = \mathbf{I}`, :math:`T_1 = \tilde{\mathbf{L}}` and
    :math:`T_k = 2 \tilde{\mathbf{L}} T_{k-1} - T_{k-2}`; K = 1 is a linear map of each node.
    A sparse CSR ``x`` is densified.
    """

    def __init__(self, in_channels: int, out_channels: int, k: int, lambda_max: float = 2.0) -> None:
        super().__init__()
        self.lambda_max = lambda_max
        self.conv = ChebConv(in_channels, out_channels, K=k, normalization="sym")

    def reset_parameters(self) -> None:
        self.conv.reset_parameters()

    def forward(self, x: Tensor, ops: GraphOps) -> Tensor:
        if x.layout == torch.sparse_csr:
            x = x.to_dense()
        edge_index = torch.stack([ops.source, ops.target])
        return self.conv(x, edge_index, lambda_max=self.lambda_max)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.conv!r}, lambda_max={self.lambda_max})"


def make_conv(in_dim: int, out_dim: int, config: ModelConfig) -> nn.Module:
    """A `ChebLayer` with `config.k` Chebyshev terms."""
    if config.k is None:
        raise ValueError("model.k is required for arch cheb")
    return ChebLayer(in_dim, out_dim, config.k)
