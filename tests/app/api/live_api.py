"""The whole app served on a free port of 127.0.0.1 (a fresh SQLite file, money on through
the Stripe stand-in, private webhook URLs allowed), with a lead's and an organisation's API
key: what schemathesis runs against.

By hand, to run the schemathesis CLI against it:
    .venv/bin/python -m tests.app.api.live_api   # prints the URL and both keys, then serves
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from app.main import create_app
from app.migrate import migrate
from pledges.accounts import create_organisation_api_key
from pledges.store import Store
from pledges.tokens import Signer
from tests.conftest import make_settings
from tests.factories import make_campaign, make_lead, make_pending_pledges
from tests.payments.stripe_server import API_KEY, WEBHOOK_SECRET, run_fake_stripe


@dataclass(frozen=True)
class LiveAPI:
    url: str
    lead_key: str
    organisation_key: str
    slug: str  # an open campaign of the lead's
    confirm_token: str  # from the emails of a pending pledge on it
    withdraw_token: str
    choice_token: str  # the offers email's link of the same pledge


async def _serve(database: Path, started: asyncio.Future[LiveAPI], stop: asyncio.Event) -> None:
    url = f"sqlite:///{database}"
    store = Store(url)
    await store.connect()
    try:
        lead, lead_key = await make_lead(store)
        _, org_key = await create_organisation_api_key(
            store, "ops@fibreco.example", "FibreCo", "provider"
        )
        campaign = await make_campaign(store, lead)
        [pledge_id] = await make_pending_pledges(store, campaign.slug, 1)
    finally:
        await store.disconnect()
    async with run_fake_stripe() as fake:
        settings = make_settings(
            url,
            stripe_secret_key=API_KEY,
            stripe_webhook_secret=WEBHOOK_SECRET,
            stripe_api_base=fake.public_url,
            webhook_allow_private_networks=True,
        )
        app = create_app(settings)
        signer = Signer(str(settings.secret_key))
        tokens = (
            signer.sign(pledge_id, "pledge-confirm"),
            signer.sign(pledge_id, "pledge-withdraw"),
            signer.sign(pledge_id, "offer-choice"),
        )
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning")
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve())
        while not server.started:
            if task.done():
                raise RuntimeError("the app did not start")
            await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        started.set_result(
            LiveAPI(f"http://127.0.0.1:{port}", lead_key, org_key, campaign.slug, *tokens)
        )
        await stop.wait()
        server.should_exit = True
        await task


@contextlib.contextmanager
def live_api() -> Iterator[LiveAPI]:
    """The app served from a thread of its own until the block ends."""
    with tempfile.TemporaryDirectory() as folder:
        database = Path(folder) / "api.db"
        migrate(f"sqlite:///{database}")
        loop = asyncio.new_event_loop()
        started: asyncio.Future[LiveAPI] = loop.create_future()
        stop = asyncio.Event()
        thread = threading.Thread(
            target=loop.run_until_complete, args=(_serve(database, started, stop),), daemon=True
        )
        thread.start()
        found = asyncio.run_coroutine_threadsafe(_wait(started), loop).result(timeout=30)
        try:
            yield found
        finally:
            loop.call_soon_threadsafe(stop.set)
            thread.join(timeout=30)


def hook_environment(api: LiveAPI) -> dict[str, str]:
    """What tests/app/api/schemathesis_hooks.py reads to fill in what a schema cannot say."""
    return {
        "SCHEMATHESIS_HOOKS": "tests.app.api.schemathesis_hooks",
        "GROUNDSWELL_API_URL": api.url,
        "GROUNDSWELL_CONFIRM_TOKEN": api.confirm_token,
        "GROUNDSWELL_WITHDRAW_TOKEN": api.withdraw_token,
        "GROUNDSWELL_CHOICE_TOKEN": api.choice_token,
    }


async def _wait(started: asyncio.Future[LiveAPI]) -> LiveAPI:
    return await started


if __name__ == "__main__":
    with live_api() as api:
        print(api.url, "lead:", api.lead_key, "organisation:", api.organisation_key, flush=True)
        print("export", " ".join(f"{k}={v}" for k, v in hook_environment(api).items()), flush=True)
        threading.Event().wait()
