"""The demo's tipped campaign choosing between providers' offers: two providers whose
endpoints cover it (one offer with a social tariff, one saying it has none), an open
round in which eight of twelve homes chose (a flatmate for their home, five needing a
social tariff, the fewest ever shown), seeded once. The providers' endpoints deliver to
the app's own /dev/webhooks, which exists only in development. After it: a council's
response on that campaign, and a smaller campaign whose round closed, with its results,
the chosen provider's delivery record (a date done, one missed, one planned) and two homes
the service reached; its closing webhooks reach /dev/webhooks. `groundswell demo` seeds
them."""

from __future__ import annotations

import asyncio
import json
import os
import socket
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
from app.development.demo_delivery import (
    COUNCIL,
    DELIVERY_CAMPAIGN,
    MILESTONES,
    ROUND_CLOSED_AGO,
    SERVED,
    seed_delivery_demo,
)
from app.main import create_app
from notifications.answering import answerable_campaign
from notifications.tables import webhook_deliveries, webhook_endpoints
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
from pledges.delivery import delivery_record, service_status
from pledges.offers import list_offers
from pledges.responses import list_responses
from pledges.store import Store, utcnow
from pledges.tables import events, organisations, pledges
from tests.app.pages.test_residents import client_for
from tests.conftest import make_settings, wait_for

ROOT = Path(__file__).resolve().parents[2]
SLUG = CHOICE_CAMPAIGN["slug"]
DELIVERY_SLUG = DELIVERY_CAMPAIGN["slug"]
PROVIDERS_RECEIVERS = tuple(p.receiver for p in PROVIDERS)
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


async def test_the_demo_seeds_a_response_and_a_closed_round_with_its_delivery_record(
    store: Store,
) -> None:
    assert await seed_delivery_demo(store, BASE) is False  # not a demo database yet
    assert await seed_demo(store)
    assert await seed_delivery_demo(store, BASE) is False  # its providers come with Royal Park
    assert await seed_choice_demo(store, BASE)
    assert await seed_delivery_demo(store, BASE)
    assert await seed_delivery_demo(store, BASE) is False  # once only
    db = store.database
    aire = await provider(store, PROVIDERS[0].name)
    pennine = await provider(store, PROVIDERS[1].name)

    # The council follows LS6 and has answered Royal Park, as its own pages would let it.
    council = await provider(store, COUNCIL.name)
    assert council.kind == "council"
    royal_park = await answerable_campaign(db, council, SLUG, "response")
    [response] = await list_responses(db, royal_park.id)
    assert (response.organisation_name, response.organisation_kind) == (COUNCIL.name, "council")

    # The smaller campaign tipped, and its round closed three weeks before the demo began.
    campaign = await get_campaign(db, DELIVERY_SLUG)
    assert (campaign.status, campaign.household_count, campaign.target) == ("tipped", 7, 5)
    closed = await get_round(db, campaign.id)
    assert closed is not None and closed.closed_at is not None and not closed.is_open()
    assert closed.closed_at.date() == (utcnow() - timedelta(days=ROUND_CLOSED_AGO)).date()
    results = await round_results(db, campaign.id)
    assert results is not None
    assert {t.offer.organisation_name: t.chosen for t in results.offers} == {
        aire.name: 5,
        pennine.name: 1,
    }
    assert (results.round.chose_count, results.round.none_count) == (6, 1)
    oracle = await counted_choices(db, campaign.id)
    assert (oracle["chose"], oracle["none"]) == (6, 1)
    # Two said they would need a social tariff: fewer than 5, so never shown.
    assert results.payload()["social_tariff_needed"] is None

    # Its closing was announced once to everyone, and to each provider with its own totals.
    rows = await db.fetch_all(
        sa.select(events.c.type, events.c.payload)
        .where(events.c.campaign_id == campaign.id)
        .order_by(events.c.id)
    )
    payloads = [(r["type"], json.loads(r["payload"])) for r in rows]
    [closing] = [p for t, p in payloads if t == "campaign.choice_closed"]
    assert (closing["results"]["chose_an_offer"], closing["results"]["none_of_these"]) == (6, 1)
    told = {
        p["organisation_id"]: [(o["title"], o["chosen"]) for o in p["offers"]]
        for t, p in payloads
        if t == "offer.chosen"
    }
    assert told == {aire.id: [("Full fibre 500", 5)], pennine.id: [("Gigabit 900", 1)]}
    assert sum(1 for t, _ in payloads if t == "offer.chosen") == 2

    # The chosen provider answered, and keeps its record: one date done, one missed (marked
    # once, so those waiting are told), one to come; two homes say the service reached them.
    [answer] = await list_responses(db, campaign.id)
    assert (answer.organisation_name, answer.organisation_kind) == (aire.name, "provider")
    record = await delivery_record(db, campaign.id)
    kept = {p.name: p for p in record.providers}
    assert set(kept) == {aire.name, pennine.name}
    today = utcnow().date()
    steps = kept[aire.name].milestones
    assert [m.status_on(today) for m in steps] == ["done", "missed", "planned"]
    assert steps[0].missed_at is None and steps[1].missed_at is not None
    assert [t for t, _ in payloads].count("delivery.milestone_missed") == 1
    assert [(o.chosen, o.served) for o in kept[aire.name].offers] == [(5, 2)]
    assert kept[pennine.name].milestones == []
    assert [(o.chosen, o.served) for o in kept[pennine.name].offers] == [(1, 0)]
    served = []
    for row in await db.fetch_all(
        sa.select(pledges.c.id, pledges.c.name).where(pledges.c.campaign_id == campaign.id)
    ):
        status = await service_status(db, row["id"])
        if status is not None and status.confirmed_at is not None:
            served.append(row["name"])
    assert sorted(served) == sorted(name for name, _ in SERVED)


