"""``SageSpec``: the pydantic specification of a distillation run (SAGE or any ablation).

Component sections name a registered component and give its arguments in the same
mapping, ``projector: {name: umap, n_components: 2}``; the arguments are validated against
the component's own signature, as thinc/confection do with registered functions.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from pathlib import Path
from typing import Any, ClassVar, Literal

import catalogue
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

import sage.losses
import sage.projectors
import sage.samplers
import sage.students
import sage.synthesis.strategies
import sage.tasks
from sage.provenance import results_identity
from sage.registry import unknown_name_message

# A component taking this argument gets the spec's seed unless the spec sets it.
SEEDED_ARGUMENT = "random_state"


def _spec_error(loc: tuple[str | int, ...], message: str, value: Any) -> ValidationError:
    detail = InitErrorDetails(type=PydanticCustomError("spec", message), loc=loc, input=value)
    return ValidationError.from_exception_data("SageSpec", [detail])


def _signature_model(kind: str, name: str, factory: Any) -> type[BaseModel]:
    """A pydantic model of the arguments ``factory`` accepts, built from its signature."""
    signature = inspect.signature(factory, eval_str=True)
    fields: dict[str, Any] = {}
    accepts_any = False
    for parameter in signature.parameters.values():
        if parameter.kind is inspect.Parameter.VAR_KEYWORD:
            accepts_any = True
        elif parameter.kind is not inspect.Parameter.VAR_POSITIONAL:
            annotation = Any if parameter.annotation is inspect.Parameter.empty else parameter.annotation
            default = ... if parameter.default is inspect.Parameter.empty else parameter.default
            fields[parameter.name] = (annotation, default)
    config = ConfigDict(extra="allow" if accepts_any else "forbid", arbitrary_types_allowed=True, protected_namespaces=())
    return create_model(f"{kind} {name!r}", __config__=config, **fields)


class ComponentSpec(BaseModel):
    """``{name: <registered name>, <argument>: <value>, ...}`` for one component kind."""

    model_config = ConfigDict(extra="allow")
    kind: ClassVar[str]
    registry: ClassVar[catalogue.Registry]

    name: str

    @model_validator(mode="after")
    def _validate_arguments(self) -> ComponentSpec:
        try:
            factory = self.registry.get(self.name)
        except catalogue.RegistryError:
            raise _spec_error(("name",), unknown_name_message(self.kind, self.name, self.registry), self.name) from None
        arguments_model = _signature_model(self.kind, self.name, factory)
        given = dict(self.__pydantic_extra__ or {})
        if arguments_model.model_config.get("extra") == "forbid":
            valid = list(arguments_model.model_fields)
            for argument in given:
                if argument not in valid:
                    message = (
                        f"unknown argument of {self.kind} {self.name!r}; "
                        f"valid arguments: {', '.join(valid) if valid else '(none)'}"
                    )
                    raise _spec_error((argument,), message, given[argument])
        self.__pydantic_extra__ = arguments_model.model_validate(given).model_dump()
        # Components check their own values (k >= 1, ...); building one here turns such a
        # complaint into a spec error that points at the section. Constructors are cheap
        # by the scikit-learn convention: work happens in fit/build/sample.
        try:
            self.create()
        except (ValueError, TypeError) as error:
            raise _spec_error((), f"invalid {self.kind} {self.name!r}: {error}", given) from None
        return self

    @property
    def factory(self) -> Any:
        return self.registry.get(self.name)

    @property
    def arguments(self) -> dict[str, Any]:
        """Every argument of the component, defaults filled in."""
        return dict(self.__pydantic_extra__ or {})

    def create(self) -> Any:
        """Call the registered class or factory with the spec's arguments."""
        return self.factory(**self.arguments)

    @model_serializer(mode="plain")
    def _serialize(self) -> dict[str, Any]:
        return {"name": self.name, **self.arguments}


class StudentSpec(ComponentSpec):
    kind = "student"
    registry = sage.students.registry


class ProjectorSpec(ComponentSpec):
    kind = "projector"
    registry = sage.projectors.registry


class SamplerSpec(ComponentSpec):
    kind = "sampler"
    registry = sage.samplers.registry


class LossSpec(ComponentSpec):
    kind = "loss"
    registry = sage.losses.registry


