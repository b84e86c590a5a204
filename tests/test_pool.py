"""Candidate pools: made once, labelled once, chosen from each epoch by the student's disagreement;
the spec's checks of pool settings; ``retrieve``; and a killed pool run that resumes exactly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from safetensors.torch import load_file

import sage
from sage.spec.file import SpecError, load_spec
from sage.synthesis.pool import CandidatePool, choose, split_count
from sage.synthesis.ranking import divergence
from sage.synthesis.synthesiser import PoolSettings, Synthesiser

from conftest import PooledLinear
from test_runs import interrupted_run, quick_spec, untimed
from tiny import fast_spec


def built_pool(context, size=4, strategies=("mixup",)):
    made = {name: (sage.strategies.get(name)(), 1.0) for name in strategies}
    for strategy, _ in made.values():
        strategy.prepare(context)
    pool = CandidatePool(size, made)
    pool.build(context, student=None)
    return pool


def test_split_count_sums_to_the_total_in_proportion():
    assert split_count(10, [1, 1, 2]) == [3, 2, 5] or split_count(10, [1, 1, 2]) == [2, 3, 5]
    assert sum(split_count(1_001, [0.3, 0.3, 0.4])) == 1_001
    assert split_count(8, [1]) == [8]


def test_a_pool_has_its_size_per_example_labelled_by_the_teacher(make_context):
    context = make_context()
    pool = built_pool(context, size=3, strategies=("mixup", "residual"))
    n = len(context.pooled)
    assert len(pool) == 3 * n
    assert np.bincount(pool.parents, minlength=n).tolist() == [3] * n  # every example, 3 candidates
    assert set(np.unique(pool.made_by)) == {0, 1}
    with torch.no_grad():
        expected = context.teacher(*pool.vectors.batch(torch.arange(len(pool))))
    torch.testing.assert_close(pool.teacher, expected, atol=1e-5, rtol=1e-5)
    assert pool.vectors.dtype == torch.float32 and pool.builds == 1


def test_divergence_selection_picks_the_candidates_the_student_disagrees_with_most(make_context):
    context = make_context()
    pool = built_pool(context)
    student = PooledLinear(context.real.dim, seed=7)
    chosen, outputs, stats = choose(pool, 100, "divergence", student, context, "divergence", None, 1.0, 1.0, np.random.default_rng(0))
    with torch.no_grad():
        everyone = student(*pool.vectors.batch(torch.arange(len(pool))))
    scores = divergence(everyone, pool.teacher).numpy()
    torch.testing.assert_close(outputs, everyone[torch.as_tensor(chosen)])  # the chosen's, in their order
    assert len(chosen) == 100 and len(set(chosen.tolist())) == 100
    # The chosen are the 100 highest: none left out scores above the lowest chosen.
    assert scores[np.setdiff1d(np.arange(len(pool)), chosen)].max() <= scores[chosen].min()
    assert stats["chosen_score"] > stats["pool_score"]

    random, no_outputs, _ = choose(pool, 100, "random", student, context, "divergence", None, 1.0, 1.0, np.random.default_rng(0))
    assert scores[random].mean() < scores[chosen].mean() and no_outputs is None
    sampled, _, _ = choose(pool, 100, "sample", student, context, "divergence", None, 1.0, 0.5, np.random.default_rng(0))
    assert scores[random].mean() < scores[sampled].mean() < scores[chosen].mean()


def test_a_scored_fraction_chooses_among_the_scored_only(make_context):
    context = make_context()
    pool = built_pool(context)
    student = PooledLinear(context.real.dim, seed=7)
    chosen, _, stats = choose(pool, 10_000, "divergence", student, context, "divergence", None, 0.25, 1.0, np.random.default_rng(0))
    assert stats["n_scored"] == len(chosen) == int(np.ceil(0.25 * len(pool)))


def test_a_synthesiser_with_a_pool_makes_it_once_and_remakes_it_on_refresh(make_context):
    context = make_context()
    student = PooledLinear(context.real.dim, seed=7)

    def synthesiser(refresh):
        strategy = sage.strategies.get("mixup")()
        settings = PoolSettings(2, {"mixup": (strategy, 1.0)}, "divergence", refresh, 1.0, 1.0, np.random.default_rng(0))
        made = Synthesiser(strategy, "hard", 0.1, 0.5, "divergence", sage.losses.get("soft_ce")(1.0), settings)
        made.prepare(context, torch.zeros(len(context.pooled), dtype=torch.long))
        return made

    outputs = context.teacher_outputs + torch.randn(context.teacher_outputs.shape, generator=torch.Generator().manual_seed(0))
    once, refreshed = synthesiser(None), synthesiser(2)
    built = [[s.generate(outputs, student).stats["pool_built"] for _ in range(4)] for s in (once, refreshed)]
    assert built == [[1, 0, 0, 0], [1, 0, 1, 0]]
    assert once.pool.builds == 1 and refreshed.pool.builds == 2
    made = once.generate(outputs, student)
    assert len(made.parents) == 150 and made.stats["n_pool"] == 600  # half of 300, from 2 per example


def test_retrieve_gives_the_transfer_rows_nearest_each_parent(make_context, sequences):
    transfer = sequences.select(torch.arange(150, 300))
    context = make_context(
        real=sequences.select(torch.arange(150)),
        pooled=sequences.pooled()[:150].numpy(),
        space=sequences.pooled()[:150].numpy(),
        teacher_outputs=torch.zeros(150, 2),
        transfer=transfer,
        transfer_teacher=torch.arange(300, dtype=torch.float32).reshape(150, 2),
        transfer_space=transfer.pooled().numpy(),
    )
    strategy = sage.strategies.get("retrieve")()
    strategy.prepare(context)
    result = strategy.propose(np.array([3, 7]), 6, student=None)
    np.testing.assert_array_equal(result.parents, [3, 7, 3, 7, 3, 7])
    distances = np.linalg.norm(context.space[[3]] - context.transfer_space, axis=1)
    nearest_three = np.argsort(distances)[:3]
    rows = result.teacher[0::2, 0].numpy().astype(int) // 2  # the teacher outputs name the rows
    np.testing.assert_array_equal(rows, nearest_three)
    torch.testing.assert_close(result.vectors.select(torch.tensor([0])).tokens, transfer.select(torch.tensor([nearest_three[0]])).tokens.float())


@pytest.mark.parametrize(
    ("synthesis", "schedule", "where", "message"),
    [
        ({"select": "random"}, {}, "synthesis.select", "set synthesis.pool"),
        ({"pool": 4, "parents": "random"}, {}, "synthesis.parents", "select: random"),
        ({"pool": 4, "mix": {"mixup": 1, "nonesuch": 1}}, {}, "synthesis.mix.nonesuch", "unknown synthesis strategy"),
        ({"pool": 40}, {}, "synthesis.pool", "less than or equal to 32"),
        ({"name": "retrieve"}, {}, "synthesis.name", "task.transfer"),
        ({"pool": 4, "mix": {"mixup": 1, "boundary": 1}}, {}, "synthesis.mix.boundary", "regression"),
        ({}, {"synthetic_share": 9}, "schedule.synthetic_share", "less than or equal to 8"),
    ],
)
def test_pool_settings_are_checked_by_the_spec(synthesis, schedule, where, message):
    task = {"name": "stsb"} if "boundary" in str(synthesis) else {}
    with pytest.raises(SpecError) as error:
        load_spec({"task": task, "synthesis": synthesis, "schedule": schedule, "loss": {"name": "mse"} if task else {}})
    assert where in str(error.value) and message in str(error.value)


def test_retrieve_asks_whether_the_transfer_rows_are_also_trained_on():
    with pytest.raises(SpecError, match="schedule.transfer_share: 0"):
        load_spec({"task": {"max_train": 100, "transfer": 100}, "synthesis": {"name": "retrieve"}})
    load_spec({"task": {"max_train": 100, "transfer": 100}, "synthesis": {"name": "retrieve"}, "schedule": {"transfer_share": 0}})


def test_a_spec_without_pool_settings_keeps_its_fingerprint():
    plain = load_spec({})
    assert load_spec({"synthesis": {"select": "divergence", "score_fraction": 1.0}}).fingerprint() == plain.fingerprint()
    assert load_spec({"synthesis": {"pool": 4}}).fingerprint() != plain.fingerprint()


POOL_RUN = {
    "synthesis": {"name": "mixup", "pool": 2, "mix": {"mixup": 1, "adversarial": 1}},
    "schedule": {"max_epochs": 3, "synthetic_share": 1},
}


@pytest.mark.slow
def test_a_killed_pool_run_resumes_to_the_same_metrics_and_weights(tmp_path, monkeypatch):
    whole = sage.build(quick_spec(tmp_path / "whole", **POOL_RUN), progress=False).fit()
    assert [row.get("pool_built") for row in whole.history] == [None, 1, 0]
    assert all(row["n_synthetic"] == 200 and row["n_pool"] == 400 for row in whole.history[1:])
    spec = interrupted_run(tmp_path, monkeypatch, 3, **POOL_RUN)  # the pool made in epoch 2 is kept for 3
    resumed = sage.build(spec, progress=False).fit(resume=True)
    assert untimed(resumed.history) == untimed(whole.history)
    assert untimed(resumed.metrics) == untimed(whole.metrics)
    weights = [load_file(run.output_dir / "student" / "model.safetensors") for run in (whole, resumed)]
    assert weights[0].keys() == weights[1].keys()
    assert all(torch.equal(weights[0][name], weights[1][name]) for name in weights[0])


@pytest.mark.slow
def test_retrieve_from_transfer_rows_trains_on_real_text_the_teacher_labelled(tmp_path):
    spec = fast_spec(
        tmp_path,
        task={"transfer": 300},
        synthesis={"name": "retrieve", "pool": 2},
        schedule={"max_epochs": 2, "synthetic_share": 1, "transfer_share": 0},
    )
    result = sage.build(spec, progress=False).fit()
    synthetic = result.history[1]
    assert synthetic["n_pool"] == 400 and synthetic["n_synthetic"] == 200
    assert synthetic["n_train"] == 400  # the 200 training rows and 200 retrieved ones; no transfer rows besides
    assert synthetic["n_distinct_retrieved"] <= 300


@pytest.mark.slow
@pytest.mark.parametrize(
    "synthesis",
    [{"name": "substitute"}, {"name": "retrieve"}, {"name": "mixup", "pool": 8, "mix": {"substitute": 1, "retrieve": 1}}],
    ids=["substitute", "retrieve", "pool of both"],
)
def test_the_token_and_retrieval_strategies_run_at_share_8_on_50_examples(tmp_path, synthesis):
    """The strategies that need the teacher itself or transfer rows, through the engine (the others
    are tested at this size in test_strategies.py)."""
    spec = fast_spec(
        tmp_path,
        task={"max_train": 50, "transfer": 20},
        synthesis=synthesis,
        schedule={"max_epochs": 2, "synthetic_share": 8, "hard_fraction": 0.01, "transfer_share": 0},
    )
    synthetic = sage.build(spec, progress=False).fit().history[1]
    assert synthetic["n_hard"] == 1 and synthetic["n_synthetic"] == 400 and synthetic["n_train"] == 450


def test_substitute_is_refused_above_the_embedding_layer_by_the_spec():
    with pytest.raises(SpecError) as error:
        load_spec({"teacher": {"interface_layer": 1}, "synthesis": {"name": "mixup", "pool": 2, "mix": {"mixup": 1, "substitute": 1}}})
    assert "synthesis.mix.substitute" in str(error.value) and "interface_layer: 0" in str(error.value)


def test_the_readme_pool_example_is_a_valid_spec():
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    block = next(part for part in readme.split("```yaml\n")[1:] if part.startswith("synthesis: {name: mixup, pool: 8"))
    spec = load_spec(yaml.safe_load(block.split("```")[0]))
    assert spec.synthesis.pool == 8 and set(spec.synthesis.strategies()) == {"substitute", "mixup", "adversarial"}
