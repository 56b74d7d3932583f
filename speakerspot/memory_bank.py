"""The memory bank: the target's embeddings, and the score of a query against them."""

from __future__ import annotations

import torch

from .config import MERGE_SIMILARITY

TOP_K = 5


def top_k_mean_scores(queries: torch.Tensor, bank: torch.Tensor, top_k: int = TOP_K) -> torch.Tensor:
    """Mean of each query's `top_k` highest cosine similarities to the bank: (n, dim), (m, dim) → (n,).

    Both sides are unit vectors, so a matrix product gives the cosines. With fewer than `top_k`
    entries in the bank, all of them count.
    """
    cosines = queries @ bank.T
    return cosines.topk(min(top_k, bank.shape[0]), dim=-1).values.mean(dim=-1)


def enroll(bank: torch.Tensor, queries: torch.Tensor, merge_similarity: float = MERGE_SIMILARITY) -> torch.Tensor:
    """Add unit `queries` (n, dim) to the bank (m, dim), one at a time.

    A query whose nearest slot is at least `merge_similarity` (cosine) joins it,
    `slot = normalise(slot + query)`, so near-duplicates do not grow the bank; any other takes a new slot.
    """
    slots = list(bank)
    for query in queries:
        if slots:
            similarities = torch.stack(slots) @ query
            nearest = int(similarities.argmax())
            if similarities[nearest] >= merge_similarity:
                slots[nearest] = torch.nn.functional.normalize(slots[nearest] + query, dim=0)
                continue
        slots.append(query)
    return torch.stack(slots)
