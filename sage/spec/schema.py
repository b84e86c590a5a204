"""``SageSpec``: the pydantic specification of a distillation run (SAGE or any ablation).

Component sections name a registered component and give its arguments in the same
mapping, ``projector: {name: umap, n_components: 2}``; the arguments are validated against
the component's own signature, as thinc/confection do with registered functions. A section
that gives only arguments, ``projector: {n_components: 3}``, keeps its default component.

Integers and booleans are strict: ``true`` is not 1, 1 is not ``true`` and 2.0 is not 2, so a
slip in a spec is an error rather than a run with other settings. Numbers take ints (``lr: 1``)
and numeric strings, but not booleans.
"""

from __future__ import annotations

import collections.abc
import hashlib
import inspect
import json
import types
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Union, get_args, get_origin

import catalogue
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    PrivateAttr,
    ValidationError,
    create_model,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError
from transformers import AutoConfig, PretrainedConfig

import sage.callbacks
import sage.losses
import sage.projectors
import sage.samplers
import sage.students
import sage.synthesis.strategies
import sage.tasks
from sage.models.backbone import default_backbone
from sage.models.family import check_family
from sage.run.provenance import results_identity
from sage.tasks.task import DataError, Task
from sage.registry import unknown_name_message

# Fields added after the first fingerprints, with their defaults: counted only when set otherwise,
# so that a spec that does not use them keeps the fingerprint (and run folder) it had.
ADDED_SINCE_V1: dict[tuple[str, str], Any] = {
    ("task", "unlabelled"): None,
    ("task", "transfer"): None,
    ("schedule", "transfer_share"): None,
    ("synthesis", "pool"): None,
    ("synthesis", "mix"): None,
    ("synthesis", "refresh"): None,
    ("synthesis", "select"): "divergence",
    ("synthesis", "select_temperature"): 1.0,
    ("synthesis", "score_fraction"): 1.0,
}

# A component taking this argument gets the run's seed when the spec leaves it null (its default):
# the resolved spec keeps the null, so that a saved spec run again with another seed follows it.
SEEDED_ARGUMENT = "random_state"


def _spec_error(loc: tuple[str | int, ...], message: str, value: Any) -> ValidationError:
    detail = InitErrorDetails(type=PydanticCustomError("spec", message), loc=loc, input=value)
    return ValidationError.from_exception_data("SageSpec", [detail])


def _not_a_boolean(value: Any) -> Any:
    """Refuse a boolean where a number belongs: pydantic would read ``lr: true`` as 1.0."""
    if isinstance(value, bool):
        raise PydanticCustomError("float_type", "Input should be a valid number, not a boolean")
    return value


Number = Annotated[float, BeforeValidator(_not_a_boolean)]
_STRICT_TYPES: dict[type, Any] = {int: StrictInt, bool: StrictBool, float: Number}
_CONTAINERS = (list, tuple, set, frozenset, dict, collections.abc.Sequence, collections.abc.Mapping)


def _strict(annotation: Any) -> Any:
    """``annotation`` with ``int``, ``bool`` and ``float``, also inside unions and containers,
    replaced by the spec's strict types, so that component arguments are held to the same rules
    as the spec's own fields."""
    if isinstance(annotation, type):
        return _STRICT_TYPES.get(annotation, annotation)
    origin, arguments = get_origin(annotation), get_args(annotation)
    if origin in (Union, types.UnionType):
        return Union[tuple(_strict(argument) for argument in arguments)]
    if origin in _CONTAINERS and arguments:
        return origin[tuple(_strict(argument) for argument in arguments)]
    return annotation


def _signature_model(kind: str, name: str, factory: Any) -> type[BaseModel]:
    """A pydantic model of the arguments ``factory`` accepts, built from its signature."""
    signature = inspect.signature(factory, eval_str=True)
    fields: dict[str, Any] = {}
    accepts_any = False
    for parameter in signature.parameters.values():
        if parameter.kind is inspect.Parameter.VAR_KEYWORD:
            accepts_any = True
        elif parameter.kind is not inspect.Parameter.VAR_POSITIONAL:
            annotation = Any if parameter.annotation is inspect.Parameter.empty else _strict(parameter.annotation)
            default = ... if parameter.default is inspect.Parameter.empty else parameter.default
            fields[parameter.name] = (annotation, default)
    config = ConfigDict(extra="allow" if accepts_any else "forbid", arbitrary_types_allowed=True, protected_namespaces=())
    return create_model(f"{kind} {name!r}", __config__=config, **fields)


