"""``--import MODULE_OR_FILE``: the user's own components, registered before a spec is read.

A spec names registered components but executes no code, so a component defined in the user's
own module or file (a task, projector, strategy, ...) reaches ``sage run`` through an explicit
``--import`` on the command line, which imports it, and its ``register`` decorators run, before
the spec is loaded. What was imported is kept for the run to record: ``metrics.json`` lists it,
and the spec a run writes says which ``--import`` it needs.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import re
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from sage.errors import InputError

# What this process imported with ``--import``, in order: absolute paths of files, names of modules.
_IMPORTED: list[str] = []


class UserImportError(InputError):
    """An ``--import`` that could not be imported: no such file or module, or its code raised."""


def import_user_code(targets: Sequence[str]) -> list[str]:
    """Import each target, a dotted module name or a path to a ``.py`` file, in order; returns what
    was imported (a file's absolute path, a module's name) and adds it to ``imported()``."""
    records = [_import_one(target) for target in targets]
    _IMPORTED.extend(record for record in records if record not in _IMPORTED)
    return records


def imported() -> list[str]:
    """What this process imported with ``--import`` so far: absolute paths of files, names of modules."""
    return list(_IMPORTED)


def is_file_target(target: str) -> bool:
    """Whether ``--import target`` names a file (a path, or a name ending in .py) rather than a module."""
    return target.endswith(".py") or "/" in target or os.sep in target


def _import_one(target: str) -> str:
    if is_file_target(target):
        return _import_file(target)
    return _import_module(target)


def _import_file(target: str) -> str:
    path = Path(target).resolve()
    if not path.is_file():
        where = "a folder, not a file" if path.is_dir() else "no such file"
        raise UserImportError(f"--import {target}: {where} ({path}); give a .py file or a dotted module name")
    if path.suffix != ".py":
        raise UserImportError(f"--import {target}: not a Python file (it ends in {path.suffix or 'no suffix'}); give a .py file")
    # A name unique to the path, so that two files called components.py do not replace each other;
    # registered before the code runs, as an import does, so that dataclasses and pickle find it.
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:8]
    stem = re.sub(r"\W", "_", path.stem)
    name = f"sage_user_{stem}_{digest}"
    if name in sys.modules:  # imported already in this process: importing again changes nothing, as with import
        return str(path)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as error:
        del sys.modules[name]  # a failed import leaves nothing behind, as import does
        raise UserImportError(f"--import {target} failed: {_describe(error, module)}") from error
    return str(path)


def _import_module(target: str) -> str:
    # ``python -m`` puts the current directory first on sys.path; the ``sage`` script does not.
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(target)
    except ModuleNotFoundError as error:
        if error.name is not None and (target == error.name or target.startswith(f"{error.name}.")):
            raise UserImportError(
                f"--import {target}: no module named {error.name!r} in the current directory or the installed "
                "packages; give a dotted module name or a path to a .py file"
            ) from None
        raise UserImportError(f"--import {target} failed: {_describe(error, None)}") from error
    except Exception as error:
        raise UserImportError(f"--import {target} failed: {_describe(error, None)}") from error
    return module.__name__


def _describe(error: Exception, module: ModuleType | None) -> str:
    """The exception in one line, with the line of the user's code that raised it."""
    message = " ".join(str(error).split()) or "(no message)"
    frames = traceback.extract_tb(error.__traceback__)
    origin = getattr(module, "__file__", None)
    # The innermost frame in the user's file, else the innermost outside the import machinery.
    frame = next((f for f in reversed(frames) if origin and f.filename == origin), None) or next(
        (f for f in reversed(frames) if not f.filename.startswith("<frozen")), None
    )
    where = f" (at {frame.filename}:{frame.lineno})" if frame is not None and frame.filename != __file__ else ""
    return f"{type(error).__name__}: {message}{where}"
