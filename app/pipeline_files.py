"""Pipeline files: one YAML document per pipeline (its source, spec and operations), with
the line of every node, so an error path from the API points at a line of the file."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from pathlib import Path

# File key -> the API's PipelineOperationsInput field.
OPERATIONS = {
    "max_attempts": "maxAttempts",
    "timeout_seconds": "timeoutSeconds",
    "concurrency": "concurrency",
    "schedule": "schedule",
    "timezone": "timezone",
}
_INTEGER_OPERATIONS = {"max_attempts", "timeout_seconds", "concurrency"}
SOURCE_KEYS = ("name", "kind", "uri", "options")
SUFFIXES = (".yaml", ".yml")
# API error paths name inputs in camelCase (and ids): the file key they came from.
_API_NAMES = {
    "sourceId": "source",
    "source_id": "source",
    "pipelineId": "name",
    "id": "name",
    **{api: key for key, api in OPERATIONS.items()},
}


class PipelineFileError(Exception):
    """A problem in a pipeline file, at a line (1-based)."""

    def __init__(self, path: Path, line: int, code: str, message: str) -> None:
        super().__init__(f"{path}:{line}: {code}: {message}")
        self.path = path
        self.line = line
        self.code = code
        self.message = message


class _Loader(yaml.SafeLoader):
    """Safe YAML whose values are JSON: dates stay strings, as the API takes them."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


@dataclass(frozen=True)
class SourceDefinition:
    """A source by name; kind and uri given means it is defined (created or updated) here,
    omitted means the file refers to an existing source."""

    name: str
    kind: str | None = None
    uri: str | None = None
    options: dict[str, Any] | None = None

    @property
    def defined(self) -> bool:
        return self.kind is not None or self.uri is not None or self.options is not None


@dataclass(frozen=True)
class PipelineFile:
    path: Path
    name: str
    source: SourceDefinition
    spec: dict[str, Any]
    # Only the operations the file sets, keyed by the API's field names.
    operations: dict[str, Any]
    tree: yaml.MappingNode = field(repr=False, compare=False)

    def line_of(self, path: Sequence[str]) -> int:
        """The line of the deepest node along `path` (file keys and list indexes)."""
        return _line_along(self.tree, path)

    def line_of_api_error(self, api_path: Sequence[str], *, in_source: bool = False) -> int:
        """Where an API error's `path` points: a source mutation's inputs live under
        `source:`, a pipeline's under the file's top level (the spec is spread there)."""
        parts = list(api_path)
        if parts[:1] == ["input"]:
            parts = parts[1:]
        if in_source:
            return self.line_of(["source", *parts])
        if parts[:1] == ["spec"] and "spec" not in self.spec:
            parts = parts[1:]
        if parts:
            parts[0] = _API_NAMES.get(parts[0], parts[0])
        return self.line_of(parts)

    def error(self, path: Sequence[str], code: str, message: str) -> PipelineFileError:
        return PipelineFileError(self.path, self.line_of(path), code, message)