def _checked_arguments(
    kind: str, name: str, factory: Any, given: dict[str, Any], also_valid: tuple[str, ...] = ()
) -> dict[str, Any]:
    """``given`` validated against ``factory``'s signature, defaults filled in; an argument it does
    not take is a spec error listing what is valid (and ``also_valid``, the section's own keys)."""
    arguments_model = _signature_model(kind, name, factory)
    if arguments_model.model_config.get("extra") == "forbid":
        valid = [*arguments_model.model_fields, *also_valid]
        for argument in given:
            if argument not in valid:
                message = f"unknown argument of {kind} {name!r}; valid arguments: {', '.join(valid) if valid else '(none)'}"
                raise _spec_error((argument,), message, given[argument])
    return arguments_model.model_validate(given).model_dump()


class ComponentSpec(BaseModel):
    """``{name: <registered name>, <argument>: <value>, ...}`` for one component kind.

    Each kind's ``name`` defaults to the component the spec uses when the section is absent, so
    ``--set projector.n_components=3`` changes SAGE's UMAP rather than asking for a name.
    """

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
        given = dict(self.__pydantic_extra__ or {})
        self.__pydantic_extra__ = _checked_arguments(self.kind, self.name, factory, given)
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

    def create(self, seed: int | None = None) -> Any:
        """Call the registered class or factory with the spec's arguments; ``seed`` (the run's)
        stands in for a ``random_state`` left null."""
        return self.factory(**self.seeded_arguments(seed))

    def seeded_arguments(self, seed: int | None) -> dict[str, Any]:
        """The arguments, with ``seed`` in place of a null ``random_state``."""
        arguments = self.arguments
        if seed is not None and SEEDED_ARGUMENT in arguments and arguments[SEEDED_ARGUMENT] is None:
            arguments[SEEDED_ARGUMENT] = seed
        return arguments

    @model_serializer(mode="plain")
    def _serialize(self) -> dict[str, Any]:
        return {"name": self.name, **self.arguments}


class StudentSpec(ComponentSpec):
    kind = "student"
    registry = sage.students.registry
    name: str = "truncated"


class ProjectorSpec(ComponentSpec):
    kind = "projector"
    registry = sage.projectors.registry
    name: str = "umap"


class SamplerSpec(ComponentSpec):
    kind = "sampler"
    registry = sage.samplers.registry
    name: str = "knn"


