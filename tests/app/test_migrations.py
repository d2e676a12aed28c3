"""The migrations build the schema the code declares: nothing declared in the tables
modules is missing from, or different in, a database migrated from empty."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine

import notifications.tables  # noqa: F401  (its tables join the shared metadata)
from pledges.tables import metadata


def _compare(connection: sa.Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


async def test_a_migrated_database_matches_the_declared_tables(database_url: str) -> None:
    url = database_url.replace("sqlite://", "sqlite+aiosqlite://", 1).replace(
        "postgresql://", "postgresql+asyncpg://", 1
    )
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            differences = await connection.run_sync(_compare)
    finally:
        await engine.dispose()
    assert differences == []
