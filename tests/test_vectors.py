"""Ragged storage: the real tokens only, and every batch exactly what a padded store gives."""

from __future__ import annotations

import pytest
import torch

from sage.vectors import VectorSet


@pytest.fixture
def padded_and_ragged():
    generator = torch.Generator().manual_seed(0)
    lengths = torch.tensor([3, 7, 1, 5, 7, 2])
    vectors = torch.randn(len(lengths), 7, 4, generator=generator)
    vectors *= (torch.arange(7) < lengths[:, None]).unsqueeze(-1)  # zero padding, as a padded store keeps it
    return vectors, lengths, VectorSet.from_padded(vectors, lengths)


def test_only_real_tokens_are_stored(padded_and_ragged):
    _, lengths, ragged = padded_and_ragged
    assert ragged.tokens.shape == (int(lengths.sum()), 4) and len(ragged) == 6 and ragged.longest == 7


def test_a_batch_is_the_padded_rows_trimmed_to_their_longest(padded_and_ragged):
    vectors, lengths, ragged = padded_and_ragged
    index = torch.tensor([5, 0, 3])
    batch, mask = ragged.batch(index)
    assert torch.equal(batch, vectors[index, :5]) and torch.equal(mask.sum(1), lengths[index])
    wide, _ = ragged.batch(index, width_multiple=4)  # rounded up to 8, capped at the longest
    assert wide.shape[1] == 7 and torch.equal(wide, vectors[index])
    assert torch.equal(ragged.padded(), vectors)


def test_select_lift_and_mix_agree_with_the_padded_arithmetic(padded_and_ragged):
    vectors, lengths, ragged = padded_and_ragged
    index = torch.tensor([4, 4, 2, 0])
    assert torch.equal(ragged.select(index).padded(), vectors[index])
    real = (torch.arange(7) < lengths[index, None]).unsqueeze(-1).float()
    pooled = (vectors[index] * real).sum(1) / real.sum(1)
    assert torch.allclose(ragged.select(index).pooled(), pooled)
    targets = torch.randn(4, 4, generator=torch.Generator().manual_seed(1))
    assert torch.equal(ragged.lift(index, targets).padded(), vectors[index] + real * (targets - ragged.select(index).pooled())[:, None])
    other, weight = torch.tensor([1, 2, 3, 5]), torch.tensor([0.2, 0.5, 0.9, 1.0])
    mixed = ragged.mix(index, other, weight)
    expected = weight[:, None, None] * vectors[index] + (1 - weight[:, None, None]) * vectors[other]
    assert torch.equal(mixed.lengths, torch.maximum(lengths[index], lengths[other]))
    assert torch.equal(mixed.padded(), expected[:, : mixed.longest])


def test_inconsistent_tokens_and_lengths_are_refused():
    with pytest.raises(ValueError, match="lengths sum to 5, but there are 4 tokens"):
        VectorSet(torch.zeros(4, 2), torch.tensor([2, 3]))


def test_mix_is_the_padded_mixture_computed_on_real_tokens_only(monkeypatch):
    generator = torch.Generator().manual_seed(2)
    lengths = torch.randint(1, 20, (50,), generator=generator)
    first, second = torch.randint(0, 50, (2, 300), generator=generator)
    weight = torch.rand(300, generator=generator)
    for dtype in (torch.float32, torch.bfloat16):
        stored = VectorSet(torch.randn(int(lengths.sum()), 8, generator=generator).to(dtype), lengths)
        # The reference: both sides padded with zeros to the longest, mixed, trimmed to the longer of each pair.
        dense = stored.padded().float()
        w = weight[:, None, None]
        expected = w * dense[first] + (1 - w) * dense[second]
        with monkeypatch.context() as patch:  # no padded [M, L, d] copy of the pairs on the way
            patch.setattr(VectorSet, "batch", lambda *args, **kwargs: pytest.fail("mix padded its sequences"))
            mixed = stored.mix(first, second, weight)
        assert mixed.dtype == torch.float32
        assert torch.equal(mixed.lengths, torch.maximum(lengths[first], lengths[second]))
        torch.testing.assert_close(mixed.padded(), expected[:, : mixed.longest])