class LossSpec(ComponentSpec):
    kind = "loss"
    registry = sage.losses.registry
    name: str = "soft_ce"


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
    name: str = "paper"

    parents: Literal["hard", "random"] = "hard"
    space: Literal["interface", "teacher"] = "interface"
    pool: StrictInt | None = Field(
        None,
        ge=1,
        le=32,
        description="candidates made per real example, labelled by the teacher once, from which each synthetic epoch "
        "chooses schedule.synthetic_share x N; null: make the epoch's points directly around the hard set",
    )
    mix: dict[str, Number] | None = Field(
        None, description="with pool: make the candidates with several strategies, {strategy: weight, ...}"
    )
    refresh: StrictInt | None = Field(None, ge=1, description="with pool: remake it every this many synthetic epochs; null: once per run")
    select: Literal["divergence", "random", "sample"] = Field(
        "divergence",
        description="with pool: the candidates the student disagrees with most (schedule.rank_by), a uniform draw "
        "(the control), or a draw in proportion to divergence^(1/select_temperature)",
    )
    select_temperature: Number = Field(1.0, gt=0, description="with select: sample; towards 0 it becomes divergence, large uniform")
    score_fraction: Number = Field(
        1.0, gt=0, le=1, description="with pool: score this random fraction of it each epoch, and choose among those"
    )

    _POOL_SETTINGS: ClassVar[dict[str, Any]] = {
        "mix": None, "refresh": None, "select": "divergence", "select_temperature": 1.0, "score_fraction": 1.0
    }

    @model_validator(mode="after")
    def _check_pool(self) -> SynthesisSpec:
        if self.pool is None:
            for field, default in self._POOL_SETTINGS.items():
                if getattr(self, field) != default:
                    raise _spec_error(
                        (field,), f"synthesis.{field} chooses from a candidate pool; set synthesis.pool (1 to 32 "
                        "candidates per example) or leave it out", getattr(self, field),
                    )
            return self
        if self.parents != "hard":
            raise _spec_error(
                ("parents",),
                "a pool has candidates around every example, so parents: random has no meaning there; the control "
                "of a pool is select: random",
                self.parents,
            )
        for name, weight in (self.mix or {}).items():
            if name not in self.registry.get_all():
                raise _spec_error(("mix", name), unknown_name_message(self.kind, name, self.registry), name)
            if not weight > 0:
                raise _spec_error(("mix", name), f"a mix weight must be > 0, got {weight}", weight)
        if self.mix is not None and not self.mix:
            raise _spec_error(("mix",), "synthesis.mix names no strategy; give {strategy: weight, ...} or null", self.mix)
        return self

    def strategies(self, seed: int | None = None) -> dict[str, tuple[Any, float]]:
        """The strategies that make the points, by name, each with its weight: the section's own (with
        its arguments) alone, or those of ``mix`` (the one named by ``name`` with the section's
        arguments, the others with their defaults)."""
        weights = self.mix or {self.name: 1.0}
        return {
            name: (self.create(seed) if name == self.name else self.registry.get(name)(), float(weight))
            for name, weight in weights.items()
        }

    @model_serializer(mode="plain")
    def _serialize(self) -> dict[str, Any]:
        pool = {"pool": self.pool, **{field: getattr(self, field) for field in self._POOL_SETTINGS}}
        return {"name": self.name, "parents": self.parents, "space": self.space, **pool, **self.arguments}


class CallbackSpec(ComponentSpec):
    kind = "callback"
    registry = sage.callbacks.registry
    name: str


def default_callbacks() -> list[CallbackSpec]:
    """The progress display and history.csv; a spec that lists ``callbacks`` gets those it lists."""
    return [CallbackSpec(name="progress"), CallbackSpec(name="history")]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TaskSpec(Section):
    """``{name: <registered task>, <argument>: ..., max_train: ..., ...}``: the task and the rows a run uses.

    A task registered as an instance (the GLUE tasks) takes no arguments; one registered as a class
    or factory (``files``, ``hub``, a user's) takes the section's other keys as its arguments,
    validated against its signature as components' are.
    """

    model_config = ConfigDict(extra="allow")

    name: str = "sst2"
    data_dir: Path | None = Field(None, description="folder of GLUE TSVs; default $SAGE_DATA_DIR, else the hub")
    max_train: StrictInt | None = Field(None, gt=0, description="train on a seeded random subset of this size")
    subset_seed: StrictInt = Field(
        0, ge=0, description="seed of the subset; fixed across run seeds so students see the same data"
    )
    holdout: StrictInt | None = Field(
        None,
        gt=0,
        description="hold this many train rows out of the student's data (from the subset's own permutation, so "
        "disjoint from it) and report them in place of dev: for choosing hyper-parameters without touching dev",
    )
    max_length: StrictInt = Field(64, ge=8, le=512)
    unlabelled: Path | None = Field(
        None,
        description="unlabelled transfer text the teacher labels: a .txt file of one example per line, or a CSV, "
        "TSV, JSONL or Parquet file (or save_to_disk folder) with the task's text column(s)",
    )
    transfer: StrictInt | None = Field(
        None,
        gt=0,
        description="this many rows of the task's own train split beyond max_train, their labels dropped, as "
        "unlabelled transfer text (disjoint from the training and held-out rows)",
    )
    _task: Any = PrivateAttr(None)

    @model_validator(mode="after")
    def _build_task(self) -> TaskSpec:
        try:
            entry = sage.tasks.get(self.name)
        except catalogue.RegistryError:
            raise _spec_error(("name",), unknown_name_message("task", self.name, sage.tasks.registry), self.name) from None
        given = dict(self.__pydantic_extra__ or {})
        if not callable(entry):  # a registered instance: a task with nothing to choose
            if given:
                message = f"unknown argument of task {self.name!r}, which takes none; valid keys: {', '.join(TaskSpec.model_fields)}"
                raise _spec_error((next(iter(given)),), message, given[next(iter(given))])
            self._task = entry
            return self
        self.__pydantic_extra__ = _checked_arguments("task", self.name, entry, given, also_valid=tuple(TaskSpec.model_fields))
        try:
            self._task = entry(**self.__pydantic_extra__)
        except (ValueError, TypeError) as error:
            raise _spec_error((), f"invalid task {self.name!r}: {error}", given) from None
        return self

    @model_validator(mode="after")
    def _transfer_needs_a_subset(self) -> TaskSpec:
        if self.transfer is not None and self.max_train is None:
            raise _spec_error(
                ("transfer",),
                "task.transfer takes rows of the train split beyond max_train, but max_train is unset (every row "
                "trains); set max_train, or give your own unlabelled text as task.unlabelled",
                self.transfer,
            )
        return self

    @property
    def arguments(self) -> dict[str, Any]:
        """The task's own arguments (none for a registered instance), defaults filled in."""
        return dict(self.__pydantic_extra__ or {})

    def create(self) -> Task:
        """The task: the registered instance, or the one built from the section's arguments (once,
        so that its files are read once)."""
        return self._task

    @model_serializer(mode="wrap")
    def _serialize(self, handler: Any) -> dict[str, Any]:
        data = handler(self)
        return {key: value for key, value in data.items() if key not in self.arguments} | self.arguments


