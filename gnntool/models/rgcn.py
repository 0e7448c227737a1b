"""R-GCN layer (Schlichtkrull et al. 2018, eq. 2, with the basis decomposition of eq. 3): a weight
per relation, a self-loop weight, messages averaged over each relation's neighbours."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from gnntool.config import ModelConfig
from gnntool.models.graph_ops import GraphOps, sparse_matmul
from gnntool.models.typed_ops import EdgeType, TypedOps, TypedSchema


def matmul(x: Tensor, weight: Tensor) -> Tensor:
    """`x @ weight` for a dense or a sparse CSR `x`."""
    return sparse_matmul(x, weight) if x.layout == torch.sparse_csr else x @ weight


class RGCNConv(nn.Module):
    r"""The relational graph convolution of Schlichtkrull et al., `"Modeling Relational Data with
    Graph Convolutional Networks" <https://arxiv.org/abs/1703.06103>`_ (ESWC 2018), eq. 2 without
    its nonlinearity, with the normalisation :math:`c_{i,r} = |\mathcal{N}^r_i|` and a bias:

    .. math::
        \mathbf{h}'_i = \mathbf{W}_0 \mathbf{h}_i + \mathbf{b} + \sum_{r \in \mathcal{R}}
        \frac{1}{|\mathcal{N}^r_i|} \sum_{j \in \mathcal{N}^r_i} \mathbf{W}_r \mathbf{h}_j

    :math:`\mathcal{N}^r_i` are the distinct in-neighbours of :math:`i` under relation :math:`r`
    (self excluded); a relation without neighbours of :math:`i` adds nothing. With `num_bases`
    :math:`B`, every :math:`\mathbf{W}_r = \sum_{b=1}^{B} a_{rb} \mathbf{V}_b` (eq. 3, basis
    decomposition), else each is a free matrix. :math:`\mathbf{W}_0` is the self-loop (PyG's
    `root`). Weights are Glorot-initialised and the bias zero, as in PyG's `RGCNConv`, whose
    ``aggr="mean"`` computes the same function (weights stored ``in × out`` as there).

    On a homogeneous graph (`forward`) it runs as one relation; on a typed graph
    (`TypedRGCN`) relation :math:`r` is the :math:`r`-th of the graph's relations.

    Args:
        in_channels (int): Width :math:`F_{in}` of each input node feature vector.
        out_channels (int): Width :math:`F_{out}` of each output node feature vector.
        num_relations (int): Number of relations :math:`|\mathcal{R}|`.
        num_bases (int, optional): Number of bases :math:`B`; ``None``: no decomposition.

    Shapes:
        - **inputs:** node features :math:`(|\mathcal{V}|, F_{in})`, dense or sparse CSR;
          the graph as a :class:`~gnntool.models.graph_ops.GraphOps`
        - **outputs:** node features :math:`(|\mathcal{V}_t|, F_{out})`, the targets' rows
    """

    row_slices = True  # computes a row slice's targets from every node's features (layer-wise inference)

    def __init__(self, in_channels: int, out_channels: int, num_relations: int, num_bases: int | None = None) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.num_relations = num_relations
        self.num_bases = num_bases
        if num_bases is None:
            self.weight = nn.Parameter(torch.empty(num_relations, in_channels, out_channels))
            self.register_parameter("comp", None)
        else:
            self.weight = nn.Parameter(torch.empty(num_bases, in_channels, out_channels))
            self.comp = nn.Parameter(torch.empty(num_relations, num_bases))
        self.root = nn.Parameter(torch.empty(in_channels, out_channels))
        self.bias = nn.Parameter(torch.empty(out_channels))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.xavier_uniform_(self.weight)  # Glorot, as PyG
        if self.comp is not None:
            nn.init.xavier_uniform_(self.comp)
        nn.init.xavier_uniform_(self.root)
        nn.init.zeros_(self.bias)

    def relation_weights(self) -> Tensor:
        """Every :math:`\\mathbf{W}_r` (relations × in × out), from the bases when decomposed."""
        if self.comp is None:
            return self.weight
        return (self.comp @ self.weight.view(self.num_bases, -1)).view(self.num_relations, *self.weight.shape[1:])

    def self_term(self, x: Tensor) -> Tensor:
        r""":math:`\mathbf{W}_0 \mathbf{h}_i + \mathbf{b}` of target rows `x`."""
        return matmul(x, self.root) + self.bias

    def message(self, mean_adjacency: Tensor, x: Tensor, weight: Tensor) -> Tensor:
        """One relation's term: the mean of the sources' rows `x`, mapped by `weight`, in the
        cheaper order (narrow first)."""
        if x.layout == torch.sparse_csr or self.out_channels <= self.in_channels:
            return sparse_matmul(mean_adjacency, matmul(x, weight))
        return sparse_matmul(mean_adjacency, x) @ weight

    def forward(self, x: Tensor, ops: GraphOps) -> Tensor:
        return self.self_term(ops.targets(x)) + self.message(ops.mean_adjacency, x, self.relation_weights()[0])

    def __repr__(self) -> str:
        bases = f", bases={self.num_bases}" if self.num_bases is not None else ""
        sizes = f"{self.in_channels}, {self.out_channels}, relations={self.num_relations}"
        return f"{self.__class__.__name__}({sizes}{bases})"


class TypedRGCN(nn.Module):
    """An `RGCNConv` over a typed graph: relation r is `relations[r]`; every node type's output
    is its self term plus the terms of the relations into it (one `W_0` for all types, as the
    paper's one entity set)."""

    row_slices = True  # computes a row slice's targets from every node's rows (layer-wise inference)

    def __init__(self, conv: RGCNConv, relations: list[EdgeType]) -> None:
        super().__init__()
        self.conv = conv
        self.relations = relations

    def reset_parameters(self) -> None:
        self.conv.reset_parameters()

    def output_types(self, schema: TypedSchema) -> set[str]:
        """Every node type: its self term reaches it whether or not a relation does."""
        return set(schema.num_nodes)

    def forward(self, x: dict[str, Tensor], ops: TypedOps) -> dict[str, Tensor]:
        weights = self.conv.relation_weights()
        out = {node_type: self.conv.self_term(ops.targets(node_type, x[node_type])) for node_type in ops.num_targets}
        for index, edge_type in enumerate(self.relations):
            relation = ops.relations.get(edge_type)
            if relation is None:
                continue  # a row slice of another type: none of its relations
            message = self.conv.message(relation.mean_adjacency, x[relation.source_type], weights[index])
            out[relation.target_type] = out[relation.target_type] + message
        return out

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.conv!r})"


def make_conv(in_dim: int, out_dim: int, config: ModelConfig) -> RGCNConv:
    """R-GCN on a homogeneous graph: one relation."""
    return RGCNConv(in_dim, out_dim, 1, config.num_bases)


def make_typed_layer(in_dim: int, out_dim: int, config: ModelConfig, relations: list[EdgeType]) -> TypedRGCN:
    """R-GCN on a typed graph: one weight per relation of `relations`."""
    return TypedRGCN(RGCNConv(in_dim, out_dim, len(relations), config.num_bases), relations)
