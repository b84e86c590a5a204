"""Each synthesis strategy keeps the promise its docstring makes, on real MiniLM vectors."""

from __future__ import annotations

import copy
import io

import numpy as np
import pytest
import torch

import sage
from sage.spec.file import SpecError, load_spec
from sage.streams import RandomStreams
from sage.synthesis.ranking import divergence
from sage.synthesis.synthesiser import Synthesiser
from sage.vectors import VectorSet

from conftest import PooledLinear


def prepared(name: str, context, **arguments):
    strategy = sage.strategies.get(name)(**arguments)
    strategy.prepare(context)
    return strategy


def padded(vectors: torch.Tensor, width: int) -> torch.Tensor:
    return torch.nn.functional.pad(vectors, (0, 0, 0, width - vectors.shape[1]))


@pytest.mark.parametrize("partner", ["random", "nearest", "other_class"])
def test_mixup_points_lie_on_the_segment_between_parent_and_partner(make_context, sequences, partner):
    context = make_context()
    strategy = prepared("mixup", context, partner=partner)
    anchors = np.arange(40)
    stream = copy.deepcopy(context.rng)
    result = strategy.propose(anchors, 80, student=None)
    np.testing.assert_array_equal(result.parents, np.resize(anchors, 80))
    context.rng = stream  # replay the stream: the partners it drew come first
    partners = strategy.partners(result.parents, np.arange(80) // 40)
    width = sequences.longest
    a = padded(sequences.padded()[result.parents], width)
    b = padded(sequences.padded()[torch.as_tensor(partners)], width)
    x = padded(result.vectors.padded(), width)
    # x = λ a + (1 − λ) b = b + λ (a − b): solve for λ per point, then check the residual.
    direction, offset = (a - b).flatten(1), (x - b).flatten(1)
    weight = (direction * offset).sum(1) / direction.square().sum(1)
    assert ((weight >= 0) & (weight <= 1)).all()
    np.testing.assert_allclose(offset, weight[:, None] * direction, atol=1e-5)
    assert (result.vectors.lengths == torch.maximum(sequences.lengths[result.parents], sequences.lengths[torch.as_tensor(partners)])).all()
    if partner == "other_class":
        classes = context.teacher_outputs.argmax(1)
        assert (classes[result.parents] != classes[torch.as_tensor(partners)]).all()


def test_boundary_points_have_a_teacher_margin_at_or_below_the_threshold(make_context):
    context = make_context()
    strategy = prepared("boundary", context, margin=0.05, max_steps=12)
    result = strategy.propose(np.arange(60), 60, student=None)
    assert len(result.parents) >= 50  # nearly every segment crosses the boundary
    top = context.teacher(*result.vectors.batch(torch.arange(len(result.parents)))).softmax(1).topk(2, 1).values
    assert ((top[:, 0] - top[:, 1]) <= 0.05 + 1e-6).all()
    np.testing.assert_allclose(result.teacher, context.teacher(*result.vectors.batch(torch.arange(len(result.parents)))).detach(), atol=1e-5)
    assert result.stats["n_rejected"] == 60 - len(result.parents)


def test_adversarial_points_raise_the_divergence_above_their_parents(make_context, sequences):
    context = make_context()
    student = PooledLinear(sequences.dim, seed=7)
    strategy = prepared("adversarial", context, steps=3, epsilon=0.2)
    parents = np.arange(50)
    result = strategy.propose(parents, 50, student)
    with torch.no_grad():
        parent_x = sequences.select(torch.as_tensor(parents))
        before = divergence(student(*parent_x.batch(torch.arange(50))), context.teacher(*parent_x.batch(torch.arange(50))))
        x, mask = result.vectors.batch(torch.arange(50))
        after = divergence(student(x, mask), context.teacher(x, mask))
    assert (after > before).all()
    # Within each token's ball: at most epsilon of its own norm.
    shift = (result.vectors.tokens - parent_x.tokens.float()).norm(dim=-1)
    assert (shift <= 0.2 * parent_x.tokens.float().norm(dim=-1) + 1e-5).all()
    assert all(p.requires_grad for p in student.parameters())  # left trainable


def test_residual_with_step_zero_gives_back_the_parents(make_context, sequences):
    strategy = prepared("residual", make_context(), step=0.0, fit_in_background=False)
    result = strategy.propose(np.arange(30), 60, student=None)
    expected = sequences.select(torch.as_tensor(result.parents))
    assert torch.equal(result.vectors.tokens, expected.tokens.float())


def test_residual_moves_a_controlled_step_of_the_decoded_difference(make_context):
    context = make_context()
    small, large = (prepared("residual", context, step=s, fit_in_background=False) for s in (0.25, 0.5))
    shifts = []
    for strategy in (small, large):
        context.rng = np.random.default_rng(0)  # the same sampled points for both
        result = strategy.propose(np.arange(30), 30, None)
        shifts.append(np.linalg.norm(result.vectors.pooled().numpy() - context.pooled[result.parents], axis=1))
    np.testing.assert_allclose(shifts[1], 2 * shifts[0], rtol=1e-3, atol=1e-6)


def synthesiser(context, parents="hard", rank_by="divergence") -> Synthesiser:
    synth = Synthesiser(sage.strategies.get("mixup")(), parents, 0.1, 0.1, rank_by, sage.losses.get("soft_ce")(1.0))
    synth.prepare(context, torch.zeros(len(context.pooled), dtype=torch.long))
    return synth


def test_random_parents_do_not_depend_on_the_losses(make_context):
    chosen = []
    for scores in (np.arange(300.0), np.arange(300.0)[::-1].copy(), np.zeros(300)):
        synth = synthesiser(make_context(seed=3), parents="random")
        hard, anchors = synth.anchors(scores)
        chosen.append(anchors)
        assert len(anchors) == len(hard) == 30
    np.testing.assert_array_equal(chosen[0], chosen[1])
    np.testing.assert_array_equal(chosen[0], chosen[2])
    hard, anchors = synthesiser(make_context(seed=3)).anchors(np.arange(300.0))
    np.testing.assert_array_equal(anchors, hard)  # guided: the anchors are the hard set


def test_the_hard_set_is_where_the_student_disagrees_not_where_the_teacher_is_unsure(make_context, sequences):
    # Examples 0-149: the teacher is unsure (a third each) and the student agrees with it exactly.
    # Examples 150-299: the teacher is sure of class 0 and the student leans to class 1.
    teacher = torch.zeros(300, 3)
    teacher[150:, 0] = 5.0
    student = teacher.clone()
    student[150:] = torch.tensor([1.0, 1.1, 0.0])
    context = make_context(teacher=PooledLinear(sequences.dim, outputs=3), teacher_outputs=teacher)
    body = PooledLinear(sequences.dim, outputs=3)
    by_divergence = synthesiser(context).generate(student, body)
    assert set(by_divergence.hard) <= set(range(150, 300)) and len(by_divergence.hard) == 30
    np.testing.assert_array_equal(by_divergence.scores[:150], 0)
    # The paper's literal soft-CE value adds the teacher's entropy (ln 3 here, more than the
    # disagreeing group's whole loss), so it picks the unsure group, where the student is right.
    by_loss = synthesiser(context, rank_by="loss").generate(student, body)
    assert set(by_loss.hard) <= set(range(150))


def test_a_synthetic_set_is_labelled_and_described(make_context):
    context = make_context()
    student = PooledLinear(context.real.dim, seed=5)
    result = synthesiser(context).generate(student(*context.real.batch(torch.arange(300))).detach(), student)
    with torch.no_grad():
        np.testing.assert_allclose(result.teacher, context.teacher(*result.vectors.batch(torch.arange(30))), atol=1e-5)
    assert result.stats["n_synthetic"] == 30 and result.stats["n_hard"] == 30
    for key in ("teacher_margin_synthetic", "divergence_synthetic", "divergence_parent", "synthetic_shift", "teacher_flip", "hard_clustering"):
        assert np.isfinite(result.stats[key]), key
    parent_class = context.teacher_outputs[result.parents].argmax(1)
    assert result.stats["teacher_flip"] == pytest.approx(float((result.teacher.argmax(1) != parent_class).float().mean()))


def test_lifted_vectors_are_float32_so_small_shifts_survive_bf16_storage():
    vectors = torch.randn(4, 5, 384, generator=torch.Generator().manual_seed(0)).to(torch.bfloat16)
    stored = VectorSet.from_padded(vectors, torch.tensor([5, 4, 3, 5]))
    targets = stored.pooled() + 1e-3
    lifted = stored.lift(torch.arange(4), targets)
    assert lifted.dtype == torch.float32
    np.testing.assert_allclose(lifted.pooled(), targets, atol=1e-5)


def test_strategies_that_need_classes_are_rejected_for_regression_by_the_spec():
    with pytest.raises(SpecError, match="synthesis.name: synthesis strategy Boundary needs teacher classes.*stsb"):
        load_spec({"task": {"name": "stsb"}, "loss": {"name": "mse"}, "synthesis": {"name": "boundary"}})
    with pytest.raises(SpecError, match="partner 'other_class' needs teacher classes"):
        load_spec({"task": {"name": "stsb"}, "loss": {"name": "mse"}, "synthesis": {"name": "mixup", "partner": "other_class"}})
    assert load_spec({"task": {"name": "stsb"}, "loss": {"name": "mse"}, "synthesis": {"name": "mixup"}}).synthesis.name == "mixup"


def test_a_strategy_argument_is_validated_with_the_spec():
    with pytest.raises(SpecError, match="synthesis.marg: unknown argument of synthesis strategy 'boundary'; valid arguments: margin, max_steps"):
        load_spec({"synthesis": {"name": "boundary", "marg": 0.1}})
    with pytest.raises(SpecError, match="margin must be a probability gap"):
        load_spec({"synthesis": {"name": "boundary", "margin": 2.0}})
    spec = load_spec({"synthesis": {"name": "residual", "parents": "random", "space": "teacher"}})
    assert spec.resolved()["synthesis"]["parents"] == "random" and spec.synthesis.arguments["step"] == 0.5


def test_a_strategy_written_as_the_readme_shows_is_registered_and_run(make_context, sequences):
    from sage.synthesis.strategies.base import Proposal, Strategy, cyclic_parents

    @sage.strategies.register("test_parent_copies")
    class ParentCopies(Strategy):
        def propose(self, anchors, count, student):
            parents, _ = cyclic_parents(anchors, count)
            index = torch.as_tensor(parents, device=self.context.device)
            copies = self.context.real.lift(index, torch.as_tensor(self.context.pooled[parents], device=self.context.device))
            return Proposal(copies, parents)

    spec = load_spec({"synthesis": {"name": "test_parent_copies"}})
    context = make_context()
    synth = Synthesiser(spec.synthesis.create(), "hard", 0.1, 0.2, "divergence", sage.losses.get("soft_ce")())
    synth.prepare(context, torch.zeros(300, dtype=torch.long))
    student = PooledLinear(sequences.dim, seed=2)
    result = synth.generate(student(*sequences.batch(torch.arange(300))).detach(), student)
    assert len(result.parents) == 60 and result.stats["synthetic_shift"] == pytest.approx(0, abs=1e-6)


STRATEGIES = {
    "paper": {"fit_in_background": False},
    "paper, refitted on samples": {"fit_in_background": False, "refit_each_epoch": True, "fit_max": 100},
    "residual": {"fit_in_background": False},
    "mixup": {"partner": "nearest"},
    "boundary": {},
    "adversarial": {},
}


@pytest.mark.parametrize("case", STRATEGIES)
def test_a_synthesiser_restored_from_its_state_makes_the_next_set_as_if_never_stopped(case, make_context, sequences):
    """What a checkpoint keeps of synthesis (the streams' and the strategy's state_dict, through
    torch.save and a weights-only load) makes the third epoch's set exactly as an uninterrupted run does."""
    name = case.split(",")[0]
    student = PooledLinear(sequences.dim, seed=2)
    outputs = student(*sequences.batch(torch.arange(len(sequences)))).detach()

    def fresh() -> tuple[RandomStreams, Synthesiser]:
        streams = RandomStreams(0)
        context = make_context(rng=streams.numpy("synthesis"), fit_rng=streams.numpy("fit_sample"))
        synth = Synthesiser(sage.strategies.get(name)(**STRATEGIES[case]), "hard", 0.1, 0.2, "divergence", sage.losses.get("soft_ce")(1.0))
        synth.prepare(context, torch.zeros(len(sequences), dtype=torch.long))
        return streams, synth

    _, whole = fresh()
    expected = [whole.generate(outputs, student) for _ in range(3)][-1]
    streams, stopped = fresh()
    for _ in range(2):
        stopped.generate(outputs, student)
    saved = io.BytesIO()
    torch.save({"streams": streams.state_dict(), "synthesiser": stopped.state_dict()}, saved)
    saved.seek(0)
    state = torch.load(saved, weights_only=True)
    streams, resumed = fresh()
    resumed.load_state_dict(state["synthesiser"])
    streams.load_state_dict(state["streams"])
    result = resumed.generate(outputs, student)
    np.testing.assert_array_equal(result.parents, expected.parents)
    assert len(result.parents) > 0 and torch.equal(result.vectors.tokens, expected.vectors.tokens)
    assert torch.equal(result.teacher, expected.teacher)


class NewPointsClipped(sage.projectors.get("pca")):
    """PCA whose inverse counts as clipped every point that is not a training point, and remembers
    how many rows each call decoded."""

    def _fit(self, X):
        self.embedding_ = super()._fit(X)
        self.decoded_rows = []
        return self.embedding_

    def _inverse(self, Z):
        self.decoded_rows.append(len(Z))
        known = (Z[:, None, :] == self.embedding_[None, :, :]).all(-1).any(1)
        return super()._inverse(Z)[0], int((~known).sum())


def test_residual_counts_the_inverses_clipping_of_its_new_points_and_decodes_each_parent_once(make_context):
    projector = NewPointsClipped(n_components=2, random_state=0)
    strategy = prepared("residual", make_context(projector=projector), fit_in_background=False, diagnostic_points=0)
    anchors = np.arange(10)
    result = strategy.propose(anchors, 40, None)  # 4 children per parent
    assert result.stats["n_clipped"] == 40  # every new point; the parents' own points are not clipped
    assert strategy.projector.decoded_rows == [10, 40]  # each parent decoded once, then the new points


def test_adversarial_gives_the_student_back_as_it_was_after_an_error(make_context, sequences):
    class Failing(PooledLinear):
        def forward(self, vectors, mask):
            raise RuntimeError("out of memory")

    student = Failing(sequences.dim, seed=2).train()
    with pytest.raises(RuntimeError, match="out of memory"):
        prepared("adversarial", make_context()).propose(np.arange(10), 20, student)
    assert student.training and all(parameter.requires_grad for parameter in student.parameters())


def test_a_parent_with_more_children_than_neighbours_cycles_through_them():
    from sage.synthesis.neighbours import cycled_neighbours

    space = np.arange(5, dtype=np.float32)[:, None]  # points 0..4 on a line: 0's neighbours are 1, 2, 3, 4 in order
    parents, repeat = np.array([0, 4, 0, 4, 0, 0, 0]), np.array([0, 0, 1, 1, 2, 3, 4])
    np.testing.assert_array_equal(cycled_neighbours(space, parents, repeat), [1, 3, 2, 2, 3, 4, 1])
    # Among other classes only, 0 has three candidates (2, 3, 4) and 4 has two (1, 0).
    classes = np.array([0, 0, 1, 1, 1])
    np.testing.assert_array_equal(cycled_neighbours(space, parents, repeat, classes), [2, 1, 3, 0, 4, 2, 3])
    # A parent with no example of another class has no candidate at all.
    np.testing.assert_array_equal(cycled_neighbours(space, parents, repeat, np.zeros(5, dtype=np.int64)), np.full(7, -1))


# Each case: a registered strategy and its arguments. More strategies join by adding a case.
AT_SHARE_8 = {
    "paper": ("paper", {"fit_in_background": False}),
    "residual": ("residual", {"fit_in_background": False}),
    "mixup, random partner": ("mixup", {"partner": "random"}),
    "mixup, nearest partner": ("mixup", {"partner": "nearest"}),
    "mixup, other_class partner": ("mixup", {"partner": "other_class"}),
    "boundary": ("boundary", {}),
    "adversarial": ("adversarial", {}),
}


@pytest.mark.parametrize("case", AT_SHARE_8)
def test_every_strategy_runs_at_share_8_on_50_examples(case, make_context, sequences):
    """Synthetic share 8 on N = 50 examples with hard_fraction 0.01 asks 400 children of a single
    anchor, far more than the 49 neighbours it has: a valid spec, which every strategy must serve."""
    name, arguments = AT_SHARE_8[case]
    everyone = make_context()
    few = sequences.select(torch.arange(50))
    context = make_context(
        teacher=everyone.teacher,
        real=few,
        pooled=everyone.pooled[:50],
        space=everyone.space[:50],
        teacher_outputs=everyone.teacher_outputs[:50],
    )
    anchor = 7
    result = prepared(name, context, **arguments).propose(np.array([anchor]), 400, PooledLinear(sequences.dim, seed=7))
    made = len(result.parents)
    if name == "boundary":
        assert 0 < made <= 400 and made + result.stats["n_rejected"] == 400
    else:
        assert made == 400
    assert (result.parents == anchor).all() and len(result.vectors) == made
    # A child is at least as long as its parent (a mixture takes the longer of the pair) and no
    # longer than the longest example.
    lengths = result.vectors.lengths
    assert ((lengths >= few.lengths[anchor]) & (lengths <= few.longest)).all()
    assert torch.isfinite(result.vectors.tokens).all()