class FinetuneSpec(Section):
    """How sage fine-tunes a teacher when none is given."""

    backbone: str | None = Field(None, description="model folder or hub name; default all-MiniLM-L6-v2 (bundled)")
    epochs: StrictInt = Field(3, ge=1)
    lr: Number = Field(5e-5, gt=0)
    batch_size: StrictInt = Field(32, ge=1)
    seed: StrictInt = Field(0, description="fixed across run seeds, so the same teacher serves every seed")
    full_train: StrictBool = Field(
        False,
        description="fine-tune on the whole train split, not the student's max_train subset, as a deployed "
        "teacher has usually seen all the labelled data",
    )


class TeacherSpec(Section):
    path: Path | None = Field(None, description="a fine-tuned sequence-classification model folder")
    interface_layer: StrictInt = Field(0, ge=0, description="0: embedding-layer output; k: output of block k")
    precision: Literal["auto", "float32", "bfloat16"] = Field(
        "auto",
        description="the frozen teacher's inference (its outputs, its labels for synthetic points): auto is "
        "bfloat16 on CUDA and on CPUs with native bf16 (AVX512-BF16, AMX), float32 elsewhere",
    )
    finetune: FinetuneSpec = Field(default_factory=FinetuneSpec)

    def backbone_config(self) -> PretrainedConfig | None:
        """The config of ``path``, else of the backbone a teacher would be fine-tuned from.

        None when it is not at hand: a hub name outside the local cache, or the default
        backbone's package not installed (fine-tuning reports those). Raises ``ValueError``
        when ``path`` is not a model folder.
        """
        if self.path is not None:
            if not self.path.exists():
                raise ValueError(f"{self.path} does not exist")
            if not (self.path / "config.json").is_file():
                raise ValueError(f"{self.path} is not a Hugging Face model folder (it has no config.json)")
            try:
                return AutoConfig.from_pretrained(self.path)
            except (OSError, ValueError) as error:
                raise ValueError(f"cannot read {self.path / 'config.json'}: {error}") from None
        backbone = self.finetune.backbone
        if backbone is None:
            try:
                backbone = default_backbone()
            except ImportError:
                return None
        try:
            return AutoConfig.from_pretrained(backbone, local_files_only=True)
        except (OSError, ValueError):
            return None

    def describe(self) -> str:
        """The teacher as an error message names it."""
        if self.path is not None:
            return f"teacher {self.path}"
        return f"backbone {self.finetune.backbone or 'all-MiniLM-L6-v2 (the default)'}"


