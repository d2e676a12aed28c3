"""Database access shared by every unit of work: one Store wraps encode/databases.

SQLite allows one writer: write transactions are serialised in-process, which is exact
and faster than letting deferred transactions collide ("database is locked"). PostgreSQL
runs them concurrently; the domain uses atomic UPDATE ... RETURNING so none is lost.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from databases import Database
from sqlalchemy.dialects import postgresql, sqlite

NOTIFY_CHANNEL = "groundswell_journal"

# Set when a unit of work appends to the journal, so only those commits wake the worker.
_journal_written: ContextVar[bool] = ContextVar("journal_written", default=False)


def mark_journal_written() -> None:
    _journal_written.set(True)


def utcnow() -> datetime:
    return datetime.now(UTC)


def aware(value: datetime | None) -> datetime | None:
    """SQLite hands timestamps back naive; every stored time is UTC."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def async_driver_url(url: str) -> str:
    """The SQLAlchemy async URL for the same database (used by Alembic)."""
    if url.startswith("sqlite:"):
        return "sqlite+aiosqlite:" + url[len("sqlite:") :]
    if url.startswith(("postgresql:", "postgres:")):
        return "postgresql+asyncpg:" + url.split(":", 1)[1]
    return url


def databases_url(url: str) -> str:
    """encode/databases wants the plain scheme for its default drivers."""
    return (
        url.replace("sqlite+aiosqlite:", "sqlite:")
        .replace("postgresql+asyncpg:", "postgresql:")
        .replace("postgres://", "postgresql://")
    )


class Store:
    def __init__(self, url: str) -> None:
        self.url = databases_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        options: dict[str, Any] = {"timeout": 30} if self.is_sqlite else {}
        self.database = Database(self.url, **options)
        self._write_lock = asyncio.Lock()
        self._after_commit: list[Callable[[], None]] = []

    async def connect(self) -> None:
        await self.database.connect()

    async def disconnect(self) -> None:
        await self.database.disconnect()

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Call `callback` after each commit that appended events (the worker's wake-up)."""
        self._after_commit.append(callback)

    @asynccontextmanager
    async def write(self) -> AsyncIterator[Database]:
        """One unit of work: a transaction in which a change and its events are written."""
        _journal_written.set(False)
        if self.is_sqlite:
            async with self._write_lock, self.database.transaction():
                yield self.database
        else:
            async with self.database.transaction():
                yield self.database
                if _journal_written.get():
                    # Delivered at commit to every process listening (other workers).
                    await self.database.execute(f"NOTIFY {NOTIFY_CHANNEL}")
        if _journal_written.get():
            for callback in self._after_commit:
                callback()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[Database]:
        """Several reads on one connection (SQLite opens one per standalone query)."""
        async with self.database.connection():
            yield self.database

    def insert_or_ignore(self, table: sa.Table) -> Any:
        """INSERT that does nothing on a unique conflict, on either database."""
        if self.is_sqlite:
            return sqlite.insert(table).on_conflict_do_nothing()
        return postgresql.insert(table).on_conflict_do_nothing()

    @property
    def skip_locked(self) -> bool:
        return not self.is_sqlite
