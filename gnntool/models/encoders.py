"""Input encoders of graph-level models: categorical columns embedded and summed (OGB's
`AtomEncoder`/`BondEncoder`), or float features mapped linearly (edge features of GINE)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn


class CategoricalEncoder(nn.Module):
    r"""One embedding table per categorical column, their rows summed (as OGB's `AtomEncoder`):

    .. math::
        \mathbf{h}_v = \sum_{c=1}^{C} \mathbf{E}_c[x_{v,c}], \qquad \mathbf{E}_c \in
        \mathbb{R}^{V_c \times d}

    The C tables are stored as one (rows offset per column), so a batch costs one gather and one
    sum. Xavier-uniform initialisation per table, as OGB's encoders.

    Args:
        vocab (list[int]): The number of values :math:`V_c` of each column.
        width (int): The embedding width :math:`d`.

    Shapes:
        - **input:** column values :math:`(N, C)`, long, column c in :math:`[0, V_c)`
        - **output:** embeddings :math:`(N, d)`
    """

    def __init__(self, vocab: Sequence[int], width: int) -> None:
        super().__init__()
        self.vocab = list(vocab)
        self.width = width
        self.weight = nn.Parameter(torch.empty(sum(self.vocab), width))
        self.register_buffer("offsets", torch.tensor([0, *self.vocab[:-1]]).cumsum(0), persistent=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for table in self.weight.split(self.vocab):
            nn.init.xavier_uniform_(table)

    def forward(self, x: Tensor) -> Tensor:
        rows = (x + self.offsets).view(-1)
        return self.weight.index_select(0, rows).view(x.size(0), len(self.vocab), self.width).sum(1)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.vocab}, {self.width})"


def make_encoder(width: int, vocab: Sequence[int] | None, dim: int) -> nn.Module:
    """Categorical columns of sizes `vocab` embedded and summed, else a linear map of `dim` floats."""
    return CategoricalEncoder(vocab, width) if vocab else nn.Linear(dim, width)
