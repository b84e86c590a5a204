"""Registries and the spec: lookups, plugins, validation against signatures, errors that point at lines."""

from __future__ import annotations

import json
import textwrap

import pytest
import yaml

import sage
from sage.spec.file import SpecError, load_spec, save_spec


def write(tmp_path, text: str, name: str = "spec.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip())
    return path


@pytest.mark.parametrize(
    ("registry", "names"),
    [
        (sage.projectors, {"umap", "pca", "tsne", "identity"}),
        (sage.samplers, {"knn", "jitter"}),
        (sage.losses, {"mse", "soft_ce", "labels"}),
        (sage.students, {"truncated", "fresh"}),
        (sage.tasks, {"sst2", "rte", "mrpc", "cola", "stsb", "qnli"}),
    ],
)
def test_registries_hold_the_built_ins(registry, names):
    assert names <= set(registry.get_all())
    for name in names:
        assert registry.get(name) is registry.get_all()[name]


def test_registries_are_entry_point_groups():
    for kind in ("projectors", "samplers", "losses", "students", "tasks"):
        registry = getattr(sage, kind).registry
        assert registry.entry_points and registry.entry_point_namespace == f"sage_{kind}"


def test_a_registered_factory_function_is_validated_by_its_signature():
    @sage.samplers.register("test_factory_sampler")
    def make(spread: float = 1.0, count: int = 3):
        return ("sampler", spread, count)

    spec = sage.SageSpec(sampler={"name": "test_factory_sampler", "spread": "2.5"})
    assert spec.sampler.arguments == {"spread": 2.5, "count": 3}
    assert spec.sampler.create() == ("sampler", 2.5, 3)


def test_defaults_resolve_to_sage_and_fill_the_seed():
    spec = sage.SageSpec(seed=7)
    resolved = spec.resolved()
    assert resolved["projector"] == {
        "name": "umap",
        "n_components": 2,
        "n_neighbors": 100,
        "min_dist": 0.1,
        "metric": "euclidean",
        "inverse": "fast",
        "inverse_neighbors": 10,
        "refine_steps": 0,
        "outside": "clip",
        "random_state": 7,
    }
    assert resolved["student"] == {"name": "truncated", "layers": [0, 2, 4]}
    assert resolved["loss"] == {"name": "soft_ce", "temperature": 2.0}
    assert resolved["schedule"]["max_epochs"] == 10 and resolved["schedule"]["agreement_target"] == 0.99
    assert resolved["teacher"]["interface_layer"] == 0


def test_resolved_spec_round_trips_through_yaml(tmp_path):
    spec = sage.SageSpec(projector={"name": "pca", "n_components": 16}, seed=3)
    path = save_spec(spec, tmp_path / "resolved.yaml")
    assert load_spec(path) == spec
    assert yaml.safe_load(path.read_text())["projector"] == {"name": "pca", "n_components": 16, "random_state": 3}


def test_json_spec_and_overrides(tmp_path):
    path = tmp_path / "spec.json"
    path.write_text(json.dumps({"task": {"name": "rte"}, "sampler": {"name": "jitter"}}))
    spec = load_spec(path, ["sampler.scale=0.25", "schedule.keep_real=false", "loss.name=mse"])
    assert spec.task.name == "rte"
    assert spec.sampler.arguments["scale"] == 0.25
    assert spec.schedule.keep_real is False
    assert spec.loss.name == "mse"


def test_unknown_component_lists_the_known_ones_with_its_line(tmp_path):
    path = write(
        tmp_path,
        """
        task: {name: sst2}
        projector:
          name: umapp
        """,
    )
    with pytest.raises(SpecError) as error:
        load_spec(path)
    message = str(error.value)
    assert f"{path}:3: projector.name: unknown projector 'umapp'" in message
    known = message.split("registered projectors: ")[1].split(" (did you mean")[0].split(", ")
    assert {"identity", "pca", "tsne", "umap"} <= set(known) and known == sorted(known)
    assert "did you mean 'umap'?" in message


def test_unknown_argument_lists_the_valid_ones(tmp_path):
    path = write(
        tmp_path,
        """
        projector:
          name: umap
          n_neighbours: 50
        """,
    )
    with pytest.raises(SpecError) as error:
        load_spec(path)
    message = str(error.value)
    assert f"{path}:3: projector.n_neighbours: unknown argument of projector 'umap'" in message
    assert "n_components, n_neighbors" in message


def test_wrong_type_names_field_line_and_value(tmp_path):
    path = write(
        tmp_path,
        """
        sampler: {name: knn, k: many}
        schedule:
          max_epochs: 3
          hard_fraction: 2.0
        """,
    )
    with pytest.raises(SpecError) as error:
        load_spec(path)
    problems = error.value.problems
    assert any(p.startswith(f"{path}:1: sampler.k: Input should be a valid integer") and "'many'" in p for p in problems)
    assert any(p.startswith(f"{path}:4: schedule.hard_fraction: Input should be less than or equal to 1") for p in problems)


def test_unknown_section_field_lists_the_valid_fields(tmp_path):
    path = write(tmp_path, "schedule:\n  max_epoch: 3\n")
    with pytest.raises(SpecError, match=r"spec.yaml:2: schedule.max_epoch: unknown field; valid fields: warmup_epochs"):
        load_spec(path)


def test_override_errors_name_the_override():
    with pytest.raises(SpecError, match=r"--set schedule.batch_size=big: schedule.batch_size: Input should be"):
        load_spec({}, ["schedule.batch_size=big"])
    with pytest.raises(SpecError, match="expected key.path=value"):
        load_spec({}, ["schedule.batch_size"])


def test_unknown_task():
    with pytest.raises(SpecError, match=r"task.name: unknown task 'sst-2'; registered tasks: cola, mrpc"):
        load_spec({"task": {"name": "sst-2"}})


def test_soft_ce_on_a_regression_task_is_a_spec_error():
    with pytest.raises(SpecError, match=r"loss.name: loss 'soft_ce' needs class probabilities, but task 'stsb' is a regression"):
        load_spec({"task": {"name": "stsb"}})
    assert load_spec({"task": {"name": "stsb"}, "loss": {"name": "mse"}}).loss.name == "mse"


def test_labels_loss_with_synthetic_data_is_a_spec_error():
    with pytest.raises(SpecError, match="schedule.synthetic_share: loss 'labels' trains on gold labels"):
        load_spec({"loss": {"name": "labels"}})
    spec = load_spec({"loss": {"name": "labels"}, "schedule": {"synthetic_share": 0}})
    assert not spec.uses_synthetic_data


def test_warmup_that_leaves_no_synthetic_epoch_is_a_spec_error():
    with pytest.raises(SpecError, match=r"schedule.warmup_epochs: warmup_epochs \(3\) leaves no synthetic epoch within max_epochs \(3\)"):
        load_spec({"schedule": {"warmup_epochs": 3, "max_epochs": 3}})
    assert load_spec({"schedule": {"warmup_epochs": 0, "max_epochs": 1}}).schedule.warmup_epochs == 0
    assert load_spec({"schedule": {"warmup_epochs": 3, "max_epochs": 3, "synthetic_share": 0}}).schedule.max_epochs == 3


def test_output_dir_defaults_to_a_hash_of_the_spec():
    first, second = sage.SageSpec(seed=1), sage.SageSpec(seed=2)
    assert first.run_dir() != second.run_dir()
    assert first.run_dir() == sage.SageSpec(seed=1).run_dir()
    assert str(first.run_dir()).startswith("runs/sst2-")


def test_a_specs_fingerprint_changes_with_the_numerics_and_library_versions(monkeypatch):
    """A bench row is reused only while nothing that could move its numbers has changed."""
    import sage.provenance

    spec = sage.SageSpec(seed=1)
    before = spec.fingerprint()
    monkeypatch.setattr(sage.provenance, "NUMERICS_VERSION", sage.provenance.NUMERICS_VERSION + 1)
    bumped = spec.fingerprint()
    monkeypatch.setattr(sage.provenance, "package_versions", lambda: {"torch": "another"})
    assert len({before, bumped, spec.fingerprint()}) == 3


def test_component_constructor_errors_are_spec_errors(tmp_path):
    path = write(tmp_path, "task: {name: sst2}\nsampler: {name: knn, k: 0}\n")
    with pytest.raises(SpecError, match=rf"{path}:2: sampler: invalid sampler 'knn': k must be >= 1, got 0"):
        load_spec(path)
