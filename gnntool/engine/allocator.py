"""Keep freed tensor memory in the process for the next batch instead of returning it to the OS.

glibc's malloc serves a block above its mmap threshold (at most 32 MiB) with a fresh mapping and
unmaps it on free, so every batch-sized tensor of a sampled step (a 92k x 128 feature gather is
47 MiB) page-faults all its pages in again: ~20 ms per 47 MiB here, more than the arithmetic
on it (a sampled GraphSAGE step spent a quarter of its time so). Raising the threshold and the
trim threshold lets such blocks come from the heap and stay there for the next step. Blocks
above `MMAP_THRESHOLD` (whole-graph arrays) still get their own mapping and go back on free, so
the peak memory of loading a large graph is unchanged.
"""

from __future__ import annotations

import ctypes

MMAP_THRESHOLD = 256 << 20  # blocks from here up are mapped (and unmapped on free) as before
TRIM_THRESHOLD = 1 << 30  # free memory at the top of the heap kept for reuse, up to this much
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameter numbers


def retain_freed_memory() -> bool:
    """Set glibc's malloc to reuse batch-sized blocks (see the module); False where the C
    library has no `mallopt` (musl, macOS), which then keeps its own policy."""
    try:
        process = ctypes.CDLL(None)  # the symbols already loaded, the C library's among them
    except (OSError, TypeError):  # (Windows has no such handle)
        return False
    mallopt = getattr(process, "mallopt", None)
    if mallopt is None:
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
