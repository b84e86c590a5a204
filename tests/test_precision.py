"""The teacher's inference precision: resolution, and what bf16 does to its outputs."""

import pytest
import torch

from sage.models.precision import Autocast, native_bf16, resolve_precision


def test_auto_is_bfloat16_exactly_where_the_hardware_has_it() -> None:
    cpu = torch.device("cpu")
    expected = torch.bfloat16 if native_bf16(cpu) else torch.float32
    assert resolve_precision("auto", cpu) == expected
    assert resolve_precision("float32", cpu) == torch.float32
    assert resolve_precision("bfloat16", cpu) == torch.bfloat16


def test_autocast_float32_is_the_module_itself_and_bfloat16_is_close_in_float32() -> None:
    torch.manual_seed(0)
    layer = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.GELU(), torch.nn.Linear(64, 3))
    x = torch.randn(16, 64)
    with torch.no_grad():
        exact = layer(x)
        assert torch.equal(Autocast(layer, torch.float32)(x), exact)
        rounded = Autocast(layer, torch.bfloat16)(x)
    assert rounded.dtype == torch.float32
    assert not torch.equal(rounded, exact)  # it did run in bf16
    torch.testing.assert_close(rounded.softmax(1), exact.softmax(1), atol=2e-2, rtol=0)


def test_autocast_wins_over_a_disabled_outer_policy() -> None:
    """``predict`` disables autocast on the CPU; the teacher's own precision must still hold."""
    torch.manual_seed(0)
    layer, x = torch.nn.Linear(64, 2), torch.randn(4, 64)
    with torch.no_grad(), torch.autocast("cpu", enabled=False):
        inner, exact = Autocast(layer, torch.bfloat16)(x), layer(x)
    assert not torch.equal(inner, exact)


@pytest.mark.parametrize("value", ["half", "fp16", 16])
def test_the_spec_lists_the_precisions(value: object) -> None:
    import sage

    with pytest.raises(sage.SpecError, match="teacher.precision"):
        sage.load_spec({"task": {"name": "sst2"}, "teacher": {"precision": value}})
