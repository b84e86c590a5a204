"""Cached interface vectors: the sequences both teacher and student read."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import torch


@dataclass(frozen=True)
class VectorSet:
    """Right-padded sequences of vectors ``[N, L, d]`` with their real lengths ``[N]``."""

    vectors: torch.Tensor
    lengths: torch.Tensor

    def __post_init__(self) -> None:
        if self.vectors.ndim != 3 or self.lengths.shape != self.vectors.shape[:1]:
            raise ValueError(
                f"expected vectors [N, L, d] and lengths [N], got {tuple(self.vectors.shape)} and {tuple(self.lengths.shape)}"
            )

    def __len__(self) -> int:
        return self.vectors.shape[0]

    @property
    def dim(self) -> int:
        return self.vectors.shape[2]

    @cached_property
    def host_lengths(self) -> torch.Tensor:
        """The lengths on the CPU, where batching decisions are made without waiting on the GPU."""
        return self.lengths.cpu()

    def batch(self, index: torch.Tensor, width_multiple: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
        """The chosen sequences (``index`` on the CPU) trimmed to their own longest one, rounded up
        to ``width_multiple``, and their mask."""
        longest = int(self.host_lengths[index].max())
        width = min(-(-longest // width_multiple) * width_multiple, self.vectors.shape[1])
        index = index.to(self.vectors.device, non_blocking=True)
        mask = torch.arange(width, device=self.lengths.device) < self.lengths[index, None]
        return self.vectors[index, :width], mask.long()

    def pooled(self, chunk: int = 4096) -> torch.Tensor:
        """Mean over each sequence's real tokens, float32 ``[N, d]``."""
        parts = []
        for start in range(0, len(self), chunk):
            vectors, mask = self.batch(torch.arange(start, min(start + chunk, len(self))))
            weights = mask.unsqueeze(-1).float()
            parts.append((vectors.float() * weights).sum(1) / weights.sum(1))
        return torch.cat(parts)

    def select(self, index: torch.Tensor) -> VectorSet:
        return VectorSet(self.vectors[index], self.lengths[index])

    def lift(self, parents: torch.Tensor, pooled_targets: torch.Tensor) -> VectorSet:
        """Float32 copies of the parent sequences shifted so that their pooled vectors become ``pooled_targets``.

        H' = H[parent] + (s' - pool(H[parent])) on real tokens; padding stays zero, so the
        shift moves every real token by the same offset and keeps each parent's token structure.
        The result is float32 whatever the stored dtype: in bf16 a small shift would be lost to
        rounding (bf16 keeps 8 bits of mantissa).
        """
        parent_set = self.select(parents)
        offset = pooled_targets.float() - parent_set.pooled()
        return VectorSet(parent_set.vectors.float() + parent_set.real_tokens() * offset[:, None, :], parent_set.lengths)

    def mix(self, first: torch.Tensor, second: torch.Tensor, weight: torch.Tensor) -> VectorSet:
        """Float32 token-by-token mixtures ``weight · H[first] + (1 − weight) · H[second]``.

        Each pair is padded with zeros to the longer of its two sequences, which is the
        mixture's length (MixKD's interpolation of embedded inputs). ``weight`` is [M].
        """
        a, b = self.select(first), self.select(second)
        lengths = torch.maximum(a.lengths, b.lengths)
        w = weight.float().to(self.vectors.device)[:, None, None]
        return VectorSet(w * a.vectors.float() + (1 - w) * b.vectors.float(), lengths)

    def real_tokens(self) -> torch.Tensor:
        """[N, L, 1] float mask of the real (non-padding) tokens."""
        width = self.vectors.shape[1]
        return (torch.arange(width, device=self.lengths.device) < self.lengths[:, None]).unsqueeze(-1).float()
