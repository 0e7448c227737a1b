"""Unsupervised GraphSAGE (Hamilton et al. 2017, eq. 1) and the linear probe that scores it.

The model's last layer outputs the embedding z (`model.hidden` wide). Each training step draws
fresh walks from every node that no validation or test split holds; validation and test losses
use pairs from walks that start at their own nodes, drawn once with a generator seeded by the
run's seed, so early stopping and `gnntool eval` see the same pairs every time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from gnntool.config import TrainConfig
from gnntool.engine.inputs import Part, Task
from gnntool.engine.metrics import f1_scores
from gnntool.engine.walks import negative_distribution, positive_pairs, sample_negatives, unsupervised_loss
from gnntool.models import GNN


@dataclass
class PairSet:
    """Positive pairs (2 × P) and their negatives (P × Q) on one graph."""

    pairs: Tensor
    negatives: Tensor


def draw_pairs(part: Part, starts: Tensor, train: TrainConfig, generator: torch.Generator | None = None) -> PairSet:
    """Co-occurrence pairs from walks starting at `starts`, with negatives ∝ degree^0.75."""
    ops = part.graph.ops
    pairs = positive_pairs(ops, train.walks_per_node, train.walk_length, train.window, generator, nodes=starts)
    count = pairs.size(1) * train.negatives
    negatives = sample_negatives(negative_distribution(ops), count, generator).view(-1, train.negatives)
    return PairSet(pairs, negatives)


def training_starts(task: Task) -> Tensor:
    """Nodes of the training graph that no validation or test split scores."""
    part = task.splits["train"][0]
    held_out = torch.zeros(part.graph.num_nodes, dtype=torch.bool, device=task.device)
    for split in ("val", "test"):
        for other in task.splits[split]:
            if other.graph is part.graph:
                held_out |= other.mask
    return (~held_out).nonzero().flatten()


def split_pairs(task: Task, train: TrainConfig, seed: int) -> dict[str, PairSet]:
    """Fixed pairs per split for its loss: walks from the split's own nodes, seeded by `seed`."""
    generator = torch.Generator(device=task.device).manual_seed(seed)
    return {
        split: draw_pairs(task.splits[split][0], task.splits[split][0].mask.nonzero().flatten(), train, generator)
        for split in ("train", "val", "test")
    }


@torch.no_grad()
def pair_loss(model: GNN, part: Part, pair_set: PairSet) -> float:
    """The objective on fixed pairs, in eval mode."""
    model.eval()
    return unsupervised_loss(model(part.graph.x, part.graph.ops), pair_set.pairs, pair_set.negatives).item()


def unsupervised_epoch(model: GNN, optimizer: torch.optim.Optimizer, task: Task, train: TrainConfig) -> float:
    """One full-batch step on fresh walks (drawn from the seeded global RNG)."""
    model.train()
    part = task.splits["train"][0]
    drawn = draw_pairs(part, training_starts(task), train)
    optimizer.zero_grad(set_to_none=True)
    loss = unsupervised_loss(model(part.graph.x, part.graph.ops), drawn.pairs, drawn.negatives)
    loss.backward()
    optimizer.step()
    return loss.item()


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


@torch.no_grad()
def evaluate_unsupervised(
    model: GNN, task: Task, train: TrainConfig, seed: int, splits: tuple[str, ...]
) -> dict[str, dict[str, float]]:
    """Loss of each split's fixed pairs, plus the linear probe's score where there are labels."""
    model.eval()
    pair_sets = split_pairs(task, train, seed)
    results: dict[str, dict[str, float]] = {}
    embeddings, labels = {}, {}
    for split in ("train", "val", "test"):
        part = task.splits[split][0]
        z = model(part.graph.x, part.graph.ops)
        results[split] = {"loss": pair_loss(model, part, pair_sets[split])}
        if task.dataset.labelled:
            embeddings[split], labels[split] = z[part.mask], part.graph.y[part.mask]
    if task.dataset.labelled:
        for split, scores in linear_probe(embeddings, labels, task.multilabel).items():
            results[split] = {**scores, **results[split]}
    return {split: results[split] for split in splits}
