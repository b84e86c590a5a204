"""sage: knowledge distillation of text classifiers by SAGE (Synthetic Adaptive Guided Embeddings).

``sage.build(spec).fit()`` runs SAGE or any ablation described by a ``sage.SageSpec``.

The public names are imported on first use (PEP 562): importing them all loads torch,
transformers and umap, about 15 s on a small CPU, which ``sage --help`` must not wait for.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # what the names below are, for type checkers and editors
    from sage import callbacks, losses, projectors, samplers, students, tasks
    from sage.engine import Distiller, FitResult, build
    from sage.spec import SageSpec
    from sage.spec.file import SpecError, load_spec
    from sage.synthesis import strategies

# Public name -> (module, attribute in it); attribute None: the name is the module itself.
_PUBLIC: dict[str, tuple[str, str | None]] = {
    "Distiller": ("sage.engine", "Distiller"),
    "FitResult": ("sage.engine", "FitResult"),
    "build": ("sage.engine", "build"),
    "SageSpec": ("sage.spec", "SageSpec"),
    "SpecError": ("sage.spec.file", "SpecError"),
    "load_spec": ("sage.spec.file", "load_spec"),
    "callbacks": ("sage.callbacks", None),
    "losses": ("sage.losses", None),
    "projectors": ("sage.projectors", None),
    "samplers": ("sage.samplers", None),
    "strategies": ("sage.synthesis.strategies", None),
    "students": ("sage.students", None),
    "tasks": ("sage.tasks", None),
}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module 'sage' has no attribute {name!r}")
    module_name, attribute = _PUBLIC[name]
    module = importlib.import_module(module_name)
    value = module if attribute is None else getattr(module, attribute)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
