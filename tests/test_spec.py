"""Registries and the spec: lookups, plugins, validation against signatures, errors that point at lines."""

from __future__ import annotations

import inspect
import json
import textwrap
import time
from pathlib import Path

import pytest
import yaml

import sage
from sage.spec import schema
from sage.spec.file import MAX_EXPANDED_NODES, SpecError, load_spec, save_spec


def write(tmp_path, text: str, name: str = "spec.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip())
    return path


# Spec section -> the component spec it holds (``callbacks`` is a list of them).
COMPONENT_SECTIONS = {
    "student": schema.StudentSpec,
    "projector": schema.ProjectorSpec,
    "sampler": schema.SamplerSpec,
    "loss": schema.LossSpec,
    "synthesis": schema.SynthesisSpec,
    "callbacks": schema.CallbackSpec,
}


@pytest.mark.parametrize(
    ("section", "name"),
    [(section, name) for section, spec in COMPONENT_SECTIONS.items() for name in sorted(spec.registry.get_all())],
)
def test_every_registered_component_takes_only_its_own_arguments(section, name):
    """A misspelt argument of any component is a spec error that lists the arguments its factory
    really takes, so a typo cannot leave a default in place without a word."""
    spec = COMPONENT_SECTIONS[section]
    parameters = inspect.signature(spec.registry.get(name)).parameters.values()
    assert all(p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL) for p in parameters)  # else any argument would pass
    arguments = {"name": name, "not_an_argument": 1}
    with pytest.raises(SpecError) as error:
        load_spec({section: [arguments] if section == "callbacks" else arguments})
    (problem,) = error.value.problems
    field = "callbacks.0" if section == "callbacks" else section
    valid = ", ".join(p.name for p in parameters) or "(none)"
    assert problem == f"spec: {field}.not_an_argument: unknown argument of {spec.kind} {name!r}; valid arguments: {valid}"


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


def test_defaults_resolve_to_sage_and_the_projector_follows_the_seed():
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
        "random_state": None,  # follows the run's seed
    }
    assert spec.projector.create(spec.seed).random_state == 7
    assert resolved["student"] == {"name": "truncated", "layers": [0, 2, 4]}
    assert resolved["loss"] == {"name": "soft_ce", "temperature": 2.0}
    assert resolved["schedule"]["max_epochs"] == 10 and resolved["schedule"]["agreement_target"] == 0.99
    assert resolved["teacher"]["interface_layer"] == 0


def test_resolved_spec_round_trips_through_yaml(tmp_path):
    spec = sage.SageSpec(projector={"name": "pca", "n_components": 16}, seed=3)
    path = save_spec(spec, tmp_path / "resolved.yaml")
    assert load_spec(path) == spec
    assert yaml.safe_load(path.read_text())["projector"] == {"name": "pca", "n_components": 16, "random_state": None}


