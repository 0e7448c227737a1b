"""How this process was started: by torchrun (one process per rank) or not.

Read from the environment alone, without torch, so that the command line can decide before it
imports torch (the run lock is taken first, see `gnntool.cli.train`).
"""

from __future__ import annotations

import os


def launched_by_torchrun() -> bool:
    """torchrun (or any launcher of torch.distributed's env:// kind) set this process's rank."""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def is_main_process() -> bool:
    """Rank 0 of a torchrun job, or a process that torchrun did not start."""
    return int(os.environ.get("RANK", 0)) == 0
