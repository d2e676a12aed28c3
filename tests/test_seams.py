"""The seams between modules that the import graph cannot see: each table declared only
by the package that owns it, no private name used across modules, the JSON API not
reaching into the pages, and the layers importing only downwards.

Tests may share their own helpers (tests/ is scaffolding, not a layer); the rule on
private names holds for the application's packages."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("app", "pledges", "notifications", "gateways")
# Which packages each may import: requests flow app -> notifications -> pledges -> gateways.
MAY_IMPORT = {
    "app": set(PACKAGES),
    "notifications": {"notifications", "pledges", "gateways"},
    "pledges": {"pledges", "gateways"},
    "gateways": {"gateways"},
}
# A migration is a snapshot of its day's schema: it may spell out any table it changes.
NOT_CHECKED_FOR_TABLES = ("app/migrations/",)


def _modules() -> dict[str, ast.Module]:
    """Every module of the application's packages, by path relative to the repository."""
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            found[path.relative_to(ROOT).as_posix()] = ast.parse(path.read_text(), str(path))
    return found


def _table_declarations(tree: ast.Module) -> list[tuple[str, int]]:
    """(table name, line) of each `sa.Table("name", ...)` or `sa.table("name", ...)`."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        first = node.args[0]
        if (
            name in ("Table", "table")
            and isinstance(first, ast.Constant)
            and isinstance(first.value, str)
        ):
            found.append((first.value, node.lineno))
    return found


def foreign_table_declarations(modules: dict[str, ast.Module]) -> list[str]:
    """Declarations of a table outside the tables module of the package that owns it."""
    owners = {
        table: path
        for path, tree in modules.items()
        if path.endswith("/tables.py")
        for table, _ in _table_declarations(tree)
    }
    return [
        f"{path}:{line} declares {table!r}, which {owners[table]} owns"
        for path, tree in modules.items()
        if not path.startswith(NOT_CHECKED_FOR_TABLES)
        for table, line in _table_declarations(tree)
        if table in owners and owners[table] != path
    ]


def _is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def private_names_used_across_modules(modules: dict[str, ast.Module]) -> list[str]:
    """`from x import _name`, and `x._name` where `x` is a module this one imported."""
    found = []
    for path, tree in modules.items():
        imported: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                for alias in node.names:
                    if _is_private(alias.name):
                        found.append(f"{path}:{node.lineno} imports {node.module}.{alias.name}")
                    imported.add(alias.asname or alias.name)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    imported.add(alias.asname or alias.name.partition(".")[0])
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and _is_private(node.attr)
                and isinstance(node.value, ast.Name)
                and node.value.id in imported
            ):
                found.append(f"{path}:{node.lineno} uses {node.value.id}.{node.attr}")
    return found


def _imported_modules(tree: ast.Module) -> list[tuple[str, int]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, node.lineno))
        elif isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
    return found


def upward_imports(modules: dict[str, ast.Module]) -> list[str]:
    """Imports against the layers, and app/api reaching into app/pages."""
    found = []
    for path, tree in modules.items():
        package = path.partition("/")[0]
        for module, line in _imported_modules(tree):
            top = module.partition(".")[0]
            if top in PACKAGES and top not in MAY_IMPORT[package]:
                found.append(f"{path}:{line} imports {module}")
            if path.startswith("app/api/") and module.startswith("app.pages"):
                found.append(f"{path}:{line} imports {module}: the API must not use the pages")
    return found


def _parsed(sources: dict[str, str]) -> dict[str, ast.Module]:
    return {path: ast.parse(source) for path, source in sources.items()}


def test_each_table_is_declared_only_by_its_owner() -> None:
    assert foreign_table_declarations(_modules()) == []


def test_a_second_declaration_of_a_table_is_found() -> None:
    modules = _parsed(
        {
            "notifications/tables.py": 'emails = sa.Table("emails", metadata)',
            "pledges/tables.py": 'pledges = sa.Table("pledges", metadata)',
            "pledges/anonymity.py": 'outbox = sa.table("emails", sa.column("id"))',
            "app/migrations/versions/0009.py": 'old = sa.table("pledges", sa.column("id"))',
        }
    )
    assert foreign_table_declarations(modules) == [
        "pledges/anonymity.py:1 declares 'emails', which notifications/tables.py owns"
    ]


def test_no_private_name_is_used_across_modules() -> None:
    assert private_names_used_across_modules(_modules()) == []


def test_a_private_name_used_across_modules_is_found() -> None:
    modules = _parsed(
        {
            "pledges/erasure.py": "from pledges.pledging import _withdraw_in, withdraw_pledge",
            "pledges/moderation.py": "from pledges import pledging\npledging._count(db)",
            "pledges/store.py": "from __future__ import annotations\nself._lock = None",
        }
    )
    assert private_names_used_across_modules(modules) == [
        "pledges/erasure.py:1 imports pledges.pledging._withdraw_in",
        "pledges/moderation.py:2 uses pledging._count",
    ]


def test_imports_run_down_the_layers_and_the_api_does_not_use_the_pages() -> None:
    assert upward_imports(_modules()) == []


def test_an_import_against_the_layers_is_found() -> None:
    modules = _parsed(
        {
            "pledges/anonymity.py": "from notifications.tables import emails",
            "notifications/outbox.py": "import app.settings",
            "app/api/pledges.py": "from app.pages.payments import card_checkout_url",
            "app/pages/payments.py": "from pledges.checkout import card_checkout_url",
        }
    )
    assert upward_imports(modules) == [
        "pledges/anonymity.py:1 imports notifications.tables",
        "notifications/outbox.py:1 imports app.settings",
        "app/api/pledges.py:1 imports app.pages.payments: the API must not use the pages",
    ]
