"""Link prediction on typed graphs: a generated knowledge graph in the triples layout trained with
`link_relation: all` and DistMult, its filtered ranking checked against brute force."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from gnntool.config import validate
from gnntool.data import load_dataset
from gnntool.engine.objectives.typed_link import TypedLink
from gnntool.engine.steps import EpochPosition
from gnntool.engine.typed_inputs import typed_task_tensors
from gnntool.errors import UserError


def write_knowledge_graph(
    folder: Path, entities: int = 120, classes: int = 4, relations: int = 3, per_head: int = 4, seed: int = 0
) -> Path:
    """A knowledge graph with learnable structure in the triples layout (train/valid/test.txt).

    Every entity has a latent class; relation r pairs the classes two by two (a random perfect
    matching π_r, symmetric as DistMult's scores are) and joins each head to `per_head` random
    entities of class π_r(class of the head). A model that learns the classes and each relation's
    matching ranks the right class first. 10% of the triples go to valid, 10% to test.
    """
    g = torch.Generator().manual_seed(seed)
    latent = torch.randint(0, classes, (entities,), generator=g)
    triples = []
    for r in range(relations):
        order = torch.randperm(classes, generator=g).tolist()
        partner = {}
        for a, b in zip(order[0::2], order[1::2]):
            partner[a], partner[b] = b, a
        for head in range(entities):
            pool = (latent == partner[int(latent[head])]).nonzero().view(-1)
            for tail in pool[torch.randperm(pool.numel(), generator=g)[:per_head]].tolist():
                if tail != head:
                    triples.append(f"e{head}\tr{r}\te{tail}")
    order = torch.randperm(len(triples), generator=g).tolist()
    triples = [triples[i] for i in order]
    cut = len(triples) // 10
    folder.mkdir(parents=True, exist_ok=True)
    parts = {"valid.txt": triples[:cut], "test.txt": triples[cut : 2 * cut], "train.txt": triples[2 * cut :]}
    for name, lines in parts.items():
        (folder / name).write_text("\n".join(lines) + "\n")
    return folder


def kg_config(folder: Path, **train: object) -> dict:
    return {
        "dataset": {"name": "graph", "path": str(folder)},
        "model": {"arch": "rgcn", "decoder": "distmult", "hidden": 16, "layers": 2, "dropout": 0.0},
        "train": {"objective": "link", "link_relation": "all", "epochs": 30, "lr": 0.02, "weight_decay": 0.0, **train},
    }


def brute_force_filtered(model: torch.nn.Module, z: torch.Tensor, folder: Path, relation_index: dict) -> dict:
    """Filtered MRR and hits@1/3/10 of test.txt by looping over every entity, from the definition."""
    def read(name: str) -> list[tuple[int, int, int]]:
        rows = [line.split("\t") for line in (folder / name).read_text().splitlines() if line]
        return [(int(h[1:]), relation_index[r], int(t[1:])) for h, r, t in rows]

    known = {triple for name in ("train.txt", "valid.txt", "test.txt") for triple in read(name)}
    n = z.size(0)

    def score(h: int, r: int, t: int) -> float:
        return model.head(z, torch.tensor([[h], [t]]), torch.tensor([r])).item()

    ranks = []
    for h, r, t in read("test.txt"):
        for corrupt_tail in (True, False):
            own = score(h, r, t)
            candidates = [(h, r, c) for c in range(n) if c != t] if corrupt_tail else [(c, r, t) for c in range(n) if c != h]
            others = [score(*triple) for triple in candidates if triple not in known]
            ranks.append(1 + sum(s > own for s in others) + 0.5 * sum(s == own for s in others))
    ranks = torch.tensor(ranks, dtype=torch.float64)
    return {
        "filtered_mrr": (1 / ranks).mean().item(),
        **{f"filtered_hits@{k}": (ranks <= k).double().mean().item() for k in (1, 3, 10)},
    }


def test_filtered_ranking_of_a_trained_model_matches_brute_force(tmp_path: Path) -> None:
    folder = write_knowledge_graph(tmp_path / "kg", entities=30, relations=2, per_head=2)
    config = validate(kg_config(folder))
    dataset = load_dataset(config.dataset, 0)
    # entity ids are sorted names: e0, e1, e10, ...; the brute force reads the numbers
    assert sorted(dataset.node_id["entity"], key=lambda name: int(name[1:])) == [f"e{i}" for i in range(30)]
    task = typed_task_tensors(dataset, torch.device("cpu"))
    objective = TypedLink(config, task, 0)
    objective.check()
    model = objective.build_model()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    for epoch in range(10):
        objective.train_epoch(model, optimizer, epoch, EpochPosition())
    metrics = objective.evaluate(model, ("test",))["test"]
    model.eval()
    with torch.no_grad():
        z = objective.encode(model, "test")
        # z's rows follow the entity ids' order; the brute force names entities by their number
        rows = torch.tensor([int(name[1:]) for name in dataset.node_id["entity"]])
        z_by_number = torch.empty_like(z)
        z_by_number[rows] = z
        relation_index = {edge_type[1]: i for i, edge_type in enumerate(objective.split.relations)}
        want = brute_force_filtered(model, z_by_number, folder, relation_index)
    for name, value in want.items():
        assert metrics[name] == pytest.approx(value, abs=1e-9), name
    assert {"auc", "ap", "mrr", "loss"} <= set(metrics)
