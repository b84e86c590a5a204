"""catalogue registries, one per component kind.

Each registry is also an entry-point group ``sage_<kind>``, so another package can add
components by declaring, e.g., ``[project.entry-points.sage_projectors] mine = "pkg:Mine"``;
a user's own module or file adds them when the command line imports it (``--import``).
"""

from __future__ import annotations

import difflib
import re

import catalogue

# What ``unknown_name_message`` writes, so that a spec error can tell an unregistered name from other problems.
_UNKNOWN_NAME = re.compile(r"unknown [\w ]+ .+; registered [\w ]+: ")


def create_registry(kind: str) -> catalogue.Registry:
    """A registry for one component kind (``projectors``, ``samplers``, ...)."""
    return catalogue.create("sage", kind, entry_points=True)


def unknown_name_message(kind: str, name: str, registry: catalogue.Registry) -> str:
    """Say that ``name`` is not registered, list what is, and suggest the closest."""
    known = sorted(registry.get_all())
    message = f"unknown {kind} {name!r}; registered {_plural(kind)}: {', '.join(known)}"
    close = difflib.get_close_matches(name, known, n=1)
    if close:
        message += f" (did you mean {close[0]!r}?)"
    return message


def is_unknown_name(message: str) -> bool:
    """Whether ``message`` is one that ``unknown_name_message`` wrote."""
    return _UNKNOWN_NAME.match(message) is not None


def _plural(kind: str) -> str:
    if kind.endswith("y"):
        return kind[:-1] + "ies"  # synthesis strategies
    return kind + ("es" if kind.endswith("s") else "s")  # losses, tasks
