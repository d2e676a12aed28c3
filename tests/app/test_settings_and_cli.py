"""Settings are documented and safe; the CLI does what the README says."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from app.settings import DOCUMENTED_SETTINGS, ConfigurationError, Settings

ROOT = Path(__file__).resolve().parents[2]


def test_every_setting_is_in_the_readme_table() -> None:
    readme = (ROOT / "README.md").read_text()
    table = set(re.findall(r"^\| `([A-Z_]+)` \|", readme, flags=re.M))
    assert set(DOCUMENTED_SETTINGS) <= table, set(DOCUMENTED_SETTINGS) - table


def test_every_setting_read_is_documented() -> None:
    source = (ROOT / "app" / "settings.py").read_text()
    read = set(re.findall(r'config\(\s*"([A-Z_]+)"', source))
    assert read == set(DOCUMENTED_SETTINGS)


def test_development_secret_is_refused_outside_debug() -> None:
    with pytest.raises(ConfigurationError, match="SECRET_KEY"):
        Settings.from_environ({})
    assert Settings.from_environ({"DEBUG": "1"}).debug
    assert Settings.from_environ({"SECRET_KEY": "x" * 40}).secret_key


@pytest.mark.parametrize(
    ("value", "sqlite", "postgres"),
    [("", True, False), ("auto", True, False), ("on", True, True), ("OFF", False, False)],
)
def test_group_commit_is_on_by_default_with_sqlite_alone(
    value: str, sqlite: bool, postgres: bool
) -> None:
    from app.bootstrap import bootstrap

    environ = {"SECRET_KEY": "x" * 40} | ({"GROUP_COMMIT": value} if value else {})
    stores = [
        bootstrap(Settings.from_environ(environ, database_url=url)).store
        for url in ("sqlite:///./unused.db", "postgresql://postgres@127.0.0.1:5432/unused")
    ]
    assert [s.group_commit for s in stores] == [sqlite, postgres]


def test_group_commit_takes_only_auto_on_or_off() -> None:
    with pytest.raises(ConfigurationError, match="GROUP_COMMIT"):
        Settings.from_environ({"SECRET_KEY": "x" * 40, "GROUP_COMMIT": "sometimes"})


def test_secret_is_not_shown_by_repr() -> None:
    settings = Settings.from_environ(
        {"SECRET_KEY": "very-secret-value-123", "SMTP_URL": "smtp://u:hunter2@mail:25"}
    )
    assert "very-secret-value-123" not in repr(settings)
    assert "hunter2" not in repr(settings)


def _cli(*args: str, env: dict[str, str | None]) -> subprocess.CompletedProcess[str]:
    """Run the CLI; an env value of None removes that variable."""
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        capture_output=True,
        text=True,
        env={k: v for k, v in {**os.environ, **env}.items() if v is not None},
        cwd=ROOT,
        timeout=120,
        check=False,
    )


def test_apikey_create_prints_the_key_last_and_stores_only_its_hash(tmp_path: Path) -> None:
    import sqlite3

    env: dict[str, str | None] = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
        "SECRET_KEY": "k" * 40,
    }
    assert _cli("migrate", env=env).returncode == 0
    result = _cli("apikey", "create", "--email", "Lead@Example.org", env=env)
    assert result.returncode == 0, result.stderr
    key = result.stdout.strip().splitlines()[-1]
    assert key.startswith("gs_") and len(key) > 30
    with sqlite3.connect(tmp_path / "cli.db") as db:
        stored = db.execute("SELECT key_hash FROM api_keys").fetchall()
        leads = db.execute("SELECT email FROM leads").fetchall()
    assert len(stored) == 1 and key not in stored[0][0]
    assert leads == [("lead@example.org",)]
    assert key not in result.stderr


def test_apikey_create_rejects_a_bad_email(tmp_path: Path) -> None:
    env: dict[str, str | None] = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
        "SECRET_KEY": "k" * 40,
    }
    result = _cli("apikey", "create", "--email", "not-an-email", env=env)
    assert result.returncode == 2
    assert "not an email address" in result.stderr


def test_serve_refuses_the_development_secret_without_debug(tmp_path: Path) -> None:
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}", "SECRET_KEY": None, "DEBUG": None}
    result = _cli("serve", env=env)
    assert result.returncode == 2
    assert "SECRET_KEY" in result.stderr


def test_demo_seeds_believable_campaigns_once(tmp_path: Path) -> None:
    import sqlite3

    env: dict[str, str | None] = {"DATABASE_URL": f"sqlite:///{tmp_path / 'demo.db'}"}
    assert _cli("demo", env=env).returncode == 0
    again = _cli("demo", env=env)
    assert "nothing added" in again.stdout
    with sqlite3.connect(tmp_path / "demo.db") as db:
        rows = db.execute("SELECT category, confirmed_count FROM campaigns").fetchall()
        homes = db.execute(
            "SELECT household_count, premises_listed FROM campaigns WHERE counts = 'households'"
        ).fetchall()
    # Three campaigns of people, one (broadband) that counts households on a list, two
    # (broadband) that ask each household's price (tests/app/test_demo_demand.py), one
    # (broadband) tipped, choosing between offers, and one (broadband) whose round closed,
    # keeping its delivery record (tests/app/test_demo_choice.py).
    assert sorted(c for c, _ in rows) == ["broadband"] * 6 + ["supplier", "waste"]
    assert all(n > 0 for _, n in rows)
    assert sorted(homes) == [(6, 20), (7, 0), (7, 0), (12, 0), (37, 0)]


def test_serve_links_follow_the_served_address_and_keep_demo_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from app.cli import build_parser, serve_settings

    monkeypatch.delenv("BASE_URL", raising=False)
    monkeypatch.delenv("WEBHOOK_ALLOW_PRIVATE_NETWORKS", raising=False)
    args = build_parser().parse_args(["serve", "--demo", "--port", "8765"])
    settings = serve_settings(args)
    assert settings.base_url == "http://127.0.0.1:8765"
    assert settings.demo and settings.webhook_allow_private_networks

    args = build_parser().parse_args(["serve", "--demo", "--host", "0.0.0.0", "--port", "9000"])
    assert serve_settings(args).base_url == "http://127.0.0.1:9000"

    monkeypatch.setenv("BASE_URL", "https://pledge.example.org")
    args = build_parser().parse_args(["serve", "--demo", "--port", "8765"])
    assert serve_settings(args).base_url == "https://pledge.example.org"


def test_commands_log_only_warnings_unless_verbose(tmp_path: Path) -> None:
    quiet = _cli("migrate", env={"DATABASE_URL": f"sqlite:///{tmp_path / 'quiet.db'}"})
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stdout == "Database is at the newest schema.\n"
    assert " INFO " not in quiet.stderr
    for where, args in (("before", ("--verbose", "migrate")), ("after", ("migrate", "-v"))):
        loud = _cli(*args, env={"DATABASE_URL": f"sqlite:///{tmp_path / f'{where}.db'}"})
        assert loud.returncode == 0, loud.stderr
        assert loud.stdout == "Database is at the newest schema.\n"
        assert "INFO alembic.runtime.migration Running upgrade" in loud.stderr


def test_the_demo_limits_pledges_per_address_loosely_unless_told(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The README's money demo pledges twice on one campaign from one machine within a
    # minute: the default 1/60 answered the second with a 429. The demo keeps a limit.
    from app.cli import build_parser, serve_settings
    from pledges.rate_limits import DEFAULT_PLEDGE_RATE_LIMIT, RateWindow

    monkeypatch.delenv("PLEDGE_RATE_LIMIT", raising=False)
    demo = build_parser().parse_args(["serve", "--demo"])
    assert serve_settings(demo).pledge_rate_limit == (RateWindow(5, 300),)
    plain = build_parser().parse_args(["serve"])
    monkeypatch.setenv("DEBUG", "1")
    assert serve_settings(plain).pledge_rate_limit == DEFAULT_PLEDGE_RATE_LIMIT

    monkeypatch.setenv("PLEDGE_RATE_LIMIT", "1/60")
    assert serve_settings(demo).pledge_rate_limit == (RateWindow(1, 60),)
