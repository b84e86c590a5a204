"""The spec of a run: the pydantic schema (``schema``) and its loading from files and overrides (``file``)."""

from sage.spec.schema import (
    FinetuneSpec,
    LossSpec,
    ProjectorSpec,
    SageSpec,
    SamplerSpec,
    ScheduleSpec,
    StudentSpec,
    SynthesisSpec,
    TaskSpec,
    TeacherSpec,
)

__all__ = [
    "FinetuneSpec",
    "LossSpec",
    "ProjectorSpec",
    "SageSpec",
    "SamplerSpec",
    "ScheduleSpec",
    "StudentSpec",
    "SynthesisSpec",
    "TaskSpec",
    "TeacherSpec",
]
