"""Link prediction (`train.objective: link`): which node pairs are edges.

The layer stack encodes every node (its last layer outputs z, `model.hidden` wide) and a decoder
(`model.decoder`, `gnntool.models.decoders`) scores a pair (u, v) from z_u and z_v: the inner
product of Kipf & Welling's graph auto-encoder (2016, eq. 2: σ(z_uᵀ z_v)), or an MLP on z_u ⊙ z_v.
The loss is binary cross-entropy of the positives against as many negatives (times
`train.negatives`), drawn afresh every epoch among the non-edges of the message-passing graph.

The edges are split by `gnntool.data.edge_split` (PyG's `RandomLinkSplit` semantics, seeded by the
run's seed), or come from the graph file's `val_edges`/`test_edges`. Training and validation pass
messages over the training edges, test over the training and validation edges. Every split is
scored by its positives against a fixed set of negatives: `auc`, `ap`, `hits@K` for K in
`train.hits_k`, `mrr` (`gnntool.engine.link.metrics`) and the loss.

Neighbour-sampled training (`train.batch_size` positive edges per step, `train.fanout`) samples
around both endpoints of a batch's positives and negatives (PyG's `LinkLoader` semantics,
`gnntool.engine.link.sampling`); validation and test then run layer-wise over the whole graph.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from functools import cached_property
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.data import Data

from gnntool.config import Config
from gnntool.data.edge_split import (
    EdgeSplit,
    NegativeSampler,
    distinct_negatives,
    edge_keys,
    is_undirected,
    split_edges,
    split_held_out,
)
from gnntool.data.graphfile import GraphFile, read_held_out_edges
from gnntool.engine.inference import Inference
from gnntool.engine.inputs import GraphTensors
from gnntool.engine.link.metrics import link_metrics
from gnntool.engine.link.pairs import fd_chunks, read_pairs, stream_pairs
from gnntool.engine.link.sampling import LinkBatch, LinkSampledSteps
from gnntool.engine.link.top_k import TopKRows, top_k_chunks
from gnntool.engine.objectives.base import Objective, PredictOptions
from gnntool.engine.sampled import graph_fanout
from gnntool.engine.seeding import mixed_generator
from gnntool.engine.steps import EpochPosition, run_steps
from gnntool.errors import UserError
from gnntool.export import write_chunked_table, write_pair_table
from gnntool.models import GNN
from gnntool.models.decoders import build_decoder
from gnntool.models.graph_ops import GraphOps
from gnntool.traits import DECODERS

SCORED_PAIRS = 1 << 20  # pairs decoded at once when scoring


def pair_loss(positive: Tensor, negative: Tensor) -> Tensor:
    """Binary cross-entropy of positive logits against 1 and negative logits against 0."""
    logits = torch.cat([positive, negative]).float()
    labels = torch.cat([torch.ones_like(positive), torch.zeros_like(negative)]).float()
    return F.binary_cross_entropy_with_logits(logits, labels)


def link_batch_loss(model: nn.Module, batch: LinkBatch) -> Tensor:
    """Binary cross-entropy of the decoder's logits of a batch's pairs against their labels."""
    module = getattr(model, "module", model)  # the head of a DDP-wrapped model
    logits = module.head(model(batch.x, batch.blocks), batch.pairs)
    return F.binary_cross_entropy_with_logits(logits.float(), batch.labels)


def decode(model: GNN, z: Tensor, pairs: Tensor) -> Tensor:
    """The decoder's logits of `pairs` (2 × P), a bounded number of pairs at a time."""
    return torch.cat([model.head(z, chunk) for chunk in pairs.split(SCORED_PAIRS, dim=1)] or [z.new_empty(0)])


