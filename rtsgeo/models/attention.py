"""Windowed multi-head attention between feature maps, linear in the pixel count.

A full attention over an ``H x W`` map builds an ``(HW) x (HW)`` matrix: 4 GB
per head at P2 of a 1024 px tile. Here every map is cut into non-overlapping
``window x window`` windows and a query window attends only to the same window
of the context maps, so memory and time grow linearly with ``HW``. Windows are
padded at the right and bottom edges and padded keys are masked out. The
attention itself is :func:`torch.nn.functional.scaled_dot_product_attention`,
which uses a fused kernel where one is available.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ['WindowAttention', 'merge_windows', 'split_windows']


def split_windows(x: Tensor, window: int) -> tuple[Tensor, Tensor | None]:
    """Cut a map into windows.

    Args:
        x: ``(B, C, H, W)`` map.
        window: window side; taken as ``min(window, H, W)`` per axis.

    Returns:
        ``(B * nW, w_h * w_w, C)`` tokens and a ``(B * nW, w_h * w_w)`` bool mask
        of real (not padded) tokens, or ``None`` when nothing was padded.
    """
    b, _, h, w = x.shape
    wh, ww = min(window, h), min(window, w)
    pad_h, pad_w = -h % wh, -w % ww
    mask = None
    if pad_h or pad_w:
        valid = x.new_ones(b, 1, h, w)
        x = F.pad(x, (0, pad_w, 0, pad_h))
        valid = F.pad(valid, (0, pad_w, 0, pad_h))
        mask = _windows(valid, wh, ww)[..., 0] > 0
    return _windows(x, wh, ww), mask


def _windows(x: Tensor, wh: int, ww: int) -> Tensor:
    b, c, h, w = x.shape
    x = x.view(b, c, h // wh, wh, w // ww, ww)
    return x.permute(0, 2, 4, 3, 5, 1).reshape(-1, wh * ww, c)


def merge_windows(tokens: Tensor, shape: torch.Size, window: int) -> Tensor:
    """Inverse of :func:`split_windows`: tokens back to a ``shape`` map."""
    b, c, h, w = shape
    wh, ww = min(window, h), min(window, w)
    hp, wp = h + (-h % wh), w + (-w % ww)
    x = tokens.view(b, hp // wh, wp // ww, wh, ww, c)
    x = x.permute(0, 5, 1, 3, 2, 4).reshape(b, c, hp, wp)
    return x[:, :, :h, :w]


class WindowAttention(nn.Module):
    """Multi-head attention of query maps on context maps, window by window.

    The tokens of all query maps in a window attend to the tokens of all context
    maps in the same window; the outputs for the query maps are averaged. With
    one query map and one context map this is the cross-attention
    ``CrossAttn(F_q, F_c) = W_o softmax(Q K^T / sqrt(d)) V`` with
    ``Q = W_q F_q``, ``K = W_k F_c``, ``V = W_v F_c`` per head, evaluated
    within each window; with the same maps on both sides it is self-attention
    over the stacked modalities.
    """

    def __init__(self, channels: int, heads: int, window: int) -> None:
        """Build the projections.

        Args:
            channels: channels C of the maps.
            heads: attention heads (C must be divisible by it).
            window: window side in pixels.
        """
        super().__init__()
        if channels % heads:
            msg = f'channels={channels} must be divisible by heads={heads}'
            raise ValueError(msg)
        self.heads = heads
        self.window = window
        self.q = nn.Linear(channels, channels)
        self.k = nn.Linear(channels, channels)
        self.v = nn.Linear(channels, channels)
        self.out = nn.Linear(channels, channels)

    def forward(self, queries: list[Tensor], contexts: list[Tensor]) -> Tensor:
        """Attend.

        Args:
            queries: ``(B, C, H, W)`` maps giving the queries.
            contexts: ``(B, C, H, W)`` maps giving keys and values.

        Returns:
            ``(B, C, H, W)`` attention output at the query positions.
        """
        q_tokens, _ = self._tokens(queries)
        kv_tokens, mask = self._tokens(contexts)
        q = self._heads(self.q(q_tokens))
        k = self._heads(self.k(kv_tokens))
        v = self._heads(self.v(kv_tokens))
        attn_mask = None if mask is None else mask[:, None, None, :]
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
        n, _, length, _ = out.shape
        out = self.out(out.transpose(1, 2).reshape(n, length, -1))
        out = out.view(n, len(queries), -1, out.shape[-1]).mean(dim=1)
        return merge_windows(out, queries[0].shape, self.window)

    def _tokens(self, maps: list[Tensor]) -> tuple[Tensor, Tensor | None]:
        parts = [split_windows(m, self.window) for m in maps]
        tokens = torch.cat([p[0] for p in parts], dim=1)
        masks = [p[1] for p in parts]
        if masks[0] is None:
            return tokens, None
        return tokens, torch.cat([m for m in masks if m is not None], dim=1)

    def _heads(self, x: Tensor) -> Tensor:
        n, length, c = x.shape
        return x.view(n, length, self.heads, c // self.heads).transpose(1, 2)
