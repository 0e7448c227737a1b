"""Every random stream of training derives its seed here, from the run's seed and a position.

Three derivations exist, each the one its stream has always used: changing any of them would
change the batches, the samples and so every published result of the runs that use it.

- `epoch_generator(seed, epoch)`: the order of an epoch's training nodes or graphs (full-batch
  batches of graphs, neighbour-sampled node batches).
- `batch_seed(seed, rank, epoch, batch)`: the neighbourhood sample of one node-level batch.
- `mixed_generator(seed, epoch[, batch])`: a link epoch's order of positives, and one link
  batch's negatives and neighbourhood sample.

Each depends on its key alone, never on what ran before, so a resumed epoch continues with the
batches the uninterrupted run would have drawn.
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """A CPU generator for epoch `epoch`'s order of training items, under run seed `seed`."""
    return torch.Generator().manual_seed(seed * 1_000_003 + epoch)


def batch_seed(*key: int) -> int:
    """A 63-bit generator seed from integers (training seed, rank, epoch, batch), well mixed, so
    that nearby keys give unrelated streams."""
    digest = hashlib.blake2b(repr(key).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def mixed_generator(*key: int) -> torch.Generator:
    """A CPU generator seeded from the integers `key` (e.g. seed, epoch, batch), well mixed."""
    state = np.random.SeedSequence([k % 2**63 for k in key]).generate_state(1, np.uint64)[0]
    return torch.Generator().manual_seed(int(state) & (2**63 - 1))