class ScheduleSpec(Section):
    """The training schedule: epochs, synthetic data per epoch, the student's optimiser."""

    warmup_epochs: StrictInt = Field(
        1, ge=0, description="epochs on real data before synthetic data starts; 0: rank the untrained student before epoch 1"
    )
    max_epochs: StrictInt = Field(10, ge=1)
    hard_fraction: Number = Field(0.1, gt=0, le=1, description="share of training examples called hard each epoch")
    synthetic_share: Number = Field(
        0.1,
        ge=0,
        le=8,
        description="synthetic examples per real training example each epoch (1.0: as many as real ones); "
        "0 is plain KD. Without a pool, split evenly over the hard set, so share / hard_fraction points per hard "
        "example; with synthesis.pool, chosen from the pool",
    )
    rank_by: Literal["divergence", "loss"] = Field(
        "divergence",
        description="how hard examples are ranked: divergence, KL(teacher || student) at the loss's temperature "
        "(squared error for regression), i.e. where the student disagrees with the teacher; loss, the "
        "paper's literal per-example training loss, which for soft-CE adds the teacher's own entropy",
    )
    agreement_target: Number = Field(0.99, gt=0, le=1, description="stop when the student agrees this often")
    agreement_tolerance: Number = Field(0.25, gt=0, description="regression only: outputs this close agree")
    keep_real: StrictBool = Field(
        True, description="train on real (training and transfer) and synthetic data; false: synthetic only"
    )
    transfer_share: Number | None = Field(
        None,
        ge=0,
        description="transfer rows (task.unlabelled, task.transfer) trained on per real training example each "
        "epoch, drawn afresh each epoch; null: every transfer row once per epoch; 0: none (synthesis: retrieve "
        "only searches them)",
    )
    batch_size: StrictInt = Field(32, ge=1)
    lr: Number = Field(1e-4, gt=0, description="AdamW's peak learning rate")
    lr_schedule: Literal["constant", "linear", "cosine"] = Field(
        "linear", description="decay after warm-up, over max_epochs, whatever the epoch's size"
    )
    lr_warmup: Number = Field(0.1, ge=0, lt=1, description="share of max_epochs over which the rate rises from 0")
    weight_decay: Number = Field(0.01, ge=0, description="AdamW's decoupled weight decay; biases and LayerNorm are exempt")
    max_grad_norm: Number | None = Field(1.0, gt=0, description="clip the gradient's global norm to this; null: no clipping")
    compile: StrictBool = Field(False, description="torch.compile the student (pays off on GPU for long runs)")

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
    student: StudentSpec = Field(default_factory=StudentSpec)
    projector: ProjectorSpec = Field(default_factory=ProjectorSpec)
    sampler: SamplerSpec = Field(default_factory=SamplerSpec)
    loss: LossSpec = Field(default_factory=LossSpec)
    synthesis: SynthesisSpec = Field(default_factory=SynthesisSpec)
    schedule: ScheduleSpec = Field(default_factory=ScheduleSpec)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    seed: StrictInt = Field(0, ge=0, description="the run's seed; non-negative, as numpy's SeedSequence requires")
    output_dir: Path | None = Field(None, description="default: runs/<task>-<hash of the spec>")
    callbacks: list[CallbackSpec] = Field(
        default_factory=default_callbacks,
        description="what watches the run (progress, history, tensorboard, logging, or your own); they do not "
        "change it, so they are not part of its fingerprint",
    )

    @model_validator(mode="after")
    def _check_combinations(self) -> SageSpec:
        loss = self.loss.factory
        task = self.task.create()
        try:
            task.is_regression  # a file task reads its labels to know  # noqa: B018
        except DataError as error:
            raise _spec_error(("task",), str(error), self.task.arguments) from None
        if task.is_regression and not getattr(loss, "supports_regression", True):
            raise _spec_error(
                ("loss", "name"),
                f"loss {self.loss.name!r} needs class probabilities, but task {task.name!r} is a regression "
                "task; use mse or labels",
                self.loss.name,
            )
        if getattr(loss, "needs_labels", False) and self.uses_transfer_data:
            raise _spec_error(
                ("loss", "name"),
                f"loss {self.loss.name!r} trains on gold labels, which transfer text does not have; "
                "drop task.unlabelled and task.transfer, or use a distillation loss",
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
            self._check_strategies(task)
        return self

    def _check_strategies(self, task: Task) -> None:
        """Each strategy that makes points can serve the task, the interface layer and the transfer rows."""
        for name, (strategy, _) in self.synthesis.strategies().items():
            where = ("synthesis", "name") if self.synthesis.mix is None else ("synthesis", "mix", name)
            try:
                strategy.check_task(task)
                strategy.check_interface(self.teacher.interface_layer)
            except ValueError as error:
                raise _spec_error(where, str(error), name) from None
            if strategy.needs_transfer and not self.uses_transfer_data:
                raise _spec_error(
                    where,
                    f"synthesis strategy {name!r} searches the task's transfer rows, and this task has none: give "
                    "task.transfer (train rows beyond max_train, labels dropped) or task.unlabelled (a file of text)",
                    name,
                )
            if strategy.needs_transfer and self.schedule.transfer_share is None:
                raise _spec_error(
                    ("schedule", "transfer_share"),
                    f"synthesis strategy {name!r} searches the transfer rows; say whether the student also trains "
                    "on them as plain KD rows: schedule.transfer_share: 0 (searched only), or a share per epoch",
                    None,
                )

    @model_validator(mode="after")
    def _check_against_backbone(self) -> SageSpec:
        """Layer indices and shapes against the teacher's config, read from disk in milliseconds, so
        that a bad one stops the run here, not after fine-tuning, at the student's build or export.

        A student may define ``check_backbone(config, interface_layer)``, raising ``ValueError``.
        """
        teacher = self.teacher
        try:
            config = teacher.backbone_config()
        except ValueError as error:
            raise _spec_error(
                ("teacher", "path"),
                f"{error}; give a fine-tuned sequence-classification model folder, or null to fine-tune one",
                str(teacher.path),
            ) from None
        if config is None:
            return self
        try:
            check_family(config)
        except ValueError as error:
            where = ("teacher", "path") if teacher.path is not None else ("teacher", "finetune", "backbone")
            value = str(teacher.path or teacher.finetune.backbone or "")
            raise _spec_error(where, f"the {teacher.describe()} cannot be distilled: {error}", value) from None
        depth = config.num_hidden_layers
        if teacher.interface_layer >= depth:
            raise _spec_error(
                ("teacher", "interface_layer"),
                f"interface_layer must be in 0..{depth - 1} for the {depth}-block {teacher.describe()}, got "
                f"{teacher.interface_layer}: 0 is the embedding layer's output, k the output of block k, and at "
                "least one block must stay above the interface",
                teacher.interface_layer,
            )
        check = getattr(self.student.create(), "check_backbone", None)
        if check is not None:
            try:
                check(config, teacher.interface_layer)
            except ValueError as error:
                message = f"invalid student {self.student.name!r} for the {depth}-block {teacher.describe()}: {error}"
                raise _spec_error(("student",), message, self.student.arguments) from None
        return self

    @property
    def uses_synthetic_data(self) -> bool:
        return self.schedule.synthetic_share > 0

    @property
    def uses_transfer_data(self) -> bool:
        return self.task.unlabelled is not None or self.task.transfer is not None

    def resolved(self) -> dict[str, Any]:
        """The spec with every default filled in, as plain data."""
        return self.model_dump(mode="json")

    def fingerprint(self) -> str:
        """A short hash of the resolved spec, less its output folder and callbacks, and of the versions
        that shape results. A ``random_state`` that follows the seed counts as the number it becomes,
        so that a spec spelling that number out is the same run."""
        data = {key: value for key, value in self.resolved().items() if key not in ("output_dir", "callbacks")}
        for (section, field), default in ADDED_SINCE_V1.items():  # unset, they leave older runs' fingerprints as they were
            if data[section][field] == default:
                del data[section][field]
        for name in ("student", "projector", "sampler", "loss"):
            data[name] = {"name": data[name]["name"], **getattr(self, name).seeded_arguments(self.seed)}
        data["synthesis"] |= self.synthesis.seeded_arguments(self.seed)
        data["versions"] = results_identity()
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:8]

    def run_dir(self) -> Path:
        return self.output_dir or Path("runs") / f"{self.task.name}-{self.fingerprint()}"
