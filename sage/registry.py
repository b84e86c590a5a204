"""catalogue registries, one per component kind.

Each registry is also an entry-point group ``sage_<kind>``, so another package can add
components by declaring, e.g., ``[project.entry-points.sage_projectors] mine = "pkg:Mine"``.
"""

from __future__ import annotations

import difflib

import catalogue


def create_registry(kind: str) -> catalogue.Registry:
    """A registry for one component kind (``projectors``, ``samplers``, ...)."""
    return catalogue.create("sage", kind, entry_points=True)


def unknown_name_message(kind: str, name: str, registry: catalogue.Registry) -> str:
    """Say that ``name`` is not registered, list what is, and suggest the closest."""
    known = sorted(registry.get_all())
    message = f"unknown {kind} {name!r}; registered {kind}s: {', '.join(known)}"
    close = difflib.get_close_matches(name, known, n=1)
    if close:
        message += f" (did you mean {close[0]!r}?)"
    return message
