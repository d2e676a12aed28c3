"""Runs gateways.stripe_stand_in on 127.0.0.1 for a test, and a real stripe client pointed at it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import stripe
import uvicorn

from gateways.stripe_stand_in import FakeStripe

API_KEY = "sk_test_groundswell_fake"
WEBHOOK_SECRET = "whsec_test_groundswell_fake"


@contextlib.asynccontextmanager
async def run_fake_stripe(webhook_urls: list[str] | None = None) -> AsyncIterator[FakeStripe]:
    fake = FakeStripe(API_KEY, WEBHOOK_SECRET, webhook_urls=list(webhook_urls or []))
    config = uvicorn.Config(fake.app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while not server.started:
        if task.done() or loop.time() > deadline:
            raise RuntimeError("fake Stripe did not start")
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    fake.public_url = f"http://127.0.0.1:{port}"
    try:
        yield fake
    finally:
        await fake.drain()
        server.should_exit = True
        server.force_exit = True
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            await asyncio.wait_for(task, timeout=5)


def client_for(fake: FakeStripe) -> stripe.StripeClient:
    return stripe.StripeClient(
        API_KEY,
        base_addresses={"api": fake.public_url},
        http_client=stripe.HTTPXClient(allow_sync_methods=True),
        max_network_retries=0,
    )
