"""GIN layer (Xu et al. 2019, eq. 4.1), with the edge embeddings of GINE (Hu et al. 2020) when given."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gnntool.config import ModelConfig
from gnntool.models.base import linear
from gnntool.models.graph_ops import GraphOps, self_plus_neighbour_sum


class GINConv(nn.Module):
    r"""The graph isomorphism layer of Xu et al., `"How Powerful are Graph Neural Networks?"
    <https://arxiv.org/abs/1810.00826>`_ (ICLR 2019), eq. 4.1, with a learnable :math:`\epsilon`:

    .. math::
        \mathbf{h}'_v = \mathrm{MLP}\Big((1 + \epsilon)\,\mathbf{h}_v + \sum_{u \in \mathcal{N}(v)}
        \mathbf{h}_u\Big), \qquad \mathrm{MLP}(\mathbf{z}) = \mathbf{W}_2\,\mathrm{ReLU}(\mathbf{W}_1
        \mathbf{z} + \mathbf{b}_1) + \mathbf{b}_2

    With edge embeddings :math:`\mathbf{e}_{uv}` (GINE, Hu et al., `"Strategies for Pre-training Graph
    Neural Networks" <https://arxiv.org/abs/1905.12265>`_, ICLR 2020) each message is
    :math:`\mathrm{ReLU}(\mathbf{h}_u + \mathbf{e}_{uv})` instead of :math:`\mathbf{h}_u`.
    :math:`\mathcal{N}(v)` are v's in-neighbours (self-loops and repeated edges dropped, as
    `GraphOps` keeps them); without edge embeddings the sum is one `embedding_bag` over the
    CSR-ordered sources, its backward written out (`graph_ops.self_plus_neighbour_sum`). The
    normalisation between layers is the stack's (`model.norm`), so the MLP itself has none.
    :math:`\epsilon` starts at 0.

    Args:
        in_channels (int): Width :math:`F_{in}` of each input node feature vector.
        out_channels (int): Width :math:`F_{out}` of each output node feature vector (and of the
            MLP's hidden layer).

    Shapes:
        - **inputs:** node features :math:`(|\mathcal{V}|, F_{in})`, dense or sparse CSR; the graph
          as a :class:`~gnntool.models.graph_ops.GraphOps`; optional edge embeddings
          :math:`(|\mathcal{E}|, F_{in})` in the order of the ops' edges
        - **outputs:** node features :math:`(|\mathcal{V}_t|, F_{out})`
    """

    row_slices = True  # a row slice's targets come from its rows of the adjacency and every node's features

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.eps = nn.Parameter(torch.zeros(1))
        self.lin1 = nn.Linear(in_channels, out_channels)
        self.lin2 = nn.Linear(out_channels, out_channels)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.zeros_(self.eps)
        self.lin1.reset_parameters()
        self.lin2.reset_parameters()

    def forward(self, x: Tensor, ops: GraphOps, edge: Tensor | None = None) -> Tensor:
        if x.layout == torch.sparse_csr:  # the first layer's sparse input: project first (exact, W1 is linear)
            projected = linear(self.lin1, x) - self.lin1.bias
            z = self.combine(projected, ops, edge) + self.lin1.bias
        else:
            z = self.lin1(self.combine(x, ops, edge))
        return self.lin2(F.relu(z, inplace=True))  # (lin1's backward needs its input, not z)

    def combine(self, x: Tensor, ops: GraphOps, edge: Tensor | None) -> Tensor:
        """(1 + eps) x_v + the sum of v's messages, for the ops' targets."""
        if edge is None:
            return self_plus_neighbour_sum(x, self.eps, ops)  # one kernel each way (see graph_ops)
        messages = F.relu(x.index_select(0, ops.source) + edge)
        neighbours = x.new_zeros(ops.num_targets, x.size(1)).index_add_(0, ops.target - ops.first_target, messages)
        return neighbours.addcmul_(ops.targets(x), 1 + self.eps)  # one pass: neighbours + (1 + eps) x

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.in_channels}, {self.out_channels})"


def make_conv(in_dim: int, out_dim: int, config: ModelConfig) -> GINConv:
    del config
    return GINConv(in_dim, out_dim)
