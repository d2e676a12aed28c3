"""No code outside the domain decides anything by a domain error's words.

The domain's FieldError carries a field, a code and parameters; its `message` is the plain
English for API clients. The pages (and notifications) choose their own words from the
code, so a change of wording in pledges/ can never silently change what they do. This test
walks their source and fails on a `.message` (or a name taken from one, or a parameter
called `message`) that is compared (==, !=, in, not in) or searched (startswith, endswith).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHECKED = ("app", "notifications")
SEARCHES = {"startswith", "endswith", "find", "index", "count", "__contains__"}


def _mentions_message(node: ast.AST, tainted: set[str]) -> bool:
    for part in ast.walk(node):
        if isinstance(part, ast.Attribute) and part.attr == "message":
            return True
        if isinstance(part, ast.Name) and part.id in tainted:
            return True
    return False


def _tainted_names(scope: ast.AST) -> set[str]:
    """Names in `scope` that hold a message: text parameters called so, and names
    assigned from an expression that reads a `.message`."""
    tainted: set[str] = set()
    for node in ast.walk(scope):
        if (
            isinstance(node, ast.arg)
            and "message" in node.arg
            and (node.annotation is None or ast.unparse(node.annotation) == "str")
        ):
            tainted.add(node.arg)
    changed = True
    while changed:
        changed = False
        for node in ast.walk(scope):
            if not isinstance(node, ast.Assign):
                continue
            for target in node.targets:
                pairs: list[tuple[ast.expr, ast.expr]] = [(target, node.value)]
                if isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple):
                    pairs = list(zip(target.elts, node.value.elts, strict=False))
                for name, value in pairs:
                    if (
                        isinstance(name, ast.Name)
                        and name.id not in tainted
                        and _mentions_message(value, tainted)
                    ):
                        tainted.add(name.id)
                        changed = True
    return tainted


def message_matches(source: str) -> list[int]:
    """Line numbers where `source` compares or searches a message's text."""
    tree = ast.parse(source)
    found: list[int] = []
    scopes = [
        n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
    ] or [tree]
    for scope in scopes:
        tainted = _tainted_names(scope)
        for node in ast.walk(scope):
            if isinstance(node, ast.Compare):
                operands = [node.left, *node.comparators]
                if any(_mentions_message(o, tainted) for o in operands):
                    found.append(node.lineno)
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in SEARCHES
                and _mentions_message(node.func.value, tainted)
            ):
                found.append(node.lineno)
    return sorted(set(found))


def _sources() -> list[Path]:
    return sorted(p for package in CHECKED for p in (ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("path", _sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_matches_a_message_text(path: Path) -> None:
    lines = message_matches(path.read_text())
    assert lines == [], (
        f"{path.relative_to(ROOT)} decides by a message's words at lines {lines}: "
        "use the FieldError's code and params instead"
    )


@pytest.mark.parametrize(
    ("source", "line"),
    [
        ("def f(e):\n    return e.message == 'Enter a value.'\n", 2),
        ("def f(e):\n    return 'below' in e.message\n", 2),
        ("def f(e):\n    return e.message.startswith('Enter a whole number')\n", 2),
        ("def f(e):\n    field, text = e.field, e.message\n    return 'ISO 8601' in text\n", 3),
        ("def f(field: str, message: str) -> bool:\n    return message.endswith('.')\n", 2),
    ],
)
def test_the_check_finds_each_kind_of_match(source: str, line: int) -> None:
    assert message_matches(source) == [line]


def test_the_check_finds_the_matching_the_lead_pages_once_did() -> None:
    source = (
        "def _specific(field: str, message: str) -> str:\n"
        "    if message == 'Enter a value.':\n"
        "        return field\n"
        "    return message\n"
    )
    assert message_matches(source) == [2]


def test_the_check_allows_showing_a_message_and_deciding_by_code() -> None:
    source = (
        "def f(e):\n"
        "    if e.code == 'required' and e.field == 'name':\n"
        "        return 'Enter their name.'\n"
        "    return e.message\n"
    )
    assert message_matches(source) == []
