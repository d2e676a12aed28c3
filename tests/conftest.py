"""Test fixtures: a fresh SQLite file and a fresh PostgreSQL database, never the dev one.

Every test that takes `store` (or anything built on it) runs on both databases. The
PostgreSQL run skips with its reason when no server answers, unless
GROUNDSWELL_REQUIRE_POSTGRES=1 (set by .ci/run), where that is a failure instead.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import sqlalchemy as sa
from starlette.applications import Starlette

import notifications.tables  # noqa: F401
from app.main import create_app
from app.migrate import migrate
from app.settings import Settings
from pledges.store import Store
from pledges.tables import metadata

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
POSTGRES_REQUIRED = os.environ.get("GROUNDSWELL_REQUIRE_POSTGRES") == "1"
TEST_SECRET = "test-secret-key-for-groundswell-tests"


def postgres_admin_url() -> str:
    return os.environ.get("TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)


async def _postgres_reason() -> str | None:
    try:
        conn = await asyncpg.connect(postgres_admin_url(), timeout=5)
    except Exception as exc:
        return f"PostgreSQL not reachable at {postgres_admin_url()}: {type(exc).__name__}: {exc}"
    await conn.close()
    return None


def _with_database(url: str, name: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{name}"


@pytest.fixture(scope="session")
async def postgres_url() -> AsyncIterator[str | None]:
    """A database of our own on the PostgreSQL server, created and dropped by this run."""
    reason = await _postgres_reason()
    if reason:
        yield None
        return
    name = f"groundswell_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = await asyncpg.connect(postgres_admin_url())
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    url = _with_database(postgres_admin_url(), name)
    await asyncio.to_thread(migrate, url)
    yield url
    admin = await asyncpg.connect(postgres_admin_url())
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.close()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    migrate(f"sqlite:///{path}")
    return path


@pytest.fixture(params=["sqlite", "postgres"])
async def database_url(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    sqlite_template: Path,
    postgres_url: str | None,
) -> AsyncIterator[str]:
    if request.param == "sqlite":
        path = tmp_path / "groundswell.db"
        shutil.copy(sqlite_template, path)
        yield f"sqlite:///{path}"
        return
    if postgres_url is None:
        reason = await _postgres_reason()
        if POSTGRES_REQUIRED:
            pytest.fail(f"GROUNDSWELL_REQUIRE_POSTGRES=1 but {reason}")
        pytest.skip(reason or "PostgreSQL not reachable")
    conn = await asyncpg.connect(postgres_url)
    tables = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
    await conn.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
    await conn.close()
    yield postgres_url


def make_settings(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "base_url": "http://testserver",
        "debug": True,
        "worker_poll_seconds": 0.05,
        # Tests pledge many times from one client address; tests/*/test_rate_limit.py turn it on.
        "pledge_rate_limit": "off",
        # Campaigns publish at once, as before review existed; tests of review set pre or post.
        "moderation": "off",
    }
    values.update(overrides)
    return Settings.from_environ({"SECRET_KEY": TEST_SECRET}, **values)


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    s = Store(database_url)
    await s.connect()
    yield s
    await s.disconnect()


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url)


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Starlette]:
    """The app without its worker: tests drive the worker themselves."""
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


async def wait_for(
    condition: Callable[[], Awaitable[Any]], timeout: float = 10.0, interval: float = 0.02
) -> Any:
    """Poll `condition` until it returns something truthy, or fail at the deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = await condition()
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(interval)


async def table_snapshot(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table: to prove a rejected request changed nothing."""
    snapshot = {}
    for table in metadata.sorted_tables:
        rows = await store.database.fetch_all(sa.select(table).order_by(*table.primary_key))
        snapshot[table.name] = [tuple(r._mapping.values()) for r in rows]
    return snapshot


@pytest.fixture
def anyio_backend() -> Iterator[str]:
    yield "asyncio"
