"""What a bench runs: tasks, methods, ablation variants and seeds, each a set of spec overrides.

A bench config names tasks (each with its spec overrides), methods, ablation variants,
seeds and shared overrides. Every (table, task, method, seed) becomes one run of the
engine. Methods are the built-in baselines (``labels``, ``kd``, ``sage``) or any name with
its own overrides; each is compared with every one of ``baselines``, seed by seed. A
``scale`` section adds a verdict table of its own methods and baselines, named before its runs.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

import sage.tasks
from sage.spec.file import SpecError, describe_problem, read_spec_file

COMPONENT_SECTIONS = ("student", "projector", "sampler", "loss", "synthesis")
TARGET_AGREEMENT = 0.99

# The baselines a user would otherwise pick, as spec overrides on top of SAGE.
METHODS: dict[str, dict[str, Any]] = {
    "labels": {"loss": {"name": "labels"}, "schedule": {"synthetic_share": 0}},
    "kd": {"schedule": {"synthetic_share": 0}},
    "sage": {},
}


class AblationConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tasks: list[str] = Field(default_factory=lambda: ["sst2", "rte"])
    variants: dict[str, dict[str, Any]] = Field(default_factory=dict, description="name → overrides on SAGE")


class CurveConfig(BaseModel):
    """A data-size curve: some of the bench's methods on one task at several training-set sizes."""

    model_config = ConfigDict(extra="forbid")
    task: str
    sizes: list[int] = Field(min_length=2, description="task.max_train of each point of the curve")
    methods: list[str] = Field(min_length=2, description="methods of the bench; the others are compared with the first")


def curve_method(method: str, size: int) -> str:
    """The name a curve's run goes by in results.json."""
    return f"{method}, {size} examples"


class Comparison(BaseModel):
    """One method against one baseline, seed by seed."""

    model_config = ConfigDict(extra="forbid")
    method: str
    baseline: str


class ScaleTask(BaseModel):
    """A task of the scale table: overrides for every method there, and for single methods on this
    task alone (a ceiling's transfer rows, which the task's train split bounds)."""

    model_config = ConfigDict(extra="forbid")
    overrides: dict[str, Any] = Field(default_factory=dict, description="on the bench's overrides of the task")
    methods: dict[str, dict[str, Any]] = Field(default_factory=dict, description="method → overrides on this task alone")


class ScaleConfig(BaseModel):
    """A verdict table fixed before its runs: its own methods on some of the bench's tasks, each
    against every baseline, with one primary comparison; each method's cost against
    ``cost_baseline`` (plain KD); and a ``ceiling``, KD on real rows in place of synthetic ones."""

    model_config = ConfigDict(extra="forbid")
    title: str = Field(description="the section's heading")
    notes: str = Field("", description="a reading of the table, kept with the config so that it survives regeneration")
    tasks: dict[str, ScaleTask] = Field(min_length=1, description="tasks of the bench → their overrides here")
    methods: dict[str, dict[str, Any]] = Field(min_length=2, description="name → overrides on the bench's base and the task's")
    baselines: list[str] = Field(min_length=1, description="the methods every other one is compared with, seed by seed")
    primary: Comparison = Field(description="the one comparison the table is for; the others are secondary")
    cost_baseline: str = Field(description="the method whose whole-run time the others' is divided by")
    ceiling: str | None = Field(None, description="the method that trains on real rows where the primary method has synthetic ones")

    @model_validator(mode="after")
    def _known_methods(self) -> ScaleConfig:
        named = {
            "baselines": self.baselines,
            "primary.method": [self.primary.method],
            "primary.baseline": [self.primary.baseline],
            "cost_baseline": [self.cost_baseline],
            "ceiling": [self.ceiling] if self.ceiling is not None else [],
            **{f"tasks.{task}.methods": list(settings.methods) for task, settings in self.tasks.items()},
        }
        for where, names in named.items():
            unknown = [name for name in names if name not in self.methods]
            if unknown:
                raise ValueError(f"scale.{where} {unknown} are not among scale.methods: {', '.join(self.methods)}")
        if self.primary.baseline not in self.baselines:
            raise ValueError(f"scale.primary.baseline {self.primary.baseline!r} is not among scale.baselines: {', '.join(self.baselines)}")
        if self.primary.method in self.baselines:
            raise ValueError(f"scale.primary.method {self.primary.method!r} is a baseline; the primary comparison sets a method against one")
        if self.ceiling in (self.cost_baseline, self.primary.method):
            raise ValueError(
                f"scale.ceiling {self.ceiling!r} is also the cost baseline or the primary method; the ceiling is"
                " measured against plain KD (cost_baseline) and recovered by the primary method, so it must be neither"
            )
        return self

    def comparisons(self) -> list[tuple[str, str]]:
        """The (method, baseline) pairs of each task, method by method: every method against every
        baseline, but each pair of baselines once (the later one against the earlier)."""
        return [
            (method, baseline)
            for method in self.methods
            for index, baseline in enumerate(self.baselines)
            if method not in self.baselines[: index + 1]
        ]


