"""A model's outputs on a whole graph: in one pass, or layer by layer over chunks of nodes.

Layer-wise inference (after neighbour-sampled training) computes each layer for every node
before the next one, one chunk of target nodes at a time over their full neighbourhoods: the
memory a chunk needs is bounded by the chunk and its in-neighbours, never by a multi-hop
receptive field, and the result equals the one-pass output (both use every neighbour).

Layers whose aggregation is a sparse operator (GCN, GraphSAGE mean and gcn: `conv.row_slices`)
take each chunk as a row slice of the whole graph (`GraphOps.rows`): its rows of the operator,
multiplied with every node's features, so nothing is gathered and nothing stays cached between
chunks. The others (pool, LSTM) get blocks (`GraphOps.blocks`): the chunk's nodes and their
in-neighbours' rows gathered, the block structure cached per chunk size.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from gnntool.engine.inputs import GraphTensors
from gnntool.models import GNN
from gnntool.models.graph_ops import GraphOps


def eval_mode(model: nn.Module) -> None:
    """Put `model` in eval mode unless it is (nothing in gnntool sets a submodule's mode alone):
    `Module.eval` walks every submodule in Python, 2% of a Cora epoch, and an evaluation that
    runs `infer` then `last_layer` would walk them twice."""
    if model.training:
        model.eval()


@torch.no_grad()
def infer(model: GNN, graph: GraphTensors, chunk_size: int | None, final: bool = True) -> Tensor:
    """The last layer's outputs (`final`) or the embeddings entering it, one row per node, in
    eval mode: in one pass when `chunk_size` is None, else layer-wise over chunks of that size."""
    eval_mode(model)
    if chunk_size is None:
        return model(graph.x, graph.ops) if final else model.embed(graph.x, graph.ops)
    last = len(model.convs) - 1
    return layerwise(model, graph.x, graph.ops, chunk_size, range(last + 1 if final else last))


@torch.no_grad()
def last_layer(model: GNN, hidden: Tensor, graph: GraphTensors, chunk_size: int | None) -> Tensor:
    """The last layer's outputs from the embeddings entering it (`infer(..., final=False)`)."""
    eval_mode(model)
    if chunk_size is None:
        return model.convs[-1](hidden, graph.ops)
    last = len(model.convs) - 1
    return layerwise(model, hidden, graph.ops, chunk_size, range(last, last + 1))


class Inference:
    """A model's outputs on graphs, in eval mode, each layer computed once per graph.

    At the end of a run the metrics read the last layer's outputs and the embeddings the layer
    before: both come from one pass (`hidden` is kept, `output` continues from it).
    """

    def __init__(self, model: GNN, chunk_size: int | None) -> None:
        self.model = model
        self.chunk_size = chunk_size
        self.hiddens: dict[int, Tensor] = {}
        self.outputs: dict[int, Tensor] = {}

    def hidden(self, graph: GraphTensors) -> Tensor:
        """The embeddings entering the last layer, one row per node of `graph`."""
        if id(graph) not in self.hiddens:
            self.hiddens[id(graph)] = infer(self.model, graph, self.chunk_size, final=False)
        return self.hiddens[id(graph)]

    def output(self, graph: GraphTensors) -> Tensor:
        """The last layer's outputs, one row per node of `graph`."""
        if id(graph) not in self.outputs:
            self.outputs[id(graph)] = last_layer(self.model, self.hidden(graph), graph, self.chunk_size)
        return self.outputs[id(graph)]


def layerwise(model: GNN, x: Tensor, ops: GraphOps, chunk_size: int, layers: range) -> Tensor:
    """The given consecutive layers for all nodes, chunk by chunk; `x` (the input of the first
    of them) must be dense.

    A norm follows only once its layer is complete for every node, since norms with per-graph
    statistics (instance, group, layer in graph mode) need the whole graph's rows.
    """
    last = len(model.convs) - 1
    for index in layers:
        conv = model.convs[index]
        out = None
        for start in range(0, ops.num_nodes, chunk_size):
            end = min(start + chunk_size, ops.num_nodes)
            if getattr(conv, "row_slices", False):
                rows = conv(x, ops.rows(start, end))
            else:
                nodes, block = ops.blocks(chunk_size)[start // chunk_size]
                rows = conv(x[nodes], block)
            if out is None:
                out = rows.new_empty(ops.num_nodes, rows.size(1))
            out[start:end] = rows
        x = model.activate(index, out, ops, inplace=True) if index < last else out  # `out` is ours: no copy
    return x
