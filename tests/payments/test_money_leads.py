"""Money campaigns as leads, administrators and providers meet them in the browser: the
campaign form's money fields, the dashboard's money after charging, refunds by the lead
and by an administrator (once, however often the button is pressed), the demand page."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
import sqlalchemy as sa
from starlette.applications import Starlette

from app.main import create_app
from app.settings import Settings
from gateways.stripe_gateway import StripeGateway
from gateways.stripe_stand_in import FakeStripe
from pledges.accounts import Lead, create_organisation_api_key
from pledges.campaigns import Campaign, get_campaign
from pledges.journal import events_for_campaign
from pledges.payments import run_payments
from pledges.store import Store
from pledges.tables import pledges
from tests.app.pages.test_accessibility import accessibility_problems
from tests.app.pages.test_leads import (
    browser,
    create,
    csrf_from,
    csrf_of,
    field_error,
    sign_in,
    store_of,
)
from tests.app.pages.test_residents import Page, page_of
from tests.conftest import make_settings, table_snapshot
from tests.payments.conftest import make_money_campaign, make_money_pledge, money_settings
from tests.spreadsheets import spreadsheet_text

ADMIN = "admin@example.org"


@pytest.fixture
def settings(database_url: str, fake_stripe: FakeStripe) -> Settings:
    """The app talks to the fake Stripe, as a site with Stripe keys does."""
    return money_settings(database_url, fake_stripe, admin_emails=ADMIN)


def assert_accessible(response: httpx.Response) -> None:
    assert accessibility_problems(response.text) == [], response.text


async def campaign_row(store: Store, slug: str) -> Campaign:
    return await get_campaign(store.database, slug)


async def tipped_and_charged(
    store: Store, fake: FakeStripe, gateway: StripeGateway, lead: Lead
) -> tuple[Campaign, list[int]]:
    """A campaign of 3 households at £20 that tipped, and the worker's pass that charged
    all three saved cards."""
    campaign = await make_money_campaign(store, lead)
    ids = [await make_money_pledge(store, fake, gateway, campaign.slug, i) for i in range(3)]
    assert (await campaign_row(store, campaign.slug)).status == "tipped"
    await run_payments(store, gateway)
    charged = await campaign_row(store, campaign.slug)
    assert charged.collected_amount == 6000
    return charged, ids


async def refund_events(store: Store, campaign: Campaign) -> list[dict[str, object]]:
    return [
        e.payload
        for e in await events_for_campaign(store.database, campaign.id)
        if e.type == "payment.refunded"
    ]


# The campaign form


async def test_lead_creates_a_fixed_deposit_campaign_with_a_money_target_only(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    store = store_of(app)
    await sign_in(client, store)
    form = page_of(await client.get("/lead/campaigns/new"))
    assert form.by_id("money_kind-none").attrs.get("checked") is not None
    assert {"deposit", "money_min", "money_max", "money_target"} <= form.ids

    answer = await create(
        client,
        target="",
        money_kind="deposit",
        currency="gbp",
        deposit="£20",
        money_target="1,200.50",
        action="publish",
    )

    assert answer.status_code == 303, answer.text
    slug = answer.headers["location"].rsplit("/", 1)[1]
    campaign = await campaign_row(store, slug)
    assert (campaign.status, campaign.target, campaign.currency) == ("open", 0, "gbp")
    assert (campaign.deposit_amount, campaign.min_amount, campaign.max_amount) == (2000, None, None)
    assert campaign.money_target == 120050
    dashboard = page_of(await client.get(answer.headers["location"]))
    assert "Each household pledges £20, towards £1,200.50." in dashboard.words
    assert "This campaign asks for money" in dashboard.by_id("paper").words + dashboard.words


async def test_lead_creates_a_range_campaign_and_edits_the_draft(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    store = store_of(app)
    await sign_in(client, store)
    answer = await create(
        client,
        money_kind="range",
        currency="eur",
        money_min="5",
        money_max="200.50",
        deposit="99",  # typed, then the lead chose a range: not sent
    )
    assert answer.status_code == 303, answer.text
    slug = answer.headers["location"].rsplit("/", 1)[1]
    campaign = await campaign_row(store, slug)
    assert (campaign.currency, campaign.target, campaign.deposit_amount) == ("eur", 40, None)
    assert (campaign.min_amount, campaign.max_amount, campaign.money_target) == (500, 20050, None)

    edit = await client.get(f"/lead/campaigns/{slug}/edit")
    page = page_of(edit)
    assert page.by_id("money_kind-range").attrs.get("checked") is not None
    assert page.by_id("money_min").attrs["value"] == "5"
    assert page.by_id("money_max").attrs["value"] == "200.50"
    assert_accessible(edit)

    fields = {
        name: page.by_id(name).attrs.get("value", "")
        for name in ("title", "area_name", "postcode_districts", "target", "deadline", "slug")
    }
    saved = await client.post(
        f"/lead/campaigns/{slug}/edit",
        data={
            "csrf_token": csrf_of(edit.text),
            **fields,
            "summary": campaign.summary,
            "category": "broadband",
            "money_kind": "deposit",
            "currency": "usd",
            "deposit": "15",
        },
    )

    assert saved.status_code == 303, saved.text
    campaign = await campaign_row(store, slug)
    assert (campaign.currency, campaign.deposit_amount) == ("usd", 1500)
    assert (campaign.min_amount, campaign.max_amount) == (None, None)


async def test_a_live_campaign_keeps_its_money(app: Starlette, client: httpx.AsyncClient) -> None:
    store = store_of(app)
    await sign_in(client, store)
    answer = await create(
        client, money_kind="deposit", currency="gbp", deposit="20", action="publish"
    )
    slug = answer.headers["location"].rsplit("/", 1)[1]
    edit = await client.get(f"/lead/campaigns/{slug}/edit")
    page = page_of(edit)
    assert "deposit" not in page.ids  # no money inputs once pledges may be coming in
    assert "A deposit of £20 from each household" in page.words

    saved = await client.post(
        f"/lead/campaigns/{slug}/edit",
        data={
            "csrf_token": csrf_of(edit.text),
            "title": "A new title for the campaign",
            "summary": "Still gigabit broadband.",
            "description": "",
            "deadline": page.by_id("deadline").attrs["value"],
            "money_kind": "range",
            "money_min": "1",
            "money_max": "500",
            "deposit": "50",
        },
    )

    assert saved.status_code == 303, saved.text
    campaign = await campaign_row(store, slug)
    assert campaign.title == "A new title for the campaign"
    assert (campaign.deposit_amount, campaign.min_amount, campaign.max_amount) == (2000, None, None)


@pytest.mark.parametrize(
    ("typed", "field", "message"),
    [
        (
            {"money_kind": "deposit", "deposit": "twenty"},
            "deposit",
            "Enter the deposit in numbers, like 20 or 12.50.",
        ),
        (
            {"money_kind": "deposit", "deposit": "0.50"},
            "deposit",
            "The deposit must be from £1 to £999,999.99.",
        ),
        ({"money_kind": "deposit", "deposit": ""}, "deposit", "Enter the deposit."),
        (
            {"money_kind": "deposit", "deposit": "20", "currency": ""},
            "currency",
            "Choose the currency.",
        ),
        (
            {"money_kind": "range", "money_min": "50", "money_max": "10"},
            "money_max",
            "The largest amount must not be less than the smallest.",
        ),
        (
            {"money_kind": "range", "money_min": "", "money_max": ""},
            "money_min",
            "Enter the smallest and the largest amount a household may pledge.",
        ),
        (
            {"money_kind": "range", "money_min": "5", "money_max": "lots"},
            "money_max",
            "Enter the largest amount in numbers, like 20 or 12.50.",
        ),
        (
            {"money_kind": "deposit", "deposit": "20", "money_target": "12,000.999"},
            "money_target",
            "Enter the money target in numbers, like 20 or 12.50.",
        ),
        (
            {"money_kind": "deposit", "deposit": "20", "target": ""},
            "target",
            "Enter how many pledges it needs, or a money target below.",
        ),
        ({"money_kind": "maybe"}, "money_kind", "Choose whether the campaign asks for money."),
    ],
)
async def test_money_mistakes_are_shown_beside_their_field_and_nothing_is_stored(
    app: Starlette,
    client: httpx.AsyncClient,
    typed: dict[str, str],
    field: str,
    message: str,
) -> None:
    store = store_of(app)
    await sign_in(client, store)
    before = await table_snapshot(store)

    answer = await create(client, **{"currency": "gbp", **typed}, action="publish")

    assert answer.status_code == 422
    assert await table_snapshot(store) == before
    page = page_of(answer)
    if field == "money_kind":  # a group of radios: its fieldset points at the message
        assert "money_kind-error" in page.by_id(field).attrs["aria-describedby"]
        assert page.by_id("money_kind-error").words == f"Error: {message}"
    else:
        assert field_error(page, field) == f"Error: {message}"
    assert page.summary_links() == [f"#{field}"]
    for name, value in typed.items():  # what was typed stays, to be corrected
        if name not in ("money_kind", "currency"):
            assert page.by_id(name).attrs["value"] == value
    assert_accessible(answer)


async def test_money_and_other_mistakes_are_listed_together(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    store = store_of(app)
    await sign_in(client, store)

    answer = await create(
        client,
        title="",
        money_kind="range",
        currency="gbp",
        money_min="x",
        money_max="5",
        deadline="soon",
    )

    assert answer.status_code == 422
    assert page_of(answer).summary_links() == ["#title", "#money_min", "#deadline"]


async def test_without_stripe_the_form_offers_no_money_and_refuses_it(database_url: str) -> None:
    app = create_app(make_settings(database_url))  # no Stripe keys
    async with app.router.lifespan_context(app), browser(app) as client:
        store = store_of(app)
        await sign_in(client, store)
        form = await client.get("/lead/campaigns/new")
        page = page_of(form)
        assert "Money pledges are not available on this site." in page.by_id("money").words
        assert not {"money_kind-deposit", "deposit", "currency", "money_min"} & page.ids
        assert_accessible(form)
        before = await table_snapshot(store)

        # A stale page or a hand-made request.
        answer = await create(client, money_kind="deposit", currency="gbp", deposit="20")

        assert answer.status_code == 422
        assert await table_snapshot(store) == before
        refused = page_of(answer)
        assert refused.summary_links() == ["#money"]
        assert "a campaign cannot ask for money" in refused.by_id("money-error").words
        assert_accessible(answer)
        # Without money it is an ordinary campaign.
        assert (await create(client)).status_code == 303


# The dashboard, the CSV and refunds by the lead


async def test_dashboard_shows_pledged_and_collected_after_charging(
    app: Starlette, client: httpx.AsyncClient, fake_stripe: FakeStripe, gateway: StripeGateway
) -> None:
    store = store_of(app)
    lead = await sign_in(client, store)
    campaign = await make_money_campaign(store, lead)
    first = await make_money_pledge(store, fake_stripe, gateway, campaign.slug, 0)
    await make_money_pledge(store, fake_stripe, gateway, campaign.slug, 1, confirm=False)

    before = page_of(await client.get(f"/lead/campaigns/{campaign.slug}"))
    assert before.by_id("money").tag == "h2"
    assert "Pledged £20 Collected £0 Refunded £0" in before.words
    assert "No pledge has been paid yet." in before.words

    await make_money_pledge(store, fake_stripe, gateway, campaign.slug, 2)
    await make_money_pledge(store, fake_stripe, gateway, campaign.slug, 3)  # tips it
    await run_payments(store, gateway)

    answer = await client.get(f"/lead/campaigns/{campaign.slug}")
    page = page_of(answer)
    assert "Pledged £60 Collected £60 Refunded £0" in page.words
    rows = [" ".join(e.words.split()) for e in page.find_all("tr")]
    assert "Paid 3" in rows
    refund_buttons = [f for f in page.find_all("form") if f.attrs["action"].endswith("/refunds")]
    assert len(refund_buttons) == 3
    assert str(first) in {e.attrs["value"] for e in page.find_all("input", name="pledge_id")}
    assert_accessible(answer)

    exported = await client.get(f"/lead/campaigns/{campaign.slug}/pledges.csv")
    table = list(csv.DictReader(io.StringIO(spreadsheet_text(exported))))
    assert list(table[0])[-2:] == ["amount", "payment_status"]
    assert "email" in table[0] and "confirmed_at" in table[0]
    by_email = {r["email"]: (r["amount"], r["payment_status"]) for r in table}
    assert by_email["resident0@example.org"] == ("20.00", "paid")
    assert by_email["resident1@example.org"] == ("20.00", "card_saved")  # never confirmed


async def test_the_csv_of_a_campaign_without_money_is_as_before(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    store = store_of(app)
    await sign_in(client, store)
    answer = await create(client, action="publish")
    slug = answer.headers["location"].rsplit("/", 1)[1]

    exported = await client.get(f"/lead/campaigns/{slug}/pledges.csv")

    header = next(csv.reader(io.StringIO(spreadsheet_text(exported))))
    assert "amount" not in header and "payment_status" not in header


async def test_lead_refunds_a_paid_pledge_once_however_often_they_press(
    app: Starlette, client: httpx.AsyncClient, fake_stripe: FakeStripe, gateway: StripeGateway
) -> None:
    store = store_of(app)
    lead = await sign_in(client, store)
    campaign, ids = await tipped_and_charged(store, fake_stripe, gateway, lead)
    dashboard = f"/lead/campaigns/{campaign.slug}"
    action = f"{dashboard}/refunds"
    token = await csrf_from(client, dashboard)

    asked = await client.post(action, data={"csrf_token": token, "pledge_id": str(ids[0])})

    assert asked.status_code == 200
    confirm = page_of(asked)
    assert confirm.find("h1").words == f"Refund pledge {ids[0]}?"  # type: ignore[union-attr]
    assert confirm.form_fields(action)["confirm"] == "yes"
    assert fake_stripe.of_kind("refund") == []  # asking changed nothing
    assert_accessible(asked)

    # A double click: two posts of the confirm button at once.
    yes = {"csrf_token": token, "pledge_id": str(ids[0]), "confirm": "yes"}
    answers = await asyncio.gather(client.post(action, data=yes), client.post(action, data=yes))

    assert sorted(a.status_code for a in answers)[0] == 303
    assert {a.status_code for a in answers} <= {303, 409}
    assert len(fake_stripe.of_kind("refund")) == 1
    after = await campaign_row(store, campaign.slug)
    assert (after.refunded_amount, after.collected_amount) == (2000, 6000)
    assert [e["by"] for e in await refund_events(store, campaign)] == ["lead"]
    status = await store.database.fetch_val(
        sa.select(pledges.c.payment_status).where(pledges.c.id == ids[0])
    )
    assert status == "refunded"

    page = page_of(await client.get(dashboard))
    assert "Refunded £20" in page.words
    assert f"Refunded £20 to pledge {ids[0]}." in page.words  # the flash
    assert len([f for f in page.find_all("form") if f.attrs["action"] == action]) == 2

    again = await client.post(action, data=yes)  # a third press, later

    assert again.status_code == 409
    assert "This pledge has already been refunded." in page_of(again).words
    assert len(fake_stripe.of_kind("refund")) == 1
    assert (await campaign_row(store, campaign.slug)).refunded_amount == 2000
    assert_accessible(again)


async def test_refunding_an_unpaid_pledge_says_why(
    app: Starlette, client: httpx.AsyncClient, fake_stripe: FakeStripe, gateway: StripeGateway
) -> None:
    store = store_of(app)
    lead = await sign_in(client, store)
    campaign = await make_money_campaign(store, lead)
    pledge_id = await make_money_pledge(store, fake_stripe, gateway, campaign.slug)  # card saved
    action = f"/lead/campaigns/{campaign.slug}/refunds"
    token = await csrf_from(client, f"/lead/campaigns/{campaign.slug}")
    before = await table_snapshot(store)

    answer = await client.post(
        action, data={"csrf_token": token, "pledge_id": str(pledge_id), "confirm": "yes"}
    )

    assert answer.status_code == 409
    assert "Only a paid pledge can be refunded." in page_of(answer).words
    assert await table_snapshot(store) == before
    assert fake_stripe.of_kind("refund") == []
    assert_accessible(answer)


async def test_only_the_campaigns_own_lead_can_refund_its_pledges(
    app: Starlette, client: httpx.AsyncClient, fake_stripe: FakeStripe, gateway: StripeGateway
) -> None:
    store = store_of(app)
    owner = await sign_in(client, store)
    campaign, ids = await tipped_and_charged(store, fake_stripe, gateway, owner)

    async with browser(app) as other:
        other_lead = await sign_in(other, store, "other@example.org")
        theirs = await make_money_campaign(store, other_lead)
        token = await csrf_from(other, "/lead")
        data = {"csrf_token": token, "pledge_id": str(ids[0]), "confirm": "yes"}

        # Another lead's campaign: as if it did not exist.
        stranger = await other.post(f"/lead/campaigns/{campaign.slug}/refunds", data=data)
        # Their own campaign's address with a pledge of someone else's campaign.
        crossed = await other.post(f"/lead/campaigns/{theirs.slug}/refunds", data=data)
        # Not a pledge number at all.
        nonsense = await other.post(
            f"/lead/campaigns/{theirs.slug}/refunds", data={**data, "pledge_id": "1; drop"}
        )

    assert (stranger.status_code, crossed.status_code, nonsense.status_code) == (404, 404, 404)
    assert fake_stripe.of_kind("refund") == []
    assert (await campaign_row(store, campaign.slug)).refunded_amount == 0


async def test_a_refund_needs_a_lead_and_the_forms_token(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    stranger = await client.post("/lead/campaigns/any/refunds", data={"pledge_id": "1"})
    assert stranger.status_code == 303
    assert stranger.headers["location"] == "/lead/sign-in"

    await sign_in(client, store_of(app))
    forged = await client.post("/lead/campaigns/any/refunds", data={"pledge_id": "1"})
    assert forged.status_code == 403


# Administrators


async def test_an_administrator_refunds_by_pledge_number_after_looking(
    app: Starlette, client: httpx.AsyncClient, fake_stripe: FakeStripe, gateway: StripeGateway
) -> None:
    store = store_of(app)
    lead = await sign_in(client, store, "lead@example.org")
    campaign, ids = await tipped_and_charged(store, fake_stripe, gateway, lead)
    await sign_in(client, store, ADMIN)

    home = page_of(await client.get("/admin"))
    row = next(tr for tr in home.find_all("tr") if campaign.slug in tr.words)
    assert "£60 of £60 pledged £60 collected" in row.words
    form = await client.get("/admin/refund")
    assert form.status_code == 200
    assert_accessible(form)
    token = csrf_of(form.text)

    shown = await client.post(
        "/admin/refund", data={"csrf_token": token, "pledge_id": str(ids[1]), "action": "show"}
    )

    assert shown.status_code == 200
    page = page_of(shown)
    assert "£20" in page.by_id("pledge").words and campaign.title in page.by_id("pledge").words
    assert fake_stripe.of_kind("refund") == []
    assert_accessible(shown)

    refund = {"csrf_token": token, "pledge_id": str(ids[1]), "action": "refund"}
    done = await client.post("/admin/refund", data=refund)

    assert done.status_code == 303 and done.headers["location"] == "/admin"
    assert f"Refunded £20 to pledge {ids[1]}" in page_of(await client.get("/admin")).words
    again = await client.post("/admin/refund", data=refund)  # the button pressed again
    assert again.status_code == 409
    assert field_error(page_of(again), "pledge_id") == (
        "Error: This pledge has already been refunded."
    )
    assert_accessible(again)
    assert len(fake_stripe.of_kind("refund")) == 1
    assert (await campaign_row(store, campaign.slug)).refunded_amount == 2000
    assert [e["by"] for e in await refund_events(store, campaign)] == ["admin"]


@pytest.mark.parametrize(
    ("typed", "status", "message"),
    [
        ("", 422, "Enter the pledge's number, like 1234."),
        ("twelve", 422, "Enter the pledge's number, like 1234."),
        ("99999", 404, "There is no pledge number 99999."),
    ],
)
async def test_an_administrator_is_told_what_is_wrong_with_a_pledge_number(
    app: Starlette, client: httpx.AsyncClient, typed: str, status: int, message: str
) -> None:
    store = store_of(app)
    await sign_in(client, store, ADMIN)
    token = await csrf_from(client, "/admin/refund")

    answer = await client.post(
        "/admin/refund", data={"csrf_token": token, "pledge_id": typed, "action": "refund"}
    )

    assert answer.status_code == status
    assert field_error(page_of(answer), "pledge_id") == f"Error: {message}"
    assert_accessible(answer)


async def test_only_administrators_may_refund(app: Starlette, client: httpx.AsyncClient) -> None:
    await sign_in(client, store_of(app), "lead@example.org")
    assert (await client.get("/admin/refund")).status_code == 403


# Providers and councils


@asynccontextmanager
async def organisation(app: Starlette, store: Store) -> AsyncIterator[httpx.AsyncClient]:
    _, key = await create_organisation_api_key(store, "ops@fibreco.example", "FibreCo", "provider")
    async with browser(app) as client:
        token = await csrf_from(client, "/org/sign-in")
        signed_in = await client.post("/org/sign-in", data={"csrf_token": token, "api_key": key})
        assert signed_in.status_code == 303
        yield client


def card_of(page: Page, title: str) -> str:
    return next(
        li.words for li in page.find_all("li") if li.has_class("card") and title in li.words
    )


async def test_providers_see_money_pledged_then_collected(
    app: Starlette, fake_stripe: FakeStripe, gateway: StripeGateway
) -> None:
    store = store_of(app)
    campaign = await make_money_campaign(store, title="Fibre with deposits")
    money_only = await make_money_campaign(
        store,
        title="Fibre with a money target",
        target=None,
        money={"currency": "gbp", "target": 10000, "deposit": 2500},
    )
    await make_money_pledge(store, fake_stripe, gateway, campaign.slug, 0)
    await make_money_pledge(store, fake_stripe, gateway, money_only.slug, 0)

    async with organisation(app, store) as client:
        before = await client.get("/org/demand")
        page = page_of(before)
        assert "1 of 3 confirmed pledges (33% of target) £20 of £60 pledged" in card_of(
            page, campaign.title
        )
        assert "collected" not in card_of(page, campaign.title)
        assert "1 confirmed pledges £25 of £100 pledged (25% of target)" in card_of(
            page, money_only.title
        )
        assert_accessible(before)

        for i in (1, 2):
            await make_money_pledge(store, fake_stripe, gateway, campaign.slug, i)
        await run_payments(store, gateway)
        after = page_of(await client.get("/org/demand"))

    assert "£60 of £60 pledged; £60 collected so far" in card_of(after, campaign.title)