class BenchConfig(BaseModel):
    """What ``sage bench`` runs and where it writes."""

    model_config = ConfigDict(extra="forbid")
    title: str = "GLUE"
    output_dir: Path = Path("docs")
    runs_dir: Path = Path("runs/bench")
    command: str = Field("", description="the command that regenerates the tables, quoted above them")
    notes: str = Field("", description="a reading of the results, kept with the config so that it survives regeneration")
    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2], min_length=1)
    base: dict[str, Any] = Field(default_factory=dict, description="overrides for every run")
    tasks: dict[str, dict[str, Any]] = Field(description="task name → overrides for its runs")
    methods: dict[str, dict[str, Any]] = Field(
        default_factory=lambda: dict(METHODS),
        description="name → overrides on the base; a list of names takes the built-in baselines' overrides",
    )
    baselines: list[str] = Field(
        default_factory=lambda: ["kd"], min_length=1, description="the methods every other one is compared with, seed by seed"
    )
    ablation: AblationConfig | None = None
    curve: CurveConfig | None = None
    scale: ScaleConfig | None = None

    @field_validator("tasks")
    @classmethod
    def _known_tasks(cls, tasks: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        unknown = [name for name in tasks if name not in sage.tasks.get_all()]
        if unknown:
            raise ValueError(f"unknown tasks {unknown}; registered: {', '.join(sorted(sage.tasks.get_all()))}")
        return tasks

    @field_validator("methods", mode="before")
    @classmethod
    def _named_methods(cls, methods: Any) -> Any:
        if isinstance(methods, list | tuple):
            unknown = [name for name in methods if name not in METHODS]
            if unknown:
                raise ValueError(f"unknown methods {unknown}; built in: {', '.join(METHODS)}; give others as name: overrides")
            return {name: METHODS[name] for name in methods}
        return methods

    @model_validator(mode="after")
    def _known_baselines(self) -> BenchConfig:
        unknown = [name for name in self.baselines if name not in self.methods]
        if unknown:
            raise ValueError(f"baselines {unknown} are not among the methods: {', '.join(self.methods)}")
        if self.curve is not None:
            if self.curve.task not in self.tasks:
                raise ValueError(f"curve.task {self.curve.task!r} is not among the bench's tasks: {', '.join(self.tasks)}")
            unknown = [name for name in self.curve.methods if name not in self.methods]
            if unknown:
                raise ValueError(f"curve.methods {unknown} are not among the methods: {', '.join(self.methods)}")
        if self.scale is not None:
            unknown = [task for task in self.scale.tasks if task not in self.tasks]
            if unknown:
                raise ValueError(f"scale.tasks {unknown} are not among the bench's tasks: {', '.join(self.tasks)}")
        return self

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> BenchConfig:
        """Read as spec files are: duplicate keys refused, every problem at its file and line."""
        data, origins = read_spec_file(path)
        try:
            return cls.model_validate(data)
        except ValidationError as error:
            raise SpecError([describe_problem(problem, origins, str(path)) for problem in error.errors()]) from None


def merge(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """``overrides`` on top of ``base``; a component section that names a component replaces the old one."""
    merged = copy.deepcopy(dict(base))
    for key, value in overrides.items():
        replaces = key in COMPONENT_SECTIONS and isinstance(value, Mapping) and "name" in value
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping) and not replaces:
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def task_spec_data(config: BenchConfig, task: str) -> dict[str, Any]:
    """The spec data every run of ``task`` starts from: the shared base, the task's name and its overrides."""
    return merge(merge(config.base, {"task": {"name": task}}), config.tasks[task])


def scale_overrides(scale: ScaleConfig, task: str, method: str) -> dict[str, Any]:
    """A scale run's overrides on the task's spec data: the scale task's, the method's, and the method's on that task."""
    settings = scale.tasks[task]
    return merge(merge(settings.overrides, scale.methods[method]), settings.methods.get(method, {}))


def planned_runs(config: BenchConfig) -> list[dict[str, Any]]:
    """Every run the config asks for: its table, task, method or variant, seed and spec data."""
    runs = []
    tables = [("quality", task, method, overrides) for task in config.tasks for method, overrides in config.methods.items()]
    if config.ablation is not None:
        missing = [task for task in config.ablation.tasks if task not in config.tasks]
        if missing:
            raise ValueError(f"ablation tasks {missing} are not among the bench's tasks")
        for task in config.ablation.tasks:
            tables += [("ablation", task, name, overrides) for name, overrides in config.ablation.variants.items()]
    if config.curve is not None:
        curve = config.curve
        tables += [
            ("curve", curve.task, curve_method(method, size), merge(config.methods[method], {"task": {"max_train": size}}))
            for size in curve.sizes
            for method in curve.methods
        ]
    if config.scale is not None:
        scale = config.scale
        tables += [("scale", task, method, scale_overrides(scale, task, method)) for task in scale.tasks for method in scale.methods]
    # Task by task, so that one teacher is fine-tuned (or found in the cache) at a time; within a
    # task seed by seed, so that a bench stopped part-way holds complete pairs for the seeds it finished.
    for task_name in dict.fromkeys(task for _, task, _, _ in tables):
        for seed in config.seeds:
            for table, task, method, overrides in tables:
                if task == task_name:
                    data = merge(task_spec_data(config, task), overrides)
                    data["seed"] = seed
                    runs.append({"table": table, "task": task, "method": method, "seed": seed, "spec": data})
    return runs


