"""The model registry: `model.arch` → a function that builds one message-passing layer.

Adding an architecture means one module with a `make_conv`, one line here and its line in the
torch-free `gnntool.traits.MODELS` (the options it reads, whether it can be sampled), from which
the schema takes its `model.arch` choices; the layer stack, normalisation and embedding read-out
are shared (`gnntool.models.base.GNN`). On a typed graph, `TYPED_LAYERS` builds an architecture's
typed layer (R-GCN's relational one, or one homogeneous layer per relation) and the typed stack
is `gnntool.models.typed.TypedGNN`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from torch import nn

from gnntool.config import ModelConfig
from gnntool.errors import UserError
from gnntool.models import cheb, gcn, gin, rgcn, sage
from gnntool.models.base import GNN
from gnntool.models.encoders import make_encoder
from gnntool.models.norms import build_norm
from gnntool.models.readout import GraphModel
from gnntool.models.typed import PerRelation, TypedGNN, TypedInputs
from gnntool.models.typed_ops import EdgeType, TypedSchema

ConvBuilder = Callable[[int, int, ModelConfig], nn.Module]
TypedLayerBuilder = Callable[[int, int, ModelConfig, list[EdgeType]], nn.Module]

MODELS: dict[str, ConvBuilder] = {
    "gcn": gcn.make_conv,
    "sage": sage.make_conv,
    "cheb": cheb.make_conv,
    "rgcn": rgcn.make_conv,
    "gin": gin.make_conv,
}


def per_relation(make_conv: ConvBuilder) -> TypedLayerBuilder:
    """A typed layer of one `make_conv` layer per relation (`PerRelation`)."""

    def build(in_dim: int, out_dim: int, config: ModelConfig, relations: list[EdgeType]) -> nn.Module:
        return PerRelation({edge_type: make_conv(in_dim, out_dim, config) for edge_type in relations},
                           config.relation_aggr)  # fmt: skip

    return build


# The architectures that run on typed graphs (`typed` in `gnntool.traits.MODELS`).
TYPED_LAYERS: dict[str, TypedLayerBuilder] = {
    "gcn": per_relation(gcn.make_conv),
    "sage": per_relation(sage.make_conv),
    "rgcn": rgcn.make_typed_layer,
}


def build_model(config: ModelConfig, in_dim: int, out_dim: int) -> GNN:
    """The configured stack: `layers` convs of width `hidden`, the last one `out_dim` wide."""
    make_conv = MODELS[config.arch]
    widths = [in_dim] + [config.hidden] * (config.layers - 1) + [out_dim]
    convs = [make_conv(w_in, w_out, config) for w_in, w_out in zip(widths[:-1], widths[1:])]
    norms = [build_norm(config.norm, config.hidden, config.norm_args) for _ in range(config.layers - 1)]
    return GNN(convs, norms, config.dropout, l2_normalize=config.l2_normalize, input_dropout=config.input_dropout)


def build_typed_model(config: ModelConfig, schema: TypedSchema, out_dim: int) -> TypedGNN:
    """The configured stack on a typed graph of `schema`: per-type inputs, then `layers` typed
    layers of width `hidden`, the last one `out_dim` wide, a norm per node type between them."""
    if config.arch not in TYPED_LAYERS:
        typed = ", ".join(TYPED_LAYERS)
        raise UserError(f"model.arch: {config.arch} does not run on typed graphs; use one of {typed}")
    inputs = TypedInputs(schema, config.hidden, config.featureless)
    widths = [inputs.width] + [config.hidden] * (config.layers - 1) + [out_dim]
    make_layer = TYPED_LAYERS[config.arch]
    layers = [make_layer(w_in, w_out, config, schema.relations) for w_in, w_out in zip(widths[:-1], widths[1:])]
    unreached = [node_type for node_type in schema.num_nodes if node_type not in layers[0].output_types(schema)]
    if unreached:
        raise UserError(
            f"model.arch: {config.arch} gives a node type only what its incoming relations send, and no relation "
            f"points into {', '.join(unreached)}; set dataset.add_reverse: true or use arch rgcn"
        )
    norms = [
        nn.ModuleDict({t: build_norm(config.norm, config.hidden, config.norm_args) for t in schema.num_nodes})
        for _ in range(config.layers - 1)
    ]
    return TypedGNN(
        inputs, layers, norms, config.dropout, l2_normalize=config.l2_normalize, input_dropout=config.input_dropout
    )


@functools.singledispatch
def build_stack(inputs: Any, config: ModelConfig, out_dim: int) -> nn.Module:
    """The model for `inputs`: a width (`build_model`) or a typed graph's schema as model.pt keeps
    it (`TypedSchema.as_dict`, `build_typed_model`)."""
    raise TypeError(f"no model for inputs of type {type(inputs).__name__}")


@build_stack.register
def _(inputs: int, config: ModelConfig, out_dim: int) -> nn.Module:
    return build_model(config, inputs, out_dim)


@build_stack.register
def _(inputs: dict, config: ModelConfig, out_dim: int) -> nn.Module:
    return build_typed_model(config, TypedSchema.from_dict(inputs), out_dim)


def build_graph_model(
    config: ModelConfig,
    in_dim: int,
    out_dim: int,
    node_vocab: list[int] | None = None,
    edge_vocab: list[int] | None = None,
    edge_dim: int = 0,
) -> GraphModel:
    """`layers` convs of width `hidden`, the readout and an MLP head with `out_dim` outputs per graph.

    Categorical node columns (`node_vocab`) are embedded `hidden` wide first; with
    `config.edge_features` each layer embeds the edge features (`edge_vocab` columns, else
    `edge_dim` floats) as wide as its input.
    """
    make_conv = MODELS[config.arch]
    node_encoder = make_encoder(config.hidden, node_vocab, in_dim) if node_vocab else None
    first = config.hidden if node_vocab else in_dim
    widths = [first] + [config.hidden] * config.layers
    convs = [make_conv(w_in, w_out, config) for w_in, w_out in zip(widths[:-1], widths[1:])]
    norms = [build_norm(config.norm, config.hidden, config.norm_args) for _ in range(config.layers)]
    edge_encoders = (
        [make_encoder(width, edge_vocab, edge_dim) for width in widths[:-1]] if config.edge_features else None
    )
    head_in = config.hidden * (config.layers if config.jump == "cat" else 1)
    input_dropout = config.dropout if config.input_dropout is None else config.input_dropout
    return GraphModel(
        convs, norms, head_in, config.hidden, out_dim, config.readout, config.jump, config.dropout, input_dropout,
        node_encoder, edge_encoders,
    )  # fmt: skip
