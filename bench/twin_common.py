"""Pieces the twins share."""

import torch


def split_heads(x, n_heads):
    """(B, L, d) -> (B, h, L, d/h)."""
    batch, length, width = x.shape
    return x.view(batch, length, n_heads, width // n_heads).transpose(1, 2)


def merge_heads(x):
    """(B, h, L, d_k) -> (B, L, h·d_k)."""
    batch, heads, length, d_k = x.shape
    return x.transpose(1, 2).reshape(batch, length, heads * d_k)


def long_tensor(rows):
    """A rectangular list of lists of ids (the workload JSON) as an int64 tensor."""
    return torch.tensor(rows, dtype=torch.long)
