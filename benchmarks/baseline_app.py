"""The baseline for benchmarks/pledge_throughput.py: the least a pledge endpoint can do.

A bare Starlette app on encode/databases with one table and one endpoint that does one
INSERT per request, served by uvicorn in one process exactly as `groundswell serve` serves
Groundswell (same uvicorn options, access log on, proxy headers), on the same kind of
database. Whatever Groundswell does beyond this (API key check, validation, campaign
lookup, the pledge's transaction with its journal event and exact count, the worker that
dispatches events and renders email) is what the ratio in the benchmark measures.

    DATABASE_URL=sqlite:////tmp/x/baseline.db python benchmarks/baseline_app.py --port 8100

Endpoints: POST /pledges {"name", "email"} -> 201 {"id"}; GET /health -> 200.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from databases import Database
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

metadata = sa.MetaData()

# The one table. BigInteger ids as in Groundswell (a plain INTEGER key on SQLite).
baseline_pledges = sa.Table(
    "baseline_pledges",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("email", sa.String(320), nullable=False, unique=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)


def create_app(database_url: str) -> Starlette:
    is_sqlite = database_url.startswith("sqlite")
    # The same connection options as Groundswell's Store (pledges/store.py).
    options: dict[str, Any] = {"timeout": 30} if is_sqlite else {}
    database = Database(database_url, **options)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await database.connect()
        if is_sqlite:
            # As `groundswell migrate` does for its SQLite file.
            await database.execute("PRAGMA journal_mode=WAL")
        await database.execute(sa.schema.CreateTable(baseline_pledges, if_not_exists=True))
        try:
            yield
        finally:
            await database.disconnect()

    async def create_pledge(request: Request) -> JSONResponse:
        data = json.loads(await request.body())
        pledge_id = await database.fetch_val(
            sa.insert(baseline_pledges)
            .values(name=data["name"], email=data["email"], created_at=datetime.now(UTC))
            .returning(baseline_pledges.c.id)
        )
        return JSONResponse({"id": pledge_id}, status_code=201)

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    return Starlette(
        routes=[
            Route("/pledges", create_pledge, methods=["POST"]),
            Route("/health", health, methods=["GET"]),
        ],
        lifespan=lifespan,
    )


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8100)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    app = create_app(os.environ["DATABASE_URL"])
    print(f"baseline on http://{args.host}:{args.port}", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="info", proxy_headers=True)


if __name__ == "__main__":
    main()
