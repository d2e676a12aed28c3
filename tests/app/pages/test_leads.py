"""Campaign leads' pages, as a lead with a browser and no JavaScript meets them: signing in
by emailed link, starting, publishing, editing and cancelling campaigns, the dashboard,
paper pledges, updates to pledgers, the pledge CSV and the printable flyer."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, timedelta

import httpx
import pytest
import segno
import sqlalchemy as sa
from starlette.applications import Starlette

from app.pages.leads import csv_cell
from notifications.mail import DevMailbox
from notifications.outbox import dispatch_events, send_due_emails
from notifications.tables import emails
from pledges.accounts import Lead
from pledges.campaigns import Campaign, get_campaign
from pledges.journal import PUBLIC_EVENT_TYPES, events_for_campaign
from pledges.pledging import parse_pledge, record_pledge, unsubscribe_pledge, withdraw_pledge
from pledges.store import Store, utcnow
from pledges.tables import campaign_updates, campaigns, leads, pledges
from tests.app.pages.stylesheets import linked_styles
from tests.app.pages.test_residents import Page, page_of
from tests.conftest import table_snapshot
from tests.factories import (
    make_campaign,
    make_confirmed_pledge,
    make_lead,
    make_pending_pledges,
    pledge_data,
)
from tests.spreadsheets import spreadsheet_text

LEAD_EMAIL = "lead@example.org"
SIGN_IN_LINK = re.compile(r"http://testserver/lead/sign-in/confirm\?token=(\S+)")


# Helpers


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def store_of(app: Starlette) -> Store:
    store: Store = app.state.services.store
    return store


async def sign_in(client: httpx.AsyncClient, store: Store, email: str = LEAD_EMAIL) -> Lead:
    """The real flow: ask for a link, read it from the queued email, open it, press the
    button. Returns the signed-in lead."""
    ask = await client.get("/lead/sign-in")
    asked = await client.post(
        "/lead/sign-in", data={"csrf_token": csrf_of(ask.text), "email": email}
    )
    assert asked.status_code == 200
    body = await store.database.fetch_val(
        sa.select(emails.c.text_body)
        .where(emails.c.to_address == email, emails.c.kind == "sign_in_lead")
        .order_by(emails.c.id.desc())
    )
    match = SIGN_IN_LINK.search(body or "")
    assert match, "no sign-in link in the email"
    token = match.group(1)
    opened = await client.get(f"/lead/sign-in/confirm?token={token}")
    assert opened.status_code == 200
    confirmed = await client.post(
        "/lead/sign-in/confirm", data={"csrf_token": csrf_of(opened.text), "token": token}
    )
    assert confirmed.status_code == 303
    assert confirmed.headers["location"] == "/lead"
    row = await store.database.fetch_one(sa.select(leads).where(leads.c.email == email))
    assert row is not None
    return Lead(id=row["id"], email=row["email"], name=row["name"])


@asynccontextmanager
async def browser(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """Another browser, with its own cookies."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


async def csrf_from(client: httpx.AsyncClient, path: str) -> str:
    page = await client.get(path)
    assert page.status_code == 200, page.text
    return csrf_of(page.text)


def day(days_from_today: int) -> str:
    return (utcnow().date() + timedelta(days=days_from_today)).isoformat()


def campaign_form(**overrides: str) -> dict[str, str]:
    values = {
        "title": "Full fibre for Cardigan Road",
        "summary": "Gigabit broadband for every house on the road.",
        "description": "Openreach has no plans for us.\n\nLet us show them.",
        "category": "broadband",
        "area_name": "Cardigan Road",
        "postcode_districts": "ls6, LS16",
        "target": "40",
        "deadline": day(30),
        "milestones": "",
        "slug": "",
        "action": "draft",
    }
    values.update(overrides)
    return values


async def create(client: httpx.AsyncClient, **overrides: str) -> httpx.Response:
    token = await csrf_from(client, "/lead/campaigns/new")
    return await client.post(
        "/lead/campaigns/new", data={"csrf_token": token, **campaign_form(**overrides)}
    )


async def status_of(store: Store, slug: str) -> str:
    return str(
        await store.database.fetch_val(
            sa.select(campaigns.c.status).where(campaigns.c.slug == slug)
        )
    )


def field_error(page: Page, field_id: str) -> str:
    """The message beside a field, checking the field points at it."""
    element = page.by_id(field_id)
    assert element.attrs.get("aria-invalid") == "true", field_id
    assert f"{field_id}-error" in element.attrs.get("aria-describedby", "").split()
    return page.by_id(f"{field_id}-error").words


