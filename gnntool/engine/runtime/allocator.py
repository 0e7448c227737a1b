"""Let glibc's malloc reuse the model's batch-sized blocks on the training thread, and no larger.

The loader's feature gathers need no allocator setting: they land in buffers it recycles
(`gnntool.engine.runtime.buffers`). What is left is the model's own per-step tensors, allocated on the
training thread: the input dropout's multiplier and product (2 x 47 MiB on the bench's 92k x 128
batches), the hidden activations and their gradients. glibc serves a block above its mmap
threshold (at most 32 MiB) with a fresh mapping and unmaps it on free, and it returns a freed heap
top above its trim threshold to the OS, so each step page-faults those pages in again: ~26,000
faults a step there, twice the step's time without this setting.

Trade-off: a freed block below `MMAP_THRESHOLD` that is not at the top of the heap stays in the
process until the heap top reaches it (glibc's default already does so below its threshold), and
up to `TRIM_THRESHOLD` of free memory stays at the top. `MMAP_THRESHOLD` is 64 MiB, not more:
the largest block glibc's thread arenas serve from their heaps anyway (64 MiB heaps), so blocks of
whole-graph or loading size are still mapped and go back to the OS on free.
"""

from __future__ import annotations

import ctypes

MMAP_THRESHOLD = 64 << 20  # blocks from here up are mapped (and unmapped on free), as in thread arenas
TRIM_THRESHOLD = 256 << 20  # free memory at the top of the heap kept for the next step, up to this much
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameter numbers


def retain_freed_memory() -> bool | None:
    """Set glibc's malloc thresholds (see the module): True when set, False when `mallopt`
    refused them, None where the C library has none (musl, macOS), which keeps its own policy."""
    try:
        process = ctypes.CDLL(None)  # the symbols already loaded, the C library's among them
    except (OSError, TypeError):  # (Windows has no such handle)
        return None
    mallopt = getattr(process, "mallopt", None)
    if mallopt is None:
        return None
    # The mmap threshold first: where it is refused, nothing has changed, whereas a trim threshold
    # set alone would fix the mmap threshold at its start value (128 KiB) and map more blocks.
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
