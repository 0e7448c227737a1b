"""Reusable output buffers for the sampled loader's feature gathers.

A sampled step's feature gather is batch-sized (92k x 128 floats: 47 MiB). glibc's malloc serves
a block that large with a fresh mapping and unmaps it on free, so a new tensor per batch
page-faults every page in again, every step (~20 ms per 47 MiB, a quarter of a step). The
loader instead gathers into one of a few buffers it keeps: the pages stay mapped from one batch
to the next, with no process-wide allocator setting (which would also keep freed memory that
has nothing to do with batches, and does not act in the background thread's malloc arena).

A buffer is recycled only when nothing but the pool refers to its memory: the step that used it
is gone (autograd's saved tensors included). A step someone keeps (a list of an epoch's steps)
is never overwritten; the pool then allocates as torch does.
"""

from __future__ import annotations

import math
import threading

import torch
from torch import Tensor

# The step training, the one being prepared, and the step before: the training loop still holds it
# while it asks for the next, and on a busy machine the background thread may gather before the
# loop lets go of it (with two slots that batch then got fresh memory: faults, timing-dependent).
SLOTS = 3
HEADROOM = 16  # a buffer grows to 1 + 1/HEADROOM times the rows asked: batches' node counts vary a little
# References to a pool buffer's memory when it is free: the pool's tensor and the storage
# object that asks.
_FREE_USE_COUNT = 2


def storage_in_use(buffer: Tensor) -> bool:
    """Whether any tensor besides `buffer` shares its memory (views, autograd's saved tensors).

    Torch counts a storage's references but exposes the count only privately; where it does not,
    every buffer counts as in use, and the pool never recycles (correct, merely slower).
    """
    use_count = getattr(torch._C, "_storage_Use_Count", None)
    if use_count is None:
        return True
    return use_count(buffer.untyped_storage()._cdata) > _FREE_USE_COUNT


class GatherBuffers:
    """Up to `slots` flat buffers, recycled for row gathers once no step refers to them.

    Thread-safe: the loader's background thread takes buffers while the training loop frees them.
    """

    def __init__(self, slots: int = SLOTS) -> None:
        self.slots = slots
        self._buffers: list[Tensor] = []
        self._lock = threading.Lock()

    def rows(self, count: int, like: Tensor) -> Tensor:
        """An uninitialised `[count, *like.shape[1:]]` tensor of `like`'s dtype, for a gather
        of `like`'s rows: in a recycled buffer on the CPU (elsewhere torch's caching allocator
        already reuses memory)."""
        shape = (count, *like.shape[1:])
        if like.device.type != "cpu":
            return torch.empty(shape, dtype=like.dtype, device=like.device)
        numel = math.prod(shape)
        with self._lock:  # the view is made under the lock: until then the buffer looks free
            return self._take(numel, like.dtype)[:numel].view(shape)

    def release(self) -> None:
        """Let go of the buffers (a step still held keeps its own); later gathers make new ones."""
        with self._lock:
            self._buffers.clear()

    def _take(self, numel: int, dtype: torch.dtype) -> Tensor:
        """A free buffer of at least `numel` entries of `dtype`: a kept one, else a new one kept
        in place of a free buffer too small, or in a vacant slot, or (all slots busy) not kept."""
        free = [i for i, buffer in enumerate(self._buffers) if not storage_in_use(buffer)]
        for i in free:
            buffer = self._buffers[i]
            if buffer.dtype == dtype and buffer.numel() >= numel:
                return buffer
        if not free and len(self._buffers) == self.slots:
            return torch.empty(numel, dtype=dtype)
        buffer = torch.empty(numel + numel // HEADROOM, dtype=dtype)
        if free:
            self._buffers[free[0]] = buffer  # the old one's memory goes back now, not with the next step
        else:
            self._buffers.append(buffer)
        return buffer
