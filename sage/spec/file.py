"""Loading a ``SageSpec`` from YAML or JSON, with ``--set`` overrides and errors that point at lines."""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from sage.spec.schema import SageSpec

Location = tuple[str | int, ...]


class SpecError(ValueError):
    """A spec that does not validate; every problem names where it is (file and line, or override) and the field."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("invalid spec:\n" + "\n".join(f"  {problem}" for problem in self.problems))


def _key_lines(node: yaml.Node, path: Location = ()) -> dict[Location, int]:
    """The 1-based line of every key (and list item) in a composed YAML document."""
    lines: dict[Location, int] = {}
    if isinstance(node, yaml.MappingNode):
        children = [((key.value,), key, value) for key, value in node.value]
    elif isinstance(node, yaml.SequenceNode):
        children = [((index,), item, item) for index, item in enumerate(node.value)]
    else:
        return lines
    for step, marker, child in children:
        lines[path + step] = marker.start_mark.line + 1
        lines.update(_key_lines(child, path + step))
    return lines


def read_spec_file(path: str | os.PathLike) -> tuple[dict[str, Any], dict[Location, str]]:
    """The file's data and, for each key path, ``file:line`` (JSON is read as the YAML it also is)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"spec file not found: {path}")
    text = path.read_text(encoding="utf-8")
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise SpecError([f"{path}: not valid YAML or JSON: {error}"]) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SpecError([f"{path}:1: a spec is a mapping of sections (task, teacher, ...), got {type(data).__name__}"])
    return data, {loc: f"{path}:{line}" for loc, line in _key_lines(node).items()}


def apply_override(data: dict[str, Any], override: str) -> Location:
    """Apply ``key.path=value`` (the value parsed as YAML) to ``data``; returns the key path."""
    key, separator, raw_value = override.partition("=")
    if not separator or not key.strip():
        raise SpecError([f"--set {override}: expected key.path=value, e.g. schedule.max_epochs=3"])
    path = tuple(key.strip().split("."))
    target = data
    for part in path[:-1]:
        child = target.setdefault(part, {})
        if not isinstance(child, dict):
            raise SpecError([f"--set {override}: {part!r} is a value, not a section"])
        target = child
    target[path[-1]] = yaml.safe_load(raw_value) if raw_value.strip() else None
    return path


def _section_fields(loc: Location) -> list[str] | None:
    """The field names of the spec section at ``loc``, if it is a fixed section."""
    model: type[BaseModel] = SageSpec
    for step in loc:
        field = model.model_fields.get(str(step))
        annotation = field.annotation if field else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return None
        model = annotation
    return list(model.model_fields)


def _describe(error: Mapping[str, Any], origins: Mapping[Location, str], default_origin: str) -> str:
    loc = tuple(error["loc"])
    origin = next((origins[loc[:n]] for n in range(len(loc), 0, -1) if loc[:n] in origins), default_origin)
    field = ".".join(str(part) for part in loc) or "(top level)"
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        valid = _section_fields(loc[:-1])
        message = "unknown field" + (f"; valid fields: {', '.join(valid)}" if valid else "")
    elif error["type"] != "spec":
        message += f" (got {error['input']!r})"
    return f"{origin}: {field}: {message}"


def load_spec(source: SageSpec | Mapping[str, Any] | str | os.PathLike, overrides: Sequence[str] = ()) -> SageSpec:
    """A validated spec from a ``SageSpec``, a mapping, or a YAML/JSON file, with overrides applied."""
    if isinstance(source, SageSpec) and not overrides:
        return source
    if isinstance(source, SageSpec):
        data, origins, default_origin = source.resolved(), {}, "spec"
    elif isinstance(source, Mapping):
        data, origins, default_origin = copy.deepcopy(dict(source)), {}, "spec"
    else:
        data, origins = read_spec_file(source)
        default_origin = str(source)
    for override in overrides:
        origins[apply_override(data, override)] = f"--set {override}"
    try:
        return SageSpec.model_validate(data)
    except ValidationError as error:
        raise SpecError([_describe(e, origins, default_origin) for e in error.errors()]) from error


def save_spec(spec: SageSpec, path: str | os.PathLike) -> Path:
    """Write the resolved spec (every default filled in) as YAML."""
    path = Path(path)
    path.write_text(yaml.safe_dump(spec.resolved(), sort_keys=False), encoding="utf-8")
    return path
