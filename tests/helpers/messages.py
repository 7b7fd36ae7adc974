"""The error messages covid-etl can print, read from its source code, and the ones
docs/troubleshooting.md documents.

A message in the code is a *template*: the text of the string or f-string handed to an error
class of the package (``raise StoreError(f"...")``), to ``ValueError`` in a settings or cron
parser (whose text ends up in the ``is invalid:`` line), or to the command line's ``fail``. Each
f-string placeholder is a wildcard. A local variable holding a string is followed to its
assignments, so ``raise ValueError(form)`` yields each ``form = "..."`` of the function.

A documented message is a line of a ``text`` block of the page; ``<name>`` stands for a part that
changes. A template is covered when it matches some documented line, its wildcards matching the
line's ``<name>`` parts or any text.
"""

from __future__ import annotations

import ast
import itertools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

# Where the printed messages come from. Left out: the web layer, whose errors are HTTP answers
# (docs/api.md, "Errors"), and the AWS smoke test, a separate tool with its own report
# (docs/deploy-aws.md, "The smoke test").
LEFT_OUT = ("web/", "aws/smoke.py")
# Raised with something other than a message first (a stage, an event id, a rendered
# notification); their sentences are the f-strings of errors.py, which are collected instead.
NOT_MESSAGE_FIRST = frozenset({"StageFailed", "DuplicateEvent", "RunFailed"})
# The settings and cron parsers raise ValueError, which settings_from_env turns into
# "COVID_ETL_X='...' is invalid: <the ValueError's text>".
VALUE_ERROR_MODULES = frozenset({"settings.py", "cron.py"})
WILDCARD = "\0"  # stands for a placeholder inside a template until it becomes a regex


@dataclass(frozen=True, slots=True)
class Template:
    text: str  # the message with WILDCARD where the code fills something in
    where: str  # module:line, for a failure message

    @property
    def shown(self) -> str:
        return self.text.replace(WILDCARD, "{...}")

    @property
    def literal(self) -> str:
        return self.text.replace(WILDCARD, "").strip()

    def pattern(self) -> re.Pattern[str]:
        parts = (re.escape(part) for part in self.text.split(WILDCARD))
        return re.compile(".*?".join(parts))


# -- the code -----------------------------------------------------------------------------------


def error_classes(modules: dict[str, ast.Module]) -> set[str]:
    """Every class of the package rooted in EtlError (errors.py and any module's own)."""
    found = {"EtlError"}
    while True:
        more = {
            node.name
            for tree in modules.values()
            for node in ast.walk(tree)
            if isinstance(node, ast.ClassDef)
            and any(isinstance(base, ast.Name) and base.id in found for base in node.bases)
        }
        if more <= found:
            return found
        found |= more


def templates_in(modules: dict[str, ast.Module]) -> list[Template]:
    """Every message template of ``modules`` (module name -> parsed source)."""
    classes = error_classes(modules) - NOT_MESSAGE_FIRST
    # The command line's helpers live in one module (cli/common.py) and are called from the
    # others: a command module's `fail(...)` counts wherever `fail` is defined.
    shared = set().union(
        *(_factories(tree, classes) for name, tree in modules.items() if name.startswith("cli/"))
    )
    found: list[Template] = []
    for name, tree in sorted(modules.items()):
        if name.startswith(LEFT_OUT):
            continue
        callers = classes | ({"ValueError"} if Path(name).name in VALUE_ERROR_MODULES else set())
        found += _Collector(name, callers | shared | _factories(tree, callers)).collect(tree)
        if name == "errors.py":
            found += _composed_in_errors(tree)
    return found


def _call_name(call: ast.Call) -> str | None:
    func = call.func
    if isinstance(func, ast.Name):
        return func.id
    return func.attr if isinstance(func, ast.Attribute) else None


def _factories(tree: ast.Module, callers: set[str]) -> set[str]:
    """Functions that pass their first argument on as a message: the command line's ``fail``
    (which prints ``Error: {message}``) and helpers such as ``problem(message, column)`` that
    build an error from it."""
    names = set()
    for func in ast.walk(tree):
        if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        parameters = [a.arg for a in func.args.args if a.arg not in ("self", "cls")]
        if not parameters:
            continue
        first = parameters[0]
        for node in ast.walk(func):
            if isinstance(node, ast.JoinedStr) and _prints_error(node, first):
                names.add(func.name)
            if (
                isinstance(node, ast.Call)
                and _call_name(node) in callers
                and node.args
                and isinstance(node.args[0], ast.Name)
                and node.args[0].id == first
            ):
                names.add(func.name)
    return names


def _prints_error(node: ast.JoinedStr, parameter: str) -> bool:
    """``f"Error: {parameter}"``: what the command line's fail helpers print."""
    head, *rest = node.values
    return (
        isinstance(head, ast.Constant)
        and head.value == "Error: "
        and bool(rest)
        and isinstance(rest[0], ast.FormattedValue)
        and isinstance(rest[0].value, ast.Name)
        and rest[0].value.id == parameter
    )