class Link(Objective):
    name = "link"

    @classmethod
    def head(cls, config: Config) -> nn.Module:
        return build_decoder(config.model.decoder, config.model.hidden)

    def output_width(self) -> int:
        return self.config.model.hidden

    def check(self) -> None:
        super().check()
        if self.config.train.link_relation is not None:
            raise UserError(
                f"train.link_relation: {self.config.dataset.path or self.config.dataset.name} is a homogeneous graph "
                "(one node and one edge type): leave train.link_relation out"
            )
        self.split  # noqa: B018 (an impossible split is reported before training)

    @property
    def data(self) -> Data:
        """The whole input graph (every edge, held-out ones included)."""
        return self.task.dataset.graphs[0]

    @cached_property
    def split(self) -> EdgeSplit:
        """The edges split for training, validation and test, drawn with the run's seed."""
        data, generator = self.data, torch.Generator().manual_seed(self.seed)
        held_out = self.task.dataset.held_out
        if held_out:
            given = {name: torch.from_numpy(edges) for name, edges in held_out.items()}
            return split_held_out(data.edge_index, data.num_nodes, given, generator)
        edge_split = self.config.dataset.edge_split
        return split_edges(data.edge_index, data.num_nodes, edge_split.val, edge_split.test, generator)

    def message_graph(self, edge_index: Tensor) -> GraphTensors:
        """The input graph's features with `edge_index` as its edges, on the device."""
        base = self.task.tensors(self.data)
        return GraphTensors(x=base.x, y=None, ops=GraphOps(edge_index.to(self.task.device), base.num_nodes))

    @cached_property
    def graphs(self) -> dict[str, GraphTensors]:
        """The message-passing graph of each split: training edges, and for test the validation
        edges too."""
        train = self.message_graph(self.split.edge_index)
        return {"train": train, "val": train, "test": self.message_graph(self.split.test_edge_index)}

    @cached_property
    def sampler(self) -> NegativeSampler:
        return NegativeSampler(self.split.edge_index, self.data.num_nodes)

    @cached_property
    def pairs(self) -> dict[str, tuple[Tensor, Tensor]]:
        """Each split's positives and fixed negatives (2 × P each), on the device."""
        split = self.split
        generator = torch.Generator().manual_seed(self.seed + 1)
        train_negatives = self.sampler(split.train_pos.size(1), generator)
        pairs = {
            "train": (split.train_pos, train_negatives),
            "val": (split.val_pos, split.val_neg),
            "test": (split.test_pos, split.test_neg),
        }
        return {name: (pos.to(self.task.device), neg.to(self.task.device)) for name, (pos, neg) in pairs.items()}

    @cached_property
    def sampled(self) -> LinkSampledSteps:
        train, graph = self.config.train, self.graphs["train"]
        fanout = graph_fanout(self.config)
        positives = self.pairs["train"][0]
        return LinkSampledSteps(graph.x, graph.ops, positives, fanout, train.batch_size, train.negatives, self.seed)

    def full_batch(self, epoch: int) -> LinkBatch:
        """Every training positive with fresh negatives (drawn from a generator seeded by the
        seed and `epoch`), on the whole message-passing graph."""
        positives = self.pairs["train"][0]
        count = positives.size(1) * self.config.train.negatives
        negatives = self.sampler(count, mixed_generator(self.seed, epoch)).to(self.task.device)
        graph = self.graphs["train"]
        labels = torch.cat([torch.ones(positives.size(1)), torch.zeros(count)]).to(self.task.device)
        blocks = [graph.ops] * self.config.model.layers
        return LinkBatch(graph.x, None, blocks, torch.cat([positives, negatives], 1), labels)

    def num_steps(self, epoch: int) -> int:
        return self.sampled.num_batches(epoch) if self.config.neighbour_sampling else 1

    def train_epoch(
        self, model: nn.Module, optimizer: torch.optim.Optimizer, epoch: int, position: EpochPosition
    ) -> float:
        """Full batch: every training positive and fresh negatives in one step; sampled: one step per
        `batch_size` positives, each on the sampled neighbourhood of its pairs' endpoints."""
        if self.config.neighbour_sampling:
            batches: Iterable[LinkBatch] = self.sampled.steps(epoch, position.start)
        else:
            batches = [self.full_batch(epoch)]
        return run_steps(model, optimizer, batches, link_batch_loss, position)

    @torch.no_grad()
    def score(self, model: GNN, z: Tensor, positive: Tensor, negative: Tensor) -> dict[str, float]:
        """The link metrics and the loss of positives against negatives."""
        model.eval()
        pos, neg = decode(model, z, positive), decode(model, z, negative)
        metrics = link_metrics(pos, neg, self.config.train.hits_k)
        return {**metrics, "loss": pair_loss(pos, neg).item()}

    def evaluate(
        self, model: GNN, splits: tuple[str, ...], outputs: Inference | None = None
    ) -> dict[str, dict[str, float]]:
        outputs = outputs or Inference(model, self.task.chunk_size)
        return {split: self.score(model, outputs.output(self.graphs[split]), *self.pairs[split]) for split in splits}

    def evaluate_graph(self, model: GNN, path: Path, graph_file: GraphFile) -> dict[str, float]:
        """The file's `test_edges` against its `test_negatives` (else negatives drawn with the seed),
        passing messages over the file's other edges."""
        held_out = read_held_out_edges(path, graph_file.node_id)
        if "test_edges" not in held_out:
            raise UserError(f"{path}: brings no test_edges to score (see docs/link-prediction.md for the format)")
        data = self.data
        n = data.num_nodes
        positive = torch.from_numpy(held_out["test_edges"])
        full = edge_keys(data.edge_index, n)
        # As training splits: both directions of a held-out pair leave an undirected graph, only
        # the held-out direction a directed one.
        held = edge_keys(torch.cat([positive, positive.flip(0)], dim=1) if is_undirected(full, n) else positive, n)
        kept = full[~torch.isin(full, held)]
        if "test_negatives" in held_out:
            negative = torch.from_numpy(held_out["test_negatives"])
        else:
            generator = torch.Generator().manual_seed(self.seed)
            negative = distinct_negatives(torch.unique(torch.cat([full, held])), n, positive.size(1), generator, False)
        graph = self.message_graph(torch.stack([kept // n, kept % n]))
        z = Inference(model, self.task.chunk_size).output(graph)
        device = self.task.device
        return self.score(model, z, positive.to(device), negative.to(device))

    def predict(self, model: GNN, options: PredictOptions, node_id: np.ndarray) -> None:
        """`--pairs`: source, target, score (sigmoid) per pair in input order; `--top-k K`: per
        source node, its K best new targets as source, target, score, rank."""
        if (options.pairs is None) == (options.top_k is None):
            raise UserError("predict on a link run: give --pairs FILE|- or --top-k K (one of them)")
        if options.nodes is not None and options.top_k is None:
            raise UserError("--nodes chooses the source nodes of --top-k")
        z = Inference(model, self.task.chunk_size).output(self.task.tensors(self.data))
        if options.pairs is not None:
            self.predict_pairs(model, z, options, node_id)
        else:
            self.predict_top_k(model, z, options, node_id)

    @torch.no_grad()
    def predict_pairs(self, model: GNN, z: Tensor, options: PredictOptions, node_id: np.ndarray) -> None:
        """Pairs from a file are checked whole, then written at once; from stdin (`-`) to stdout
        each batch is written as it arrives."""
        streaming = options.pairs == "-"
        if streaming:
            batches = stream_pairs(fd_chunks(sys.stdin.fileno()), node_id)
        else:
            batches = iter([read_pairs(options.pairs, node_id)])
        if not (streaming and options.output == "-"):
            batches = iter([torch.cat(list(batches) or [torch.empty((2, 0), dtype=torch.long)], dim=1)])
        for index, pairs in enumerate(batches):
            scores = torch.sigmoid(decode(model, z, pairs.to(z.device))).float().cpu().numpy()
            table = {"source": node_id[pairs[0].numpy()], "target": node_id[pairs[1].numpy()], "score": scores}
            write_pair_table(table, options.output, options.format, options.header and index == 0)

    @torch.no_grad()
    def predict_top_k(self, model: GNN, z: Tensor, options: PredictOptions, node_id: np.ndarray) -> None:
        if not DECODERS[self.config.model.decoder].top_k:
            raise UserError(
                f"--top-k searches every node pair exactly with the dot or distmult decoder; this run's decoder is "
                f"{self.config.model.decoder} (score chosen pairs with --pairs)"
            )
        sources = None
        if options.nodes is not None:
            sources = read_node_list(options.nodes, node_id)
        queries = model.head.search_queries(z.float())
        rows, chunks = top_k_chunks(z.float(), options.top_k, self.data.edge_index, sources, queries=queries)
        # Each chunk of sources is written as it is found: memory holds one chunk's rows, not
        # nodes × K of them.
        tables = (top_k_table(chunk, node_id) for chunk in chunks)
        dtypes = top_k_dtypes(node_id.dtype, node_id.dtype)
        write_chunked_table(tables, dtypes, rows, options.output, options.format, options.header)


def top_k_table(rows: TopKRows, node_id: np.ndarray, target_id: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """A chunk of top-k rows as output columns: node ids (the targets' from `target_id` when they
    are another node type), the score's sigmoid (float32), rank."""
    return {
        "source": node_id[rows.source.cpu().numpy()],
        "target": (node_id if target_id is None else target_id)[rows.target.cpu().numpy()],
        "score": torch.sigmoid(rows.score).cpu().numpy().astype(np.float32),
        "rank": rows.rank.cpu().numpy(),
    }


def top_k_dtypes(source: np.dtype, target: np.dtype) -> dict[str, np.dtype]:
    """The column types of `top_k_table`'s tables, given the source and target ids' types."""
    return {"source": source, "target": target, "score": np.dtype(np.float32), "rank": np.dtype(np.int64)}


def read_node_list(path: Path, node_id: np.ndarray) -> Tensor:
    """`--nodes FILE`: one node id per line (an optional non-numeric header), as row positions."""
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise UserError(f"--nodes {path}: cannot read it: {error}") from None
    order = np.argsort(node_id, kind="stable")
    sorted_ids = node_id[order]
    positions = []
    for number, line in enumerate(lines, 1):
        text = line.strip().strip('"')
        if not text or (number == 1 and not text.lstrip("+-").isdigit()):
            continue
        if not text.lstrip("+-").isdigit():
            raise UserError(f"--nodes {path} line {number}: {text!r} is not an integer node id")
        value = int(text)
        slot = min(int(np.searchsorted(sorted_ids, value)), len(sorted_ids) - 1)
        if sorted_ids[slot] != value:
            raise UserError(f"--nodes {path} line {number}: node {value} is not a node of the graph")
        positions.append(int(order[slot]))
    return torch.tensor(positions, dtype=torch.long)