def test_a_saved_spec_run_with_another_seed_moves_every_seeded_component(tmp_path):
    """A saved spec keeps "follow the seed" apart from a number: run again with --set seed=1, its
    projector draws from seed 1, while an explicit random_state stays as given."""
    path = save_spec(sage.SageSpec(task={"name": "sst2"}, projector={"name": "tsne"}, seed=0), tmp_path / "spec.yaml")
    again = load_spec(path, ["seed=1"])
    assert again.projector.create(again.seed).random_state == 1
    assert again.fingerprint() != load_spec(path).fingerprint()
    pinned = load_spec(path, ["seed=1", "projector.random_state=5"])
    assert pinned.projector.create(pinned.seed).random_state == 5
    # Spelling out the number the seed gives is the same run.
    assert load_spec(path, ["projector.random_state=0"]).fingerprint() == load_spec(path).fingerprint()


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
        task: {name: sst2}
        projector:
          name: umap
          n_neighbours: 50
        """,
    )
    with pytest.raises(SpecError) as error:
        load_spec(path)
    message = str(error.value)
    assert f"{path}:4: projector.n_neighbours: unknown argument of projector 'umap'" in message
    assert "n_components, n_neighbors" in message


def test_wrong_type_names_field_line_and_value(tmp_path):
    path = write(
        tmp_path,
        """
        task: {name: sst2}
        sampler: {name: knn, k: many}
        schedule:
          max_epochs: 3
          hard_fraction: 2.0
        """,
    )
    with pytest.raises(SpecError) as error:
        load_spec(path)
    problems = error.value.problems
    assert any(p.startswith(f"{path}:2: sampler.k: Input should be a valid integer") and "'many'" in p for p in problems)
    assert any(p.startswith(f"{path}:5: schedule.hard_fraction: Input should be less than or equal to 1") for p in problems)


def test_unknown_section_field_lists_the_valid_fields(tmp_path):
    path = write(tmp_path, "task: {name: sst2}\nschedule:\n  max_epoch: 3\n")
    with pytest.raises(SpecError, match=r"spec.yaml:3: schedule.max_epoch: unknown field; valid fields: warmup_epochs"):
        load_spec(path)


def test_override_errors_name_the_override():
    with pytest.raises(SpecError, match=r"--set schedule.batch_size=big: schedule.batch_size: Input should be"):
        load_spec({}, ["schedule.batch_size=big"])
    with pytest.raises(SpecError, match="expected key.path=value"):
        load_spec({}, ["schedule.batch_size"])


def test_unknown_task():
    with pytest.raises(SpecError, match=r"task.name: unknown task 'sst-2'; registered tasks: cola, files, hub, mrpc"):
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
    import sage.run.provenance

    spec = sage.SageSpec(seed=1)
    before = spec.fingerprint()
    monkeypatch.setattr(sage.run.provenance, "NUMERICS_VERSION", sage.run.provenance.NUMERICS_VERSION + 1)
    bumped = spec.fingerprint()
    monkeypatch.setattr(sage.run.provenance, "package_versions", lambda: {"torch": "another"})
    assert len({before, bumped, spec.fingerprint()}) == 3


def test_the_code_version_is_the_checkouts_commit_unless_a_copy_is_told_it(monkeypatch):
    """A lent GPU machine runs a copy of the tree without .git; its rows must still name the commit."""
    import subprocess

    import sage.run.provenance

    monkeypatch.delenv("SAGE_CODE_VERSION", raising=False)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    if commit:  # a checkout: its own commit, perhaps with +changes
        assert sage.run.provenance.code_version().split("+")[0] == commit
    monkeypatch.setenv("SAGE_CODE_VERSION", "abc1234")
    assert sage.run.provenance.code_version() == "abc1234"


def test_component_constructor_errors_are_spec_errors(tmp_path):
    path = write(tmp_path, "task: {name: sst2}\nsampler: {name: knn, k: 0}\n")
    with pytest.raises(SpecError, match=rf"{path}:2: sampler: invalid sampler 'knn': k must be >= 1, got 0"):
        load_spec(path)


@pytest.mark.parametrize(
    ("section", "arguments", "name"),
    [
        ("student", {"layers": [0, 1]}, "truncated"),
        ("projector", {"n_components": 3}, "umap"),
        ("sampler", {"k": 5}, "knn"),
        ("loss", {"temperature": 1.0}, "soft_ce"),
        ("synthesis", {"fit_max": 1000}, "paper"),
    ],
)
def test_a_section_of_arguments_only_keeps_its_default_component(tmp_path, section, arguments, name):
    path = write(tmp_path, "task: {name: sst2}\n")
    argument, value = next(iter(arguments.items()))
    from_file = load_spec(path, [f"{section}.{argument}={json.dumps(value)}"])
    from_dict = load_spec({section: arguments})
    for spec in (from_file, from_dict, sage.build({section: arguments}, progress=False).spec):
        assert getattr(spec, section).name == name
        assert getattr(spec, section).arguments[argument] == value


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("n_neighbors: 1", "n_neighbors must be >= 2"),
        ("n_components: 0", "n_components must be >= 1, got 0"),
        ("min_dist: 1.5", "min_dist must be in [0, 1]"),
        ("metric: foo", "unknown metric 'foo'; umap-learn's metrics: "),
    ],
)
def test_umap_settings_are_checked_with_the_spec(tmp_path, setting, message):
    path = write(tmp_path, f"task: {{name: sst2}}\nprojector:\n  {setting}\n")
    with pytest.raises(SpecError) as error:
        load_spec(path)
    (problem,) = error.value.problems
    assert problem.startswith(f"{path}:2: projector: invalid projector 'umap': {message}")
    assert "inverse: fast with outside: clip" not in problem  # the settings in use are not advice
    if "metric" in setting:
        assert {"cosine", "euclidean", "manhattan"} <= set(problem.split("metrics: ")[1].split(", "))


def test_a_bad_override_into_an_absent_section_names_the_override(tmp_path):
    path = write(tmp_path, "task: {name: sst2}\n")
    with pytest.raises(SpecError, match=r"--set projector.n_neighbors=1: projector: invalid projector 'umap': n_neighbors"):
        load_spec(path, ["projector.n_neighbors=1"])


def _model_folder(folder, num_hidden_layers: int = 6):
    """A folder holding only a BERT config, which is all the spec reads of a teacher."""
    from transformers import BertConfig

    BertConfig(num_hidden_layers=num_hidden_layers, hidden_size=64, num_attention_heads=4, intermediate_size=128).save_pretrained(folder)
    return folder


@pytest.mark.parametrize(
    ("override", "field", "message"),
    [
        ("student.layers=[0, 99]", "student", "invalid student 'truncated' for the 6-block backbone all-MiniLM-L6-v2 "
         "(the default): layers [99] do not exist: the teacher's blocks are 0..5"),
        ("student.layers=[0, 0]", "student", "invalid student 'truncated': layers must be distinct teacher blocks, got [0, 0]"),
        ("student.layers=[-1]", "student", "invalid student 'truncated': layers are teacher block indices from 0"),
        ("teacher.interface_layer=99", "teacher.interface_layer", "interface_layer must be in 0..5 for the 6-block backbone"),
        ("teacher.interface_layer=6", "teacher.interface_layer", "interface_layer must be in 0..5"),
    ],
)
def test_layer_indices_are_checked_against_the_backbone(override, field, message):
    with pytest.raises(SpecError) as error:
        load_spec({}, [override])
    (problem,) = error.value.problems
    assert problem.startswith(f"--set {override}: {field}: {message}")
    assert load_spec({}, ["student.layers=[5, 0]", "teacher.interface_layer=5"]).student.arguments["layers"] == [5, 0]


def test_layers_are_checked_against_the_given_teacher_or_backbone(tmp_path):
    teacher = _model_folder(tmp_path / "teacher", num_hidden_layers=2)
    path = write(tmp_path, f"task: {{name: sst2}}\nteacher: {{path: {teacher}}}\n")
    # The default student's layers [0, 2, 4], which no line of the file gives.
    with pytest.raises(SpecError, match=rf"{path}: student: .* for the 2-block teacher {teacher}: layers \[2, 4\] do not exist"):
        load_spec(path)
    assert load_spec(path, ["student.layers=[1]"]).student.arguments["layers"] == [1]
    with pytest.raises(SpecError, match=r"teacher.interface_layer: interface_layer must be in 0..1 for the 2-block backbone"):
        load_spec({"teacher": {"interface_layer": 2, "finetune": {"backbone": str(teacher)}}, "student": {"layers": [0]}})
    # A hub name that is not cached here cannot be read, and is left to fine-tuning.
    assert load_spec({"teacher": {"finetune": {"backbone": "org/not-cached"}}, "student": {"layers": [99]}})


def test_a_fresh_student_is_checked_against_the_teachers_shape():
    with pytest.raises(SpecError, match="num_attention_heads must divide the teacher's hidden size 384, got 5"):
        load_spec({"student": {"name": "fresh", "num_attention_heads": 5}})
    with pytest.raises(SpecError, match=r"with interface_layer 2 the student's blocks must be shaped like the teacher's, got intermediate_size 512"):
        load_spec({"teacher": {"interface_layer": 2}, "student": {"name": "fresh", "intermediate_size": 512}})
    assert load_spec({"student": {"name": "fresh", "intermediate_size": 512, "num_attention_heads": 6}})


def test_a_teacher_path_that_is_not_a_model_folder_is_a_spec_error(tmp_path):
    path = write(tmp_path, "task: {name: sst2}\nteacher:\n  path: /no/such/teacher\n")
    with pytest.raises(SpecError, match=rf"{path}:3: teacher.path: /no/such/teacher does not exist; give a fine-tuned"):
        load_spec(path)
    with pytest.raises(SpecError, match=r"teacher.path: .* is not a Hugging Face model folder \(it has no config.json\)"):
        load_spec({"teacher": {"path": str(tmp_path)}})


@pytest.mark.parametrize(
    ("setting", "field", "message"),
    [
        ("task: {max_train: true}", "task.max_train", "Input should be a valid integer (got True)"),
        ("schedule: {max_epochs: 2.0}", "schedule.max_epochs", "Input should be a valid integer (got 2.0)"),
        ("schedule: {keep_real: 1}", "schedule.keep_real", "Input should be a valid boolean (got 1)"),
        ("schedule: {lr: true}", "schedule.lr", "Input should be a valid number, not a boolean (got True)"),
        ("teacher: {finetune: {full_train: 'true'}}", "teacher.finetune.full_train", "Input should be a valid boolean (got 'true')"),
        ("sampler: {k: true}", "sampler.k", "Input should be a valid integer (got True)"),
        ("synthesis: {refit_each_epoch: 0}", "synthesis.refit_each_epoch", "Input should be a valid boolean (got 0)"),
        ("student: {layers: [0, true]}", "student.layers.1", "Input should be a valid integer (got True)"),
    ],
)
def test_integers_and_booleans_are_strict(tmp_path, setting, field, message):
    path = write(tmp_path, setting + ("\n" if setting.startswith("task:") else "\ntask: {name: sst2}\n"))
    with pytest.raises(SpecError) as error:
        load_spec(path)
    assert error.value.problems == [f"{path}:1: {field}: {message}"]


def test_numbers_still_take_integers_and_overrides_still_parse_as_yaml():
    spec = load_spec({"schedule": {"lr": 1, "hard_fraction": 1}}, ["schedule.max_epochs=3", "schedule.keep_real=false"])
    assert spec.schedule.lr == 1.0 and isinstance(spec.schedule.lr, float) and spec.schedule.hard_fraction == 1.0
    assert spec.schedule.max_epochs == 3 and spec.schedule.keep_real is False


def test_a_duplicate_key_names_its_second_line(tmp_path):
    path = write(
        tmp_path,
        """
        schedule:
          max_epochs: 3
          lr: 1.0e-4
          max_epochs: 5
        """,
    )
    with pytest.raises(SpecError) as error:
        load_spec(path)
    assert error.value.problems == [f"{path}:4: max_epochs: duplicate key, first given at line 2; give each key once"]
    path = write(tmp_path, "task: {name: sst2}\nseed: 1\ntask: {name: rte}\n")
    with pytest.raises(SpecError, match=rf"{path}:3: task: duplicate key, first given at line 1"):
        load_spec(path)
    with pytest.raises(SpecError, match=r"--set projector={a: 1, a: 2}: the value is not valid YAML"):
        load_spec({}, ["projector={a: 1, a: 2}"])


def test_python_tags_are_still_refused(tmp_path):
    path = write(tmp_path, "seed: !!python/object/apply:os.getpid []\n")
    with pytest.raises(SpecError, match=rf"{path}: not valid YAML or JSON: .*python/object/apply:os.getpid"):
        load_spec(path)


def test_relative_paths_in_a_spec_file_are_read_from_its_folder(tmp_path, monkeypatch):
    folder = tmp_path / "specs"
    teacher = _model_folder(folder / "teacher")
    path = write(
        folder.parent,
        """
        task: {name: sst2, data_dir: ../glue}
        teacher: {path: teacher}
        student: {layers: [0]}
        output_dir: out/run
        """,
        name="specs/spec.yaml",
    )
    monkeypatch.chdir(tmp_path.parent)  # anywhere but the spec's folder
    spec = load_spec(path, ["seed=1"])
    assert spec.task.data_dir == tmp_path / "glue"
    assert spec.teacher.path == teacher
    assert spec.output_dir == folder / "out" / "run"
    resolved = yaml.safe_load(save_spec(spec, tmp_path / "resolved.yaml").read_text())
    assert resolved["task"]["data_dir"] == str(tmp_path / "glue") and resolved["output_dir"] == str(folder / "out" / "run")
    # Mappings and overrides mean the current folder, as a path on the command line does.
    assert load_spec({"task": {"data_dir": "glue"}}).task.data_dir == Path("glue")
    assert load_spec(path, ["output_dir=elsewhere"]).output_dir == Path("elsewhere")


def test_a_fingerprint_does_not_move_for_a_spec_without_relative_paths(tmp_path):
    data = {"task": {"name": "sst2", "data_dir": str(tmp_path / "glue"), "max_train": 200}, "seed": 3}
    path = write(tmp_path, yaml.safe_dump(data))
    assert load_spec(path).fingerprint() == sage.SageSpec(**data).fingerprint() == load_spec(data).fingerprint()
    assert load_spec(path).resolved() == sage.SageSpec(**data).resolved()


@pytest.mark.parametrize("text", ["", "# nothing yet\n", "{}\n", "---\n"])
def test_an_empty_spec_file_is_refused_rather_than_running_the_defaults(tmp_path, text):
    path = write(tmp_path, text)
    with pytest.raises(SpecError) as error:
        load_spec(path, ["schedule.max_epochs=1"])
    assert error.value.problems == [
        f"{path}: the spec file gives no sections; a spec file gives at least its task, for example "
        "'task: {name: sst2}' (the other sections have defaults)"
    ]


def test_a_spec_file_without_a_task_section_is_refused(tmp_path):
    path = write(tmp_path, "schedule: {max_epochs: 2}\nseed: 1\n")
    with pytest.raises(SpecError, match=rf"^invalid spec:\n  {path}: the spec file has no task section \(it gives schedule, seed\); "):
        load_spec(path, ["task.name=rte"])  # the file itself must say which task it is for
    assert load_spec(write(tmp_path, "task: {}\nseed: 1\n")).task.name == "sst2"  # asking for the default is fine
    assert load_spec({"seed": 1}).task.name == "sst2"  # a mapping may leave it to the default


BILLION_LAUGHS = "task: {name: sst2}\nlol1: &lol1 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"lol{n}: &lol{n} [{', '.join([f'*lol{n - 1}'] * 9)}]\n" for n in range(2, 10)
)


def test_a_yaml_alias_bomb_is_refused_at_its_alias_at_once(tmp_path):
    path = write(tmp_path, BILLION_LAUGHS)
    started = time.perf_counter()
    with pytest.raises(SpecError) as error:
        load_spec(path)
    assert time.perf_counter() - started < 1.0
    # lol4 holds 9**4 values, so the second *lol4 on lol5's line (line 6) takes the document past 10,000.
    assert error.value.problems == [
        f"{path}:6: alias *lol4 expands the document past {MAX_EXPANDED_NODES:,} keys and values, where a spec has "
        "a few hundred; aliases of aliases multiply: nest fewer"
    ]


def test_a_recursive_alias_is_refused(tmp_path):
    path = write(tmp_path, "task: {name: sst2}\nstudent: &student {layers: [0], again: *student}\n")
    with pytest.raises(SpecError, match=rf"{path}:2: alias \*student refers to a node that contains it; a spec cannot be recursive"):
        load_spec(path)
    with pytest.raises(SpecError, match=r"--set student.layers=&a \[\*a\]: the value is not valid YAML: alias \*a refers"):
        load_spec({}, ["student.layers=&a [*a]"])


def test_anchors_aliases_and_merges_still_work(tmp_path):
    path = write(
        tmp_path,
        """
        task: {name: sst2}
        teacher:
          finetune: &optimiser {lr: 1.0e-3, batch_size: 16}
        schedule:
          <<: *optimiser
          batch_size: 8
          max_epochs: 0
        student: {layers: [0, 1]}
        projector: {name: pca, n_components: 2}
        """,
    )
    with pytest.raises(SpecError, match=rf"{path}:7: schedule.max_epochs: Input should be greater than or equal to 1"):
        load_spec(path)  # lines still point at the key, merges and all
    spec = load_spec(path, ["schedule.max_epochs=3"])
    assert (spec.schedule.lr, spec.schedule.batch_size, spec.teacher.finetune.batch_size) == (1e-3, 8, 16)
    assert spec.student.arguments["layers"] == [0, 1]
    # Well under the limit, however many times a small section is repeated.
    repeated = "task: {name: sst2}\ncallbacks:\n" + "  - &history {name: history}\n" + "  - *history\n" * 500
    assert len(load_spec(write(tmp_path, repeated)).callbacks) == 501


@pytest.mark.parametrize("field", ["seed", "task.subset_seed"])
def test_seeds_must_not_be_negative(field):
    """numpy's SeedSequence refuses a negative seed only once the run has started."""
    with pytest.raises(SpecError) as error:
        load_spec({"task": {"name": "sst2"}}, [f"{field}=-1"])
    assert error.value.problems == [f"--set {field}=-1: {field}: Input should be greater than or equal to 0 (got -1)"]
    assert load_spec({}, [f"{field}=0"])