def find_files(paths: Iterable[Path]) -> list[Path]:
    """The files named, and the *.yaml / *.yml files in the folders named, in order."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(p for p in path.iterdir() if p.suffix in SUFFIXES))
        else:
            found.append(path)
    return found


def load(path: Path) -> PipelineFile:
    """Read and check one pipeline file; a problem raises PipelineFileError with its line."""
    tree, data = _parse(path)
    checked = _Checker(path, tree)
    name = checked.string(data, "name", required=True)
    assert name is not None
    source = checked.source(data.get("source"))
    operations = {
        OPERATIONS[key]: checked.operation(key, data[key]) for key in OPERATIONS if key in data
    }
    spec = {k: v for k, v in data.items() if k not in {"name", "source", *OPERATIONS}}
    checked.json_values(spec)
    return PipelineFile(path, name, source, spec, operations, tree)


def _parse(path: Path) -> tuple[yaml.MappingNode, dict[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise PipelineFileError(path, 1, "FILE_UNREADABLE", str(error)) from None
    loader = _Loader(text)
    try:
        tree = loader.get_single_node()
        data = loader.construct_document(tree) if tree is not None else None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark else 1
        problem = ", ".join(part for part in (error.context, error.problem) if part)
        raise PipelineFileError(path, line, "YAML_INVALID", problem or "not YAML") from None
    except yaml.YAMLError as error:
        raise PipelineFileError(path, 1, "YAML_INVALID", str(error)) from None
    finally:
        loader.dispose()
    if not isinstance(tree, yaml.MappingNode) or not isinstance(data, dict):
        line = tree.start_mark.line + 1 if tree is not None else 1
        raise PipelineFileError(
            path, line, "FILE_INVALID", "a pipeline file is a mapping with name, source, steps…"
        )
    return tree, data


class _Checker:
    """Checks a file's own structure (the API checks the spec), naming the line."""

    def __init__(self, path: Path, tree: yaml.MappingNode) -> None:
        self.path = path
        self.tree = tree

    def fail(self, where: Sequence[str], message: str) -> PipelineFileError:
        return PipelineFileError(self.path, _line_along(self.tree, where), "FILE_INVALID", message)

    def string(
        self, data: dict[str, Any], key: str, *, required: bool, prefix: Sequence[str] = ()
    ) -> str | None:
        value = data.get(key)
        if value is None and not required:
            return None
        if not isinstance(value, str) or not value:
            where = ".".join([*prefix, key])
            raise self.fail([*prefix, key], f"{where}: must be a non-empty string")
        return value

    def source(self, value: object) -> SourceDefinition:
        if isinstance(value, str) and value:
            return SourceDefinition(name=value)
        if not isinstance(value, dict):
            raise self.fail(["source"], "source: a source name, or {name, kind, uri, options}")
        unknown = sorted(set(value) - set(SOURCE_KEYS))
        if unknown:
            known = ", ".join(SOURCE_KEYS)
            raise self.fail(["source", unknown[0]], f"source.{unknown[0]}: not one of {known}")
        name = self.string(value, "name", required=True, prefix=["source"])
        assert name is not None
        kind = self.string(value, "kind", required=False, prefix=["source"])
        uri = self.string(value, "uri", required=False, prefix=["source"])
        options = value.get("options")
        if options is not None and not isinstance(options, dict):
            raise self.fail(["source", "options"], "source.options: must be a mapping")
        if options is not None:
            self.json_values(options, ["source", "options"])
        return SourceDefinition(name=name, kind=kind, uri=uri, options=options)

    def operation(self, key: str, value: object) -> object:
        if key in _INTEGER_OPERATIONS:
            if isinstance(value, bool) or not isinstance(value, int):
                raise self.fail([key], f"{key}: must be a whole number")
            return value
        if key == "schedule" and value is None:
            return ""  # the API's way to remove a schedule
        if not isinstance(value, str):
            raise self.fail([key], f"{key}: must be a string")
        return value

    def json_values(self, data: dict[str, Any], where: Sequence[str] = ()) -> None:
        for key, value in data.items():
            try:
                json.dumps(value, allow_nan=False)
            except (TypeError, ValueError):
                path = [*where, str(key)]
                raise self.fail(path, f"{'.'.join(path)}: not a JSON value") from None


def _line_along(tree: yaml.Node, path: Sequence[str]) -> int:
    node, line = tree, tree.start_mark.line
    for part in path:
        child = _child(node, part)
        if child is None:
            break
        line, node = child
    return line + 1


def _child(node: yaml.Node, part: str) -> tuple[int, yaml.Node] | None:
    """The line of `part` in `node` (a mapping's key, a list's item) and its value."""
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == part:
                return key.start_mark.line, value
    if isinstance(node, yaml.SequenceNode) and part.isdigit() and int(part) < len(node.value):
        item: yaml.Node = node.value[int(part)]
        return item.start_mark.line, item
    return None
