"""The held-out split of a typed graph's link run: what leaves message passing, negatives' types."""

from __future__ import annotations

import pytest
import torch

from gnntool.engine.link.typed_split import predicted_relations, split_typed_edges
from gnntool.errors import UserError

BUYS = ("user", "buys", "item")
REV = ("item", "rev_buys", "user")
KNOWS = ("user", "knows", "user")
NODES = {"user": 20, "item": 30}


def shop(seed: int = 0) -> dict[tuple[str, str, str], torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    keys = torch.randperm(20 * 30, generator=g)[:150]
    buys = torch.stack([keys // 30, keys % 30])
    knows = torch.randint(0, 20, (2, 60), generator=g)
    knows = knows[:, knows[0] != knows[1]]
    return {BUYS: buys, REV: buys.flip(0), KNOWS: torch.unique(torch.cat([knows, knows.flip(0)], 1), dim=1)}


def pairs_of(edges: torch.Tensor) -> set[tuple[int, int]]:
    return set(map(tuple, edges.t().tolist()))


def test_predicted_relations() -> None:
    relations = list(shop())
    assert predicted_relations(relations, "all", "shop") == [BUYS, KNOWS]
    assert predicted_relations(relations, "user__buys__item", "shop") == [BUYS]
    with pytest.raises(UserError, match=r"user__likes__item is not a relation of shop; it has user__buys__item, "):
        predicted_relations(relations, "user__likes__item", "shop")
    with pytest.raises(UserError, match="needs train.link_relation"):
        predicted_relations(relations, None, "shop")


def test_held_out_edges_and_their_reverse_copies_leave_message_passing() -> None:
    edges = shop()
    split = split_typed_edges(edges, NODES, [BUYS, KNOWS], (0.1, 0.2), None, torch.Generator().manual_seed(1))
    offset = split.space.offset
    for name in ("val", "test"):
        held = split.positives[name]
        buys = held.pairs[:, held.relation == 0] - torch.tensor([[offset["user"]], [offset["item"]]])
        knows = held.pairs[:, held.relation == 1]
        assert buys.size(1) > 0 and knows.size(1) > 0
        assert not pairs_of(buys) & pairs_of(split.message[BUYS])
        assert not pairs_of(buys.flip(0)) & pairs_of(split.message[REV])
        # a relation within one type stored both ways leaves both ways
        assert not (pairs_of(knows) | pairs_of(knows.flip(0))) & pairs_of(split.message[KNOWS])
        # test passes messages over the validation pairs too
        assert (pairs_of(buys) <= pairs_of(split.test_message[BUYS])) == (name == "val")
    assert pairs_of(split.message[BUYS]) <= pairs_of(edges[BUYS])
    total = split.positives["train"].relation.numel() + split.positives["val"].relation.numel()
    total += split.positives["test"].relation.numel()
    assert total == 150 + edges[KNOWS].size(1) // 2


def test_negatives_have_the_relations_types_and_are_no_edges() -> None:
    edges = shop()
    split = split_typed_edges(edges, NODES, [BUYS, KNOWS], (0.1, 0.2), None, torch.Generator().manual_seed(2))
    negatives = split.negatives["test"]
    buys = negatives.pairs[:, negatives.relation == 0]
    assert (buys[0] < 20).all() and (buys[1] >= 20).all()  # users then items in the one index space
    knows = negatives.pairs[:, negatives.relation == 1]
    assert (knows < 20).all() and (knows[0] != knows[1]).all()
    assert not pairs_of(buys - torch.tensor([[0], [20]])) & pairs_of(edges[BUYS])
    assert not pairs_of(knows) & pairs_of(edges[KNOWS])
    # a negative corrupts its positive on one side
    positives = split.positives["test"]
    assert ((negatives.pairs == positives.pairs).sum(0) == 1).all()


def test_knowledge_graph_held_out_triples() -> None:
    train = torch.tensor([[0, 1, 2], [1, 2, 3]])
    edges = {("e", "r", "e"): torch.cat([train, train.flip(0)], 1)}
    held = {
        "train": {("e", "r", "e"): train},
        "val": {("e", "r", "e"): torch.tensor([[3], [4]])},
        "test": {("e", "r", "e"): torch.tensor([[4], [5]])},
    }
    split = split_typed_edges(edges, {"e": 8}, [("e", "r", "e")], (0.5, 0.5), held, torch.Generator().manual_seed(0))
    assert split.positives["val"].pairs.tolist() == [[3], [4]]
    assert split.positives["test"].pairs.tolist() == [[4], [5]]
    assert pairs_of(split.test_message[("e", "r", "e")]) == pairs_of(edges[("e", "r", "e")]) | {(3, 4), (4, 3)}
    # the known triples are the directed ones of the files
    assert split.known.numel() == 5


def test_empty_held_out_split_is_an_error() -> None:
    with pytest.raises(UserError, match="val split .* is empty"):
        split_typed_edges(shop(), NODES, [BUYS], (0.001, 0.2), None, torch.Generator().manual_seed(0))


def test_predicting_a_reverse_copy_removes_the_held_out_pairs_from_the_forward_relation() -> None:
    edges = shop()
    split = split_typed_edges(edges, NODES, [REV], (0.1, 0.2), None, torch.Generator().manual_seed(3))
    held = split.positives["test"].pairs - torch.tensor([[20], [0]])  # items come second in the space
    assert held.size(1) > 0
    assert not pairs_of(held.flip(0)) & pairs_of(split.message[BUYS])
    assert not pairs_of(held) & pairs_of(split.message[REV])
