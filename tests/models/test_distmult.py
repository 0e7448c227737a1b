"""DistMult: the formula of its docstring, one diagonal per relation, and the relation-blind decoders."""

from __future__ import annotations

import pytest
import torch

from gnntool.models.decoders import build_decoder, decode_relations, score_candidates
from gnntool.traits import DECODERS


def test_distmult_is_a_diagonal_bilinear_form_per_relation() -> None:
    torch.manual_seed(0)
    z = torch.randn(5, 4)
    decoder = build_decoder("distmult", 4, num_relations=3)
    assert decoder.relation.shape == (3, 4)
    pairs = torch.tensor([[0, 4, 2, 2], [1, 4, 3, 3]])
    relations = torch.tensor([0, 2, 1, 2])
    want = torch.stack(
        [z[u] @ torch.diag(decoder.relation[r]) @ z[v] for (u, v), r in zip(pairs.t().tolist(), relations.tolist())]
    )
    assert torch.allclose(decoder(z, pairs, relations), want, atol=1e-6)
    # The same pair scores differently in different relations, alike both ways round.
    assert decoder(z, pairs, relations)[2] != decoder(z, pairs, relations)[3]
    assert torch.allclose(decoder(z, pairs.flip(0), relations), decoder(z, pairs, relations))
    # Without relations every pair is in relation 0.
    assert torch.allclose(decoder(z, pairs), decoder(z, pairs, torch.zeros(4, dtype=torch.long)))


def test_distmult_trains_each_relation_apart() -> None:
    torch.manual_seed(0)
    z = torch.randn(4, 6)
    decoder = build_decoder("distmult", 6, num_relations=2)
    decoder(z, torch.tensor([[0], [1]]), torch.tensor([1])).sum().backward()
    assert decoder.relation.grad[0].abs().sum() == 0 and decoder.relation.grad[1].abs().sum() > 0
    before = decoder.relation.detach().clone()
    decoder.reset_parameters()
    assert not torch.equal(before, decoder.relation)


def test_decode_relations_passes_relations_only_to_relation_aware_decoders() -> None:
    torch.manual_seed(0)
    z = torch.randn(5, 4)
    pairs = torch.tensor([[0, 1], [2, 3]])
    relations = torch.tensor([1, 0])
    for name, known in DECODERS.items():
        decoder = build_decoder(name, 4, num_relations=2)
        got = decode_relations(decoder, z, pairs, relations)
        want = decoder(z, pairs, relations) if known.relational else decoder(z, pairs)
        assert torch.equal(got, want)
    dot = build_decoder("dot", 4)
    assert torch.allclose(decode_relations(dot, z, pairs, relations), (z[pairs[0]] * z[pairs[1]]).sum(-1))


def test_a_saved_distmult_loads_into_a_decoder_built_for_one_relation() -> None:
    torch.manual_seed(0)
    trained = build_decoder("distmult", 4, num_relations=3)
    fresh = build_decoder("distmult", 4)
    fresh.load_state_dict(trained.state_dict())
    assert torch.equal(fresh.relation, trained.relation)
    z, pairs, relations = torch.randn(3, 4), torch.tensor([[0, 1], [2, 2]]), torch.tensor([2, 1])
    assert torch.equal(fresh(z, pairs, relations), trained(z, pairs, relations))


@pytest.mark.parametrize("name", sorted(DECODERS))
@pytest.mark.parametrize("anchor_is_source", [True, False])
def test_scores_of_every_candidate_are_the_pairs_scores(name: str, anchor_is_source: bool) -> None:
    torch.manual_seed(0)
    z = torch.randn(6, 4)
    decoder = build_decoder(name, 4, num_relations=3)
    anchors, relations = torch.tensor([0, 5, 2]), torch.tensor([2, 0, 1])
    got = score_candidates(decoder, z, anchors, relations, anchor_is_source)
    assert got.shape == (3, 6)
    for row, (anchor, relation) in enumerate(zip(anchors.tolist(), relations.tolist())):
        for v in range(6):
            pair = torch.tensor([[anchor], [v]]) if anchor_is_source else torch.tensor([[v], [anchor]])
            want = decode_relations(decoder, z, pair, torch.tensor([relation]))
            assert torch.allclose(got[row, v], want[0], atol=1e-5)
