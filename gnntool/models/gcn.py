"""GCN layer (Kipf & Welling 2017, eq. 2, with the renormalisation trick of eq. 8) over the
renormalised adjacency cached in `GraphOps`."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from gnntool.config import ModelConfig
from gnntool.models.base import aggregate_linear
from gnntool.models.graph_ops import GraphOps


class GCNConv(nn.Module):
    r"""The graph convolution of Kipf & Welling, `"Semi-Supervised Classification with Graph
    Convolutional Networks" <https://arxiv.org/abs/1609.02907>`_ (ICLR 2017): eq. 2 without its
    nonlinearity, with the renormalisation trick of Sec. 2.2 (eq. 8) and a bias added after the
    propagation.

    .. math::
        \mathbf{X}' = \hat{\mathbf{A}} \mathbf{X} \mathbf{W} + \mathbf{b}, \qquad
        \hat{\mathbf{A}} = \tilde{\mathbf{D}}^{-1/2} (\mathbf{A} + \mathbf{I})
        \tilde{\mathbf{D}}^{-1/2}, \qquad \tilde{D}_{vv} = 1 + \sum_u A_{vu}

    :math:`A_{vu} = 1` for an edge :math:`u \to v` (self-loops and repeated edges dropped first), so
    :math:`\tilde{\mathbf{D}}` counts each node's in-edges (in the whole graph, also on a block)
    plus its added self-loop; on an undirected graph that is the paper's degree matrix.
    :math:`\hat{\mathbf{A}}` is computed once per graph (`GraphOps.gcn_adjacency`), never per
    epoch. :math:`\mathbf{X} \mathbf{W}` is formed first when the layer narrows the features, so
    that the sparse product with :math:`\hat{\mathbf{A}}` touches narrow rows only (see
    `aggregate_linear`). :math:`\mathbf{W}` is Glorot-initialised and :math:`\mathbf{b}` zero, as
    in the paper and PyG.

    Args:
        in_channels (int): Width :math:`F_{in}` of each input node feature vector.
        out_channels (int): Width :math:`F_{out}` of each output node feature vector.

    Shapes:
        - **inputs:** node features :math:`(|\mathcal{V}|, F_{in})`, dense or sparse CSR;
          the graph as a :class:`~gnntool.models.graph_ops.GraphOps`, whose
          :math:`\hat{\mathbf{A}}` is :math:`(|\mathcal{V}_t|, |\mathcal{V}|)`
        - **outputs:** node features :math:`(|\mathcal{V}_t|, F_{out})`, the targets' rows:
          :math:`|\mathcal{V}_t| = |\mathcal{V}|` on a whole graph, fewer on a block or row slice
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
