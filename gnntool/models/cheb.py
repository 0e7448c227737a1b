"""Chebyshev spectral filters (Defferrard et al. 2016), with PyG's `ChebConv` parameters."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch_geometric.nn import ChebConv

from gnntool.config import ModelConfig
from gnntool.models.base import linear_map
from gnntool.models.graph_ops import GraphOps, sparse_matmul


class ChebLayer(nn.Module):
    r"""A K-term Chebyshev spectral filter, from Defferrard, Bresson & Vandergheynst,
    `"Convolutional Neural Networks on Graphs with Fast Localized Spectral Filtering"
    <https://arxiv.org/abs/1606.09375>`_ (NIPS 2016), Sec. 2.1, as Kipf & Welling 2017 restate it
    (eq. 5, `arXiv:1609.02907 <https://arxiv.org/abs/1609.02907>`_):

    .. math::
        \mathbf{X}' = \sum_{k=0}^{K-1} T_k(\tilde{\mathbf{L}}) \mathbf{X} \mathbf{\Theta}_k
        + \mathbf{b}, \qquad \tilde{\mathbf{L}} = \frac{2\mathbf{L}}{\lambda_{\max}} - \mathbf{I}

    with :math:`\mathbf{L} = \mathbf{I} - \mathbf{D}^{-1/2} \mathbf{A} \mathbf{D}^{-1/2}`,
    :math:`T_0 = \mathbf{I}`, :math:`T_1 = \tilde{\mathbf{L}}` and
    :math:`T_k = 2 \tilde{\mathbf{L}} T_{k-1} - T_{k-2}`. K counts terms, as Defferrard et al. and
    PyG's `ChebConv(K=...)` do (Kipf & Welling's eq. 5 sums k = 0..K, one term more): K = 1 is a
    linear map of each node. :math:`A_{vu} = 1` for an edge :math:`u \to v` (self-loops and repeated
    edges dropped first) and :math:`\mathbf{D}` holds in-degrees, as GCN's normalisation does (PyG's
    `get_laplacian` takes out-degrees, so on a directed graph a node without out-edges would hear
    nothing); on an undirected graph the two agree. A node of in-degree 0 has a zero row in
    :math:`\mathbf{D}^{-1/2} \mathbf{A} \mathbf{D}^{-1/2}`.

    The input is projected first, all K filters in one product (a sparse input stays sparse):
    :math:`\mathbf{Y}_k = \mathbf{X} \mathbf{\Theta}_k`, and the series
    :math:`\sum_k T_k(\tilde{\mathbf{L}}) \mathbf{Y}_k` is summed by Clenshaw's recurrence, K - 1
    propagations of `out_channels`-wide rows. The parameters are PyG `ChebConv`'s (`conv.lins`,
    `conv.bias`, same initialisation); only its propagation is not used.

    Args:
        in_channels (int): Width :math:`F_{in}` of each input node feature vector.
        out_channels (int): Width :math:`F_{out}` of each output node feature vector.
        k (int): The number K of Chebyshev terms (at least 1).
        lambda_max (float, optional): The largest eigenvalue :math:`\lambda_{\max}` assumed for
            :math:`\mathbf{L}` (its bound for the normalised Laplacian). (default: ``2.0``)

    Shapes:
        - **inputs:** node features :math:`(|\mathcal{V}|, F_{in})`, dense or sparse CSR;
          the whole graph as a :class:`~gnntool.models.graph_ops.GraphOps` (its
          :math:`|\mathcal{V}| \times |\mathcal{V}|` operator
          :math:`\mathbf{D}^{-1/2} \mathbf{A} \mathbf{D}^{-1/2}`; no blocks: the filter reaches
          K - 1 hops)
        - **outputs:** node features :math:`(|\mathcal{V}|, F_{out})`
    """

    def __init__(self, in_channels: int, out_channels: int, k: int, lambda_max: float = 2.0) -> None:
        super().__init__()
        self.lambda_max = lambda_max
        self.conv = ChebConv(in_channels, out_channels, K=k, normalization="sym")

    def reset_parameters(self) -> None:
        self.conv.reset_parameters()

    def scaled_laplacian(self, ops: GraphOps, h: Tensor) -> Tensor:
        """L~ h = (2/λ - 1) h - (2/λ) D^{-1/2} A D^{-1/2} h."""
        scale = 2.0 / self.lambda_max
        propagated = sparse_matmul(ops.sym_adjacency, h) * -scale
        return propagated if scale == 1.0 else propagated + (scale - 1.0) * h

    def forward(self, x: Tensor, ops: GraphOps) -> Tensor:
        weight = torch.cat([lin.weight for lin in self.conv.lins])  # (K · out) × in
        terms = linear_map(x, weight).split(self.conv.out_channels, dim=1)  # Y_k = X Θ_k
        # Clenshaw: b_k = Y_k + 2 L~ b_{k+1} - b_{k+2} from k = K-1 down to 1; sum = Y_0 + L~ b_1 - b_2.
        after, later = None, None  # b_{k+1}, b_{k+2}
        for term in reversed(terms[1:]):
            current = term if after is None else term + 2 * self.scaled_laplacian(ops, after)
            if later is not None:
                current = current - later
            after, later = current, after
        out = terms[0]
        if after is not None:
            out = out + self.scaled_laplacian(ops, after)
            if later is not None:
                out = out - later
        return out + self.conv.bias

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.conv!r}, lambda_max={self.lambda_max})"


def make_conv(in_dim: int, out_dim: int, config: ModelConfig) -> nn.Module:
    """A `ChebLayer` with `config.k` Chebyshev terms."""
    if config.k is None:
        raise ValueError("model.k is required for arch cheb")
    return ChebLayer(in_dim, out_dim, config.k)
