"""Run Alembic migrations to the newest schema, from the CLI or from tests."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from alembic import command
from alembic.config import Config

from pledges.store import async_driver_url, databases_url

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", async_driver_url(database_url).replace("%", "%%"))
    return config


def _sqlite_path(database_url: str) -> str | None:
    url = databases_url(database_url)
    if not url.startswith("sqlite:///"):
        return None
    return url[len("sqlite:///") :].split("?", 1)[0]


def migrate(database_url: str) -> None:
    """Upgrade to head. Runs in its own thread: Alembic's async env needs a fresh event loop."""
    path = _sqlite_path(database_url)
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        with sqlite3.connect(path) as conn:
            # WAL lets readers go on while the single writer commits.
            conn.execute("PRAGMA journal_mode=WAL")
    errors: list[BaseException] = []

    def run() -> None:
        try:
            command.upgrade(alembic_config(database_url), "head")
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run, name="alembic")
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
