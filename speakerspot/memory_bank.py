"""The memory bank: the target's embeddings, and the score of a query against them."""

from __future__ import annotations

import torch

TOP_K = 5


def top_k_mean_scores(queries: torch.Tensor, bank: torch.Tensor, top_k: int = TOP_K) -> torch.Tensor:
    """Mean of each query's `top_k` highest cosine similarities to the bank: (n, dim), (m, dim) → (n,).

    Both sides are unit vectors, so a matrix product gives the cosines. With fewer than `top_k`
    entries in the bank, all of them count.
    """
    cosines = queries @ bank.T
    return cosines.topk(min(top_k, bank.shape[0]), dim=-1).values.mean(dim=-1)
