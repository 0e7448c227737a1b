"""The decoder registry: `model.decoder` → a module that scores node pairs from node embeddings.

A decoder maps `(z, pairs)`, embeddings `z` (nodes × width) and `pairs` (2 × P, row 0 the
sources u, row 1 the targets v, indices into `z`), to P logits (the link's probability is their
sigmoid). A relation-aware decoder (`relational = True`, DistMult) also takes `relations` (P,
each pair's relation index) and is built for a number of relations; the others score a pair the
same in every relation. Adding a decoder is one class and one line in `DECODERS`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import torch
from torch import Tensor, nn

from gnntool.errors import UserError


class DotDecoder(nn.Module):
    r"""The inner-product decoder of Kipf & Welling's non-probabilistic graph auto-encoder (GAE), from
    `"Variational Graph Auto-Encoders" <https://arxiv.org/abs/1611.07308>`_ (2016):

    .. math::
        s(u, v) = \mathbf{z}_u^{\top} \mathbf{z}_v

    The link's probability is :math:`\sigma(s(u, v))`. Symmetric in :math:`u` and :math:`v` and
    parameter-free (the constructor takes no arguments), so exact top-k search reduces to a matrix
    product.

    Shapes:
        - **inputs:** node embeddings :math:`(|\mathcal{V}|, F)`, node pairs :math:`(2, P)` (row 0
          the sources :math:`u`, row 1 the targets :math:`v`, indices into the embeddings)
        - **outputs:** logits :math:`(P)`, one per pair
    """

    def reset_parameters(self) -> None:
        """Nothing to reset: the decoder has no parameters."""

    def search_queries(self, z: Tensor, relation: int = 0) -> Tensor:
        """Rows q_u with s(u, v) = q_uᵀ z_v, for exact top-k search: z itself."""
        del relation
        return z

    def forward(self, z: Tensor, pairs: Tensor) -> Tensor:
        return (z[pairs[0]] * z[pairs[1]]).sum(-1)


class MLPDecoder(nn.Module):
    r"""An MLP on the element-wise product of the two embeddings (the `LinkPredictor` of PyG's
    link-prediction examples), with a hidden layer as wide as the embeddings:

    .. math::
        s(u, v) = \mathbf{w}_2^{\top} \, \mathrm{ReLU}\big(\mathbf{W}_1 (\mathbf{z}_u \odot
        \mathbf{z}_v) + \mathbf{b}_1\big) + b_2

    The link's probability is :math:`\sigma(s(u, v))`. :math:`\mathbf{W}_1`, :math:`\mathbf{b}_1`
    are `hidden` (:math:`F \times F`), :math:`\mathbf{w}_2`, :math:`b_2` are `out`; symmetric in
    :math:`u` and :math:`v`.

    Args:
        width (int): The embeddings' width :math:`F`.

    Shapes:
        - **inputs:** node embeddings :math:`(|\mathcal{V}|, F)`, node pairs :math:`(2, P)` (row 0
          the sources :math:`u`, row 1 the targets :math:`v`, indices into the embeddings)
        - **outputs:** logits :math:`(P)`, one per pair
    """

    def __init__(self, width: int) -> None:
        super().__init__()
        self.hidden = nn.Linear(width, width)
        self.out = nn.Linear(width, 1)

    def reset_parameters(self) -> None:
        self.hidden.reset_parameters()
        self.out.reset_parameters()

    def forward(self, z: Tensor, pairs: Tensor) -> Tensor:
        return self.out(self.hidden(z[pairs[0]] * z[pairs[1]]).relu()).view(-1)


class DistMultDecoder(nn.Module):
    r"""DistMult, from `"Embedding Entities and Relations for Learning and Inference in Knowledge
    Bases" <https://arxiv.org/abs/1412.6575>`_ (Yang et al., 2015), the decoder of R-GCN's link
    prediction model (Schlichtkrull et al., 2018, eq. 6): a diagonal matrix per relation,

    .. math::
        s(u, r, v) = \mathbf{z}_u^{\top} \mathrm{diag}(\mathbf{r}_r) \, \mathbf{z}_v
        = \sum_i z_{u,i} \, r_{r,i} \, z_{v,i}

    The link's probability is :math:`\sigma(s(u, r, v))`. :math:`\mathbf{r}_r` is row :math:`r`
    of `relation` (:math:`R \times F`), drawn as PyG's `DistMult` draws it (Xavier uniform).
    Symmetric in :math:`u` and :math:`v` for each relation.

    Args:
        width (int): The embeddings' width :math:`F`.
        num_relations (int): The number of relations :math:`R`.

    Shapes:
        - **inputs:** node embeddings :math:`(|\mathcal{V}|, F)`, node pairs :math:`(2, P)` (row 0
          the sources :math:`u`, row 1 the targets :math:`v`, indices into the embeddings), the
          pairs' relation indices :math:`(P)` (default: relation 0 for every pair)
        - **outputs:** logits :math:`(P)`, one per pair
    """

    relational: ClassVar[bool] = True

    def __init__(self, width: int, num_relations: int = 1) -> None:
        super().__init__()
        self.relation = nn.Parameter(torch.empty(num_relations, width))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.xavier_uniform_(self.relation)

    def _load_from_state_dict(self, state_dict: dict, prefix: str, *args: object, **kwargs: object) -> None:
        # A saved model holds as many relations as its graph had; the decoder is built before
        # the graph is read (with one), so it takes the saved count.
        saved = state_dict.get(prefix + "relation")
        if saved is not None and saved.shape != self.relation.shape:
            self.relation = nn.Parameter(torch.empty_like(saved, device=self.relation.device))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def search_queries(self, z: Tensor, relation: int = 0) -> Tensor:
        """Rows q_u with s(u, r, v) = q_uᵀ z_v, for exact top-k search: z ⊙ r."""
        return z * self.relation[relation]

    def candidate_scores(self, z: Tensor, anchors: Tensor, relations: Tensor) -> Tensor:
        """Row i: the logit of (anchors[i], v) in relations[i] for every node v (B × N), one
        matrix product (the same whichever end the anchor is: the form is symmetric)."""
        return (z[anchors] * self.relation[relations]) @ z.t()

    def extra_repr(self) -> str:
        return f"{self.relation.size(1)}, relations={self.relation.size(0)}"

    def forward(self, z: Tensor, pairs: Tensor, relations: Tensor | None = None) -> Tensor:
        diagonal = self.relation[0] if relations is None else self.relation[relations]
        return (z[pairs[0]] * diagonal * z[pairs[1]]).sum(-1)


# name → (embedding width, number of relations) → the decoder
DECODERS: dict[str, Callable[[int, int], nn.Module]] = {
    "dot": lambda width, num_relations: DotDecoder(),
    "mlp": lambda width, num_relations: MLPDecoder(width),
    "distmult": DistMultDecoder,
}


def build_decoder(name: str, width: int, num_relations: int = 1) -> nn.Module:
    """The decoder `name` for embeddings `width` wide: `(z, pairs 2 × P) -> logits P`; a
    relation-aware one holds `num_relations` relations."""
    if name not in DECODERS:
        raise UserError(f"unknown decoder {name!r}; choose one of {', '.join(DECODERS)}")
    return DECODERS[name](width, num_relations)


def score_candidates(
    decoder: nn.Module, z: Tensor, anchors: Tensor, relations: Tensor, anchor_is_source: bool
) -> Tensor:
    """Row i: the logit of anchors[i] paired with every node v in relations[i] (B × N), the
    anchor as the pair's source (else its target); one matrix product where the decoder has
    one (`candidate_scores`), else every pair decoded."""
    if hasattr(decoder, "candidate_scores"):
        return decoder.candidate_scores(z, anchors, relations)
    n, b = z.size(0), anchors.numel()
    ends = [anchors.repeat_interleave(n), torch.arange(n, device=z.device).repeat(b)]
    pairs = torch.stack(ends if anchor_is_source else ends[::-1])
    return decode_relations(decoder, z, pairs, relations.repeat_interleave(n)).view(b, n)


def decode_relations(decoder: nn.Module, z: Tensor, pairs: Tensor, relations: Tensor) -> Tensor:
    """Logits of `pairs` in their `relations` (P,): a relation-aware decoder reads them, the others
    score a pair alike in every relation."""
    if getattr(decoder, "relational", False):
        return decoder(z, pairs, relations)
    return decoder(z, pairs)
