"""The allocator setting that keeps freed batch-sized blocks in the process (glibc only)."""

from __future__ import annotations

import platform
import resource

import pytest
import torch

from gnntool.engine.allocator import retain_freed_memory

BATCH_FLOATS = 12 << 20  # 48 MiB, a sampled batch's feature gather: above glibc's default mmap threshold


def page_faults_of_a_batch_tensor() -> int:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    torch.ones(BATCH_FLOATS)  # written once, freed at once
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_a_freed_batch_block_is_reused_without_faulting_its_pages_again() -> None:
    assert retain_freed_memory()
    for _ in range(10):  # the heap grows until a freed block fits the next one (alignment slack)
        page_faults_of_a_batch_tensor()
    # Then ten batches fault fewer pages than one fresh mapping does (every 4 KiB page: 12,288).
    assert sum(page_faults_of_a_batch_tensor() for _ in range(10)) < 12_288
