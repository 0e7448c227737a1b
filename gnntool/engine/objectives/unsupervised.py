"""Unsupervised GraphSAGE (Hamilton et al. 2017, eq. 1) and the linear probe that scores it.

The model's last layer outputs the embedding z (`model.hidden` wide; L2-normalised per node
with `model.l2_normalize`, as every layer then is). Each training step draws fresh walks from
every node that no validation or test split holds; validation and test losses use pairs from
walks that start at their own nodes, drawn once with a generator seeded by the run's seed, so
early stopping and `gnntool eval` see the same pairs every time.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gnntool.engine.inference import Inference
from gnntool.engine.inputs import DevicePart, GraphTensors
from gnntool.engine.metrics import f1_scores
from gnntool.engine.objectives.base import Objective, PredictOptions
from gnntool.engine.steps import EpochPosition, run_steps
from gnntool.engine.walks import negative_distribution, positive_pairs, sample_negatives, unsupervised_loss
from gnntool.errors import UserError
from gnntool.models import GNN


@dataclass
class PairSet:
    """Positive pairs (2 × P) and their negatives (P × Q) on one graph."""

    pairs: Tensor
    negatives: Tensor


class Unsupervised(Objective):
    name = "unsupervised"

    def output_width(self) -> int:
        return self.config.model.hidden

    def check(self) -> None:
        super().check()
        self.split_pairs  # noqa: B018 (drawn now, so that a split without pairs is reported before training)

    def embedding(self, z: Tensor) -> Tensor:
        """The last layer's output as the embedding: L2-normalised per node with `l2_normalize`."""
        return F.normalize(z, p=2.0, dim=-1) if self.config.model.l2_normalize else z

    def embeddings(self, outputs: Inference, graph: GraphTensors) -> Tensor:
        return self.embedding(outputs.output(graph))

    def draw_pairs(
        self, part: DevicePart, starts: Tensor, split: str, generator: torch.Generator | None = None
    ) -> PairSet:
        """Co-occurrence pairs from walks starting at `starts`, with negatives ∝ degree^0.75."""
        train, ops = self.config.train, part.graph.ops
        pairs = positive_pairs(ops, train.walks_per_node, train.walk_length, train.window, generator, nodes=starts)
        if pairs.size(1) == 0:
            raise UserError(
                f"train.objective: unsupervised: the {split} split's random walks give no co-occurrence pairs "
                f"({starts.numel()} start nodes, none with a neighbour); the split needs nodes with edges"
            )
        count = pairs.size(1) * train.negatives
        negatives = sample_negatives(negative_distribution(ops), count, generator).view(-1, train.negatives)
        return PairSet(pairs, negatives)

    def training_starts(self) -> Tensor:
        """Nodes of the training graph that no validation or test split scores."""
        part = self.task.splits["train"][0]
        held_out = torch.zeros(part.graph.num_nodes, dtype=torch.bool, device=self.task.device)
        for split in ("val", "test"):
            for other in self.task.splits[split]:
                if other.graph is part.graph:
                    held_out |= other.mask
        return (~held_out).nonzero().flatten()

    @cached_property
    def split_pairs(self) -> dict[str, PairSet]:
        """Fixed pairs per split for its loss: walks from the split's own nodes, seeded by the seed."""
        generator = torch.Generator(device=self.task.device).manual_seed(self.seed)
        pair_sets = {}
        for split in ("train", "val", "test"):
            part = self.task.splits[split][0]
            pair_sets[split] = self.draw_pairs(part, part.mask.nonzero().flatten(), split, generator)
        return pair_sets

    def loss(self, z: Tensor, pair_set: PairSet) -> Tensor:
        return unsupervised_loss(self.embedding(z), pair_set.pairs, pair_set.negatives)

    def train_epoch(
        self, model: nn.Module, optimizer: torch.optim.Optimizer, epoch: int, position: EpochPosition
    ) -> float:
        """One full-batch step on fresh walks (drawn from the seeded global RNG)."""
        del epoch
        part = self.task.splits["train"][0]

        def step_loss(model: nn.Module, part: DevicePart) -> Tensor:
            drawn = self.draw_pairs(part, self.training_starts(), "train")
            return self.loss(model(part.graph.x, part.graph.ops), drawn)

        return run_steps(model, optimizer, [part], step_loss, position)

    @torch.no_grad()
    def evaluate(
        self, model: GNN, splits: tuple[str, ...], outputs: Inference | None = None
    ) -> dict[str, dict[str, float]]:
        """Loss of each split's fixed pairs, plus the linear probe's score where there are labels
        (the probe needs every split, so all three are computed)."""
        outputs = outputs or Inference(model, self.task.chunk_size)
        labelled = self.task.dataset.labelled
        results: dict[str, dict[str, float]] = {}
        embeddings, labels = {}, {}
        wanted = ("train", "val", "test") if labelled else splits
        for split in wanted:
            part = self.task.splits[split][0]
            z = outputs.output(part.graph)
            results[split] = {"loss": self.loss(z, self.split_pairs[split]).item()}
            if labelled:
                embeddings[split], labels[split] = self.embedding(z)[part.mask], part.graph.y[part.mask]
        if labelled:
            for split, scores in linear_probe(embeddings, labels, self.task.multilabel).items():
                results[split] = {**scores, **results[split]}
        return {split: results[split] for split in splits}

    def validate(self, model: GNN) -> dict[str, float]:
        """The validation pairs' loss (the probe is fit once, at the end)."""
        z = Inference(model, self.task.chunk_size).output(self.task.splits["val"][0].graph)
        return {"loss": self.loss(z, self.split_pairs["val"]).item()}

    def predict(self, model: GNN, options: PredictOptions, node_id: np.ndarray) -> None:
        del model, options, node_id
        raise UserError(
            "trained without labels (train.objective: unsupervised), so it has no classifier "
            "to predict with; use `gnntool embed` (its metrics.json holds a linear probe's scores)"
        )


def linear_probe(
    embeddings: dict[str, Tensor], labels: dict[str, Tensor], multilabel: bool
) -> dict[str, dict[str, float]]:
    """Logistic regression fit on the training nodes' embeddings, scored on every split."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier

    probe = LogisticRegression(max_iter=2000)
    if multilabel:
        probe = OneVsRestClassifier(probe)
    probe.fit(embeddings["train"].cpu().numpy(), labels["train"].cpu().numpy())
    scores = {}
    for split, z in embeddings.items():
        predicted = probe.predict(z.cpu().numpy())
        truth = labels[split].cpu().numpy()
        if multilabel:
            scores[split] = {
                "probe_micro_f1": f1_scores(torch.from_numpy(predicted), torch.from_numpy(truth))["micro_f1"]
            }
        else:
            scores[split] = {"probe_accuracy": float(np.mean(predicted == truth))}
    return scores
