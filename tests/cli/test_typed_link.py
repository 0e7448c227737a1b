"""Link prediction on typed graphs: a generated knowledge graph in the triples layout trained with
`link_relation: all` and DistMult, its filtered ranking checked against brute force."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from gnntool.cli import app
from gnntool.config import validate
from gnntool.data import load_dataset
from gnntool.engine.objectives.typed_link import TypedLink
from gnntool.engine.steps import EpochPosition
from gnntool.engine.typed_inputs import typed_task_tensors


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
            if corrupt_tail:
                candidates = [(h, r, c) for c in range(n) if c != t]
            else:
                candidates = [(c, r, t) for c in range(n) if c != h]
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


def write_shop(folder: Path, users: int = 40, items: int = 30, seed: int = 0) -> Path:
    """A typed folder: users (no features) buy items (2 features) of their latent class, and know
    other users of the same class."""
    g = torch.Generator().manual_seed(seed)
    user_class, item_class = torch.randint(0, 2, (users,), generator=g), torch.randint(0, 2, (items,), generator=g)
    (folder / "nodes").mkdir(parents=True)
    (folder / "edges").mkdir()
    (folder / "nodes" / "user.csv").write_text("id\n" + "".join(f"{100 + u}\n" for u in range(users)))
    features = torch.randn(items, 2, generator=g)
    (folder / "nodes" / "item.csv").write_text(
        "id,a,b\n" + "".join(f"{i},{features[i, 0]:.3f},{features[i, 1]:.3f}\n" for i in range(items))
    )
    buys, knows = [], []
    for u in range(users):
        same = (item_class == user_class[u]).nonzero().view(-1)
        buys += [f"{100 + u},{int(i)}\n" for i in same[torch.randperm(same.numel(), generator=g)[:5]]]
        peers = (user_class == user_class[u]).nonzero().view(-1)
        chosen = peers[torch.randperm(peers.numel(), generator=g)[:2]]
        knows += [f"{100 + u},{100 + int(v)}\n" for v in chosen if v != u]
    (folder / "edges" / "user__buys__item.csv").write_text("".join(buys))
    (folder / "edges" / "user__knows__user.csv").write_text("".join(knows))
    return folder


FILTERED = {"filtered_mrr", "filtered_hits@1", "filtered_hits@3", "filtered_hits@10"}


def write_yaml(path: Path, config: dict) -> Path:
    path.write_text(yaml.safe_dump(config))
    return path


def test_knowledge_graph_trains_with_distmult_end_to_end(runner, tmp_path: Path) -> None:
    folder = write_knowledge_graph(tmp_path / "kg")
    config = write_yaml(tmp_path / "kg.yaml", kg_config(folder, epochs=40))
    result = runner.invoke(app, ["train", str(config), "--out", str(tmp_path / "run"), "-q"])
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    for split in ("val", "test"):
        assert {"auc", "ap", "mrr", "loss"} | FILTERED <= set(metrics[split])
    assert not FILTERED & set(metrics["train"])
    # A model that scores every triple alike ranks in the middle: filtered MRR about 2 / 120.
    assert metrics["test"]["filtered_mrr"] > 0.06 and metrics["test"]["auc"] > 0.75
    test = metrics["test"]
    assert test["filtered_hits@10"] >= test["filtered_hits@3"] >= test["filtered_hits@1"]
    again = json.loads(runner.invoke(app, ["eval", str(tmp_path / "run"), "--json"]).stdout)
    assert again["test"] == pytest.approx(metrics["test"], rel=1e-5)
    assert (tmp_path / "run" / "embeddings" / "entity.npy").is_file()
    refused = runner.invoke(app, ["predict", str(tmp_path / "run"), "--top-k", "3"])
    assert refused.exit_code == 2 and "train.link_relation: <relation>" in refused.stderr


def test_one_knowledge_graph_relation_with_distmult_top_k(runner, tmp_path: Path) -> None:
    folder = write_knowledge_graph(tmp_path / "kg", entities=40, relations=2, per_head=3)
    config = write_yaml(tmp_path / "kg.yaml", kg_config(folder, epochs=10, link_relation="entity__r1__entity"))
    run = tmp_path / "run"
    assert runner.invoke(app, ["train", str(config), "--out", str(run), "-q"]).exit_code == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert FILTERED <= set(metrics["test"])
    result = runner.invoke(app, ["predict", str(run), "--top-k", "2", "--format", "csv"])
    assert result.exit_code == 0, result.output
    rows = [line.split(",") for line in result.stdout.splitlines()]
    known = set()
    for name in ("train.txt", "valid.txt", "test.txt"):
        for line in (folder / name).read_text().splitlines():
            head, relation, tail = line.split("\t")
            if relation == "r1":
                known |= {(head, tail), (tail, head)}
    assert len(rows) == 40 * 2 and all(row[0] != row[1] for row in rows)
    assert not {(row[0], row[1]) for row in rows} & known


def test_one_relation_and_top_k_of_targets_without_that_edge(runner, tmp_path: Path) -> None:
    folder = write_shop(tmp_path / "shop")
    config = {
        "dataset": {"name": "graph", "path": str(folder), "edge_split": {"val": 0.1, "test": 0.2}},
        "model": {"arch": "sage", "hidden": 16, "dropout": 0.0},
        "train": {"objective": "link", "link_relation": "user__buys__item", "epochs": 15},
    }
    run = tmp_path / "run"
    result = runner.invoke(app, ["train", str(write_yaml(tmp_path / "c.yaml", config)), "--out", str(run), "-q"])
    assert result.exit_code == 0, result.output
    metrics = json.loads((run / "metrics.json").read_text())
    assert {"auc", "ap", "mrr"} <= set(metrics["test"]) and not FILTERED & set(metrics["test"])
    result = runner.invoke(app, ["predict", str(run), "--top-k", "3", "--format", "csv"])
    assert result.exit_code == 0, result.output
    rows = [line.split(",") for line in result.stdout.splitlines()]
    bought = {tuple(line.split(",")) for line in (folder / "edges" / "user__buys__item.csv").read_text().splitlines()}
    assert len(rows) == 40 * 3
    assert {row[0] for row in rows} == {str(100 + u) for u in range(40)}  # users, by their ids
    assert all(0 <= int(row[1]) < 30 for row in rows)  # items
    assert not {(row[0], row[1]) for row in rows} & bought
    assert [row[3] for row in rows[:3]] == ["1", "2", "3"]
    assert float(rows[0][2]) >= float(rows[1][2]) >= float(rows[2][2])
    # --nodes picks the sources
    nodes = tmp_path / "nodes.txt"
    nodes.write_text("105\n")
    result = runner.invoke(app, ["predict", str(run), "--top-k", "2", "--nodes", str(nodes), "--format", "csv"])
    assert result.exit_code == 0, result.output
    assert [line.split(",")[0] for line in result.stdout.splitlines()] == ["105", "105"]


@pytest.mark.parametrize(
    ("dataset", "train", "model", "message"),
    [
        ("shop", {"link_relation": "user__likes__item"}, {}, "user__likes__item is not a relation of"),
        ("shop", {}, {}, "needs train.link_relation"),
        ("shop", {"link_relation": "all"}, {}, "set model.decoder: distmult"),
        ("shop", {"link_relation": "user_likes"}, {}, "is not a relation"),
        ("npz", {"link_relation": "all"}, {"decoder": "distmult"}, "is a homogeneous graph"),
        ("cora", {"link_relation": "a__b__c"}, {}, "Cora is homogeneous"),
        ("shop", {"objective": "supervised", "link_relation": "user__buys__item"}, {}, "is for link prediction"),
    ],
)
def test_bad_link_relation_is_one_exit_2_message(runner, tmp_path: Path, dataset, train, model, message) -> None:
    if dataset == "shop":
        data = {"name": "graph", "path": str(write_shop(tmp_path / "shop"))}
    elif dataset == "npz":
        path = tmp_path / "g.npz"
        edges = torch.randint(0, 20, (2, 60))
        np.savez(path, x=np.ones((20, 2), dtype=np.float32), edge_index=edges.numpy())
        data = {"name": "graph", "path": str(path)}
    else:
        data = {"name": "cora"}
    config = {"dataset": data, "model": model, "train": {"objective": "link", "epochs": 2, **train}}
    result = runner.invoke(app, ["train", str(write_yaml(tmp_path / "c.yaml", config)), "--out", str(tmp_path / "r")])
    assert result.exit_code == 2, result.output
    assert message in result.stderr and "Traceback" not in result.output
    if "is not a relation of" in message:
        assert "user__buys__item" in result.stderr  # the relations it has are listed
