"""``substitute``: TinyBERT-style word replacement, made in vector space with the teacher's own embeddings."""

from __future__ import annotations

import itertools
import math
import re

import numpy as np
import torch

from sage.models.body import Body
from sage.neighbours import search
from sage.synthesis.strategies import register
from sage.synthesis.strategies.base import Proposal, Strategy, SynthesisContext, cyclic_parents
from sage.vectors import VectorSet

# BERT's reserved vocabulary slots: never seen in pre-training, so their rows are random and
# their "neighbours" meaningless; they are never offered as replacements.
PLACEHOLDER = re.compile(r"\[unused\d+\]")


@register("substitute")
class Substitute(Strategy):
    """A copy of the parent with a share ``fraction`` of its tokens replaced, each by one of its
    ``neighbours`` nearest tokens (by cosine similarity) in the teacher's word-embedding table,
    drawn uniformly; labelled by the teacher.

    From TinyBERT's data augmentation (Jiao et al., "TinyBERT: Distilling BERT for Natural
    Language Understanding", Findings of EMNLP 2020), which replaces words by one of 15 candidates
    (from BERT's masked-language model for single-piece words, GloVe neighbours otherwise), and
    from Wang et al. ("What Makes a Good Dataset for Knowledge Distillation?", 2023), who find that
    changing about 30% of the tokens works best for distillation. Here no other model is needed:

    - the candidates are a token's nearest rows in the teacher's own word-embedding table, not
      GloVe or a masked-language model, so they need no context and no second model;
    - word pieces are replaced as tokens, one at a time, not whole words;
    - the new sequence is never text: at ``teacher.interface_layer: 0`` an interface vector is the
      embedding layer's output for (token, position, token type), so each replaced vector is that
      output for (neighbour, same position, same type) and the others are the parent's.

    Of a parent's n tokens other than the tokenizer's special ones ([CLS], [SEP], [UNK], ...),
    ``max(1, round(fraction · n))`` positions change, drawn uniformly without replacement.
    Only at interface layer 0.
    """

    def __init__(self, fraction: float = 0.3, neighbours: int = 15) -> None:
        if isinstance(fraction, bool) or not (math.isfinite(fraction) and 0 < fraction <= 1):
            raise ValueError(f"fraction must be the share of tokens to replace, in (0, 1], got {fraction!r}")
        if isinstance(neighbours, bool) or not isinstance(neighbours, int) or neighbours < 1:
            raise ValueError(f"neighbours must be an int >= 1 (candidates per token), got {neighbours!r}")
        self.fraction = float(fraction)
        self.neighbours = neighbours

    def check_interface(self, interface_layer: int) -> None:
        if interface_layer > 0:
            raise ValueError(
                f"synthesis strategy substitute replaces tokens at the embedding layer's output, so it needs "
                f"teacher.interface_layer: 0, got {interface_layer}; at any layer use paper, residual, mixup, "
                "boundary or adversarial"
            )

    def prepare(self, context: SynthesisContext) -> None:
        super().prepare(context)
        source = context.source
        if source is None or context.texts is None:
            raise ValueError(
                "synthesis strategy substitute needs the teacher (context.source) and the training texts (context.texts)"
            )
        self.check_interface(source.interface_layer)
        context.report("synthesis: tokenising the training rows and finding their tokens' neighbours")
        # The very ids the cached vectors came from: the same rows, tokenizer and max_length.
        self.encoded = source.encode(context.texts, context.max_length)
        ids = self.encoded["input_ids"]
        self.lengths = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
        if not np.array_equal(self.lengths, context.real.host_lengths.numpy()):
            raise ValueError(
                "the training texts do not tokenise to the cached vectors' lengths: context.texts and "
                "context.max_length must be those the training vectors were embedded from"
            )
        self.starts = np.concatenate([[0], np.cumsum(self.lengths)])
        self.ids = np.fromiter(itertools.chain.from_iterable(ids), dtype=np.int64, count=int(self.starts[-1]))
        special = np.unique(np.asarray(source.tokenizer.all_special_ids, dtype=np.int64))
        self.eligible = ~np.isin(self.ids, special)
        queries = np.unique(self.ids[self.eligible])
        self.row_of = np.full(int(queries.max(initial=-1)) + 1, -1, dtype=np.int64)
        self.row_of[queries] = np.arange(len(queries))
        self.table = self._nearest_tokens(queries, special)

    def _nearest_tokens(self, queries: np.ndarray, special: np.ndarray) -> np.ndarray:
        """Each query token's ``neighbours`` nearest tokens by cosine similarity, nearest first:
        [len(queries), neighbours], leaving out the token itself, special and placeholder tokens."""
        source = self.context.source
        weight = source.model.get_input_embeddings().weight.detach().float()
        # Rows past the tokenizer's vocabulary (tables padded to a round size) stand for no token.
        usable = min(len(source.tokenizer), len(weight))
        names = source.tokenizer.convert_ids_to_tokens(list(range(usable)))
        unusable = [name is None or PLACEHOLDER.fullmatch(name) is not None for name in names]
        candidates = np.flatnonzero(~np.isin(np.arange(usable), special) & ~np.asarray(unusable, dtype=bool))
        # On the unit sphere euclidean distance orders as cosine similarity: |a − b|² = 2 − 2 cos.
        unit = torch.nn.functional.normalize(weight, dim=1)
        points = unit[torch.as_tensor(candidates, device=unit.device)]
        _, found = search(points, self.neighbours + 1, queries=unit[torch.as_tensor(queries, device=unit.device)])
        found = candidates[found.cpu().numpy()]
        # One more than wanted, so that dropping the token itself leaves ``neighbours``; a token
        # that is not among them (not a candidate, or tied with duplicates) drops the farthest.
        is_self = found == queries[:, None]
        is_self[~is_self.any(axis=1), -1] = True
        return found[~is_self].reshape(len(queries), found.shape[1] - 1)

    def neighbours_of(self, token: int) -> np.ndarray:
        """The candidates that may replace ``token`` (a token of the training rows), nearest first."""
        return self.table[self.row_of[token]]

    def substitute(self, parents: np.ndarray) -> tuple[dict[str, list[list[int]]], np.ndarray]:
        """The parents' encodings with tokens replaced, and each one's changed share of its
        eligible tokens (NaN for a parent with none). Draws from ``context.rng``: first the
        positions, then the replacements."""
        rng = self.context.rng
        lengths = self.lengths[parents]
        owner = np.repeat(np.arange(len(parents)), lengths)
        offsets = np.concatenate([[0], np.cumsum(lengths)])
        flat = self.starts[parents][owner] + np.arange(len(owner)) - offsets[owner]
        ids = self.ids[flat]
        eligible = np.flatnonzero(self.eligible[flat])
        counts = np.bincount(owner[eligible], minlength=len(parents))
        changed = np.where(counts > 0, np.maximum(1, np.round(self.fraction * counts)), 0).astype(np.int64)
        # Uniform without replacement within each parent: its eligible positions in the order of
        # random keys, the first ``changed`` of them.
        shuffled = eligible[np.lexsort((rng.random(len(eligible)), owner[eligible]))]
        rank = np.arange(len(shuffled)) - np.repeat(np.cumsum(counts) - counts, counts)
        chosen = shuffled[rank < np.repeat(changed, counts)]
        pick = rng.integers(self.table.shape[1], size=len(chosen))
        ids[chosen] = self.table[self.row_of[ids[chosen]], pick]
        encoded = {key: [values[parent] for parent in parents.tolist()] for key, values in self.encoded.items()}
        encoded["input_ids"] = [ids[start:end].tolist() for start, end in zip(offsets[:-1], offsets[1:])]
        with np.errstate(invalid="ignore", divide="ignore"):
            share = changed / counts
        return encoded, share

    def propose(self, anchors: np.ndarray, count: int, student: Body) -> Proposal:
        context = self.context
        parents, _ = cyclic_parents(anchors, count)
        encoded, share = self.substitute(parents)
        embedded = context.source.embed_encoded(encoded, context.batch_size)
        vectors = VectorSet(embedded.tokens.float(), embedded.lengths).to(context.real.device)
        share = share[np.isfinite(share)]
        return Proposal(vectors, parents, stats={"substitute_fraction": float(share.mean()) if len(share) else 0.0})
