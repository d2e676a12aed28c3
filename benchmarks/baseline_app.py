"""The baselines for benchmarks/: the least a pledge endpoint, and a page, can do.

A bare Starlette app on encode/databases with one table and one endpoint that does one
INSERT per request, served by uvicorn in one process exactly as `groundswell serve` serves
Groundswell (same uvicorn options, access log on, proxy headers), on the same kind of
database. Whatever Groundswell does beyond this (API key check, validation, campaign
lookup, the pledge's transaction with its journal event and exact count, the worker that
dispatches events and renders email) is what the ratio in the benchmark measures.

    DATABASE_URL=sqlite:////tmp/x/baseline.db python benchmarks/baseline_app.py --port 8100

For benchmarks/read_path.py the same app serves a static page: `GET /static/{size}` is a
fixed HTML body of exactly `size` bytes, made once per size, with a strong ETag and a
Cache-Control as Groundswell's public reads have, and `If-None-Match` answered with 304.
It reads nothing from the database, so it is what the same stack costs per request with
nothing to look up or render.

Endpoints: POST /pledges {"name", "email"} -> 201 {"id"}; GET /health -> 200;
GET /static/{size} -> 200 text/html of `size` bytes (or 304).
"""

from __future__ import annotations

import argparse
import hashlib
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
from starlette.responses import JSONResponse, Response
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


# As Groundswell's campaign page says (app/http_cache.py's CAMPAIGN policy).
STATIC_CACHE_CONTROL = "public, max-age=5, stale-while-revalidate=30"


def static_page(size: int) -> bytes:
    """An HTML page of exactly `size` bytes (at least the bare skeleton's)."""
    head = b"<!doctype html><html><head><title>Static</title></head><body><p>"
    tail = b"</p></body></html>\n"
    filler = b"Pledge for fibre on Brudenell Road. " * (size // 36 + 1)
    return head + filler[: max(0, size - len(head) - len(tail))] + tail


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

    pages: dict[int, tuple[bytes, str]] = {}

    async def static(request: Request) -> Response:
        size = min(int(request.path_params["size"]), 1 << 20)
        if size not in pages:
            body = static_page(size)
            pages[size] = body, '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'
        body, etag = pages[size]
        headers = {"ETag": etag, "Cache-Control": STATIC_CACHE_CONTROL}
        wanted = request.headers.get("if-none-match")
        if wanted and etag in (tag.strip() for tag in wanted.split(",")):
            return Response(status_code=304, headers=headers)
        return Response(body, media_type="text/html", headers=headers)

    return Starlette(
        routes=[
            Route("/pledges", create_pledge, methods=["POST"]),
            Route("/health", health, methods=["GET"]),
            Route("/static/{size:int}", static, methods=["GET"]),
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
