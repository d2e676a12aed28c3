"""Believable demo campaigns, so a new user sees Groundswell working at once, and the
local stand-in for Stripe that lets the demo take money pledges without a network."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import secrets
import signal
import socket
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import uvicorn
from databases import DatabaseURL
from starlette.datastructures import Secret

from app.settings import Settings
from gateways.stripe_gateway import StripeGateway
from gateways.stripe_stand_in import FakeStripe
from pledges.accounts import Lead, create_lead_api_key, ensure_lead
from pledges.campaigns import (
    create_campaign,
    get_campaign,
    list_campaigns,
    open_campaign,
    parse_campaign,
)
from pledges.errors import CampaignNotFound
from pledges.letters import issue_letters, verify_letter
from pledges.payments import record_card_saved, remember_customer
from pledges.pledging import (
    confirm_pledge,
    parse_pledge,
    parse_vouched_pledge,
    record_paper_pledge,
    record_pledge,
    record_vouched_pledge,
)
from pledges.premises import parse_premises_csv
from pledges.premises_list import replace_premises
from pledges.reports import ReportInput, file_report
from pledges.store import Store, utcnow
from pledges.tokens import Signer

log = logging.getLogger("groundswell")

DEMO_LEAD = "lead@demo.groundswell.localhost"

CAMPAIGNS = [
    {
        "slug": "full-fibre-for-brudenell-road",
        "title": "Full fibre for Brudenell Road",
        "summary": "Gigabit broadband for the Brudenell streets: 60 households pledge and "
        "the provider builds.",
        "description": "Most of our street is stuck on copper at 20 Mbit/s while the next "
        "street over has full fibre.\n\nA provider has told us they will extend the network "
        "if 60 households show they would take a service. Pledging costs nothing: it only "
        "shows the demand is there.",
        "category": "broadband",
        "area": {"name": "Brudenell, Leeds", "postcode_districts": ["LS6"]},
        "target": 60,
        "days": 45,
        "paper": 41,
    },
    {
        "slug": "food-waste-bins-for-chapel-allerton",
        "title": "Food waste collection for Chapel Allerton",
        "summary": "Ask the council to start weekly food waste collection in LS7.",
        "description": "Food waste makes up a third of our black bins. A weekly caddy "
        "collection would cut landfill and smell.\n\nThe council will run a pilot where 150 "
        "households commit to using the caddies.",
        "category": "waste",
        "area": {"name": "Chapel Allerton, Leeds", "postcode_districts": ["LS7", "LS8"]},
        "target": 150,
        "days": 60,
        "paper": 38,
    },
    {
        "slug": "hyde-park-veg-box",
        "title": "A weekly veg box from Meanwood Valley Farm",
        "summary": "A local grower will deliver veg boxes to Hyde Park if 40 households sign up.",
        "description": "Meanwood Valley Farm delivers seasonal vegetables by cargo bike. "
        "They need 40 households on one round to make a new route pay.",
        "category": "supplier",
        "area": {"name": "Hyde Park, Leeds", "postcode_districts": ["LS6", "LS2"]},
        "target": 40,
        "days": 30,
        "paper": 12,
    },
]

NAMES = [
    "Amina Khan",
    "Tom Fletcher",
    "Grace Okafor",
    "Rhys Jones",
    "Priya Patel",
    "Sam Wood",
    "Chloe Brown",
    "Daniel Lee",
    "Fatima Ali",
    "Jack Taylor",
    "Olivia Smith",
    "Ben Walker",
]


DEMO_REPORT = "The page says the council has agreed to fund this. I asked them and it has not."


async def unseeded_demo_lead(store: Store, slug: str) -> Lead | None:
    """The demo's lead, when this is a demo database (its first campaign is there) and the
    campaign at `slug` is not seeded yet; None when there is nothing to do."""
    db = store.database
    try:
        await get_campaign(db, slug)
        return None
    except CampaignNotFound:
        pass
    try:
        await get_campaign(db, str(CAMPAIGNS[0]["slug"]))
    except CampaignNotFound:
        return None  # someone's own campaigns: leave them alone
    async with store.write() as db:
        return await ensure_lead(db, DEMO_LEAD)


async def seed_demo(store: Store) -> bool:
    """Seed once: returns False when campaigns already exist."""
    if await list_campaigns(store.database, include_drafts=True, include_hidden=True, limit=1):
        return False
    lead, _ = await create_lead_api_key(store, DEMO_LEAD)
    for spec in CAMPAIGNS:
        data = {k: v for k, v in spec.items() if k not in ("days", "paper")}
        data["deadline"] = (utcnow() + timedelta(days=int(spec["days"]))).isoformat()  # type: ignore[call-overload]
        campaign = await create_campaign(store, lead.id, parse_campaign(data))
        for i in range(int(spec["paper"])):  # type: ignore[call-overload]
            name = NAMES[i % len(NAMES)]
            district = campaign.postcode_districts[i % len(campaign.postcode_districts)]
            await record_paper_pledge(
                store,
                campaign.slug,
                lead.id,
                parse_pledge(
                    {
                        "name": name,
                        "email": f"{name.split()[0].lower()}.{i}@demo.groundswell.localhost",
                        "postcode": f"{district} {1 + i % 9}AB",
                        "show_name": i % 3 == 0,
                    }
                ),
            )
    # One resident's report waits at /admin/reports (README: Reports from residents).
    await file_report(
        store,
        str(CAMPAIGNS[-1]["slug"]),
        ReportInput("misleading", DEMO_REPORT, None),
        ip=None,
    )
    return True


# A community fibre partnership small enough for one visitor to tip: the provider's
# quote for the lane, less the vouchers, leaves £600 for three households to find.
MONEY_CAMPAIGN: dict[str, Any] = {
    "slug": "community-fibre-partnership-for-meanwood",
    "title": "Community fibre partnership for Meanwood",
    "summary": "Three households on Stonegate Mews put £200 each towards the £600 the "
    "provider needs to bring full fibre up the lane.",
    "description": "Stonegate Mews is a private lane of three houses off Meanwood Road, "
    "too small for the provider's own build plan. Its quote, less the gigabit vouchers, "
    "leaves £600 for us to find.\n\nThe quote holds for three weeks, so all three "
    "houses need to pledge by the deadline for the build to go ahead.",
    "category": "broadband",
    "area": {"name": "Meanwood, Leeds", "postcode_districts": ["LS6"]},
    "target": 3,
    "money": {"currency": "gbp", "target": 60_000, "deposit": 20_000},
}
MONEY_DAYS = 21
# Two neighbours have pledged already (cards saved and emails confirmed): the visitor's
# pledge is the third, which tips the campaign.
MONEY_PLEDGERS = [("Helen Marsh", "LS6 4BX"), ("Kwame Mensah", "LS6 4BY")]


async def seed_money_demo(
    store: Store,
    gateway: StripeGateway,
    stand_in: FakeStripe | None = None,
    *,
    base_url: str = Settings.base_url,
) -> bool:
    """Add the money campaign to a demo database once (Stripe or its stand-in is
    configured). Only with the stand-in can the two earlier pledges be seeded: their
    cards are saved by completing Checkout on the stand-in, as its test page does.
    Returns False when there is nothing to do: not a demo database, or seeded already."""
    lead = await unseeded_demo_lead(store, MONEY_CAMPAIGN["slug"])
    if lead is None:
        return False
    data = {**MONEY_CAMPAIGN, "deadline": (utcnow() + timedelta(days=MONEY_DAYS)).isoformat()}
    campaign = await create_campaign(store, lead.id, parse_campaign(data), money_enabled=True)
    if stand_in is None:
        return True
    base = f"{base_url}/c/{campaign.slug}"
    for name, postcode in MONEY_PLEDGERS:
        email = f"{name.split()[0].lower()}@demo.groundswell.localhost"
        outcome = await record_pledge(
            store,
            campaign.slug,
            parse_pledge({"name": name, "email": email, "postcode": postcode, "show_name": True}),
        )
        customer = await gateway.create_customer(
            email=email, name=name, pledge_id=outcome.pledge_id
        )
        await remember_customer(store, outcome.pledge_id, customer)
        session = await gateway.setup_session(
            customer=customer,
            pledge_id=outcome.pledge_id,
            currency=str(campaign.currency),
            success_url=f"{base}/card-saved?session_id={{CHECKOUT_SESSION_ID}}",
            cancel_url=base,
        )
        stand_in.complete_session(session.id, "visa")
        state = await gateway.retrieve_session(session.id)
        saved_customer, method = await gateway.saved_card(str(state.setup_intent))
        if method is None:
            raise RuntimeError("the stand-in did not save the demo card")
        await record_card_saved(store, outcome.pledge_id, saved_customer, method)
        await confirm_pledge(store, outcome.pledge_id)
    return True


# A campaign that counts homes, not people: two streets of ten, on the lead's list, and a
# target of 40 % of them. Six homes are counted (30 %), so two more tip it: a visitor who
# pledges at one of the listed addresses moves the coverage.
HOUSEHOLDS_CAMPAIGN: dict[str, Any] = {
    "slug": "full-fibre-for-cardigan-road-and-chestnut-avenue",
    "title": "Full fibre for Cardigan Road and Chestnut Avenue",
    "summary": "The provider will build when 40 % of the 20 homes on our two streets "
    "pledge: one pledge per home counts, however many of you live there.",
    "description": "The provider plans its build street by street, and counts homes, not "
    "people. Our two streets have 20 homes between them; when 8 of them have pledged, "
    "it will survey.\n\nEvery home on the list was posted a letter with a code: enter it "
    "when you pledge to show the provider your home really is on the street. No email? "
    "Tell Priya at number 9, and she will record your pledge for you.",
    "category": "broadband",
    "area": {"name": "Cardigan Road and Chestnut Avenue, Leeds", "postcode_districts": ["LS6"]},
    "counts": "households",
    "coverage_target": 40,
    "draft": True,
}
HOUSEHOLDS_DAYS = 40
HOUSEHOLDS_STREETS = (("Cardigan Road", "LS6 1LJ"), ("Chestnut Avenue", "LS6 1BA"))
# (name, address line, postcode): five homes by email, two people in one flat.
HOUSEHOLDS_PLEDGERS = [
    ("Amira Haddad", "1 Cardigan Road", "LS6 1LJ"),
    ("Tom Fielding", "5 Cardigan Rd", "LS6 1LJ"),
    ("Grace Obi", "Flat 2, 7 Cardigan Road", "LS6 1LJ"),
    ("Sam Obi", "flat 2 7 cardigan rd", "LS6 1LJ"),
    ("Lena Kowalski", "2 Chestnut Avenue", "LS6 1BA"),
]
# Verified by the code in her letter.
HOUSEHOLDS_LETTER = ("Rhys Evans", "6 Chestnut Avenue", "LS6 1BA")
# Recorded by the lead at the door: no email address.
HOUSEHOLDS_NO_EMAIL = ("Doreen Walsh", "10 Chestnut Ave", "LS6 1BA", "0113 496 0000")


def households_premises_csv() -> str:
    """The lead's list: 1 to 9 Cardigan Road, flat 2 of number 7, and 2 to 20 Chestnut
    Avenue (even numbers), 20 homes in all."""
    rows = ["address_line,postcode"]
    street, postcode = HOUSEHOLDS_STREETS[0]
    for number in range(1, 10):
        rows.append(f"{number} {street},{postcode}")
    rows.append(f'"Flat 2, 7 {street}",{postcode}')
    street, postcode = HOUSEHOLDS_STREETS[1]
    for number in range(2, 21, 2):
        rows.append(f"{number} {street},{postcode}")
    return "\n".join(rows) + "\n"


async def seed_households_demo(store: Store, signer: Signer) -> bool:
    """Add the households campaign to a demo database once: its premises list, letters
    with codes, pledges from several homes (two people in one flat), one home verified by
    its letter's code, and one pledge recorded for a neighbour without email. Returns
    False when there is nothing to do: not a demo database, or seeded already."""
    lead = await unseeded_demo_lead(store, HOUSEHOLDS_CAMPAIGN["slug"])
    if lead is None:
        return False
    data = {
        **HOUSEHOLDS_CAMPAIGN,
        "deadline": (utcnow() + timedelta(days=HOUSEHOLDS_DAYS)).isoformat(),
    }
    campaign = await create_campaign(store, lead.id, parse_campaign(data))
    slug = campaign.slug
    await replace_premises(store, slug, lead.id, parse_premises_csv(households_premises_csv()))
    await open_campaign(store, slug, lead.id)
    letters = await issue_letters(store, slug, lead.id, signer)
    for i, (name, line, postcode) in enumerate(HOUSEHOLDS_PLEDGERS):
        email = f"{name.split()[0].lower()}@demo.groundswell.localhost"
        spec = {"name": name, "email": email, "postcode": postcode, "address_line": line}
        outcome = await record_pledge(store, slug, parse_pledge({**spec, "show_name": i % 2 == 0}))
        await confirm_pledge(store, outcome.pledge_id)
    name, line, postcode = HOUSEHOLDS_LETTER
    code = next(letter.code for letter in letters if letter.address_line == line)
    await verify_letter(store, slug, signer, postcode=postcode, address_line=line, code=code)
    email = f"{name.split()[0].lower()}@demo.groundswell.localhost"
    outcome = await record_pledge(
        store,
        slug,
        parse_pledge({"name": name, "email": email, "postcode": postcode, "address_line": line}),
    )
    await confirm_pledge(store, outcome.pledge_id)
    name, line, postcode, phone = HOUSEHOLDS_NO_EMAIL
    await record_vouched_pledge(
        store,
        slug,
        lead.id,
        parse_vouched_pledge(
            {
                "name": name,
                "postcode": postcode,
                "address_line": line,
                "phone": phone,
                "attested": True,
            }
        ),
    )
    return True


async def seed_for_serve(settings: Settings, stand_in: FakeStripe | None = None) -> None:
    """`serve --demo`: the demo campaigns on a new database (with the campaign that counts
    households, the two that ask a price, the tipped one choosing between providers' offers
    and the one whose provider keeps its delivery record), and the money campaign when
    Stripe (or its stand-in) is configured."""
    # They import this module.
    from app.development.demo_choice import seed_choice_demo
    from app.development.demo_delivery import seed_delivery_demo
    from app.development.demo_demand import seed_demand_demo

    store = Store(settings.database_url)
    await store.connect()
    try:
        await seed_demo(store)
        await seed_households_demo(store, Signer(str(settings.secret_key)))
        await seed_demand_demo(store)
        await seed_choice_demo(store, settings.base_url)
        await seed_delivery_demo(store, settings.base_url)
        if settings.money_enabled:
            gateway = StripeGateway(
                str(settings.stripe_secret_key),
                str(settings.stripe_webhook_secret),
                settings.stripe_api_base,
            )
            try:
                await seed_money_demo(store, gateway, stand_in, base_url=settings.base_url)
            finally:
                await gateway.aclose()
    finally:
        await store.disconnect()


# ----- Stripe's stand-in ----------------------------------------------------------------


def make_stand_in(webhook_url: str) -> FakeStripe:
    """The stand-in with fresh random test secrets, posting its events to `webhook_url`."""
    return FakeStripe(
        api_key=f"sk_test_demo_{secrets.token_hex(16)}",
        webhook_secret=f"whsec_demo_{secrets.token_hex(24)}",
        webhook_urls=[webhook_url],
    )


def stand_in_state_path(settings: Settings) -> Path | None:
    """Where the stand-in keeps its objects between runs: beside a SQLite database file,
    so cards saved in one run of the demo can be charged in the next. None otherwise."""
    if not settings.is_sqlite:
        return None
    name = DatabaseURL(settings.database_url).database
    if not name or name == ":memory:":
        return None
    return Path(f"{name}.stripe-stand-in.json")


def load_stand_in(stand_in: FakeStripe, path: Path | None) -> int:
    """Customers, saved cards, sessions and payments from an earlier run; how many."""
    if path is None or not path.exists():
        return 0
    try:
        saved = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        log.warning("could not read %s (%s); the stand-in starts empty", path, exc)
        return 0
    if not isinstance(saved, dict):
        return 0
    stand_in.objects.update(saved)
    log.info("the Stripe stand-in remembers %d objects from %s", len(saved), path)
    return len(saved)


def save_stand_in(stand_in: FakeStripe, path: Path | None) -> None:
    if path is None:
        return
    try:
        path.write_text(json.dumps(stand_in.objects))
    except OSError as exc:
        log.warning("could not keep the stand-in's objects in %s: %s", path, exc)


class _PairedServer(uvicorn.Server):
    """One of the demo's two servers: serve_with_stand_in handles signals for both."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _stand_in_socket(app_port: int) -> socket.socket:
    """A socket on 127.0.0.1 for the stand-in: the app's port + 1, or any free port."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", app_port + 1 if 0 < app_port < 65535 else 0))
    except OSError:
        sock.bind(("127.0.0.1", 0))
    return sock


async def serve_with_stand_in(
    settings: Settings, host: str, port: int, *, run_worker: bool = True
) -> None:
    """`serve --demo` without Stripe keys: Groundswell and Stripe's stand-in in one event
    loop, the app's Stripe settings pointing at the stand-in, its events posted to the
    app's /stripe/webhook. The stand-in stops after the app, so the worker's last calls
    still reach it."""
    from app.main import create_app

    local = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104
    stand_in = make_stand_in(f"http://{local}:{port}/stripe/webhook")
    state = stand_in_state_path(settings)
    load_stand_in(stand_in, state)
    sock = _stand_in_socket(port)
    stand_in_port = int(sock.getsockname()[1])
    stand_in.public_url = f"http://127.0.0.1:{stand_in_port}"
    settings = dataclasses.replace(
        settings,
        stripe_secret_key=Secret(stand_in.api_key),
        stripe_webhook_secret=Secret(stand_in.webhook_secret),
        stripe_api_base=stand_in.public_url,
    )
    stand_in_server = _PairedServer(
        uvicorn.Config(
            stand_in.app,
            host="127.0.0.1",
            port=stand_in_port,
            lifespan="off",
            log_level="info",
        )
    )
    app_server = _PairedServer(
        uvicorn.Config(
            create_app(settings, run_worker=run_worker),
            host=host,
            port=port,
            log_level="info",
            proxy_headers=True,
        )
    )
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, app_server.handle_exit, sig, None)
    stand_in_task = asyncio.create_task(stand_in_server.serve(sockets=[sock]))
    try:
        while not stand_in_server.started:
            if stand_in_task.done():
                await stand_in_task  # raises what stopped it
                raise RuntimeError("the Stripe stand-in stopped at start")
            await asyncio.sleep(0.01)
        log.info(
            "Money pledges use the local Stripe stand-in at %s (test cards; no money moves)",
            stand_in.public_url,
        )
        # The app is not listening yet: seeding records the demo's saved cards itself.
        stand_in.auto_deliver = False
        await seed_for_serve(settings, stand_in)
        stand_in.auto_deliver = True
        print(f"Groundswell on http://{host}:{port}", flush=True)
        await app_server.serve()
    finally:
        stand_in_server.should_exit = True
        await stand_in.drain()
        await stand_in_task
        save_stand_in(stand_in, state)
        sock.close()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
