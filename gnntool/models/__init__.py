"""The model registry: `model.arch` → a function that builds one message-passing layer.

Adding an architecture means one module with a `make_conv`, one line here and its line in the
torch-free `gnntool.traits.MODELS` (the options it reads, whether it can be sampled), from which
the schema takes its `model.arch` choices; the layer stack, normalisation and embedding read-out
are shared (`gnntool.models.base.GNN`).
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from gnntool.config import ModelConfig
from gnntool.models import cheb, gcn, gin, sage
from gnntool.models.base import GNN
from gnntool.models.encoders import make_encoder
from gnntool.models.norms import build_norm
from gnntool.models.readout import GraphModel

ConvBuilder = Callable[[int, int, ModelConfig], nn.Module]

MODELS: dict[str, ConvBuilder] = {
    "gcn": gcn.make_conv,
    "sage": sage.make_conv,
    "cheb": cheb.make_conv,
    "gin": gin.make_conv,
}


def build_model(config: ModelConfig, in_dim: int, out_dim: int) -> GNN:
    """The configured stack: `layers` convs of width `hidden`, the last one `out_dim` wide."""
    make_conv = MODELS[config.arch]
    widths = [in_dim] + [config.hidden] * (config.layers - 1) + [out_dim]
    convs = [make_conv(w_in, w_out, config) for w_in, w_out in zip(widths[:-1], widths[1:])]
    norms = [build_norm(config.norm, config.hidden, config.norm_args) for _ in range(config.layers - 1)]
    input_dropout = config.dropout if config.input_dropout is None else config.input_dropout
    return GNN(convs, norms, config.dropout, l2_normalize=config.l2_normalize, input_dropout=input_dropout)


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
