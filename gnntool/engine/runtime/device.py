"""`--device auto|cpu|cuda|cuda:N` → a torch.device that exists, or a UserError."""

from __future__ import annotations

import torch

from gnntool.errors import UserError


def resolve_device(name: str) -> torch.device:
    """auto picks CUDA when torch sees a GPU, else the CPU; a device that is not there is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise UserError(f"device {name}: torch sees no CUDA GPU here (use --device cpu or auto)")
        if device.index is not None and device.index >= count:
            raise UserError(f"device {name}: only {count} CUDA device(s) (cuda:0..cuda:{count - 1})")
    return device
