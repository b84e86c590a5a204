"""sage: knowledge distillation of text classifiers by SAGE (Synthetic Adaptive Guided Embeddings).

``sage.build(spec).fit()`` runs SAGE or any ablation described by a ``sage.SageSpec``.
"""

from sage import callbacks, losses, projectors, samplers, students, tasks
from sage.synthesis import strategies
from sage.engine import Distiller, FitResult, build
from sage.spec import SageSpec
from sage.spec.file import SpecError, load_spec

__all__ = [
    "Distiller",
    "FitResult",
    "SageSpec",
    "SpecError",
    "build",
    "callbacks",
    "load_spec",
    "losses",
    "projectors",
    "samplers",
    "strategies",
    "students",
    "tasks",
]
