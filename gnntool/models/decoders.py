"""The decoder registry: `model.decoder` → a module that scores node pairs from node embeddings.

A decoder maps `(z, pairs)`, embeddings `z` (nodes × width) and `pairs` (2 × P, row 0 the
sources u, row 1 the targets v, indices into `z`), to P logits (the link's probability is their
sigmoid). Adding a decoder is one class and one line in `DECODERS`.
"""

from __future__ import annotations

from collections.abc import Callable

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


DECODERS: dict[str, Callable[[int], nn.Module]] = {
    "dot": lambda width: DotDecoder(),
    "mlp": MLPDecoder,
}


def build_decoder(name: str, width: int) -> nn.Module:
    """The decoder `name` for embeddings `width` wide: `(z, pairs 2 × P) -> logits P`."""
    if name not in DECODERS:
        raise UserError(f"unknown decoder {name!r}; choose one of {', '.join(DECODERS)}")
    return DECODERS[name](width)
