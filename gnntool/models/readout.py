"""Whole-graph models: message passing, a readout that pools node states per graph, and an MLP head.

`GraphModel` reuses every architecture's conv (`gnntool.models.MODELS`) and every norm; it adds
the categorical input encoders (`gnntool.models.encoders`), the pooling of `model.readout` over
the last layer or all layers (`model.jump`) and the two-layer prediction head.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gnntool.models.graph_ops import GraphOps


def pool(x: Tensor, batch: Tensor, num_graphs: int, readout: str) -> Tensor:
    r"""Pool node rows per graph: ``sum`` :math:`\sum_{v \in g} \mathbf{x}_v`, ``mean`` the sum over
    the graph's node count, ``max`` the channel-wise maximum; `batch` maps each row to its graph.
    A graph with no node pools to zeros."""
    index = batch.view(-1, 1).expand_as(x)
    if readout == "max":
        out = x.new_zeros(num_graphs, x.size(1))
        return out.scatter_reduce(0, index, x, reduce="amax", include_self=False)
    total = x.new_zeros(num_graphs, x.size(1)).index_add_(0, batch, x)
    if readout == "sum":
        return total
    counts = torch.bincount(batch, minlength=num_graphs).clamp_(min=1).to(x.dtype)
    return total / counts.unsqueeze(1)


READOUTS = ("mean", "sum", "max")  # model.readout's choices (gnntool.config)


class GraphModel(nn.Module):
    r"""L message-passing layers, a readout and a two-layer MLP head: one prediction per graph.

    .. math::
        \mathbf{H}^{(0)} = \mathrm{enc}(\mathbf{X}), \qquad
        \mathbf{H}^{(l)} = \mathrm{ReLU}\Big(\mathrm{norm}_l\big(\mathrm{conv}_l
        (\mathrm{dropout}_{p_l}(\mathbf{H}^{(l-1)}))\big)\Big), \quad l = 1, \dots, L,

        \mathbf{h}_g = \mathrm{readout}_{v \in g}\,\mathbf{H}^{(L)}_v \;(\text{jump: last}) \quad\text{or}\quad
        \big\Vert_{l=1}^{L} \mathrm{readout}_{v \in g}\,\mathbf{H}^{(l)}_v \;(\text{jump: cat}),

        \hat{\mathbf{y}}_g = \mathbf{W}_2\,\mathrm{dropout}_p\big(\mathrm{ReLU}(\mathbf{W}_1 \mathbf{h}_g
        + \mathbf{b}_1)\big) + \mathbf{b}_2

    enc embeds categorical columns and sums them (`CategoricalEncoder`), else is the identity;
    :math:`p_1` is `input_dropout`, :math:`p_l = p` after. With `edge_encoders` (GINE), layer l
    gets its own embedding of the edge features, as wide as its input. The embedding of a graph
    (`embed`) is :math:`\mathbf{h}_g`.

    Shapes:
        - **inputs:** node features :math:`(|\mathcal{V}|, F)` (long columns with a node encoder);
          the batch as one :class:`~gnntool.models.graph_ops.GraphOps` whose `batch` maps nodes to
          graphs; optional edge features :math:`(|\mathcal{E}|, D)` in the ops' edge order
        - **outputs:** :math:`(G, \text{outputs})`
    """

    def __init__(
        self,
        convs: list[nn.Module],
        norms: list[nn.Module],
        head_in: int,
        hidden: int,
        out: int,
        readout: str,
        jump: str,
        dropout: float,
        input_dropout: float,
        node_encoder: nn.Module | None = None,
        edge_encoders: Sequence[nn.Module] | None = None,
    ) -> None:
        super().__init__()
        self.node_encoder = node_encoder
        self.convs = nn.ModuleList(convs)
        self.norms = nn.ModuleList(norms)
        self.edge_encoders = nn.ModuleList(edge_encoders) if edge_encoders else None
        self.lin1 = nn.Linear(head_in, hidden)
        self.lin2 = nn.Linear(hidden, out)
        self.readout, self.jump = readout, jump
        self.dropout, self.input_dropout = dropout, input_dropout

    def reset_parameters(self) -> None:
        for module in self.modules():
            if module is not self and hasattr(module, "reset_parameters"):
                module.reset_parameters()

    def embed(self, x: Tensor, ops: GraphOps, edge_attr: Tensor | None = None) -> Tensor:
        """The pooled vector of every graph of the batch (what the head reads)."""
        if self.node_encoder is not None:
            x = self.node_encoder(x)
        pooled = []
        for index, (conv, norm) in enumerate(zip(self.convs, self.norms)):
            p = self.input_dropout if index == 0 else self.dropout
            x = F.dropout(x, p, self.training)
            if self.edge_encoders is None:
                x = conv(x, ops)
            else:
                x = conv(x, ops, self.edge_encoders[index](edge_attr))
            x = F.relu(norm(x, ops.batch, ops.num_graphs), inplace=True)  # the norm's output is ours
            if self.jump == "cat" or index == len(self.convs) - 1:
                pooled.append(pool(x, ops.batch, ops.num_graphs, self.readout))
        return pooled[0] if len(pooled) == 1 else torch.cat(pooled, dim=1)

    def head_output(self, pooled: Tensor) -> Tensor:
        """The MLP head: one output row per graph."""
        return self.lin2(F.dropout(F.relu(self.lin1(pooled)), self.dropout, self.training))

    def forward(self, x: Tensor, ops: GraphOps, edge_attr: Tensor | None = None) -> Tensor:
        return self.head_output(self.embed(x, ops, edge_attr))
