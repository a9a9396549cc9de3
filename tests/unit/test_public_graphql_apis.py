"""graph/ uses only the public APIs of Strawberry and graphql-core, so both can be
upgraded like any dependency (pyproject.toml has lower bounds only): no name starting with
one underscore (a dunder is fine) is imported from them, read from their objects,
overridden in a subclass of theirs, or called through `super()`.

Read from the source (ast): where an underscore attribute is read on `self`, `cls` or
`super()`, the class's own bases decide whether it is theirs; on any other object, whether
either library defines that name anywhere.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
import types
from functools import cache
from pathlib import Path

import graphql
import strawberry

GRAPH = Path(__file__).resolve().parents[2] / "graph"
LIBRARIES = ("strawberry", "graphql")
_DEFINED = re.compile(
    r"(?:def|class)\s+(_[A-Za-z0-9]\w*)|self\.(_[A-Za-z0-9]\w*)\s*[:=]|^\s*(_[A-Za-z0-9]\w*)\s*[:=]",
    re.MULTILINE,
)


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _is_library(module: str | None) -> bool:
    return module is not None and module.split(".")[0] in LIBRARIES


@cache
def library_private_names() -> frozenset[str]:
    """Every underscore name either library defines (functions, classes, attributes)."""
    names: set[str] = set()
    for package in (strawberry, graphql):
        for path in Path(str(package.__file__)).parent.rglob("*.py"):
            for match in _DEFINED.finditer(path.read_text(encoding="utf-8")):
                names.add(next(group for group in match.groups() if group))
    return frozenset(names)


def _library_defines(owner: type, name: str) -> bool:
    """Whether a Strawberry or graphql-core class among `owner`'s bases defines `name`
    (as a class attribute, or as an attribute its code sets on instances)."""
    for base in owner.__mro__[1:]:
        if not _is_library(base.__module__):
            continue
        if name in vars(base) or f"self.{name}" in _source_of(base):
            return True
    return False


@cache
def _source_of(base: type) -> str:
    try:
        return inspect.getsource(base)
    except (OSError, TypeError):
        return ""


def _defined_in_body(node: ast.ClassDef) -> list[str]:
    names: list[str] = []
    for item in node.body:
        if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.append(item.name)
        elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
            names.append(item.target.id)
        elif isinstance(item, ast.Assign):
            names.extend(target.id for target in item.targets if isinstance(target, ast.Name))
    return names


def _module_name(path: Path) -> str:
    return ".".join(path.relative_to(GRAPH.parent).with_suffix("").parts)


class _Finder(ast.NodeVisitor):
    def __init__(self, path: Path) -> None:
        self.path = path
        self.module = importlib.import_module(_module_name(path))
        self.classes: list[type | None] = []
        self.found: list[str] = []

    def _flag(self, node: ast.AST, what: str) -> None:
        line = getattr(node, "lineno", 0)
        self.found.append(f"{self.path.relative_to(GRAPH.parent)}:{line}: {what}")

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            parts = alias.name.split(".")
            if _is_library(alias.name) and any(_private(part) for part in parts):
                self._flag(node, f"import {alias.name}")

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if not _is_library(node.module):
            return
        assert node.module is not None
        if any(_private(part) for part in node.module.split(".")):
            self._flag(node, f"from {node.module} import …")
        for alias in node.names:
            if _private(alias.name):
                self._flag(node, f"from {node.module} import {alias.name}")

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        owner = getattr(self.module, node.name, None) if not self.classes else None
        owner = owner if isinstance(owner, type) else None
        if owner is not None:
            for name in _defined_in_body(node):
                if _private(name) and _library_defines(owner, name):
                    self._flag(node, f"{node.name} overrides {name}")
        self.classes.append(owner)
        self.generic_visit(node)
        self.classes.pop()

    def visit_Attribute(self, node: ast.Attribute) -> None:
        self.generic_visit(node)
        if not _private(node.attr):
            return
        receiver = node.value
        is_super = (
            isinstance(receiver, ast.Call)
            and isinstance(receiver.func, ast.Name)
            and receiver.func.id == "super"
        )
        on_self = isinstance(receiver, ast.Name) and receiver.id in {"self", "cls"}
        if is_super or on_self:
            owner = self.classes[-1] if self.classes else None
            if owner is not None and _library_defines(owner, node.attr):
                self._flag(node, f"{ast.unparse(node)} (a name of a library base class)")
        elif node.attr in library_private_names():
            self._flag(node, f"{ast.unparse(node)} (a name Strawberry or graphql-core defines)")


def private_library_names(root: Path = GRAPH) -> list[str]:
    found: list[str] = []
    for path in sorted(root.rglob("*.py")):
        finder = _Finder(path)
        finder.visit(ast.parse(path.read_text(encoding="utf-8"), str(path)))
        found.extend(finder.found)
    return found


def test_graph_uses_no_private_name_of_strawberry_or_graphql_core() -> None:
    assert private_library_names() == []


SAMPLE = """
from strawberry.extensions import MaskErrors
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    _OperationStreamClosed,
)


class Masking(MaskErrors):
    def _process_result(self, result):
        super()._process_result(result)
        return self._stream_result_processed


def stream(schema):
    return schema._stream(None)
"""


def test_the_check_finds_each_way_of_reaching_a_private_name() -> None:
    module = types.ModuleType("sample")
    exec(compile(SAMPLE, "sample.py", "exec"), module.__dict__)  # noqa: S102 (our own text)
    finder = _Finder.__new__(_Finder)
    finder.path, finder.module, finder.classes, finder.found = GRAPH / "s.py", module, [], []

    finder.visit(ast.parse(SAMPLE))

    assert [entry.split(": ", 1)[1] for entry in finder.found] == [
        "from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import "
        "_OperationStreamClosed",
        "Masking overrides _process_result",
        "super()._process_result (a name of a library base class)",
        "self._stream_result_processed (a name of a library base class)",
        "schema._stream (a name Strawberry or graphql-core defines)",
    ]
