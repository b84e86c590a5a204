"""Losses: one float32 value per example, hand-computed values, gradients and bad inputs."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import sage
from sage.losses.labels import LabelsLoss
from sage.losses.mse import MSELoss
from sage.losses.soft_ce import SoftCELoss

LOSSES = [MSELoss(), SoftCELoss(), SoftCELoss(temperature=1.0), LabelsLoss()]


def batch(B: int = 4, C: int = 3, dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, ...]:
    generator = torch.Generator().manual_seed(0)
    student = torch.randn(B, C, generator=generator).to(dtype).requires_grad_()
    teacher = torch.randn(B, C, generator=generator).to(dtype)
    labels = torch.randint(C, (B,), generator=generator)
    return student, teacher, labels


@pytest.mark.parametrize("loss", LOSSES, ids=lambda loss: type(loss).__name__)
def test_each_value_depends_on_its_own_example_alone(loss) -> None:
    # Examples are ranked by their values, so none may lean on the rest of the batch.
    student, teacher, labels = batch(B=6)
    values = loss(student, teacher, labels)
    order = torch.tensor([3, 0, 5, 1, 4, 2])
    assert torch.allclose(loss(student[order], teacher[order], labels[order]), values[order])
    alone = torch.cat([loss(student[i : i + 1], teacher[i : i + 1], labels[i : i + 1]) for i in range(6)])
    assert torch.allclose(alone, values)


@pytest.mark.parametrize("cls", [MSELoss, SoftCELoss, LabelsLoss])
def test_what_each_loss_declares_is_what_it_does(cls) -> None:
    # The spec refuses combinations by these declarations; they must match the behaviour.
    student, teacher = torch.tensor([[0.5], [1.5]]), torch.tensor([[0.0], [2.0]])
    if cls.supports_regression:
        assert torch.isfinite(cls()(student, teacher, torch.tensor([1.0, 2.0]))).all()
    else:
        with pytest.raises(ValueError, match="regression"):
            cls()(student, teacher, None)
    student, teacher, _ = batch()
    if cls.needs_labels:
        with pytest.raises(ValueError, match="needs gold labels"):
            cls()(student, teacher, None)
    else:
        assert cls()(student, teacher, None).shape == (4,)


def test_the_spec_builds_the_loss_with_its_arguments() -> None:
    loss = sage.load_spec({"loss": {"name": "soft_ce", "temperature": 4.0}}).loss.create(seed=0)
    student, teacher = torch.tensor([[2.0, -1.0]]), torch.tensor([[0.0, 1.0]])
    by_hand = -(torch.softmax(teacher / 4, 1) * torch.log_softmax(student / 4, 1)).sum(1) * 16
    assert torch.allclose(loss(student, teacher, None), by_hand)


@pytest.mark.parametrize("loss", LOSSES, ids=lambda loss: type(loss).__name__)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_one_float32_value_per_example_with_gradients(loss, dtype: torch.dtype) -> None:
    student, teacher, labels = batch(dtype=dtype)
    values = loss(student, teacher, labels)
    assert values.shape == (4,) and values.dtype == torch.float32
    values.sum().backward()
    assert student.grad is not None and student.grad.abs().sum() > 0


def test_mse_values() -> None:
    mse = MSELoss()
    assert mse(torch.tensor([[1.0, 2.0]]), torch.tensor([[0.0, 0.0]]), None).tolist() == [2.5]
    values = mse(torch.tensor([[1.0, 2.0], [3.0, 3.0]]), torch.tensor([[1.0, 0.0], [0.0, 3.0]]), None)
    assert values.tolist() == [2.0, 4.5]


def test_soft_ce_value_by_hand() -> None:
    # T = 1, teacher probabilities (0.5, 0.5), student log-probabilities log(e / (1 + e)), log(1 / (1 + e)).
    value = SoftCELoss(temperature=1.0)(torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 0.0]]), None)
    expected = -0.5 * (math.log(math.e / (1 + math.e)) + math.log(1 / (1 + math.e)))
    assert value.item() == pytest.approx(expected, rel=1e-6)


def test_soft_ce_temperature_softens_and_scales_by_t_squared() -> None:
    student, teacher = torch.tensor([[2.0, -1.0, 0.5]]), torch.tensor([[0.0, 1.0, 3.0]])
    T = 4.0
    by_hand = -(torch.softmax(teacher / T, 1) * torch.log_softmax(student / T, 1)).sum(1) * T**2
    assert torch.allclose(SoftCELoss(temperature=T)(student, teacher, None), by_hand)
    # At T = 1 it is the plain cross-entropy against the teacher's probabilities.
    plain = F.cross_entropy(student, torch.softmax(teacher, 1), reduction="none")
    assert torch.allclose(SoftCELoss(temperature=1.0)(student, teacher, None), plain)


@pytest.mark.parametrize("temperature", [1.0, 2.0, 5.0])
def test_soft_ce_is_minimal_with_zero_gradient_at_the_teacher(temperature: float) -> None:
    loss = SoftCELoss(temperature=temperature)
    teacher = torch.tensor([[2.0, -1.0, 0.5], [0.0, 0.0, 4.0]])
    student = teacher.clone().requires_grad_()
    at_teacher = loss(student, teacher, None)
    at_teacher.sum().backward()
    assert torch.allclose(student.grad, torch.zeros_like(student.grad), atol=1e-6)
    # The minimum is the teacher's softened entropy times T².
    probabilities = torch.softmax(teacher / temperature, 1)
    entropy = -(probabilities * probabilities.log()).sum(1) * temperature**2
    assert torch.allclose(at_teacher, entropy, atol=1e-5)
    nudges = torch.randn(50, 2, 3, generator=torch.Generator().manual_seed(1))
    elsewhere = loss((teacher + nudges).reshape(100, 3), teacher.repeat(50, 1), None).reshape(50, 2)
    assert (elsewhere >= at_teacher - 1e-5).all() and (elsewhere >= 0).all()


def test_soft_ce_gradient_size_does_not_shrink_with_temperature() -> None:
    teacher = torch.tensor([[2.0, -1.0, 0.5]])
    norms = []
    for temperature in (2.0, 8.0):
        student = torch.zeros(1, 3, requires_grad=True)
        SoftCELoss(temperature=temperature)(student, teacher, None).sum().backward()
        norms.append(student.grad.norm().item())
    # Without T² the gradient at T = 8 would be about 16x smaller than at T = 2.
    assert norms[1] / norms[0] > 0.5


def test_labels_classification_is_cross_entropy() -> None:
    student, teacher, labels = batch(B=6, C=4)
    expected = F.cross_entropy(student, labels, reduction="none")
    assert torch.allclose(LabelsLoss()(student, teacher, labels), expected)
    # The teacher is ignored.
    assert torch.allclose(LabelsLoss()(student, teacher * 100, labels), expected)


def test_regression_shapes_for_mse_and_labels() -> None:
    student = torch.tensor([[1.0], [2.5]], requires_grad=True)
    teacher = torch.tensor([[0.0], [2.0]])
    gold = torch.tensor([3.0, 2.5])
    assert MSELoss()(student, teacher, gold).tolist() == [1.0, 0.25]
    values = LabelsLoss()(student, teacher, gold)
    assert values.tolist() == [4.0, 0.0]
    values.sum().backward()
    assert student.grad is not None


def test_teacher_gets_no_gradient() -> None:
    student, teacher, _ = batch()
    teacher.requires_grad_()
    MSELoss()(student, teacher, None).sum().backward()
    assert teacher.grad is None


@pytest.mark.parametrize(
    ("loss", "student", "teacher", "labels", "match"),
    [
        (LabelsLoss(), torch.zeros(2, 3), torch.zeros(2, 3), None, "needs gold labels"),
        (LabelsLoss(), torch.zeros(2, 3), torch.zeros(2, 3), torch.zeros(2), "integer class ids"),
        (SoftCELoss(), torch.zeros(2, 1), torch.zeros(2, 1), None, "C >= 2"),
        (MSELoss(), torch.zeros(2, 3), torch.zeros(2, 2), None, "teacher outputs must have the student's shape"),
        (MSELoss(), torch.zeros(3), torch.zeros(3), None, r"must be \[B, C\]"),
        (LabelsLoss(), torch.zeros(2, 3), torch.zeros(2, 3), torch.zeros(3, dtype=torch.long), r"labels must be \[B\]"),
    ],
)
def test_bad_inputs_raise_clear_errors(loss, student, teacher, labels, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        loss(student, teacher, labels)


@pytest.mark.parametrize("temperature", [0.0, -1.0, float("inf")])
def test_bad_temperature_raises(temperature: float) -> None:
    with pytest.raises(ValueError, match="temperature must be a finite float > 0"):
        SoftCELoss(temperature=temperature)
