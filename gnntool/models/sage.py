"""GraphSAGE layers (Hamilton et al. 2017), one class per aggregator, full-batch.

Every layer computes ``h_v' = W a_v + B h_v + b`` (Hamilton et al. 2017, Algorithm 1 line 5, whose
``W · CONCAT(h_v, a_v)`` is ``W a_v + B h_v``; one bias), except the gcn
aggregator, which has a single weight matrix and no separate self term. ``a_v`` aggregates the
in-neighbours of ``v`` (``ops.target`` receives from ``ops.source``) and is a zero vector for a node
without neighbours. ``x`` may be dense or sparse CSR; linear maps of ``x`` go through
:func:`gnntool.models.base.linear`, and a mean aggregation and the linear map after it run in the
cheaper order (:func:`gnntool.models.base.aggregate_linear`; they commute). On a block
(`GraphOps.num_targets` < nodes) a layer returns the targets' rows only.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.utils import scatter

from gnntool.config import ModelConfig
from gnntool.models.base import aggregate_linear, linear
from gnntool.models.graph_ops import GraphOps, sparse_matmul
from gnntool.traits import MODELS


class SAGEMeanConv(nn.Module):
    r"""GraphSAGE with the mean aggregator, from Hamilton, Ying & Leskovec,
    `"Inductive Representation Learning on Large Graphs" <https://arxiv.org/abs/1706.02216>`_ (NIPS 2017),
    Algorithm 1 line 5 and Sec. 3.3:

    .. math::
        \mathbf{h}'_v = \mathbf{W} \, \mathrm{mean}_{u \in \mathcal{N}(v)} \mathbf{h}_u
        + \mathbf{B} \mathbf{h}_v + \mathbf{b}

    The paper's :math:`\mathbf{W} \cdot \mathrm{CONCAT}(\mathbf{h}_v, \mathbf{a}_v)` is split into a
    neighbour weight :math:`\mathbf{W}` (`lin_neighbour`, no bias) and a root weight
    :math:`\mathbf{B}` (`lin_root`, which holds the one bias :math:`\mathbf{b}`); the nonlinearity
    and the optional L2 normalisation (Algorithm 1 line 7) are the stack's
    (:class:`~gnntool.models.base.GNN`). :math:`\mathcal{N}(v)` are the distinct in-neighbours of
    :math:`v`, self excluded; the mean is a zero vector for a node without any. The mean and
    :math:`\mathbf{W}` run in the cheaper order (`aggregate_linear`).

    Args:
        in_channels (int): Width :math:`F_{in}` of each input node feature vector.
        out_channels (int): Width :math:`F_{out}` of each output node feature vector.

    Shapes:
        - **inputs:** node features :math:`(|\mathcal{V}|, F_{in})`, dense or sparse CSR;
          the graph as a :class:`~gnntool.models.graph_ops.GraphOps`, whose aggregation
          operators are :math:`(|\mathcal{V}_t|, |\mathcal{V}|)`
        - **outputs:** node features :math:`(|\mathcal{V}_t|, F_{out})`, the targets' rows:
          :math:`|\mathcal{V}_t| = |\mathcal{V}|` on a whole graph, fewer on a block or row slice
    """

    row_slices = True  # computes a row slice's targets from every node's features (layer-wise inference)

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.lin_neighbour = nn.Linear(in_channels, out_channels, bias=False)
        self.lin_root = nn.Linear(in_channels, out_channels, bias=True)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.lin_neighbour.reset_parameters()
        self.lin_root.reset_parameters()

    def forward(self, x: Tensor, ops: GraphOps) -> Tensor:
        neighbour = aggregate_linear(ops.mean_adjacency, self.lin_neighbour, x)
        return neighbour + linear(self.lin_root, ops.targets(x))

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.in_channels}, {self.out_channels}, aggr=mean)"


class SAGEGCNConv(nn.Module):
    r"""GraphSAGE with the gcn aggregator, from Hamilton, Ying & Leskovec,
    `"Inductive Representation Learning on Large Graphs" <https://arxiv.org/abs/1706.02216>`_ (NIPS 2017),
    eq. 2: one weight matrix, no separate root term.

    .. math::
        \mathbf{h}'_v = \mathbf{W} \, \mathrm{mean}\big(\{\mathbf{h}_v\} \cup
        \{\mathbf{h}_u : u \in \mathcal{N}(v)\}\big) + \mathbf{b}

    The mean over :math:`v` and its distinct in-neighbours is the paper's; the symmetric-normalised
    sum :math:`1/\sqrt{|\mathcal{N}(u)| |\mathcal{N}(v)|}` of the textbook chapter the project was
    first specified from is an erratum of that chapter (the mean also stays defined under
    sampling). A node without neighbours maps its own features. The operator is
    `GraphOps.gcn_mean_adjacency`, whose rows sum to one, so the mean and the biased linear map
    commute and run in the cheaper order (`aggregate_linear`).

    Args:
        in_channels (int): Width :math:`F_{in}` of each input node feature vector.
        out_channels (int): Width :math:`F_{out}` of each output node feature vector.

    Shapes:
        - **inputs:** node features :math:`(|\mathcal{V}|, F_{in})`, dense or sparse CSR;
          the graph as a :class:`~gnntool.models.graph_ops.GraphOps`, whose aggregation
          operators are :math:`(|\mathcal{V}_t|, |\mathcal{V}|)`
        - **outputs:** node features :math:`(|\mathcal{V}_t|, F_{out})`, the targets' rows:
          :math:`|\mathcal{V}_t| = |\mathcal{V}|` on a whole graph, fewer on a block or row slice
    """

    row_slices = True  # computes a row slice's targets from every node's features (layer-wise inference)

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.lin = nn.Linear(in_channels, out_channels, bias=True)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.lin.reset_parameters()

    def forward(self, x: Tensor, ops: GraphOps) -> Tensor:
        # Every row of gcn_mean_adjacency sums to one, so the bias commutes with the mean too.
        return aggregate_linear(ops.gcn_mean_adjacency, self.lin, x)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.in_channels}, {self.out_channels}, aggr=gcn)"


class SAGELSTMConv(nn.Module):
    r"""GraphSAGE with the LSTM aggregator, from Hamilton, Ying & Leskovec,
    `"Inductive Representation Learning on Large Graphs" <https://arxiv.org/abs/1706.02216>`_ (NIPS 2017),
    Algorithm 1 line 5 and Sec. 3.3 (an LSTM over a random permutation of the neighbours):

    .. math::
        \mathbf{a}_v = \mathrm{LSTM}\big(\mathbf{P}\mathbf{h}_{\pi(u_1)}, \dots,
        \mathbf{P}\mathbf{h}_{\pi(u_{d_v})}\big)_{d_v}, \qquad
        \mathbf{h}'_v = \mathbf{W} \mathbf{a}_v + \mathbf{B} \mathbf{h}_v + \mathbf{b}

    :math:`u_1, \dots, u_{d_v}` are the distinct in-neighbours of :math:`v`. Features are first
    projected by a bias-free :math:`\mathbf{P}` (`proj`) to ``hidden_channels``, the LSTM's input and
    hidden width, so that the per-edge sequences stay narrow (a low-rank factorisation of the LSTM's
    input weights). :math:`\mathbf{a}_v` is the hidden state after ``v``'s own last neighbour, zero
    for a node without neighbours: nodes are grouped by in-degree and each group runs as one
    unpadded batch (PyG's `LSTMAggregation` reads the last padded position instead). In training,
    :math:`\pi` is drawn afresh each forward from the global RNG; in evaluation every neighbourhood
    is ordered by a pseudo-random priority of the nodes' ids fixed by ``seed``, so inference repeats
    exactly and does not depend on how the graph was chunked. :math:`\mathbf{W}` (`lin_neighbour`)
    has no bias; :math:`\mathbf{B}` (`lin_root`) holds :math:`\mathbf{b}`.

    Args:
        in_channels (int): Width :math:`F_{in}` of each input node feature vector.
        out_channels (int): Width :math:`F_{out}` of each output node feature vector.
        hidden_channels (int, optional): Width of :math:`\mathbf{P}`'s output and of the LSTM's
            input and hidden state. (default: ``out_channels``)
        seed (int, optional): Fixes the neighbour order used in evaluation. (default: ``0``)

    Shapes:
        - **inputs:** node features :math:`(|\mathcal{V}|, F_{in})`, dense or sparse CSR;
          the graph as a :class:`~gnntool.models.graph_ops.GraphOps`, whose aggregation
          operators are :math:`(|\mathcal{V}_t|, |\mathcal{V}|)`
        - **outputs:** node features :math:`(|\mathcal{V}_t|, F_{out})`, the targets' rows:
          :math:`|\mathcal{V}_t| = |\mathcal{V}|` on a whole graph, fewer on a block
    """

    def __init__(
        self, in_channels: int, out_channels: int, hidden_channels: int | None = None, seed: int = 0
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.hidden_channels = hidden_channels or out_channels
        self.seed = seed
        self.proj = nn.Linear(in_channels, self.hidden_channels, bias=False)
        self.lstm = nn.LSTM(self.hidden_channels, self.hidden_channels)
        self.lin_neighbour = nn.Linear(self.hidden_channels, out_channels, bias=False)
        self.lin_root = nn.Linear(in_channels, out_channels, bias=True)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.proj.reset_parameters()
        self.lstm.reset_parameters()
        self.lin_neighbour.reset_parameters()
        self.lin_root.reset_parameters()

    def forward(self, x: Tensor, ops: GraphOps) -> Tensor:
        projected = linear(self.proj, x)
        if self.training:
            order = torch.randperm(ops.source.numel(), device=ops.device)
        else:
            order = torch.argsort(seeded_priority(ops.node_ids[ops.source], self.seed), stable=True)
        nodes, states = [], []
        for group, sequences in neighbour_sequences(ops, order):
            _, (hidden, _) = self.lstm(projected[sequences])  # (degree, group size, width) in
            nodes.append(group)
            states.append(hidden[-1])
        aggregated = projected.new_zeros(ops.num_targets, self.hidden_channels)
        if nodes:
            aggregated = aggregated.index_copy(0, torch.cat(nodes), torch.cat(states))
        return self.lin_neighbour(aggregated) + linear(self.lin_root, ops.targets(x))

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.in_channels}, {self.out_channels}, aggr=lstm, "
            f"hidden={self.hidden_channels})"
        )


def seeded_priority(node_ids: Tensor, seed: int) -> Tensor:
    """A pseudo-random priority per node id, fixed by `seed`: two rounds of an affine map modulo
    the prime 2^31 - 1 (a bijection there; int64 products stay below 2^62, so nothing overflows)."""
    prime = 2**31 - 1
    key = node_ids % prime
    for multiplier, increment in ((48271, 12345 + seed), (69621, 2 * seed + 1)):
        key = (key * multiplier + increment) % prime
    return key


def neighbour_sequences(ops: GraphOps, order: Tensor) -> list[tuple[Tensor, Tensor]]:
    """Every target's in-neighbours in the order `order` (a permutation of the edges) puts them,
    grouped by in-degree.

    One ``(nodes, sequences)`` pair per distinct positive in-degree ``d``: ``sequences[t, i]`` is
    the ``t``-th neighbour of ``nodes[i]`` (a ``d × len(nodes)`` time-major index tensor); nodes
    without neighbours are left out. A random `order` gives every node a uniformly random order
    of its neighbours. Runs one LSTM call per distinct degree (37 on Cora) with no padding, so
    the final hidden state of each sequence is the one after that node's own last neighbour.
    """
    # Group the ordered edges by target (stable sort): `order`'s order within each node.
    order = order[torch.sort(ops.target[order], stable=True).indices]
    source = ops.source[order]  # the in-neighbours of v are source[rowptr[v]:rowptr[v + 1]]
    degrees, by_degree = torch.sort(ops.in_degree[: ops.num_targets], stable=True)
    values, counts = torch.unique_consecutive(degrees, return_counts=True)
    groups = []
    for degree, group in zip(values.tolist(), torch.split(by_degree, counts.tolist())):
        if degree > 0:
            steps = torch.arange(degree, device=ops.device).unsqueeze(1)
            groups.append((group, source[ops.rowptr[group].unsqueeze(0) + steps]))
    return groups


class SAGEPoolConv(nn.Module):
    r"""GraphSAGE with the pooling aggregator, from Hamilton, Ying & Leskovec,
    `"Inductive Representation Learning on Large Graphs" <https://arxiv.org/abs/1706.02216>`_ (NIPS 2017),
    eq. 3, with an elementwise max (default) or mean over the neighbours:

    .. math::
        \mathbf{a}_v = \max_{u \in \mathcal{N}(v)} \mathrm{ReLU}(\mathbf{W}_{pool} \mathbf{h}_u
        + \mathbf{b}_{pool}), \qquad
        \mathbf{h}'_v = \mathbf{W} \mathbf{a}_v + \mathbf{B} \mathbf{h}_v + \mathbf{b}

    Every neighbour goes independently through the fully connected layer
    (:math:`\mathbf{W}_{pool}`, :math:`\mathbf{b}_{pool}`: `lin_pool`), which maps ``in_channels``
    to ``pool_channels``; :math:`\mathcal{N}(v)` are the distinct in-neighbours of :math:`v`, and
    :math:`\mathbf{a}_v` is zero for a node without any. :math:`\mathbf{W}` (`lin_neighbour`) has no
    bias; :math:`\mathbf{B}` (`lin_root`) holds :math:`\mathbf{b}`.

    Args:
        in_channels (int): Width :math:`F_{in}` of each input node feature vector.
        out_channels (int): Width :math:`F_{out}` of each output node feature vector.
        pool_channels (int, optional): Width of the fully connected layer's output.
            (default: ``out_channels``)
        reduce (str, optional): The reduction over the neighbours, ``"max"`` or ``"mean"``.
            (default: ``"max"``)

    Shapes:
        - **inputs:** node features :math:`(|\mathcal{V}|, F_{in})`, dense or sparse CSR;
          the graph as a :class:`~gnntool.models.graph_ops.GraphOps`, whose aggregation
          operators are :math:`(|\mathcal{V}_t|, |\mathcal{V}|)`
        - **outputs:** node features :math:`(|\mathcal{V}_t|, F_{out})`, the targets' rows:
          :math:`|\mathcal{V}_t| = |\mathcal{V}|` on a whole graph, fewer on a block
    """

    def __init__(
        self, in_channels: int, out_channels: int, pool_channels: int | None = None, reduce: str = "max"
    ) -> None:
        super().__init__()
        if reduce not in ("max", "mean"):
            raise ValueError(f"pool reduce must be max or mean, not {reduce!r}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.pool_channels = pool_channels or out_channels
        self.reduce = reduce
        self.lin_pool = nn.Linear(in_channels, self.pool_channels, bias=True)
        self.lin_neighbour = nn.Linear(self.pool_channels, out_channels, bias=False)
        self.lin_root = nn.Linear(in_channels, out_channels, bias=True)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.lin_pool.reset_parameters()
        self.lin_neighbour.reset_parameters()
        self.lin_root.reset_parameters()

    def forward(self, x: Tensor, ops: GraphOps) -> Tensor:
        pooled = F.relu(linear(self.lin_pool, x))  # per node: the same for each of its out-edges
        if self.reduce == "mean":
            aggregated = sparse_matmul(ops.mean_adjacency, pooled)
        else:
            aggregated = scatter(pooled[ops.source], ops.target, 0, dim_size=ops.num_targets, reduce="max")
        return self.lin_neighbour(aggregated) + linear(self.lin_root, ops.targets(x))

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.in_channels}, {self.out_channels}, aggr=pool, "
            f"reduce={self.reduce}, pool={self.pool_channels})"
        )


ConvBuilder = Callable[[int, int, ModelConfig], nn.Module]

# The aggregator registry: `model.aggregator` → its layer. The schema's choices are the traits
# table's (`gnntool.traits.MODELS`), which a test holds equal to these keys.
AGGREGATORS: dict[str, ConvBuilder] = {
    "mean": lambda in_dim, out_dim, config: SAGEMeanConv(in_dim, out_dim),
    "gcn": lambda in_dim, out_dim, config: SAGEGCNConv(in_dim, out_dim),
    "lstm": lambda in_dim, out_dim, config: SAGELSTMConv(in_dim, out_dim, hidden_channels=config.hidden),
    "pool": lambda in_dim, out_dim, config: SAGEPoolConv(
        in_dim, out_dim, pool_channels=config.hidden, reduce=config.pool
    ),
}


def make_conv(in_dim: int, out_dim: int, config: ModelConfig) -> nn.Module:
    """The GraphSAGE layer for `config.aggregator` (null: the traits table's default, mean).

    The lstm aggregator's LSTM and the pool aggregator's fully connected layer are
    `config.hidden` wide in every layer (the output layer included), whatever `in_dim` is.
    """
    aggregator = config.aggregator or MODELS["sage"].options["aggregator"].default
    if aggregator not in AGGREGATORS:
        raise ValueError(f"unknown GraphSAGE aggregator {aggregator!r}")
    return AGGREGATORS[aggregator](in_dim, out_dim, config)