class SynthesisSpec(ComponentSpec):
    """``{name: <strategy>, parents: hard | random, space: interface | teacher, <argument>: ...}``.

    ``parents`` and ``space`` apply to every strategy: ``random`` makes the same number of points
    around examples drawn uniformly (the control that separates guided from plain augmentation);
    ``space`` is where projections and neighbour searches look: the pooled interface vectors (the
    paper), or the teacher's final hidden layer, pooled, where neighbours are sentences of similar
    meaning. Synthetic vectors are built at the interface either way.
    """

    kind = "synthesis strategy"
    registry = sage.synthesis.strategies.registry

    parents: Literal["hard", "random"] = "hard"
    space: Literal["interface", "teacher"] = "interface"

    @model_serializer(mode="plain")
    def _serialize(self) -> dict[str, Any]:
        return {"name": self.name, "parents": self.parents, "space": self.space, **self.arguments}


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TaskSpec(Section):
    name: str = "sst2"
    data_dir: Path | None = Field(None, description="folder of GLUE TSVs; default $SAGE_DATA_DIR, else the hub")
    max_train: int | None = Field(None, gt=0, description="train on a seeded random subset of this size")
    subset_seed: int = Field(0, description="seed of the subset; fixed across run seeds so students see the same data")
    holdout: int | None = Field(
        None,
        gt=0,
        description="hold this many train rows out of the student's data (from the subset's own permutation, so "
        "disjoint from it) and report them in place of dev: for choosing hyper-parameters without touching dev",
    )
    max_length: int = Field(64, ge=8, le=512)

    @field_validator("name")
    @classmethod
    def _known_task(cls, name: str) -> str:
        if name not in sage.tasks.get_all():
            raise ValueError(unknown_name_message("task", name, sage.tasks.registry))
        return name


class FinetuneSpec(Section):
    """How sage fine-tunes a teacher when none is given."""

    backbone: str | None = Field(None, description="model folder or hub name; default all-MiniLM-L6-v2 (bundled)")
    epochs: int = Field(3, ge=1)
    lr: float = Field(5e-5, gt=0)
    batch_size: int = Field(32, ge=1)
    seed: int = Field(0, description="fixed across run seeds, so the same teacher serves every seed")
    full_train: bool = Field(
        False,
        description="fine-tune on the whole train split, not the student's max_train subset, as a deployed "
        "teacher has usually seen all the labelled data",
    )


class TeacherSpec(Section):
    path: Path | None = Field(None, description="a fine-tuned sequence-classification model folder")
    interface_layer: int = Field(0, ge=0, description="0: embedding-layer output; k: output of block k")
    precision: Literal["auto", "float32", "bfloat16"] = Field(
        "auto",
        description="the frozen teacher's inference (its outputs, its labels for synthetic points): auto is "
        "bfloat16 on CUDA and on CPUs with native bf16 (AVX512-BF16, AMX), float32 elsewhere",
    )
    finetune: FinetuneSpec = Field(default_factory=FinetuneSpec)


