"""``substitute`` replaces the share of tokens it says, in place, with the teacher's own nearest tokens.

A tiny random BERT teacher (MiniLM's WordPiece vocabulary, random 32-wide embeddings) on SST-2
sentences, at interface layer 0, where an interface vector is the embedding layer's output.
"""

from __future__ import annotations

import copy
import re

import numpy as np
import pytest
import torch

import sage
from sage.models.teacher import Teacher
from sage.synthesis.strategies.base import SynthesisContext

from tiny import random_teacher

MAX_LENGTH = 32


@pytest.fixture(scope="module")
def teacher() -> Teacher:
    return Teacher.from_pretrained(random_teacher(), 0, "cpu", "float32")


@pytest.fixture(scope="module")
def single(sst2_sentences) -> list[list[str]]:
    """One text column, as ``task.texts`` gives a single-sentence task's."""
    return [sst2_sentences[:120]]


@pytest.fixture(scope="module")
def pairs(sst2_sentences) -> list[list[str]]:
    """Two text columns, so that the second segment's tokens have token type 1."""
    return [sst2_sentences[:60], sst2_sentences[60:120]]


def context_for(teacher: Teacher, texts: list[list[str]], seed: int = 0, **fields) -> SynthesisContext:
    """What ``sage.run.setup`` gives a strategy, on these texts cached by ``teacher``."""
    real = teacher.embed(texts, MAX_LENGTH)
    pooled = real.pooled().numpy()
    with torch.no_grad():
        outputs = teacher.inference(*real.batch(torch.arange(len(real))))
    context = dict(
        real=real,
        pooled=pooled,
        space=pooled,
        space_name="interface",
        teacher=teacher.inference,
        teacher_outputs=outputs,
        regression=False,
        temperature=1.0,
        batch_size=16,
        rng=np.random.default_rng(seed),
        fit_rng=np.random.default_rng(seed + 100),
        projector=None,
        sampler=None,
        source=teacher,
        texts=texts,
        max_length=MAX_LENGTH,
    )
    return SynthesisContext(**(context | fields))


def prepared(context: SynthesisContext, **arguments):
    strategy = sage.strategies.get("substitute")(**arguments)
    strategy.prepare(context)
    return strategy


def changed_tokens(proposal_vectors, real, parents: np.ndarray) -> list[np.ndarray]:
    """Per proposed sequence, the positions whose vectors differ from its parent's."""
    parent_set = real.select(torch.as_tensor(parents))
    assert torch.equal(proposal_vectors.lengths, parent_set.lengths)
    differs = ~torch.isclose(proposal_vectors.tokens, parent_set.tokens, atol=1e-6, rtol=0).all(1)
    bounds = np.concatenate([[0], np.cumsum(parent_set.lengths.numpy())])
    return [np.flatnonzero(differs[start:end].numpy()) for start, end in zip(bounds[:-1], bounds[1:])]


def test_encode_then_embed_encoded_equals_embed_bit_for_bit(teacher, pairs):
    encoded = teacher.encode(pairs, MAX_LENGTH)
    assert set(encoded) == {"input_ids", "token_type_ids", "attention_mask"}
    direct = teacher.embed(pairs, MAX_LENGTH, batch_size=7)
    split = teacher.embed_encoded(encoded, batch_size=7)
    assert torch.equal(split.lengths, direct.lengths)
    assert torch.equal(split.tokens, direct.tokens)


@pytest.mark.parametrize("fraction", [0.3, 0.05, 1.0])
def test_it_changes_the_share_of_eligible_tokens_it_says_and_never_a_special_one(teacher, single, fraction):
    context = context_for(teacher, single)
    strategy = prepared(context, fraction=fraction)
    anchors = np.arange(0, 120, 2)
    result = strategy.propose(anchors, 150, student=None)  # every anchor at least twice
    np.testing.assert_array_equal(result.parents, np.resize(anchors, 150))
    assert result.vectors.dtype == torch.float32
    ids = teacher.encode(single, MAX_LENGTH)["input_ids"]
    special = set(teacher.tokenizer.all_special_ids)
    shares = []
    for parent, changed in zip(result.parents, changed_tokens(result.vectors, context.real, result.parents)):
        eligible = [position for position, token in enumerate(ids[parent]) if token not in special]
        expected = max(1, round(fraction * len(eligible))) if eligible else 0
        assert len(changed) == expected
        assert set(changed.tolist()) <= set(eligible)  # [CLS] and [SEP] keep their vectors
        shares.append(expected / len(eligible))
    assert result.stats["substitute_fraction"] == pytest.approx(np.mean(shares))


