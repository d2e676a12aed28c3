"""The demo's tipped campaign choosing between providers' offers: two providers whose
endpoints cover it (one offer with a social tariff, one saying it has none), an open
round in which eight of twelve homes chose (a flatmate for their home, five needing a
social tariff, the fewest ever shown), seeded once. The providers' endpoints deliver to
the app's own /dev/webhooks, which exists only in development. `groundswell demo` seeds it."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import httpx
import sqlalchemy as sa
import uvicorn
from starlette.datastructures import Secret

from app.development.demo import seed_demo
from app.development.demo_choice import CHOICE_CAMPAIGN, HOMES, PROVIDERS, seed_choice_demo
from app.main import create_app
from notifications.answering import answerable_campaign
from notifications.tables import webhook_deliveries
from pledges.accounts import Organisation
from pledges.campaigns import get_campaign
from pledges.choices import (
    choice_for_pledge,
    choosers_for_provider,
    close_round,
    counted_choices,
    get_round,
    round_results,
)
from pledges.offers import list_offers
from pledges.store import Store, utcnow
from pledges.tables import organisations, pledges
from tests.app.pages.test_residents import client_for
from tests.conftest import make_settings, wait_for

ROOT = Path(__file__).resolve().parents[2]
SLUG = CHOICE_CAMPAIGN["slug"]
BASE = "http://127.0.0.1:8000"


async def provider(store: Store, name: str) -> Organisation:
    row = await store.database.fetch_one(
        sa.select(organisations).where(organisations.c.name == name)
    )
    assert row is not None
    return Organisation(id=row["id"], name=row["name"], kind=row["kind"])


async def test_the_demo_seeds_a_tipped_campaign_whose_homes_are_choosing(store: Store) -> None:
    assert await seed_choice_demo(store, BASE) is False  # not a demo database yet
    assert await seed_demo(store)
    assert await seed_choice_demo(store, BASE)
    assert await seed_choice_demo(store, BASE) is False  # once only

    campaign = await get_campaign(store.database, SLUG)
    assert (campaign.status, campaign.counts, campaign.target) == ("tipped", "households", 10)
    assert (campaign.household_count, campaign.confirmed) == (12, 13)

    # Two providers, each with an endpoint covering the campaign, so each may answer it.
    aire = await provider(store, PROVIDERS[0].name)
    pennine = await provider(store, PROVIDERS[1].name)
    for organisation in (aire, pennine):
        answerable = await answerable_campaign(store.database, organisation, SLUG, "offer")
        assert answerable.id == campaign.id
    offers = {o.organisation_name: o for o in await list_offers(store.database, campaign.id)}
    assert set(offers) == {aire.name, pennine.name}
    with_tariff, without = offers[aire.name], offers[pennine.name]
    assert with_tariff.social_tariff is not None and with_tariff.social_tariff.price == 1500
    assert without.social_tariff is None and without.no_social_tariff

    # The round is open for ten days; eight of the twelve homes chose.
    current = await get_round(store.database, campaign.id)
    assert current is not None and current.is_open() and current.opened_by == "lead"
    assert timedelta(days=9) < current.closes_at - utcnow() <= timedelta(days=10)
    assert (current.chose_count, current.none_count, current.social_tariff_count) == (7, 1, 5)
    oracle = await counted_choices(store.database, campaign.id)
    assert (oracle["chose"], oracle["none"], oracle["social_tariff"]) == (7, 1, 5)
    assert oracle["offers"] == {with_tariff.id: [5, 3], without.id: [2, 1]}
    results = await round_results(store.database, campaign.id)
    assert results is not None
    payload = results.payload()
    # Five said they would need a social tariff: shown for the round, not for each offer.
    assert payload["social_tariff_needed"] == 5
    assert {o["social_tariff_needed"] for o in payload["offers"]} == {None}
    unchosen = sum(1 for home in HOMES if home.choice is None)
    assert unchosen == 4 == campaign.household_count - current.answered

    # The flatmates' home chose once, by the second of them; the first sees it too.
    flatmates = await store.database.fetch_all(
        sa.select(pledges.c.id)
        .where(pledges.c.campaign_id == campaign.id, pledges.c.name.like("% Adebayo"))
        .order_by(pledges.c.id)
    )
    first, second = (r["id"] for r in flatmates)
    seen = await choice_for_pledge(store.database, first)
    assert seen is not None and (seen.pledge_id, seen.offer_public_id) == (
        second,
        with_tariff.public_id,
    )

    # When the round closes, each provider gets only its own consenting choosers.
    assert await close_round(store, campaign.id)
    named = {
        organisation.name: [
            c.name
            for c in await choosers_for_provider(store.database, campaign.id, organisation.id)
        ]
        for organisation in (aire, pennine)
    }
    assert named == {
        aire.name: ["Nadia Hussain", "Kit Adebayo", "Imran Malik"],
        pennine.name: ["Luis Ortega"],
    }


async def test_the_demo_providers_webhooks_reach_the_apps_own_receiver(
    database_url: str,
) -> None:
    settings = make_settings(database_url, demo=True, webhook_allow_private_networks=True)
    app = create_app(settings, run_worker=True)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    task = asyncio.create_task(server.serve())
    try:

        async def started() -> bool:
            return bool(server.started)

        await wait_for(started)
        port = server.servers[0].sockets[0].getsockname()[1]
        base = f"http://127.0.0.1:{port}"
        store = app.state.services.store
        await seed_demo(store)
        assert await seed_choice_demo(store, base)

        async def tipped_received() -> list[str]:
            async with httpx.AsyncClient() as client:
                received = (await client.get(f"{base}/dev/webhooks")).json()["received"]
            found = sorted(r["endpoint"] for r in received if r["type"] == "campaign.tipped")
            return found if len(found) == 2 else []

        assert await wait_for(tipped_received, timeout=30) == sorted(p.receiver for p in PROVIDERS)

        # Recorded as succeeded, as each provider's deliveries page shows it.
        async def tips_delivered() -> list[tuple[str, int]]:
            rows = await store.database.fetch_all(
                sa.select(webhook_deliveries.c.status, webhook_deliveries.c.last_status_code)
                .where(webhook_deliveries.c.event_type == "campaign.tipped")
                .order_by(webhook_deliveries.c.endpoint_id)
            )
            found = [(r["status"], r["last_status_code"]) for r in rows]
            return found if all(status == "succeeded" for status, _ in found) else []

        assert await wait_for(tips_delivered) == [("succeeded", 204)] * 2
    finally:
        server.should_exit = True
        await task


async def test_dev_webhooks_is_404_outside_development(database_url: str) -> None:
    settings = make_settings(
        database_url,
        debug=False,
        demo=False,
        secret_key=Secret("a-long-random-production-secret-" + "k" * 32),
    )
    async with client_for(settings) as client:
        posted = await client.post("/dev/webhooks/aire-valley-fibre", json={"type": "x"})
        listed = await client.get("/dev/webhooks")
    assert (posted.status_code, listed.status_code) == (404, 404)


def test_groundswell_demo_seeds_the_choice_campaign_once(tmp_path: Path) -> None:
    db_path = tmp_path / "demo.db"
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{db_path}"}
    outputs = []
    for _ in range(2):
        done = subprocess.run(
            [sys.executable, "-m", "app.cli", "demo"],
            capture_output=True,
            text=True,
            env=env,
            cwd=ROOT,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        outputs.append(done.stdout.strip())
    assert outputs == ["Demo campaigns added.", "Campaigns exist already; nothing added."]
    with sqlite3.connect(db_path) as db:
        (campaign_id, status) = db.execute(
            "SELECT id, status FROM campaigns WHERE slug = ?", (SLUG,)
        ).fetchone()
        counts = db.execute(
            "SELECT (SELECT count(*) FROM offers WHERE campaign_id = :c), "
            "(SELECT count(*) FROM choices WHERE campaign_id = :c), "
            "(SELECT count(*) FROM choice_rounds WHERE campaign_id = :c AND closed_at IS NULL), "
            "(SELECT count(*) FROM webhook_endpoints)",
            {"c": campaign_id},
        ).fetchone()
    assert status == "tipped"
    assert counts == (2, 8, 1, 2)
