"""The layer stack on a typed graph: per-type inputs, typed layers, a norm per node type.

A typed model maps per-type input features to per-type outputs (`{node type: tensor}`). Its
layers are registered per architecture (`gnntool.models.TYPED_LAYERS`): R-GCN is relational by
definition (`gnntool.models.rgcn.TypedRGCN`); the others run one instance of their homogeneous
layer per relation and combine what a node's incoming relations send (`PerRelation`, as PyG's
`HeteroConv`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gnntool.models.base import dropout_features
from gnntool.models.typed_ops import EdgeType, TypedOps, TypedSchema
from gnntool.relation_names import relation_name

# `model.relation_aggr`: how a node combines the outputs of its incoming relations
RELATION_AGGREGATIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "sum": lambda stacked: stacked.sum(0),
    "mean": lambda stacked: stacked.mean(0),
    "max": lambda stacked: stacked.max(0).values,
}


class PerRelation(nn.Module):
    r"""One homogeneous layer per relation; a node type's output combines its incoming relations'
    (`aggr`: sum, mean or max, as PyG's `HeteroConv`):

    .. math::
        \mathbf{h}'_v = \mathrm{AGG}_{r \in \mathcal{R}(\tau(v))} \, \mathrm{conv}_r(\mathbf{H}, r)_v

    Relation r's layer sees its target type's rows first, then its source type's
    (`gnntool.models.typed_ops.RelationOps`), so its root term reads the node itself and its
    neighbour term the relation's sources.
    """

    def __init__(self, convs: Mapping[EdgeType, nn.Module], aggr: str) -> None:
        super().__init__()
        self.relations = list(convs)
        self.convs = nn.ModuleDict({relation_name(edge_type): conv for edge_type, conv in convs.items()})
        self.aggr = aggr
        self.combine = RELATION_AGGREGATIONS[aggr]
        # layer-wise inference can take row slices when every relation's layer can
        self.row_slices = all(getattr(conv, "row_slices", False) for conv in convs.values())

    def reset_parameters(self) -> None:
        for conv in self.convs.values():
            conv.reset_parameters()

    def output_types(self, schema: TypedSchema) -> set[str]:
        """The node types this layer outputs: those some relation points into."""
        return {edge_type[2] for edge_type in self.relations}

    def forward(self, x: dict[str, Tensor], ops: TypedOps) -> dict[str, Tensor]:
        received: dict[str, list[Tensor]] = {}
        for edge_type in self.relations:
            relation = ops.relations.get(edge_type)
            if relation is None:
                continue  # a row slice of another type: none of its relations
            out = self.convs[relation_name(edge_type)](relation.inputs(x), relation.ops)
            received.setdefault(relation.target_type, []).append(out)
        return {
            node_type: outs[0] if len(outs) == 1 else self.combine(torch.stack(outs))
            for node_type, outs in received.items()
        }

    def __repr__(self) -> str:
        layers = ", ".join(f"{name}: {conv!r}" for name, conv in self.convs.items())
        return f"{self.__class__.__name__}(aggr={self.aggr}, {layers})"


class TypedInputs(nn.Module):
    """Every node type's first-layer input, one common width for all.

    A type with features brings them; a featureless one gets a learnable embedding per node
    (`featureless: embedding`, width `hidden`; not defined for nodes unseen in training) or a
    constant 1 (`featureless: none`). When the widths differ, each type whose width is not
    `hidden` gets its own linear projection to `hidden` (as PyG's `to_hetero` gives each type its
    own input weights).
    """

    def __init__(self, schema: TypedSchema, hidden: int, featureless: str) -> None:
        super().__init__()
        self.featureless = featureless
        self.embeddings = nn.ModuleDict()
        widths = {}
        for node_type, width in schema.widths.items():
            if width:
                widths[node_type] = width
            elif featureless == "embedding":
                self.embeddings[node_type] = nn.Embedding(schema.num_nodes[node_type], hidden)
                widths[node_type] = hidden
            else:
                widths[node_type] = 1
        common = len(set(widths.values())) == 1
        self.width = next(iter(widths.values())) if common else hidden
        self.projections = nn.ModuleDict(
            {} if common else {t: nn.Linear(w, hidden) for t, w in widths.items() if w != hidden}
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for embedding in self.embeddings.values():
            nn.init.normal_(embedding.weight, std=1.0 / embedding.embedding_dim**0.5)
        for projection in self.projections.values():
            projection.reset_parameters()

    def forward(self, x: Mapping[str, Tensor], node_ids: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """`x` holds the featured types' rows, `node_ids` every type's rows' node ids."""
        out = {}
        for node_type, ids in node_ids.items():
            if node_type in x:
                h = x[node_type]
            elif node_type in self.embeddings:
                h = self.embeddings[node_type](ids)
            else:
                h = torch.ones(ids.numel(), 1, device=ids.device)
            out[node_type] = self.projections[node_type](h) if node_type in self.projections else h
        return out


class TypedGNN(nn.Module):
    r"""A stack of L typed layers with a norm per node type, ReLU and dropout between them, after
    the per-type inputs (:class:`TypedInputs`): :class:`~gnntool.models.base.GNN`'s equations,
    applied to every node type at once.

    Shapes:
        - **inputs:** `x`, the featured types' features :math:`(|\mathcal{V}_\tau|, F_\tau)`;
          `node_ids`, every type's node ids (their embedding rows); the graph as one
          :class:`~gnntool.models.typed_ops.TypedOps` for every layer, or one block per layer
        - **outputs:** ``{node type: (|\mathcal{V}_\tau|, F_{out})}``
    """

    def __init__(
        self,
        inputs: TypedInputs,
        convs: list[nn.Module],
        norms: list[nn.ModuleDict],
        dropout: float,
        l2_normalize: bool = False,
        input_dropout: float | None = None,
    ) -> None:
        super().__init__()
        if len(norms) != len(convs) - 1:
            raise ValueError("one norm per hidden layer")
        self.inputs = inputs
        self.convs = nn.ModuleList(convs)
        self.norms = nn.ModuleList(norms)
        self.dropout = dropout
        self.input_dropout = dropout if input_dropout is None else input_dropout
        self.l2_normalize = l2_normalize

    def reset_parameters(self) -> None:
        for module in [self.inputs, *self.convs, *(layer for per_type in self.norms for layer in per_type.values())]:
            if hasattr(module, "reset_parameters"):
                module.reset_parameters()

    def activate(self, index: int, x: dict[str, Tensor], ops: TypedOps) -> dict[str, Tensor]:
        """What follows hidden layer `index`, per node type: its norm, ReLU, optional L2 normalisation."""
        out = {}
        for node_type, h in x.items():
            h = F.relu(self.norms[index][node_type](h, ops.batch(node_type, h.size(0)), 1))
            out[node_type] = F.normalize(h, p=2.0, dim=-1) if self.l2_normalize else h
        return out

    def drop(self, x: dict[str, Tensor], p: float) -> dict[str, Tensor]:
        return {node_type: dropout_features(h, p, self.training) for node_type, h in x.items()}

    def embed(
        self, x: Mapping[str, Tensor], node_ids: Mapping[str, Tensor], ops: TypedOps | Sequence[TypedOps]
    ) -> dict[str, Tensor]:
        """Every type's hidden representation entering the last layer."""
        h = self.inputs(x, node_ids)
        for index, conv in enumerate(self.convs[:-1]):
            layer_ops = ops if isinstance(ops, TypedOps) else ops[index]
            h = conv(self.drop(h, self.input_dropout if index == 0 else self.dropout), layer_ops)
            h = self.activate(index, h, layer_ops)
        return h

    def forward(
        self, x: Mapping[str, Tensor], node_ids: Mapping[str, Tensor], ops: TypedOps | Sequence[TypedOps]
    ) -> dict[str, Tensor]:
        hidden = self.embed(x, node_ids, ops)
        last_ops = ops if isinstance(ops, TypedOps) else ops[-1]
        return self.convs[-1](self.drop(hidden, self.dropout), last_ops)