def test_replacements_keep_their_position_and_type_and_come_from_the_tokens_neighbours(teacher, pairs):
    context = context_for(teacher, pairs, seed=3)
    strategy = prepared(context, fraction=0.3, neighbours=5)
    stream = copy.deepcopy(context.rng)
    parents = np.arange(40)
    result = strategy.propose(parents, 40, student=None)
    context.rng = stream  # replay the stream: the same positions and replacements
    replayed = strategy.substitute(parents)[0]["input_ids"]
    original = teacher.encode(pairs, MAX_LENGTH)
    changed = changed_tokens(result.vectors, context.real, parents)
    bounds = np.concatenate([[0], np.cumsum(result.vectors.lengths.numpy())])
    checked_second_segment = False
    for parent in parents:
        before, after = np.asarray(original["input_ids"][parent]), np.asarray(replayed[parent])
        np.testing.assert_array_equal(np.flatnonzero(before != after), changed[parent])
        for position in changed[parent]:
            assert after[position] in strategy.neighbours_of(before[position])
            # The same sequence with this one token replaced by hand: its vector at that
            # position is what the strategy proposed there.
            by_hand = {key: [list(values[parent])] for key, values in original.items()}
            by_hand["input_ids"][0][position] = int(after[position])
            expected = teacher.embed_encoded(by_hand).tokens[position]
            np.testing.assert_allclose(result.vectors.tokens[bounds[parent] + position], expected, atol=1e-6)
            checked_second_segment |= original["token_type_ids"][parent][position] == 1
    assert checked_second_segment


def test_neighbours_are_the_nearest_tokens_by_cosine_except_itself_specials_and_placeholders(teacher, single):
    strategy = prepared(context_for(teacher, single), neighbours=15)
    weight = torch.nn.functional.normalize(teacher.model.get_input_embeddings().weight.detach(), dim=1)
    names = teacher.tokenizer.convert_ids_to_tokens(list(range(len(weight))))
    excluded = torch.zeros(len(weight), dtype=torch.bool)
    excluded[teacher.tokenizer.all_special_ids] = True
    excluded[[i for i, name in enumerate(names) if re.fullmatch(r"\[unused\d+\]", name)]] = True
    ids = np.unique(np.concatenate([np.asarray(row) for row in teacher.encode(single, MAX_LENGTH)["input_ids"]]))
    queries = ids[~excluded[ids].numpy()]
    similarity = weight[queries] @ weight.T
    similarity[:, excluded] = -torch.inf
    similarity[torch.arange(len(queries)), torch.as_tensor(queries)] = -torch.inf
    fifteenth = similarity.topk(15, dim=1).values[:, -1]
    for row, token in enumerate(queries):
        found = strategy.neighbours_of(token)
        assert len(set(found.tolist())) == 15
        assert token not in found and not excluded[found].any()
        # At least as similar as the 15th best (allowing for rounding), nearest first.
        scores = similarity[row, found]
        assert (scores >= fifteenth[row] - 1e-5).all()
        assert (scores[:-1] >= scores[1:] - 1e-5).all()


def test_it_is_deterministic_given_the_stream(teacher, single):
    first = prepared(context_for(teacher, single, seed=5)).propose(np.arange(30), 60, student=None)
    second = prepared(context_for(teacher, single, seed=5)).propose(np.arange(30), 60, student=None)
    assert torch.equal(first.vectors.tokens, second.vectors.tokens)
    other = prepared(context_for(teacher, single, seed=6)).propose(np.arange(30), 60, student=None)
    assert not torch.equal(first.vectors.tokens, other.vectors.tokens)


def test_it_refuses_texts_that_are_not_those_the_vectors_were_cached_from(teacher, single):
    with pytest.raises(ValueError, match="max_length"):
        prepared(context_for(teacher, single, max_length=8))


def test_it_needs_the_embedding_layer_interface():
    strategy = sage.strategies.get("substitute")()
    strategy.check_interface(0)
    with pytest.raises(ValueError, match="teacher.interface_layer: 0") as refused:
        strategy.check_interface(1)
    assert all(name in str(refused.value) for name in ("paper", "residual", "mixup", "boundary", "adversarial"))


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"fraction": 0}, "fraction"),
        ({"fraction": 1.5}, "fraction"),
        ({"fraction": float("nan")}, "fraction"),
        ({"fraction": True}, "fraction"),
        ({"neighbours": 0}, "neighbours"),
        ({"neighbours": 2.0}, "neighbours"),
        ({"neighbours": True}, "neighbours"),
    ],
)
def test_it_refuses_hyper_parameters_out_of_range(arguments, message):
    with pytest.raises(ValueError, match=message):
        sage.strategies.get("substitute")(**arguments)