class _Collector:
    """Walks one module, keeping each function's string assignments in scope."""

    def __init__(self, module: str, callers: set[str]) -> None:
        self.module = module
        self.callers = callers
        self.found: list[Template] = []

    def collect(self, tree: ast.Module) -> list[Template]:
        self._visit(tree, [])
        return self.found

    def _visit(self, node: ast.AST, scopes: list[dict[str, list[ast.expr]]]) -> None:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            scopes = [*scopes, _assignments(node)]
        if isinstance(node, ast.Call) and _call_name(node) in self.callers and node.args:
            for text in _texts(node.args[0], scopes):
                self.found.append(Template(text, f"{self.module}:{node.lineno}"))
        for child in ast.iter_child_nodes(node):
            self._visit(child, scopes)


def _assignments(func: ast.FunctionDef | ast.AsyncFunctionDef) -> dict[str, list[ast.expr]]:
    """Name -> the values a function assigns to it (not those of nested functions)."""
    found: dict[str, list[ast.expr]] = {}
    pending: list[ast.AST] = list(func.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            continue
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name):
                found.setdefault(target.id, []).append(node.value)
        pending.extend(ast.iter_child_nodes(node))
    return found


def _texts(node: ast.expr, scopes: list[dict[str, list[ast.expr]]], depth: int = 0) -> list[str]:
    """The templates an expression can produce; none when it is not built from text here (an
    exception's message passed on, a call): the template is then collected where it was made."""
    if depth > 3:
        return []
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.JoinedStr):
        options: list[list[str]] = []
        for value in node.values:
            if isinstance(value, ast.Constant):
                options.append([str(value.value)])
            else:
                inner = value.value if isinstance(value, ast.FormattedValue) else None
                local = _texts(inner, scopes, depth + 1) if isinstance(inner, ast.Name) else []
                options.append(local or [WILDCARD])
        return ["".join(choice) for choice in itertools.product(*options)]
    if isinstance(node, ast.IfExp):
        return [*_texts(node.body, scopes, depth), *_texts(node.orelse, scopes, depth)]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left = _texts(node.left, scopes, depth) or [WILDCARD]
        right = _texts(node.right, scopes, depth) or [WILDCARD]
        return [a + b for a, b in itertools.product(left, right)]
    if isinstance(node, ast.Name):
        for scope in reversed(scopes):
            if node.id in scope:
                return [t for value in scope[node.id] for t in _texts(value, scopes, depth + 1)]
    return []


def _composed_in_errors(tree: ast.Module) -> list[Template]:
    """The sentences errors.py composes from its parts (``super().__init__(f"...")`` and
    ``self.message = f"..."``): the located parse error, missing columns, a failed stage."""
    found = []
    for node in ast.walk(tree):
        value: ast.expr | None = None
        if isinstance(node, ast.Call) and _call_name(node) == "__init__" and node.args:
            value = node.args[0]
        elif isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Attribute) and t.attr == "message" for t in node.targets
        ):
            value = node.value
        if isinstance(value, ast.JoinedStr):
            found += [Template(t, f"errors.py:{value.lineno}") for t in _texts(value, [])]
    return found


def package_templates(package: Path) -> list[Template]:
    """Every message template of the package at ``package``, with some literal text (a
    template that is only placeholders says nothing to look up)."""
    modules = {
        str(path.relative_to(package)): ast.parse(path.read_text(encoding="utf-8"))
        for path in sorted(package.rglob("*.py"))
    }
    return [t for t in templates_in(modules) if len(t.literal) >= 3]


# -- the page -----------------------------------------------------------------------------------

PLACEHOLDER = re.compile(r"<[^<>\s][^<>]*>")
EXIT_CODE = re.compile(r"\*\*exit code (\d)\*\*|\*\*exit code (\d)\.\*\*", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Entry:
    title: str
    lines: tuple[str, ...]  # the documented messages
    exit_codes: frozenset[int]
    no_exit_code: bool  # an entry about AWS Lambda or a log line: "**No exit code**"

    def matches(self, printed: str) -> bool:
        return any(line_pattern(line).fullmatch(printed) for line in self.lines)


def line_pattern(documented: str) -> re.Pattern[str]:
    """A documented line as a regex: each ``<name>`` matches any text."""
    parts = (re.escape(part) for part in PLACEHOLDER.split(documented))
    return re.compile(".+?".join(parts))


def page_entries(markdown: str) -> list[Entry]:
    """One entry per ``###`` section: its ``text`` blocks' lines and its exit codes."""
    entries = []
    for section in re.split(r"^### ", markdown, flags=re.MULTILINE)[1:]:
        title, _, body = section.partition("\n")
        blocks = re.findall(r"^```text\n(.*?)^```", body, flags=re.MULTILINE | re.DOTALL)
        lines = tuple(line for block in blocks for line in block.splitlines() if line.strip())
        codes = frozenset(int(a or b) for a, b in EXIT_CODE.findall(body))
        entries.append(Entry(title.strip(), lines, codes, "**No exit code**" in body))
    return entries


def documented_lines(markdown: str) -> list[str]:
    """Every line of every ``text`` block of the page."""
    blocks = re.findall(r"^```text\n(.*?)^```", markdown, flags=re.MULTILINE | re.DOTALL)
    return [line for block in blocks for line in block.splitlines() if line.strip()]


def undocumented(templates: Iterable[Template], lines: list[str]) -> Iterator[Template]:
    """The templates no documented line matches."""
    for template in templates:
        pattern = template.pattern()
        if not any(pattern.search(line) for line in lines):
            yield template
