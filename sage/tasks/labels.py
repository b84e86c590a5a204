"""A task's classes aligned with a teacher's ``id2label``: by name, whatever their order.

A teacher's output ``i`` means the class its config calls ``id2label[i]``. When the teacher names
the task's classes in another order, the task's ids are mapped to the teacher's; a file task whose
labels are bare class ids takes the teacher's names. Names that do not match are refused, both sets
listed, before any work: a student trained on swapped classes would score below chance.
"""

from __future__ import annotations

from transformers import PretrainedConfig

from sage.errors import InputError
from sage.tasks.task import Task


class LabelMismatch(InputError):
    """A teacher's class names are not the task's."""


def teacher_label_names(config: PretrainedConfig) -> list[str] | None:
    """The teacher's class names by id, or None when it has none worth checking: transformers'
    default ``LABEL_i`` names say nothing."""
    names = [str(config.id2label[i]) for i in sorted(config.id2label)]
    return None if names == [f"LABEL_{i}" for i in range(len(names))] else names


def align_labels(task: Task, config: PretrainedConfig, where: str) -> tuple[Task, str | None]:
    """``task`` with its classes in the teacher's order, and a line saying what was mapped (None:
    nothing). ``where`` names the teacher in errors."""
    names = teacher_label_names(config)
    if task.is_regression or names is None:
        return task, None
    own = list(task.label_names)
    if getattr(task, "integer_labels", False):
        if len(names) < len(own):
            raise LabelMismatch(
                f"{where} names {len(names)} classes {names} (id2label in config.json), but the task's labels "
                f"are class ids up to {len(own) - 1}; give a teacher with a class for every id"
            )
        return task.with_label_names(names), f"class ids named by the teacher: {dict(enumerate(names))}"
    if [name.lower() for name in names] == [name.lower() for name in own]:
        return task, None
    if sorted(name.lower() for name in names) == sorted(name.lower() for name in own):
        theirs = [name.lower() for name in names]
        moves = [f"{name} {i}->{theirs.index(name.lower())}" for i, name in enumerate(own) if theirs.index(name.lower()) != i]
        return task.with_label_order(names), f"the task's class ids mapped to the teacher's ({', '.join(moves)})"
    raise LabelMismatch(
        f"{where} has classes {names} (id2label in config.json), but task {task.name!r} has {own}: the names "
        f"must match (in any order). Give a teacher fine-tuned on this task's labels, or relabel the data"
    )