class ScheduleSpec(Section):
    """The training schedule: epochs, synthetic data per epoch, the student's optimiser."""

    warmup_epochs: int = Field(
        1, ge=0, description="epochs on real data before synthetic data starts; 0: rank the untrained student before epoch 1"
    )
    max_epochs: int = Field(10, ge=1)
    hard_fraction: float = Field(0.1, gt=0, le=1, description="share of training examples called hard each epoch")
    synthetic_share: float = Field(
        0.1,
        ge=0,
        le=4,
        description="synthetic examples per real training example each epoch (1.0: as many as real ones); "
        "0 is plain KD. Split evenly over the hard set, so share / hard_fraction points per hard example",
    )
    rank_by: Literal["divergence", "loss"] = Field(
        "divergence",
        description="how hard examples are ranked: divergence, KL(teacher || student) at the loss's temperature "
        "(squared error for regression), i.e. where the student disagrees with the teacher; loss, the "
        "paper's literal per-example training loss, which for soft-CE adds the teacher's own entropy",
    )
    agreement_target: float = Field(0.99, gt=0, le=1, description="stop when the student agrees this often")
    agreement_tolerance: float = Field(0.25, gt=0, description="regression only: outputs this close agree")
    keep_real: bool = Field(True, description="train on real and synthetic data; false: synthetic only")
    batch_size: int = Field(32, ge=1)
    lr: float = Field(1e-4, gt=0, description="AdamW's peak learning rate")
    lr_schedule: Literal["constant", "linear", "cosine"] = Field(
        "linear", description="decay after warm-up, over max_epochs, whatever the epoch's size"
    )
    lr_warmup: float = Field(0.1, ge=0, lt=1, description="share of max_epochs over which the rate rises from 0")
    weight_decay: float = Field(0.01, ge=0, description="AdamW's decoupled weight decay; biases and LayerNorm are exempt")
    max_grad_norm: float | None = Field(1.0, gt=0, description="clip the gradient's global norm to this; null: no clipping")
    compile: bool = Field(False, description="torch.compile the student (pays off on GPU for long runs)")

    @model_validator(mode="after")
    def _warmup_fits(self) -> ScheduleSpec:
        if self.warmup_epochs >= self.max_epochs and self.synthetic_share > 0:
            raise _spec_error(
                ("warmup_epochs",),
                f"warmup_epochs ({self.warmup_epochs}) leaves no synthetic epoch within max_epochs ({self.max_epochs}); "
                f"use warmup_epochs < max_epochs, or synthetic_share: 0 for plain KD",
                self.warmup_epochs,
            )
        if self.warmup_epochs > self.max_epochs:
            raise _spec_error(
                ("warmup_epochs",),
                f"warmup_epochs ({self.warmup_epochs}) exceeds max_epochs ({self.max_epochs})",
                self.warmup_epochs,
            )
        return self


class SageSpec(Section):
    """Everything one ``fit()`` needs. Defaults give SAGE: the paper's pipeline with UMAP-2D and kNN, soft cross-entropy."""

    task: TaskSpec = Field(default_factory=TaskSpec)
    teacher: TeacherSpec = Field(default_factory=TeacherSpec)
    student: StudentSpec = Field(default_factory=lambda: StudentSpec(name="truncated"))
    projector: ProjectorSpec = Field(default_factory=lambda: ProjectorSpec(name="umap"))
    sampler: SamplerSpec = Field(default_factory=lambda: SamplerSpec(name="knn"))
    loss: LossSpec = Field(default_factory=lambda: LossSpec(name="soft_ce"))
    synthesis: SynthesisSpec = Field(default_factory=lambda: SynthesisSpec(name="paper"))
    schedule: ScheduleSpec = Field(default_factory=ScheduleSpec)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    seed: int = 0
    output_dir: Path | None = Field(None, description="default: runs/<task>-<hash of the spec>")

    @model_validator(mode="after")
    def _check_combinations(self) -> SageSpec:
        loss = self.loss.factory
        task = sage.tasks.get(self.task.name)
        if task.is_regression and not getattr(loss, "supports_regression", True):
            raise _spec_error(
                ("loss", "name"),
                f"loss {self.loss.name!r} needs class probabilities, but task {task.name!r} is a regression "
                "task; use mse or labels",
                self.loss.name,
            )
        if getattr(loss, "needs_labels", False) and self.uses_synthetic_data:
            raise _spec_error(
                ("schedule", "synthetic_share"),
                f"loss {self.loss.name!r} trains on gold labels, which synthetic points do not have; "
                "set schedule.synthetic_share: 0",
                self.schedule.synthetic_share,
            )
        if self.uses_synthetic_data:
            try:
                self.synthesis.create().check_task(task)
            except ValueError as error:
                raise _spec_error(("synthesis", "name"), str(error), self.synthesis.name) from None
        for section in (self.projector, self.sampler, self.student, self.loss, self.synthesis):
            if section.arguments.get(SEEDED_ARGUMENT, 0) is None:
                section.__pydantic_extra__[SEEDED_ARGUMENT] = self.seed
        return self

    @property
    def uses_synthetic_data(self) -> bool:
        return self.schedule.synthetic_share > 0

    def resolved(self) -> dict[str, Any]:
        """The spec with every default filled in, as plain data."""
        return self.model_dump(mode="json")

    def fingerprint(self) -> str:
        """A short hash of the resolved spec, less its output folder, and of the versions that shape results."""
        data = {key: value for key, value in self.resolved().items() if key != "output_dir"}
        data["versions"] = results_identity()
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:8]

    def run_dir(self) -> Path:
        return self.output_dir or Path("runs") / f"{self.task.name}-{self.fingerprint()}"
