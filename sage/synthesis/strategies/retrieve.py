"""``retrieve``: real text near the hard examples, from the task's transfer rows."""

from __future__ import annotations

import numpy as np
import torch

from sage.models.body import Body
from sage.neighbours import search
from sage.synthesis.strategies import register
from sage.synthesis.strategies.base import Proposal, Strategy, cyclic_parents
from sage.vectors import VectorSet


@register("retrieve")
class Retrieve(Strategy):
    """A parent's j-th child is its j-th nearest transfer row in the search space (``synthesis.space``):
    real, unlabelled text (``task.transfer`` or ``task.unlabelled``) that the teacher labelled once.

    From Minimax-kNN (Kamalloo et al., "When Chosen Wisely, More Data Is What You Need", 2021),
    which retrieves each example's nearest neighbours from a large unlabelled set and trains on
    the ones the student gets most wrong; with ``synthesis.pool`` and ``select: divergence`` that
    is this strategy's pool and choice. It makes nothing: its points are real sentences, which
    makes it the bridge between synthesis and the real-data ceiling (plain KD on the transfer
    rows). A parent with fewer transfer rows than children takes them again, in order.
    """

    needs_transfer = True

    def propose(self, anchors: np.ndarray, count: int, student: Body) -> Proposal:
        context = self.context
        parents, repeat = cyclic_parents(anchors, count)
        if not len(parents):
            return Proposal(context.transfer.select(torch.empty(0, dtype=torch.long)), parents, teacher=context.transfer_teacher[:0])
        rows, which = np.unique(parents, return_inverse=True)
        k = min(int(repeat.max()) + 1, len(context.transfer))
        _, found = search(context.transfer_space, k, queries=context.space[rows])
        chosen = found[which, repeat % found.shape[1]]
        index = torch.as_tensor(chosen, device=context.transfer.device)
        selected = context.transfer.select(index)
        vectors = VectorSet(selected.tokens.float(), selected.lengths)  # float32, as every strategy gives
        teacher = context.transfer_teacher[index.to(context.transfer_teacher.device)]
        return Proposal(vectors, parents, teacher=teacher, stats={"n_distinct_retrieved": int(len(np.unique(chosen)))})
