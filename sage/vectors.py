"""Cached interface vectors: the sequences both teacher and student read."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import torch


def _offsets(lengths: torch.Tensor) -> torch.Tensor:
    """Where each sequence starts in the token array, and one past the last token: [N + 1]."""
    return torch.cat([lengths.new_zeros(1), lengths.cumsum(0)])


@dataclass(frozen=True)
class VectorSet:
    """Sequences of vectors stored ragged: every real token of every sequence, one after another,
    ``tokens [T, d]``, with each sequence's length ``[N]`` (and so its offset).

    Memory grows with the real tokens, not with N × the longest sequence: full SST-2 averages
    about 13 tokens against a longest of 64. Batches are padded on the fly, with zeros, to their
    own longest member, so what a body reads is what a padded store would have given it.
    """

    tokens: torch.Tensor
    lengths: torch.Tensor

    def __post_init__(self) -> None:
        if self.tokens.ndim != 2 or self.lengths.ndim != 1:
            raise ValueError(
                f"expected tokens [T, d] and lengths [N], got {tuple(self.tokens.shape)} and {tuple(self.lengths.shape)}"
            )
        if int(self.host_lengths.sum()) != len(self.tokens):
            raise ValueError(f"lengths sum to {int(self.host_lengths.sum())}, but there are {len(self.tokens)} tokens")

    @classmethod
    def from_padded(cls, vectors: torch.Tensor, lengths: torch.Tensor) -> VectorSet:
        """The real tokens of right-padded sequences ``[N, L, d]`` with their lengths ``[N]``."""
        if vectors.ndim != 3 or lengths.shape != vectors.shape[:1]:
            raise ValueError(
                f"expected vectors [N, L, d] and lengths [N], got {tuple(vectors.shape)} and {tuple(lengths.shape)}"
            )
        real = torch.arange(vectors.shape[1], device=lengths.device) < lengths[:, None]
        return cls(vectors[real.to(vectors.device)], lengths)

    @classmethod
    def concatenate(cls, parts: list[VectorSet]) -> VectorSet:
        """The sequences of ``parts``, one part after another."""
        return cls(torch.cat([part.tokens for part in parts]), torch.cat([part.lengths for part in parts]))

    def to(self, device: torch.device | str) -> VectorSet:
        return VectorSet(self.tokens.to(device), self.lengths.to(device))

    def __len__(self) -> int:
        return self.lengths.shape[0]

    @property
    def dim(self) -> int:
        return self.tokens.shape[1]

    @property
    def device(self) -> torch.device:
        return self.tokens.device

    @property
    def dtype(self) -> torch.dtype:
        return self.tokens.dtype

    @cached_property
    def host_lengths(self) -> torch.Tensor:
        """The lengths on the CPU, where batching decisions are made without waiting on the GPU."""
        return self.lengths.cpu()

    @cached_property
    def starts(self) -> torch.Tensor:
        """Each sequence's first token in ``tokens``, [N], on the tokens' device."""
        return _offsets(self.lengths)[:-1].to(self.device)

    @property
    def longest(self) -> int:
        return int(self.host_lengths.max()) if len(self) else 0

    def batch(self, index: torch.Tensor, width_multiple: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
        """The chosen sequences (``index`` on the CPU) padded with zeros to their own longest one,
        rounded up to ``width_multiple`` (never past the set's longest), and their mask."""
        longest = int(self.host_lengths[index].max())
        width = min(-(-longest // width_multiple) * width_multiple, self.longest)
        index = index.to(self.device, non_blocking=True)
        positions = torch.arange(width, device=self.device)
        mask = positions < self.lengths[index, None].to(self.device)
        # Padding positions read token 0 and are then zeroed: one gather, no Python loop.
        gathered = self.tokens[torch.where(mask, self.starts[index, None] + positions, 0)]
        return gathered.masked_fill_(~mask.unsqueeze(-1), 0), mask.long()

    def padded(self) -> torch.Tensor:
        """Every sequence, right-padded with zeros to the longest: [N, L, d]. For small sets only."""
        return self.batch(torch.arange(len(self)))[0]

    def pooled(self, chunk: int = 4096) -> torch.Tensor:
        """Mean over each sequence's real tokens, float32 ``[N, d]``."""
        parts = []
        for start in range(0, len(self), chunk):
            vectors, mask = self.batch(torch.arange(start, min(start + chunk, len(self))))
            weights = mask.unsqueeze(-1).float()
            parts.append((vectors.float() * weights).sum(1) / weights.sum(1))
        return torch.cat(parts) if parts else torch.empty(0, self.dim, device=self.device)

    def select(self, index: torch.Tensor) -> VectorSet:
        """The chosen sequences (repeats allowed), in that order."""
        index = index.to(self.device)
        lengths = self.lengths.to(self.device)[index]
        owner, within = _token_positions(lengths)
        return VectorSet(self.tokens[self.starts[index][owner] + within], lengths.to(self.lengths.device))

    def token_owners(self) -> torch.Tensor:
        """The sequence each token belongs to, [T]."""
        return torch.repeat_interleave(torch.arange(len(self), device=self.device), self.lengths.to(self.device))

    def lift(self, parents: torch.Tensor, pooled_targets: torch.Tensor) -> VectorSet:
        """Float32 copies of the parent sequences shifted so that their pooled vectors become ``pooled_targets``.

        H' = H[parent] + (s' - pool(H[parent])) on every real token, so the shift moves every
        token by the same offset and keeps each parent's token structure. The result is float32
        whatever the stored dtype: in bf16 a small shift would be lost to rounding (bf16 keeps 8
        bits of mantissa).
        """
        parent_set = self.select(parents)
        offset = pooled_targets.float().to(self.device) - parent_set.pooled()
        return VectorSet(parent_set.tokens.float() + offset[parent_set.token_owners()], parent_set.lengths)

    def mix(self, first: torch.Tensor, second: torch.Tensor, weight: torch.Tensor) -> VectorSet:
        """Float32 token-by-token mixtures ``weight · H[first] + (1 − weight) · H[second]``.

        Each pair is padded with zeros to the longer of its two sequences, which is the
        mixture's length (MixKD's interpolation of embedded inputs). ``weight`` is [M].
        The mixture's tokens are gathered straight into the ragged layout: padding the pairs
        to a common width would cost M × longest × d, far more than their real tokens at pool
        scale.
        """
        first, second = first.to(self.device), second.to(self.device)
        all_lengths = self.lengths.to(self.device)
        lengths = torch.maximum(all_lengths[first], all_lengths[second])
        owner, within = _token_positions(lengths)
        w = weight.float().to(self.device)[owner, None]
        mixed = self._token_or_zero(first[owner], within).mul_(w)
        mixed += self._token_or_zero(second[owner], within).mul_(1 - w)
        return VectorSet(mixed, lengths.to(self.lengths.device))

    def _token_or_zero(self, sequences: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """Float32 token ``positions[i]`` of sequence ``sequences[i]``, or zeros past its end: [len(sequences), d]."""
        real = positions < self.lengths.to(self.device)[sequences]
        # Positions past the end read token 0 and are then zeroed: one gather, as in ``batch``.
        tokens = self.tokens[torch.where(real, self.starts[sequences] + positions, 0)].float()
        return tokens.masked_fill_(~real[:, None], 0)


def _token_positions(lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """For sequences of ``lengths`` laid out one after another, each token's sequence and its
    position in it: ``owner [T]`` and ``within [T]`` (token t sits at t − offset(owner))."""
    owner = torch.repeat_interleave(torch.arange(len(lengths), device=lengths.device), lengths)
    within = torch.arange(len(owner), device=lengths.device) - _offsets(lengths)[:-1][owner]
    return owner, within