async def test_the_demo_pages_show_the_responses_results_and_delivery_record(
    store: Store, database_url: str
) -> None:
    await seed_demo(store)
    await seed_choice_demo(store, BASE)
    assert await seed_delivery_demo(store, BASE)
    async with client_for(make_settings(database_url, demo=True)) as client:
        royal_park = await client.get(f"/c/{SLUG}")
        ash = await client.get(f"/c/{DELIVERY_SLUG}")
    assert (royal_park.status_code, ash.status_code) == (200, 200)

    # Royal Park, still choosing: the council's response under "Responses".
    responses = royal_park.text.split('<h2 id="responses">Responses</h2>', 1)[1]
    assert 'Leeds City Council <span class="meta">(council)</span>' in responses
    assert "its street works will need a permit from us" in responses

    # The Ash streets: the closed round's results, Aire Valley Fibre's response, and the
    # delivery record with a missed date.
    today = utcnow().date()
    closed_on = today - timedelta(days=ROUND_CLOSED_AGO)
    text = ash.text
    assert f"Residents chose between these offers until {closed_on:%-d %B %Y}." in text
    assert "5 households chose this" in text and "1 household chose this" in text
    assert "None of these: 1 household" in text
    responses = text.split('<h2 id="responses">Responses</h2>', 1)[1]
    assert 'Aire Valley Fibre <span class="meta">(provider)</span>' in responses
    delivery = text.split('<h2 id="delivery">Delivery</h2>', 1)[1]
    grove, road, everyone = MILESTONES
    assert grove.done_ago is not None
    assert (
        f"Build: Fibre to the poles on Ash Grove. <strong>Done</strong> on "
        f"{today - timedelta(days=grove.done_ago):%-d %B %Y}." in delivery
    )
    assert (
        f"Build: Fibre to the poles on Ash Road. Due by "
        f"{today - timedelta(days=road.due_ago):%-d %B %Y}: <strong>missed</strong>, "
        "not done yet." in delivery
    )
    assert (
        "First connections: Every home that chose Full fibre 500 connected. Due by "
        f"{today - timedelta(days=everyone.due_ago):%-d %B %Y}." in delivery
    )
    assert (
        "Full fibre 500: <strong>2 of 5 households who chose it say the service reached "
        "them</strong>" in delivery
    )
    assert "Pennine Gigabit has not posted its delivery dates yet." in delivery


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


