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
    """score(u, v) = ⟨z_u, z_v⟩ (the inner-product decoder of Kipf & Welling's GAE, 2016).

    Symmetric in u and v and parameter-free, so exact top-k search reduces to a matrix product.
    """

    def reset_parameters(self) -> None:
        """Nothing to reset: the decoder has no parameters."""

    def forward(self, z: Tensor, pairs: Tensor) -> Tensor:
        return (z[pairs[0]] * z[pairs[1]]).sum(-1)


class MLPDecoder(nn.Module):
    """score(u, v) = w₂ᵀ ReLU(W₁ (z_u ⊙ z_v) + b₁) + b₂, an MLP on the element-wise product
    (PyG's link-prediction examples' `LinkPredictor`), with a hidden layer as wide as z."""

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
