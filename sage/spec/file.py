"""Loading a ``SageSpec`` from YAML or JSON, with ``--set`` overrides and errors that point at lines.

A spec file is read with a safe loader (no ``!!python`` tags) that also refuses a key given
twice in one mapping, where plain YAML would silently keep the last, and an alias that expands
the document past ``MAX_EXPANDED_NODES`` (a "billion laughs" bomb). A spec file gives at least
its ``task`` section; a mapping or a ``SageSpec`` may leave everything to the defaults.

A spec stays data: a component from the user's own code is imported by ``--import`` on the
command line, never by the spec. The spec a run writes names those imports in a leading comment,
so that loading it without them says which ``--import`` to pass.
"""

from __future__ import annotations

import copy
import os
import shlex
from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from sage.errors import InputError
from sage.imports import imported
from sage.registry import is_unknown_name
from sage.spec.schema import SageSpec

Location = tuple[str | int, ...]

# The spec's paths that a spec file may give relative to its own folder (a task's data files among them).
RELATIVE_PATHS: tuple[Location, ...] = (
    ("task", "data_dir"), ("task", "train"), ("task", "dev"), ("task", "unlabelled"), ("teacher", "path"), ("output_dir",)
)

# The leading comment of a spec written by a run with ``--import``: ``# written by sage run --import X ...``.
IMPORTS_COMMENT = "# written by sage run"

# A spec with every section written out is a few hundred YAML nodes; aliases that expand a document
# past this many are a bomb, whose nine lines would take minutes and gigabytes to construct.
MAX_EXPANDED_NODES = 10_000