# Sessions


GET_PAGES = [
    "/lead",
    "/lead/campaigns/new",
    "/lead/campaigns/any-campaign",
    "/lead/campaigns/any-campaign/edit",
    "/lead/campaigns/any-campaign/cancel",
    "/lead/campaigns/any-campaign/pledges.csv",
    "/lead/campaigns/any-campaign/flyer",
]
POST_PAGES = [
    "/lead/campaigns/new",
    "/lead/campaigns/any-campaign/edit",
    "/lead/campaigns/any-campaign/publish",
    "/lead/campaigns/any-campaign/cancel",
    "/lead/campaigns/any-campaign/paper-pledges",
    "/lead/campaigns/any-campaign/updates",
]


async def test_every_page_sends_a_stranger_to_sign_in(client: httpx.AsyncClient) -> None:
    for path in GET_PAGES:
        answer = await client.get(path)
        assert answer.status_code == 303, path
        assert answer.headers["location"] == "/lead/sign-in"
    for path in POST_PAGES:
        answer = await client.post(path, data={"title": "x"})
        assert answer.status_code == 303, path
        assert answer.headers["location"] == "/lead/sign-in"


async def test_sign_in_by_emailed_link_then_sign_out(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    await sign_in(client, store_of(app))

    home = await client.get("/lead")

    assert home.status_code == 200
    page = page_of(home)
    assert len(page.find_all("h1")) == 1
    assert "Your campaigns" in page.by_id("main").words
    assert "You have no campaigns yet" in page.words
    assert page.find("a", href="/lead/campaigns/new") is not None
    assert "csrf_token" in page.form_fields("/sign-out")

    signed_out = await client.post("/sign-out", data={"csrf_token": csrf_of(home.text)})
    assert signed_out.status_code == 303
    assert (await client.get("/lead")).status_code == 303


async def test_another_leads_campaign_is_not_there(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    store = store_of(app)
    await sign_in(client, store)
    owner, _ = await make_lead(store, "someone-else@example.org")
    theirs = await make_campaign(store, owner)
    draft = await make_campaign(store, owner, draft=True)
    await make_confirmed_pledge(store, theirs.slug, 1)
    token = csrf_of((await client.get("/lead")).text)
    before = await table_snapshot(store)

    for campaign in (theirs, draft):
        base = f"/lead/campaigns/{campaign.slug}"
        for path in (
            base,
            f"{base}/edit",
            f"{base}/cancel",
            f"{base}/pledges.csv",
            f"{base}/flyer",
        ):
            assert (await client.get(path)).status_code == 404, path
        for path, data in [
            (f"{base}/edit", {"title": "Mine now", "summary": "Taken over", "deadline": day(40)}),
            (f"{base}/publish", {}),
            (f"{base}/cancel", {}),
            (f"{base}/paper-pledges", {**pledge_data(7), "consent": "on"}),
            (f"{base}/updates", {"title": "Hello", "body": "From a stranger"}),
        ]:
            answer = await client.post(path, data={"csrf_token": token, **data})
            assert answer.status_code == 404, path
            assert theirs.title not in answer.text

    assert await table_snapshot(store) == before
    assert theirs.title not in (await client.get("/lead")).text


async def test_forms_need_the_csrf_token(app: Starlette, client: httpx.AsyncClient) -> None:
    store = store_of(app)
    lead = await sign_in(client, store)
    campaign = await make_campaign(store, lead)
    before = await table_snapshot(store)

    for path, data in [
        ("/lead/campaigns/new", campaign_form()),
        (f"/lead/campaigns/{campaign.slug}/cancel", {}),
        (f"/lead/campaigns/{campaign.slug}/updates", {"title": "Hi", "body": "There"}),
        (f"/lead/campaigns/{campaign.slug}/paper-pledges", {**pledge_data(1), "consent": "on"}),
    ]:
        answer = await client.post(path, data={**data, "csrf_token": "forged"})
        assert answer.status_code == 403, path

    assert await table_snapshot(store) == before


# Starting a campaign


async def test_create_with_errors_keeps_what_was_typed_and_stores_nothing(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    store = store_of(app)
    await sign_in(client, store)
    before = await table_snapshot(store)

    answer = await create(
        client,
        title="",
        category="",
        postcode_districts="LS6, XX99X",
        target="lots",
        deadline="",
        milestones="25, 150",
    )

    assert answer.status_code == 422
    page = page_of(answer)
    assert page.summary_links() == [
        "#title",
        "#category",
        "#postcode_districts",
        "#target",
        "#deadline",
        "#milestones",
    ]
    assert field_error(page, "title") == "Error: Enter a title."
    assert "XX99X" in field_error(page, "postcode_districts")
    assert "whole number" in field_error(page, "target")
    assert "like 2027-03-12" in field_error(page, "deadline")
    assert "1 to 99" in field_error(page, "milestones")
    assert field_error(page, "category") == "Error: Choose a category."
    # What was typed is still there.
    assert page.by_id("summary").text == "Gigabit broadband for every house on the road."
    assert page.by_id("area_name").attrs["value"] == "Cardigan Road"
    assert page.by_id("postcode_districts").attrs["value"] == "LS6, XX99X"
    assert page.by_id("target").attrs["value"] == "lots"
    assert page.by_id("milestones").attrs["value"] == "25, 150"
    assert await table_snapshot(store) == before


async def test_a_taken_address_is_an_error_on_the_slug_field(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    store = store_of(app)
    lead = await sign_in(client, store)
    await make_campaign(store, lead, slug="cardigan-road")
    before = await table_snapshot(store)

    answer = await create(client, slug="cardigan-road")

    assert answer.status_code == 409
    page = page_of(answer)
    assert page.summary_links() == ["#slug"]
    assert "already uses this web address" in field_error(page, "slug")
    assert page.by_id("title").attrs["value"] == "Full fibre for Cardigan Road"
    assert await table_snapshot(store) == before


async def test_create_a_draft_then_publish_it(app: Starlette, client: httpx.AsyncClient) -> None:
    store = store_of(app)
    lead = await sign_in(client, store)

    created = await create(client, milestones="10, 50", slug="")

    assert created.status_code == 303
    slug = "full-fibre-for-cardigan-road"
    assert created.headers["location"] == f"/lead/campaigns/{slug}"
    campaign = await get_campaign(store.database, slug)
    assert campaign.status == "draft"
    assert campaign.lead_id == lead.id
    assert campaign.postcode_districts == ("LS16", "LS6")
    assert campaign.milestones == (10, 50)
    assert campaign.target == 40
    assert campaign.deadline.date().isoformat() == day(30)
    assert (await client.get(f"/c/{slug}")).status_code == 404  # nobody else sees a draft

    dashboard = await client.get(created.headers["location"])
    page = page_of(dashboard)
    assert "Saved as a draft" in page.words
    assert "Draft: only you can see it" in page.words
    home = page_of(await client.get("/lead"))
    assert page.find("a", href=f"/lead/campaigns/{slug}/edit") is not None
    assert home.find("a", href=f"/lead/campaigns/{slug}") is not None
    assert "Full fibre for Cardigan Road" in home.words

    published = await client.post(
        f"/lead/campaigns/{slug}/publish",
        data={"csrf_token": page.form_fields(f"/lead/campaigns/{slug}/publish")["csrf_token"]},
    )

    assert published.status_code == 303
    assert await status_of(store, slug) == "open"
    assert (await client.get(f"/c/{slug}")).status_code == 200
    after = page_of(await client.get(f"/lead/campaigns/{slug}"))
    assert "Published." in after.words
    assert after.find("form", action=f"/lead/campaigns/{slug}/publish") is None
    types = [e.type for e in await events_for_campaign(store.database, campaign.id)]
    assert types == ["campaign.opened"]


async def test_publish_now_opens_it_at_once(app: Starlette, client: httpx.AsyncClient) -> None:
    store = store_of(app)
    await sign_in(client, store)

    created = await create(client, action="publish", slug="cardigan-now")

    assert created.status_code == 303
    assert await status_of(store, "cardigan-now") == "open"


async def test_a_draft_past_its_deadline_is_not_published(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    store = store_of(app)
    lead = await sign_in(client, store)
    draft = await make_campaign(store, lead, draft=True)
    await store.database.execute(
        sa.update(campaigns)
        .where(campaigns.c.id == draft.id)
        .values(deadline=utcnow() - timedelta(days=1))
    )
    token = await csrf_from(client, f"/lead/campaigns/{draft.slug}")

    answer = await client.post(f"/lead/campaigns/{draft.slug}/publish", data={"csrf_token": token})

    assert answer.status_code == 303
    assert await status_of(store, draft.slug) == "draft"
    page = page_of(await client.get(f"/lead/campaigns/{draft.slug}"))
    assert "Its deadline has passed. Edit it to set a later one, then publish." in page.words


# Editing


async def test_a_draft_changes_in_every_field(app: Starlette, client: httpx.AsyncClient) -> None:
    store = store_of(app)
    await sign_in(client, store)
    await create(client, slug="cardigan-draft")
    form = page_of(await client.get("/lead/campaigns/cardigan-draft/edit"))
    assert form.by_id("target").attrs["value"] == "40"
    assert form.by_id("postcode_districts").attrs["value"] == "LS16, LS6"

    saved = await client.post(
        "/lead/campaigns/cardigan-draft/edit",
        data={
            "csrf_token": form.form_fields("/lead/campaigns/cardigan-draft/edit")["csrf_token"],
            **campaign_form(
                title="Fibre for Cardigan Road and Kirkstall",
                target="80",
                postcode_districts="LS5 LS6",
                category="other",
                slug="cardigan-and-kirkstall",
                deadline=day(90),
            ),
        },
    )

    assert saved.status_code == 303
    assert saved.headers["location"] == "/lead/campaigns/cardigan-and-kirkstall"
    campaign = await get_campaign(store.database, "cardigan-and-kirkstall")
    assert campaign.status == "draft"  # saving publishes nothing
    assert campaign.title == "Fibre for Cardigan Road and Kirkstall"
    assert campaign.target == 80
    assert campaign.category == "other"
    assert campaign.postcode_districts == ("LS5", "LS6")
    assert campaign.deadline.date().isoformat() == day(90)
    [event] = await events_for_campaign(store.database, campaign.id)
    assert event.type == "campaign.updated"
    assert set(event.payload["changed"]) == {
        "slug",
        "title",
        "category",
        "postcode_districts",
        "target",
        "deadline",
    }
    assert "campaign.updated" not in PUBLIC_EVENT_TYPES


async def test_an_open_campaign_changes_only_its_words_and_a_later_deadline(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    store = store_of(app)
    lead = await sign_in(client, store)
    campaign = await make_campaign(
        store, lead, slug="cardigan-open", deadline=(utcnow() + timedelta(days=30)).isoformat()
    )
    edit = f"/lead/campaigns/{campaign.slug}/edit"
    form = page_of(await client.get(edit))
    assert form.find("input", name="target") is None
    assert form.find("select", name="category") is None
    assert "What stays as it is" in form.words
    token = form.form_fields(edit)["csrf_token"]
    words = {
        "title": "Fibre for Cardigan Road, now",
        "summary": "Still gigabit.",
        "description": "",
    }
    before = await table_snapshot(store)

    earlier = await client.post(
        edit, data={"csrf_token": token, **words, "deadline": day(10), "target": "1"}
    )
    assert earlier.status_code == 422
    assert "can only move later" in field_error(page_of(earlier), "deadline")
    assert page_of(earlier).by_id("title").attrs["value"] == words["title"]
    too_late = await client.post(edit, data={"csrf_token": token, **words, "deadline": day(800)})
    assert too_late.status_code == 422
    assert "two years" in field_error(page_of(too_late), "deadline")
    no_title = await client.post(
        edit, data={"csrf_token": token, **words, "title": "", "deadline": day(30)}
    )
    assert no_title.status_code == 422
    assert page_of(no_title).summary_links() == ["#title"]
    assert await table_snapshot(store) == before

    saved = await client.post(
        edit, data={"csrf_token": token, **words, "deadline": day(60), "target": "1"}
    )

    assert saved.status_code == 303
    changed = await get_campaign(store.database, campaign.slug)
    assert changed.title == "Fibre for Cardigan Road, now"
    assert changed.summary == "Still gigabit."
    assert changed.description == ""
    assert changed.deadline.date().isoformat() == day(60)
    assert changed.target == campaign.target  # what people pledged to stays put
    events = await events_for_campaign(store.database, campaign.id)
    assert events[-1].type == "campaign.updated"
    assert set(events[-1].payload["changed"]) == {"title", "summary", "description", "deadline"}

    # The same date again keeps the deadline exactly as it is.
    again = await client.post(edit, data={"csrf_token": token, **words, "deadline": day(60)})
    assert again.status_code == 303
    assert (await get_campaign(store.database, campaign.slug)).deadline == changed.deadline


async def test_cancel_asks_first_then_closed_campaigns_cannot_be_edited(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    store = store_of(app)
    lead = await sign_in(client, store)
    campaign = await make_campaign(store, lead, slug="cardigan-cancel")
    await make_confirmed_pledge(store, campaign.slug, 1)
    base = f"/lead/campaigns/{campaign.slug}"
    dashboard = page_of(await client.get(base))
    assert dashboard.find("a", href=f"{base}/cancel") is not None

    ask = await client.get(f"{base}/cancel")
    assert ask.status_code == 200
    assert "This cannot be undone" in page_of(ask).words
    assert await status_of(store, campaign.slug) == "open"  # asking changed nothing

    cancelled = await client.post(f"{base}/cancel", data={"csrf_token": csrf_of(ask.text)})

    assert cancelled.status_code == 303
    assert await status_of(store, campaign.slug) == "cancelled"
    after = page_of(await client.get(base))
    assert "Cancelled" in after.words
    assert after.find("a", href=f"{base}/cancel") is None
    assert after.find("a", href=f"{base}/edit") is None
    before = await table_snapshot(store)
    refused = await client.post(
        f"{base}/edit",
        data={"csrf_token": csrf_of(ask.text), "title": "Back", "summary": "Again"},
    )
    assert refused.status_code == 409
    assert "can no longer be changed" in page_of(refused).words
    assert await table_snapshot(store) == before


# The dashboard


async def test_dashboard_shows_counts_chart_forecast_and_districts(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    store = store_of(app)
    lead = await sign_in(client, store)
    campaign = await make_campaign(store, lead, target=10)
    await make_confirmed_pledge(store, campaign.slug, 1)
    await make_confirmed_pledge(store, campaign.slug, 2, postcode="LS16 5AA")
    await make_confirmed_pledge(store, campaign.slug, 3, postcode="M1 1AE")
    withdrawn = await make_confirmed_pledge(store, campaign.slug, 4)
    await withdraw_pledge(store, withdrawn)
    await make_pending_pledges(store, campaign.slug, 2, start=10)

    answer = await client.get(f"/lead/campaigns/{campaign.slug}")

    assert answer.status_code == 200
    page = page_of(answer)
    assert len(page.find_all("h1")) == 1
    assert "3 of 10 pledges (30%)" in page.words
    assert "Confirmed 3" in page.words
    assert "Waiting for email confirmation 2" in page.words
    # The chart: inline SVG with a title and description, and a table of the same numbers.
    svg = page.find("svg")
    assert svg is not None and svg.attrs["role"] == "img"
    assert page.find("title", id="progress-chart-title") is not None
    assert "The target is 10" in page.by_id("progress-chart-desc").words
    today = f"{date.today().day} {date.today():%B %Y}"
    rows = [r.words for r in page.find_all("tr") if r.inside("table-alternative")]
    assert rows[-1] == f"{today} 3"
    # Net 3 since it opened today, counted over at least a day: 7 more take 2.3 days.
    assert "It grew by 3 since it opened (about 3 a day)" in page.words
    assert "before its deadline" in page.words
    districts = [r.words for r in page.find_all("tr") if not r.inside("table-alternative")]
    assert "LS6 1 2" in districts
    assert "LS16 1 0" in districts
    assert "M1 (outside the area) 1 0" in districts
    links = {a.attrs.get("href") for a in page.find_all("a")}
    assert {
        f"/c/{campaign.slug}",
        f"/lead/campaigns/{campaign.slug}/edit",
        f"/lead/campaigns/{campaign.slug}/flyer",
        f"/lead/campaigns/{campaign.slug}/pledges.csv",
    } <= links


async def test_a_draft_dashboard_says_there_is_nothing_to_count_yet(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    store = store_of(app)
    lead = await sign_in(client, store)
    draft = await make_campaign(store, lead, draft=True)

    page = page_of(await client.get(f"/lead/campaigns/{draft.slug}"))

    assert "It is a draft. Publish it to start counting pledges." in page.words
    assert page.find("svg") is None
    assert page.find("form", action=f"/lead/campaigns/{draft.slug}/paper-pledges") is None
    assert page.find("form", action=f"/lead/campaigns/{draft.slug}/updates") is None
    assert page.find("a", href=f"/lead/campaigns/{draft.slug}/flyer") is None


# Paper pledges


async def test_paper_pledge_needs_the_consent_box(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    store = store_of(app)
    lead = await sign_in(client, store)
    campaign = await make_campaign(store, lead)
    path = f"/lead/campaigns/{campaign.slug}/paper-pledges"
    token = await csrf_from(client, f"/lead/campaigns/{campaign.slug}")
    before = await table_snapshot(store)

    refused = await client.post(
        path,
        data={
            "csrf_token": token,
            "name": "Pat Paper",
            "email": "pat@example.org",
            "postcode": "LS6 2AB",
            "show_name": "on",
        },
    )

    assert refused.status_code == 422
    page = page_of(refused)
    assert page.summary_links() == ["#paper-consent"]
    assert "signed a paper form agreeing to be counted" in field_error(page, "paper-consent")
    assert page.by_id("paper-name").attrs["value"] == "Pat Paper"
    assert "checked" in page.by_id("paper-show_name").attrs
    assert "checked" not in page.by_id("paper-consent").attrs
    assert await table_snapshot(store) == before

    everything_wrong = await client.post(
        path, data={"csrf_token": token, "name": "", "email": "nope", "postcode": "ZZ"}
    )
    assert everything_wrong.status_code == 422
    assert page_of(everything_wrong).summary_links() == [
        "#paper-name",
        "#paper-email",
        "#paper-postcode",
        "#paper-consent",
    ]
    assert field_error(page_of(everything_wrong), "paper-name") == "Error: Enter their name."
    assert await table_snapshot(store) == before

    accepted = await client.post(
        path,
        data={
            "csrf_token": token,
            "name": "Pat Paper",
            "email": "pat@example.org",
            "postcode": "ls6 2ab",
            "show_name": "on",
            "consent": "on",
        },
    )

    assert accepted.status_code == 303
    row = await store.database.fetch_one(
        sa.select(pledges).where(pledges.c.campaign_id == campaign.id)
    )
    assert row is not None
    assert (row["name"], row["source"], row["status"], row["postcode"]) == (
        "Pat Paper",
        "paper",
        "confirmed",
        "LS6 2AB",
    )
    assert bool(row["show_name"]) is True and bool(row["share_contact"]) is False
    assert (await get_campaign(store.database, campaign.slug)).confirmed == 1
    assert (
        "Paper pledge recorded"
        in page_of(await client.get(f"/lead/campaigns/{campaign.slug}")).words
    )


async def test_paper_pledge_on_a_closed_campaign_is_refused_on_the_form(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    store = store_of(app)
    lead = await sign_in(client, store)
    campaign = await make_campaign(store, lead)
    token = await csrf_from(client, f"/lead/campaigns/{campaign.slug}")
    await client.post(f"/lead/campaigns/{campaign.slug}/cancel", data={"csrf_token": token})
    before = await table_snapshot(store)

    answer = await client.post(
        f"/lead/campaigns/{campaign.slug}/paper-pledges",
        data={"csrf_token": token, **pledge_data(1), "consent": "on"},
    )

    assert answer.status_code == 409
    assert await table_snapshot(store) == before


# Updates to pledgers


async def post_news(
    client: httpx.AsyncClient, campaign: Campaign, title: str, body: str
) -> httpx.Response:
    token = await csrf_from(client, f"/lead/campaigns/{campaign.slug}")
    return await client.post(
        f"/lead/campaigns/{campaign.slug}/updates",
        data={"csrf_token": token, "title": title, "body": body},
    )


async def test_an_update_is_shown_and_emailed_to_confirmed_subscribed_pledgers_only(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    store = store_of(app)
    lead = await sign_in(client, store)
    campaign = await make_campaign(store, lead, target=100)
    confirmed = await make_confirmed_pledge(store, campaign.slug, 1)
    unsubscribed = await make_confirmed_pledge(store, campaign.slug, 2)
    await unsubscribe_pledge(store, unsubscribed)
    pending = await record_pledge(store, campaign.slug, parse_pledge(pledge_data(3)))
    withdrawn = await make_confirmed_pledge(store, campaign.slug, 4)
    await withdraw_pledge(store, withdrawn)
    await dispatch_events(store)  # the pledges' own emails, out of the way

    posted = await post_news(
        client, campaign, "The survey is done", "Openreach came on Tuesday.\n\nNext: the quote."
    )

    assert posted.status_code == 303
    public = page_of(await client.get(f"/c/{campaign.slug}"))
    assert "Updates from the campaign" in public.words
    assert "The survey is done" in public.words
    assert "Openreach came on Tuesday." in public.words
    assert f"Posted {date.today().day} {date.today():%B %Y}" in public.words

    await dispatch_events(store)
    queued = await store.database.fetch_all(
        sa.select(emails.c.pledge_id, emails.c.to_address).where(emails.c.kind == "update")
    )
    assert [(r["pledge_id"], r["to_address"]) for r in queued] == [
        (confirmed, "resident1@example.org")
    ]
    assert pending.pledge_id not in {r["pledge_id"] for r in queued}

    renderer = app.state.services.renderer
    await send_due_emails(store, DevMailbox(), renderer)
    sent = await store.database.fetch_one(sa.select(emails).where(emails.c.kind == "update"))
    assert sent is not None and sent["status"] == "stored"
    assert sent["subject"] == f"{campaign.title}: The survey is done"
    assert "Openreach came on Tuesday." in sent["text_body"]
    assert "Next: the quote." in sent["html_body"]
    assert "/unsubscribe?token=" in sent["text_body"]
    async with store.read() as db:
        rendered = await renderer.render(db, "update", confirmed, event_id=sent["event_id"])
    assert rendered.headers["List-Unsubscribe"].startswith("<http://testserver/unsubscribe?")
    assert rendered.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


async def test_one_update_a_day_says_when_the_next_is_allowed(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    store = store_of(app)
    lead = await sign_in(client, store)
    campaign = await make_campaign(store, lead)
    assert (await post_news(client, campaign, "First", "Hello")).status_code == 303
    first_at = await store.database.fetch_val(sa.select(campaign_updates.c.created_at))
    before = await table_snapshot(store)

    again = await post_news(client, campaign, "Second", "Hello again")

    assert again.status_code == 429
    page = page_of(again)
    assert page.summary_links() == ["#update-limit"]
    next_at = first_at + timedelta(hours=24)
    expected = f"after {next_at:%H:%M} UTC on {next_at.day} {next_at:%B %Y}"
    assert expected in page.by_id("update-limit").words
    assert page.by_id("update-title").attrs["value"] == "Second"  # kept to post later
    assert await table_snapshot(store) == before


async def test_three_updates_a_week(app: Starlette, client: httpx.AsyncClient) -> None:
    store = store_of(app)
    lead = await sign_in(client, store)
    campaign = await make_campaign(store, lead)
    now = utcnow()
    await store.database.execute_many(
        sa.insert(campaign_updates),
        [
            {
                "campaign_id": campaign.id,
                "title": f"News from {d} days ago",
                "body": "Old news",
                "created_at": now - timedelta(days=d),
            }
            for d in (2, 4, 6)
        ],
    )
    public = page_of(await client.get(f"/c/{campaign.slug}"))
    titles = [h.words for h in public.find_all("h3") if h.inside("update")]
    assert titles == [f"News from {d} days ago" for d in (2, 4, 6)]  # newest first
    before = await table_snapshot(store)

    refused = await post_news(client, campaign, "Fourth", "Too many")

    assert refused.status_code == 429
    allowed_at = now + timedelta(days=1)  # when the one from 6 days ago is a week old
    assert f"{allowed_at.day} {allowed_at:%B %Y}" in page_of(refused).by_id("update-limit").words
    assert await table_snapshot(store) == before


async def test_an_update_with_errors_is_refused_beside_its_fields(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    store = store_of(app)
    lead = await sign_in(client, store)
    campaign = await make_campaign(store, lead)
    before = await table_snapshot(store)

    answer = await post_news(client, campaign, "", "")

    assert answer.status_code == 422
    page = page_of(answer)
    assert page.summary_links() == ["#update-title", "#update-body"]
    assert field_error(page, "update-title") == "Error: Enter a title."
    assert field_error(page, "update-body") == "Error: Enter the update."
    assert await table_snapshot(store) == before


# The CSV


async def test_csv_has_every_pledge_and_defuses_formulas(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    store = store_of(app)
    lead = await sign_in(client, store)
    campaign = await make_campaign(store, lead)
    names = ['=HYPERLINK("http://evil.example","x")', "+44 123", "-1", "@SUM(A1)", "Ann", "Bo"]
    emails_given = [f"resident{i}@example.org" for i in range(5)] + ["=1+1@example.org"]
    ids = [
        (
            await record_pledge(store, campaign.slug, parse_pledge(pledge_data(i, name=n, email=e)))
        ).pledge_id
        for i, (n, e) in enumerate(zip(names, emails_given, strict=True))
    ]
    confirmed = await make_confirmed_pledge(store, campaign.slug, 20, share_contact=True)
    await withdraw_pledge(store, ids[-1])

    answer = await client.get(f"/lead/campaigns/{campaign.slug}/pledges.csv")

    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    assert answer.headers["content-disposition"] == (
        f'attachment; filename="{campaign.slug}-pledges.csv"'
    )
    rows = list(csv.DictReader(io.StringIO(spreadsheet_text(answer))))
    assert list(rows[0].keys()) == [
        "id",
        "status",
        "source",
        "name",
        "email",
        "address_line",
        "postcode",
        "district",
        "show_name",
        "share_contact",
        "created_at",
        "confirmed_at",
        "withdrawn_at",
        "firmness",
    ]
    assert [int(r["id"]) for r in rows] == [*ids, confirmed]
    assert [r["name"] for r in rows[:6]] == [
        '\'=HYPERLINK("http://evil.example","x")',
        "'+44 123",
        "'-1",
        "'@SUM(A1)",
        "Ann",
        "Bo",
    ]
    assert rows[5]["email"] == "'=1+1@example.org"
    last = rows[-1]
    assert (last["status"], last["source"], last["email"], last["district"]) == (
        "confirmed",
        "web",
        "resident20@example.org",
        "LS6",
    )
    assert (last["show_name"], last["share_contact"]) == ("no", "yes")
    assert last["confirmed_at"] and last["withdrawn_at"] == ""
    assert rows[5]["status"] == "withdrawn" and rows[5]["withdrawn_at"]


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@A1", "'@A1"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("Ann = 1", "Ann = 1"),
        (True, "yes"),
        (False, "no"),
        (None, ""),
        (-5, "-5"),  # numbers are numbers, not text a spreadsheet would run
    ],
)
def test_csv_cells_that_a_spreadsheet_would_run_get_a_quote(value: object, cell: str) -> None:
    assert csv_cell(value) == cell


# The flyer


def qr_matrix_from_svg(svg: str) -> list[list[int]]:
    """Read the modules back out of segno's SVG path (M/m moves, h runs of dark modules)."""
    view = re.search(r'viewBox="0 0 (\d+) (\d+)"', svg)
    path = re.search(r'<path[^>]* d="([^"]+)"', svg)
    assert view and path
    size = int(view.group(1))
    grid = [[0] * size for _ in range(size)]
    x = y = 0.0
    for command, a, b in re.findall(r"([MmHh])(-?[\d.]+)(?:\s+(-?[\d.]+))?", path.group(1)):
        if command == "M":
            x, y = float(a), float(b)
        elif command == "m":
            x, y = x + float(a), y + float(b)
        else:
            run = float(a) if command == "h" else float(a) - x
            for col in range(int(x), int(x + run)):
                grid[int(y)][col] = 1
            x += run
    return grid


async def test_flyer_prints_on_a4_with_the_address_and_a_qr_code_of_it(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    store = store_of(app)
    lead = await sign_in(client, store)
    campaign = await make_campaign(store, lead, slug="cardigan-flyer")
    url = "http://testserver/c/cardigan-flyer"

    answer = await client.get("/lead/campaigns/cardigan-flyer/flyer")

    assert answer.status_code == 200
    assert "@page { size: A4; margin: 15mm }" in await linked_styles(client, answer)
    page = page_of(answer)
    assert page.find("h1") is not None and page.find("h1").words == campaign.title  # type: ignore[union-attr]
    assert url in page.words
    assert campaign.summary in page.words
    svg = re.search(r'<svg[^>]*class="qr".*?</svg>', answer.text, re.S)
    assert svg, "no QR code SVG on the flyer"
    grid = qr_matrix_from_svg(svg.group(0))
    border = 4
    modules = [row[border:-border] for row in grid[border:-border]]
    made = [
        [list(row) for row in segno.make(url, error=level).matrix] for level in ("l", "m", "q", "h")
    ]
    assert modules in made  # the code holds exactly the campaign's address


@pytest.mark.parametrize("draft", [True])
async def test_no_flyer_for_a_draft(app: Starlette, client: httpx.AsyncClient, draft: bool) -> None:
    store = store_of(app)
    lead = await sign_in(client, store)
    campaign = await make_campaign(store, lead, draft=draft)
    answer = await client.get(f"/lead/campaigns/{campaign.slug}/flyer")
    assert answer.status_code == 409
    assert "must be published" in answer.text
