"""Link prediction on a typed graph (`train.objective: link` with `train.link_relation`).

The typed layer stack encodes every node of every type (its last layer outputs z, `model.hidden`
wide) and the decoder scores a pair (u, v) of a predicted relation r from z_u and z_v: `dot` and
`mlp` as on a homogeneous graph, `distmult` with r's own diagonal (R-GCN's link model,
Schlichtkrull et al. 2018, eq. 6). `train.link_relation: src__rel__dst` trains and scores that
relation; `all` every relation but the reverse copies, with one relation-aware decoder.

The held-out pairs come from `gnntool.engine.link.typed_split` (seeded by the run's seed, or a
knowledge graph's valid/test triples); the loss is binary cross-entropy of every training
positive against `train.negatives` corrupted pairs per positive, fresh every epoch. Each split is
scored as on a homogeneous graph (`auc`, `ap`, `hits@K`, `mrr`, the loss); on a knowledge graph
the final `val` and `test` metrics add the filtered ranking of `gnntool.engine.link.filtered`
(`filtered_mrr`, `filtered_hits@1/3/10`; not computed per epoch, where it would cost a ranking of
every entity per held-out triple). Training is full-batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from gnntool.config import Config
from gnntool.data.typed.dataset import TypedDataset
from gnntool.engine.inference import Inference
from gnntool.engine.link.filtered import filtered_metrics
from gnntool.engine.link.metrics import link_metrics
from gnntool.engine.link.top_k import top_k_chunks
from gnntool.engine.link.typed_split import LabelledPairs, TypedEdgeSplit, predicted_relations, split_typed_edges
from gnntool.engine.objectives.base import Objective, PredictOptions
from gnntool.engine.objectives.link import SCORED_PAIRS, pair_loss, read_node_list, top_k_dtypes, top_k_table
from gnntool.engine.objectives.typed_outputs import TypedOutputs
from gnntool.engine.seeding import mixed_generator
from gnntool.engine.steps import EpochPosition, run_steps
from gnntool.engine.typed_inputs import TypedTask
from gnntool.errors import UserError
from gnntool.export import write_chunked_table
from gnntool.models.decoders import build_decoder, decode_relations, score_candidates
from gnntool.models.typed_ops import TypedOps, typed_ops
from gnntool.traits import DECODERS

FILTERED_FLOATS = 1 << 24  # 64 MiB of float32 per block of the filtered ranking


class TypedLink(TypedOutputs, Objective):
    """Link prediction of one relation, or every relation, of a typed graph."""

    name = "link"
    task: TypedTask

    @classmethod
    def head(cls, config: Config) -> nn.Module:
        # One relation; a saved relation-aware decoder takes its relation count from model.pt.
        return build_decoder(config.model.decoder, config.model.hidden)

    def output_width(self) -> int:
        return self.config.model.hidden

    @property
    def dataset(self) -> TypedDataset:
        return self.task.dataset

    @property
    def where(self) -> str:
        return str(self.config.dataset.path or self.config.dataset.name)

    def check(self) -> None:
        super().check()
        if self.config.neighbour_sampling:
            raise UserError("link prediction on a typed graph trains full-batch; leave train.batch_size null")
        self.split  # noqa: B018 (a missing relation or an impossible split is reported before training)

    @cached_property
    def split(self) -> TypedEdgeSplit:
        """The predicted relations' edges split for training, validation and test (the run's seed)."""
        graph = self.dataset.graph
        relations = predicted_relations(self.dataset.relations(), self.config.train.link_relation, self.where)
        edge_index = {edge_type: graph[edge_type].edge_index for edge_type in self.dataset.relations()}
        fractions = (self.config.dataset.edge_split.val, self.config.dataset.edge_split.test)
        generator = torch.Generator().manual_seed(self.seed)
        return split_typed_edges(edge_index, self.num_nodes, relations, fractions, self.dataset.held_out, generator)

    @property
    def num_nodes(self) -> dict[str, int]:
        return self.task.schema.num_nodes

    def build_model(self) -> nn.Module:
        """The typed layer stack, with a decoder holding every predicted relation as `model.head`."""
        model = super().build_model()
        model.head = build_decoder(self.config.model.decoder, self.config.model.hidden, len(self.split.relations))
        return model

    def default_type(self) -> str:
        """`embed` without `--type`: the first predicted relation's source type."""
        return self.split.relations[0][0]

    def output_ids(self) -> np.ndarray:
        return self.node_ids(self.default_type())

    @cached_property
    def graphs(self) -> dict[str, TypedOps]:
        """The message-passing graph of each split: training pairs; for test the validation pairs too."""
        device = self.task.device
        train = typed_ops(self.split.message, self.num_nodes, device)
        return {"train": train, "val": train, "test": typed_ops(self.split.test_message, self.num_nodes, device)}

    def encode(self, model: nn.Module, split: str) -> Tensor:
        """Every node's z on `split`'s message-passing graph, stacked in the graph's type order."""
        graph = self.task.graph
        z = model(graph.x, graph.node_ids, self.graphs[split])
        return torch.cat([z[node_type] for node_type in self.num_nodes])

    def train_epoch(
        self, model: nn.Module, optimizer: torch.optim.Optimizer, epoch: int, position: EpochPosition
    ) -> float:
        """Every training positive and `train.negatives` fresh corruptions of each, in one step."""
        positives, times = self.split.positives["train"], self.config.train.negatives
        repeated = LabelledPairs(positives.pairs.repeat(1, times), positives.relation.repeat(times))
        negatives = self.split.corrupt(repeated, self.split.message_keys, mixed_generator(self.seed, epoch))
        device = self.task.device
        batch = (positives.to(device), negatives.to(device))

        def loss(model: nn.Module, pairs: tuple[LabelledPairs, LabelledPairs]) -> Tensor:
            z = self.encode(model, "train")
            return pair_loss(*(decode_relations(model.head, z, *side) for side in pairs))

        return run_steps(model, optimizer, [batch], loss, position)

    def decode(self, model: nn.Module, z: Tensor, pairs: LabelledPairs) -> Tensor:
        """Logits of `pairs`, a bounded number at a time."""
        chunks = zip(pairs.pairs.split(SCORED_PAIRS, dim=1), pairs.relation.split(SCORED_PAIRS))
        return torch.cat([decode_relations(model.head, z, *chunk) for chunk in chunks] or [z.new_empty(0)])

    @torch.no_grad()
    def score(self, model: nn.Module, split: str, filtered: bool) -> dict[str, float]:
        """The link metrics and loss of `split`'s positives against its negatives, and on a
        knowledge graph (when `filtered`) the filtered ranking of its triples."""
        model.eval()
        device = self.task.device
        z = self.encode(model, split)
        positives = self.split.positives[split].to(device)
        negatives = self.split.negatives.get(split)
        if negatives is None:  # the training split is scored against a fixed seeded draw
            generator = torch.Generator().manual_seed(self.seed + 1)
            negatives = self.split.corrupt(self.split.positives[split], self.split.message_keys, generator)
        pos, neg = self.decode(model, z, positives), self.decode(model, z, negatives.to(device))
        metrics = {**link_metrics(pos, neg, self.config.train.hits_k), "loss": pair_loss(pos, neg).item()}
        if filtered and self.dataset.knowledge_graph:
            metrics.update(self.filtered(model, z, positives))
        return metrics

    def filtered(self, model: nn.Module, z: Tensor, positives: LabelledPairs) -> dict[str, float]:
        """Filtered MRR and hits@1/3/10 of the triples `positives` among every entity."""
        n = self.split.space.total
        known = self.split.known
        triples = torch.stack([(known // n) % n, known // (n * n), known % n])  # head, relation, tail
        queries = torch.stack([positives.pairs[0], positives.relation, positives.pairs[1]]).cpu()
        # A chunk of pairs gathers z rows of both ends: at most FILTERED_FLOATS numbers at once.
        max_scores = max(n, FILTERED_FLOATS // z.size(1))
        return filtered_metrics(EntityScores(model.head, z), queries, triples, n, max_scores=max_scores)

    def evaluate(
        self, model: nn.Module, splits: tuple[str, ...], outputs: Inference | None = None
    ) -> dict[str, dict[str, float]]:
        return {split: self.score(model, split, filtered=split != "train") for split in splits}

    def validate(self, model: nn.Module) -> dict[str, float]:
        return self.score(model, "val", filtered=False)

    def evaluate_graph(self, model: nn.Module, path: Path, graph_file: Any) -> dict[str, float]:
        raise UserError(f"{path}: eval --graph is not defined for link runs on typed graphs")

    def predict(self, model: nn.Module, options: PredictOptions, node_id: Any) -> None:
        """`--top-k K` (a single-relation run): per source-type node, its K best target-type
        nodes it has no edge of that relation to, as source, target, score, rank."""
        if options.top_k is None or options.pairs is not None:
            raise UserError("predict on a typed link run: give --top-k K (--pairs is for homogeneous graphs)")
        if len(self.split.relations) != 1:
            raise UserError("--top-k lists one relation's best targets: train with train.link_relation: <relation>")
        if not DECODERS[self.config.model.decoder].top_k:
            raise UserError(
                f"--top-k searches every node pair exactly with the dot or distmult decoder; this run's decoder is "
                f"{self.config.model.decoder}"
            )
        self.predict_top_k(model, options)

    @torch.no_grad()
    def predict_top_k(self, model: nn.Module, options: PredictOptions) -> None:
        model.eval()
        edge_type = self.split.relations[0]
        source_type, _, target_type = edge_type
        z = self.task.inference(model).output()
        ids = {node_type: self.node_ids(node_type) for node_type in (source_type, target_type)}
        sources = None if options.nodes is None else read_node_list(options.nodes, ids[source_type])
        edges = self.dataset.graph[edge_type].edge_index
        # Known edges: every edge of the relation, held-out triples of a knowledge graph too.
        held = [pairs[edge_type] for pairs in (self.dataset.held_out or {}).values() if edge_type in pairs]
        edges = torch.cat([edges, *held], dim=1)
        # Within one type the search is the homogeneous one (a node is not its own candidate).
        targets = None if source_type == target_type else z[target_type].float()
        z_source = z[source_type].float()
        queries = model.head.search_queries(z_source)
        rows, chunks = top_k_chunks(z_source, options.top_k, edges, sources, targets=targets, queries=queries)
        tables = (top_k_table(chunk, ids[source_type], ids[target_type]) for chunk in chunks)
        dtypes = top_k_dtypes(ids[source_type].dtype, ids[target_type].dtype)
        write_chunked_table(tables, dtypes, rows, options.output, options.format, options.header)


@dataclass
class EntityScores:
    """The decoder's logits of every entity as the missing end of knowledge-graph queries."""

    decoder: nn.Module
    z: Tensor

    def tails(self, heads: Tensor, relations: Tensor) -> Tensor:
        return score_candidates(self.decoder, self.z, heads.to(self.z.device), relations.to(self.z.device), True)

    def heads(self, tails: Tensor, relations: Tensor) -> Tensor:
        return score_candidates(self.decoder, self.z, tails.to(self.z.device), relations.to(self.z.device), False)


__all__ = ["TypedLink"]