class SpecError(InputError):
    """A spec that does not validate; every problem names where it is (file and line, or override) and the field."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("invalid spec:\n" + "\n".join(f"  {problem}" for problem in self.problems))


class DuplicateKeyError(yaml.constructor.ConstructorError):
    """A key given twice in one YAML mapping."""

    def __init__(self, key: Any, line: int, first_line: int) -> None:
        self.key, self.line, self.first_line = key, line, first_line
        super().__init__(problem=f"duplicate key {key!r} at line {line} (first at line {first_line})")


class AliasError(yaml.composer.ComposerError):
    """An alias that expands its document past ``MAX_EXPANDED_NODES``, or into itself."""

    def __init__(self, event: yaml.AliasEvent, problem: str) -> None:
        super().__init__(problem=f"alias *{event.anchor} {problem}", problem_mark=event.start_mark)
        self.line = event.start_mark.line + 1


class SpecLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses duplicate keys (a ``<<`` merge may still be overridden) and
    aliases that expand the document past ``MAX_EXPANDED_NODES``."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        # The document's size with every alias expanded, as composed so far, and each composed
        # node's own expanded size by identity: an alias then costs one lookup, so counting is
        # linear in the text however deep the aliases nest.
        self.expanded_nodes = 0
        self.expanded_sizes: dict[int, int] = {}

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        if not self.check_event(yaml.AliasEvent):
            before = self.expanded_nodes
            node = super().compose_node(parent, index)
            self.expanded_nodes += 1
            self.expanded_sizes[id(node)] = self.expanded_nodes - before
            return node
        event = self.peek_event()
        node = super().compose_node(parent, index)
        size = self.expanded_sizes.get(id(node))
        if size is None:  # its anchor's node is still being composed: it holds the alias
            raise AliasError(event, "refers to a node that contains it; a spec cannot be recursive")
        self.expanded_nodes += size
        if self.expanded_nodes > MAX_EXPANDED_NODES:
            raise AliasError(
                event,
                f"expands the document past {MAX_EXPANDED_NODES:,} keys and values, where a spec has a few hundred; "
                f"aliases of aliases multiply: nest fewer",
            )
        return node

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        first_lines: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, Hashable):
                continue  # the base constructor refuses it
            line = key_node.start_mark.line + 1
            if key in first_lines:
                raise DuplicateKeyError(key, line, first_lines[key])
            first_lines[key] = line
        return super().construct_mapping(node, deep=deep)


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
    loader = SpecLoader(path.read_text(encoding="utf-8"))
    try:
        node = loader.get_single_node()
        # Lines first: constructing a mapping flattens its ``<<`` merges into the node in place.
        lines = _key_lines(node)
        data = None if node is None else loader.construct_document(node)
    except DuplicateKeyError as error:
        raise SpecError(
            [f"{path}:{error.line}: {error.key}: duplicate key, first given at line {error.first_line}; give each key once"]
        ) from None
    except AliasError as error:
        raise SpecError([f"{path}:{error.line}: {error.problem}"]) from None
    except yaml.YAMLError as error:
        raise SpecError([f"{path}: not valid YAML or JSON: {error}"]) from None
    finally:
        loader.dispose()
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SpecError([f"{path}:1: a spec is a mapping of sections (task, teacher, ...), got {type(data).__name__}"])
    return data, {loc: f"{path}:{line}" for loc, line in lines.items()}


def _check_names_a_task(data: Mapping[str, Any], path: str | os.PathLike) -> None:
    """Refuse a spec file without a ``task`` section: an empty file, or one whose task was left
    out, would otherwise start the default run (all of SST-2, hours on a CPU) without a word."""
    if "task" in data:
        return
    found = f"has no task section (it gives {', '.join(map(str, data))})" if data else "gives no sections"
    raise SpecError(
        [
            f"{path}: the spec file {found}; a spec file gives at least its task, for example "
            f"'task: {{name: sst2}}' (the other sections have defaults)"
        ]
    )


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
    try:
        target[path[-1]] = yaml.load(raw_value, Loader=SpecLoader) if raw_value.strip() else None
    except yaml.YAMLError as error:
        raise SpecError([f"--set {override}: the value is not valid YAML: {error}"]) from None
    return path


def resolve_relative_paths(data: dict[str, Any], folder: Path) -> None:
    """Make the relative paths among ``RELATIVE_PATHS`` in ``data`` absolute, read from ``folder``.

    A spec file's paths are relative to the file, so that it means the same run from any working
    directory; the resolved spec, written beside the results, then holds absolute paths.
    """
    for *sections, key in RELATIVE_PATHS:
        target: Any = data
        for section in sections:
            target = target.get(section) if isinstance(target, dict) else None
        value = target.get(key) if isinstance(target, dict) else None
        if isinstance(value, str) and not Path(value).is_absolute():
            target[key] = os.path.abspath(folder / value)


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


def _origin(loc: Location, origins: Mapping[Location, str], default_origin: str) -> str:
    """Where the value at ``loc`` was given: at its own key or the nearest above it, else at the
    first key below it (a ``--set`` into a section the file does not have)."""
    above = next((origins[loc[:n]] for n in range(len(loc), 0, -1) if loc[:n] in origins), None)
    below = next((origin for key, origin in origins.items() if loc and key[: len(loc)] == loc), None)
    return above or below or default_origin


def describe_problem(error: Mapping[str, Any], origins: Mapping[Location, str], default_origin: str) -> str:
    loc = tuple(error["loc"])
    origin = _origin(loc, origins, default_origin)
    field = ".".join(str(part) for part in loc) or "(top level)"
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        valid = _section_fields(loc[:-1])
        message = "unknown field" + (f"; valid fields: {', '.join(valid)}" if valid else "")
    elif error["type"] != "spec":
        message += f" (got {error['input']!r})"
    return f"{origin}: {field}: {message}"


def load_spec(source: SageSpec | Mapping[str, Any] | str | os.PathLike, overrides: Sequence[str] = ()) -> SageSpec:
    """A validated spec from a ``SageSpec``, a mapping, or a YAML/JSON file, with overrides applied.

    Relative ``task.data_dir``, ``teacher.path`` and ``output_dir`` in a file are read from the
    file's folder; in a mapping, a ``SageSpec`` or an override they are relative to the current
    directory, as a path given on the command line is.
    """
    if isinstance(source, SageSpec) and not overrides:
        return source
    if isinstance(source, SageSpec):
        data, origins, default_origin = source.resolved(), {}, "spec"
    elif isinstance(source, Mapping):
        data, origins, default_origin = copy.deepcopy(dict(source)), {}, "spec"
    else:
        data, origins = read_spec_file(source)
        _check_names_a_task(data, source)
        resolve_relative_paths(data, Path(source).parent)
        default_origin = str(source)
    for override in overrides:
        origins[apply_override(data, override)] = f"--set {override}"
    try:
        return SageSpec.model_validate(data)
    except ValidationError as error:
        problems = [describe_problem(e, origins, default_origin) for e in error.errors()]
        if not isinstance(source, (SageSpec, Mapping)):
            problems += _missing_imports_hint(source, error)
        raise SpecError(problems) from error


def _missing_imports_hint(path: str | os.PathLike, error: ValidationError) -> list[str]:
    """For a spec written by a run with ``--import``, loaded without it, that names a component
    that is not registered: the line that says which ``--import`` to pass."""
    if not any(is_unknown_name(problem["msg"].removeprefix("Value error, ")) for problem in error.errors()):
        return []
    missing = [target for target in spec_file_imports(path) if target not in imported()]
    if not missing:
        return []
    given = " ".join(shlex.join(["--import", target]) for target in missing)
    return [
        f"{path}:1: this spec was written by a run with {given}: pass the same --import "
        f"(from Python, import that code first), so that its components are registered"
    ]


def spec_file_imports(path: str | os.PathLike) -> list[str]:
    """The ``--import`` targets a spec file's leading comment says the run that wrote it had."""
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            if not line.startswith("#"):
                break
            if line.startswith(IMPORTS_COMMENT):
                try:
                    words = shlex.split(line.removeprefix(IMPORTS_COMMENT))
                except ValueError:  # a comment edited by hand out of shape: it names nothing
                    return []
                if len(words) % 2 == 0 and set(words[::2]) == {"--import"}:
                    return words[1::2]
    return []


def save_spec(spec: SageSpec, path: str | os.PathLike, imports: Sequence[str] = ()) -> Path:
    """Write the resolved spec (every default filled in) as YAML, after a comment naming the
    ``--import`` targets the spec's components may come from (a run passes ``imported()``)."""
    path = Path(path)
    header = f"{IMPORTS_COMMENT} {' '.join(shlex.join(['--import', target]) for target in imports)}\n" if imports else ""
    path.write_text(header + yaml.safe_dump(spec.resolved(), sort_keys=False), encoding="utf-8")
    return path