async def test_the_closed_rounds_webhooks_reach_the_apps_own_receiver(database_url: str) -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    # Seeded before the app serves and its worker runs, as `serve --demo` does.
    seeding = Store(database_url)
    await seeding.connect()
    try:
        await seed_demo(seeding)
        await seed_choice_demo(seeding, base)
        assert await seed_delivery_demo(seeding, base)
    finally:
        await seeding.disconnect()
    settings = make_settings(
        database_url, demo=True, webhook_allow_private_networks=True, base_url=base
    )
    app = create_app(settings, run_worker=True)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    closing = ("campaign.choice_closed", "offer.chosen")
    try:

        async def started() -> bool:
            return bool(server.started)

        await wait_for(started)
        # Everyone following LS6 hears the round closed; each provider its own totals.
        expected = sorted(
            [(r, "campaign.choice_closed") for r in (COUNCIL.receiver, *PROVIDERS_RECEIVERS)]
            + [(r, "offer.chosen") for r in PROVIDERS_RECEIVERS]
        )

        async def closing_received() -> list[tuple[str, str]]:
            async with httpx.AsyncClient() as client:
                received = (await client.get(f"{base}/dev/webhooks")).json()["received"]
            found = sorted((r["endpoint"], r["type"]) for r in received if r["type"] in closing)
            return found if len(found) >= len(expected) else []

        assert await wait_for(closing_received, timeout=60) == expected

        # Each delivered once, and recorded as succeeded on the organisations' pages.
        store = app.state.services.store

        async def closing_delivered() -> list[tuple[str, str, int]]:
            rows = await store.database.fetch_all(
                sa.select(
                    webhook_endpoints.c.url,
                    webhook_deliveries.c.event_type,
                    webhook_deliveries.c.status,
                    webhook_deliveries.c.last_status_code,
                )
                .join(webhook_endpoints, webhook_endpoints.c.id == webhook_deliveries.c.endpoint_id)
                .where(webhook_deliveries.c.event_type.in_(closing))
            )
            found = [(r["url"].rsplit("/", 1)[1], r["event_type"], r["status"]) for r in rows]
            codes = {r["last_status_code"] for r in rows}
            if any(status != "succeeded" for _, _, status in found) or codes != {204}:
                return []
            return sorted((receiver, event, 204) for receiver, event, _ in found)

        assert await wait_for(closing_delivered) == [(r, e, 204) for r, e in expected]
    finally:
        server.should_exit = True
        await task
        sock.close()


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


def test_groundswell_demo_seeds_the_choice_and_delivery_campaigns_once(tmp_path: Path) -> None:
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
        (delivered_id,) = db.execute(
            "SELECT id FROM campaigns WHERE slug = ? AND status = 'tipped'", (DELIVERY_SLUG,)
        ).fetchone()
        after = db.execute(
            "SELECT (SELECT count(*) FROM choices WHERE campaign_id = :d), "
            "(SELECT count(*) FROM choice_rounds WHERE campaign_id = :d "
            "AND closed_at IS NOT NULL), "
            "(SELECT count(*) FROM responses WHERE campaign_id IN (:c, :d)), "
            "(SELECT count(*) FROM delivery_milestones WHERE campaign_id = :d), "
            "(SELECT count(*) FROM delivery_milestones WHERE missed_at IS NOT NULL), "
            "(SELECT count(*) FROM choices WHERE service_confirmed_at IS NOT NULL)",
            {"c": campaign_id, "d": delivered_id},
        ).fetchone()
    assert status == "tipped"
    # The two providers' endpoints and the council's.
    assert counts == (2, 8, 1, 3)
    assert after == (7, 1, 2, 3, 1, 2)
