"""Neighbour sampling on typed graphs: per-relation fanouts, blocks that reproduce the full-graph
outputs when every neighbour is taken, and the refusals of fanout mappings."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch_geometric.data import HeteroData

from gnntool.config import validate
from gnntool.data.typed.dataset import TypedDataset
from gnntool.engine.objectives import build_objective
from gnntool.engine.sampled import graph_fanout
from gnntool.engine.tasks import build_task
from gnntool.engine.typed_sampled import _UNSEEN, TypedNeighborSampler, relation_fanouts
from gnntool.errors import UserError

BUYS = ("user", "buys", "item")
REV = ("item", "rev_buys", "user")
KNOWS = ("user", "knows", "user")


def dataset(seed: int = 0) -> TypedDataset:
    """Users (featured, labelled) and items (featureless), random purchases and friendships."""
    generator = torch.Generator().manual_seed(seed)
    graph = HeteroData()
    graph["user"].x = torch.randn(40, 5, generator=generator)
    graph["user"].num_nodes = 40
    graph["item"].num_nodes = 25
    buys = torch.stack([torch.randint(40, (150,), generator=generator), torch.randint(25, (150,), generator=generator)])
    graph[BUYS].edge_index = buys
    graph[REV].edge_index = buys.flip(0)
    knows = torch.randint(40, (2, 120), generator=generator)
    graph[KNOWS].edge_index = torch.cat([knows, knows.flip(0)], 1)
    y = torch.randint(3, (40,), generator=generator)
    masks = {"train": torch.arange(40) < 24, "val": (torch.arange(40) >= 24) & (torch.arange(40) < 32),
             "test": torch.arange(40) >= 32}  # fmt: skip
    node_id = {"user": np.arange(40), "item": np.arange(25)}
    return TypedDataset(graph, "user", y, masks, 3, node_id=node_id)


def config(arch: str, fanout: object, **model: object):
    return validate({
        "dataset": {"name": "synthetic_typed"},
        "model": {"arch": arch, "hidden": 6, "layers": 2, **model},
        "train": {"batch_size": 7, "fanout": fanout},
    })  # fmt: skip


@pytest.mark.parametrize(
    "options", [{"arch": "rgcn"}, {"arch": "sage"}, {"arch": "sage", "aggregator": "gcn", "relation_aggr": "mean"}]
)
def test_every_neighbour_reproduces_the_full_graph_outputs(options: dict[str, str]) -> None:
    cfg = config(fanout=[-1, -1], **options)
    task = build_task(dataset(), torch.device("cpu"))
    objective = build_objective(cfg, task, seed=0)
    torch.manual_seed(0)
    model = objective.build_model().eval()
    full = objective.inference(model).output()["user"]
    for batch, step in enumerate(objective.stepper.steps(0)):
        seeds = objective.stepper.shard(0)[batch * 7 : (batch + 1) * 7]
        with torch.no_grad():
            out = model(step.x, step.node_ids, step.ops)["user"]
        torch.testing.assert_close(out, full[seeds], rtol=1e-5, atol=1e-5)
        assert torch.equal(step.y, task.dataset.y[seeds])


def test_fanout_per_relation_bounds_the_sampled_in_edges_of_every_node() -> None:
    cfg = config("sage", {"user__knows__user": [1, 1], "default": [2, 1]})
    task = build_task(dataset(1), torch.device("cpu"))
    fanouts = relation_fanouts(cfg, list(task.graph.ops.relations))
    assert fanouts == {BUYS: [2, 1], REV: [2, 1], KNOWS: [1, 1]}
    sampler = TypedNeighborSampler(task, fanouts)
    seeds = torch.tensor([0, 5, 9])
    sample = sampler.sample("user", seeds, torch.Generator().manual_seed(0))
    nodes = {t: sample.node(t) for t in sample.nodes}
    assert torch.equal(nodes["user"][:3], seeds)
    known = {rel: set(map(tuple, task.dataset.graph[rel].edge_index.t().tolist())) for rel in fanouts}
    for rel, by_hop in sample.edges.items():
        source, target = by_hop[0]  # hop 1: into the seeds
        assert torch.bincount(target, minlength=3).max() <= fanouts[rel][0]
        for s, t in zip(nodes[rel[0]][source].tolist(), nodes[rel[2]][target].tolist()):
            assert (s, t) in known[rel]  # a real edge of that relation
    for node_type in sample.nodes:  # each node once
        assert nodes[node_type].unique().numel() == nodes[node_type].numel()
    assert (sampler.local["user"] == _UNSEEN).all()  # the buffers are clean for the next batch


def test_fanout_mappings_are_checked() -> None:
    task = build_task(dataset(), torch.device("cpu"))
    with pytest.raises(UserError, match="user__likes__item is not a relation of the graph"):
        relation_fanouts(config("sage", {"user__likes__item": [1, 1]}), list(task.graph.ops.relations))
    everything = relation_fanouts(config("sage", {"user__knows__user": [3, 2]}), list(task.graph.ops.relations))
    assert everything[BUYS] == [-1, -1]  # no default: all neighbours
    with pytest.raises(UserError, match="a mapping of relations sets typed graphs' relations apart"):
        graph_fanout(validate({"train": {"batch_size": 4, "fanout": {"default": [2, 2]}}}))
    with pytest.raises(UserError, match="train.fanout.default has 1 entries"):
        validate({"train": {"batch_size": 4, "fanout": {"default": [2]}}})
    with pytest.raises(UserError, match="is not a relation"):
        validate({"train": {"batch_size": 4, "fanout": {"user_buys": [2, 2]}}})


@pytest.mark.parametrize(
    "options",
    [{"arch": "rgcn", "num_bases": 2}, {"arch": "sage"}, {"arch": "gcn"}, {"arch": "sage", "aggregator": "pool"}],
)
def test_layerwise_inference_per_type_equals_one_pass(options: dict[str, object]) -> None:
    cfg = config(fanout=[2, 2, 2], layers=3, norm="batch", **options)
    whole = build_task(dataset(2), torch.device("cpu"))
    chunked = build_task(dataset(2), torch.device("cpu"), chunk_size=7)
    torch.manual_seed(0)
    model = build_objective(cfg, whole, seed=0).build_model().eval()
    one_pass = build_objective(cfg, whole, seed=0).inference(model)
    layerwise = build_objective(cfg, chunked, seed=0).inference(model)
    for node_type in ("user", "item"):
        torch.testing.assert_close(layerwise.hidden()[node_type], one_pass.hidden()[node_type], rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(layerwise.output()[node_type], one_pass.output()[node_type], rtol=1e-5, atol=1e-5)
    graph = whole.graph
    torch.testing.assert_close(one_pass.output()["user"], model(graph.x, graph.node_ids, graph.ops)["user"])


def test_multilabel_targets_train_and_score_with_f1() -> None:
    data = dataset(3)
    data.y = (torch.rand(40, 3, generator=torch.Generator().manual_seed(0)) > 0.5).float()
    data.multilabel = True
    cfg = validate({"dataset": {"name": "graph", "path": "typed"}, "model": {"arch": "rgcn", "hidden": 6},
                    "train": {"monitor": "val_micro_f1"}})  # fmt: skip
    objective = build_objective(cfg, build_task(data, torch.device("cpu")), seed=0)
    objective.check()
    torch.manual_seed(0)
    model = objective.build_model()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    from gnntool.engine.steps import EpochPosition

    losses = [objective.train_epoch(model, optimizer, epoch, EpochPosition()) for epoch in range(5)]
    assert losses[-1] < losses[0]
    metrics = objective.evaluate(model, ("train", "test"))
    assert set(metrics["test"]) == {"micro_f1", "macro_f1", "loss"}
