"""Providers' and councils' demand view and contacts download, as a member signed in with
the organisation's key meets them: their campaigns by progress, filtered by their webhook
endpoints, with confirmed pledges by district, and the CSV of consenting pledgers."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from starlette.applications import Starlette

from app.main import services_of
from app.pages.organisations import csv_cell
from notifications.demand import DemandFilter, organisation_demand
from notifications.endpoints import create_endpoint, parse_endpoint, update_endpoint
from pledges.accounts import Organisation, create_organisation_api_key
from pledges.campaigns import Campaign, get_campaign
from pledges.pledging import confirm_pledge, parse_pledge, record_pledge, withdraw_pledge
from pledges.store import Store, utcnow
from pledges.tables import campaigns, pledges
from tests.app.pages.test_organisations import csrf_of
from tests.app.pages.test_residents import Page, page_of
from tests.conftest import table_snapshot
from tests.factories import (
    approve,
    make_campaign,
    make_cancelled_campaign,
    make_expired_campaign,
    pledge_data,
)
from tests.spreadsheets import spreadsheet_text

PUBLIC_URL = "https://93.184.216.34/hooks/groundswell"  # a global address, never contacted


@pytest.fixture
def app_store(app: Starlette) -> Store:
    return services_of(app).store


async def organisation(
    store: Store, name: str, *filters: dict[str, Any], **endpoint: Any
) -> tuple[Organisation, str]:
    """An organisation and its key, approved by an administrator, with one active endpoint
    per filter given."""
    org, key = await create_organisation_api_key(
        store, f"ops@{name.lower()}.example", name, "provider"
    )
    await approve(store, org.id)
    for f in filters:
        await create_endpoint(
            store,
            org.id,
            await parse_endpoint(
                {"url": PUBLIC_URL, "filters": f, **endpoint}, partial=False, allow_private=False
            ),
        )
    return org, key


async def sign_in(client: httpx.AsyncClient, key: str) -> httpx.Response:
    page = await client.get("/org/sign-in")
    return await client.post(
        "/org/sign-in", data={"csrf_token": csrf_of(page.text), "api_key": key}
    )


async def pledge(
    store: Store, slug: str, i: int, *, postcode: str = "LS6 1AB", confirm: bool = True, **kw: Any
) -> int:
    outcome = await record_pledge(
        store, slug, parse_pledge(pledge_data(i, postcode=postcode, **kw))
    )
    if confirm:
        await confirm_pledge(store, outcome.pledge_id)
    return outcome.pledge_id


async def with_confirmed(store: Store, campaign: Campaign, count: int, start: int = 0) -> Campaign:
    for i in range(start, start + count):
        await pledge(store, campaign.slug, i)
    return await get_campaign(store.database, campaign.slug)


async def hide(store: Store, campaign: Campaign) -> None:
    async with store.write() as db:
        await db.execute(
            sa.update(campaigns).where(campaigns.c.id == campaign.id).values(hidden_at=utcnow())
        )


def titles(page: Page) -> list[str]:
    """The campaign cards' titles, in the order shown."""
    return [h.words for h in page.find_all("h3") if h.inside("campaigns")]


def card(page: Page, title: str) -> Any:
    for li in page.find_all("li"):
        if li.has_class("card") and any(
            e.tag == "h3" and li in e.ancestors and e.words == title for e in page.elements
        ):
            return li
    raise AssertionError(f"no card for {title!r}")


def district_rows(page: Page, title: str) -> list[tuple[str, str]]:
    li = card(page, title)
    rows = [tr for tr in page.find_all("tr") if li in tr.ancestors]
    cells = [[td.words for td in page.find_all("td") if tr in td.ancestors] for tr in rows]
    return [(c[0], c[1]) for c in cells if c]


def contacts_links(page: Page) -> list[str]:
    return [a.attrs["href"] for a in page.find_all("a") if a.attrs.get("href", "").endswith(".csv")]


async def demand(client: httpx.AsyncClient, **params: str) -> Page:
    answer = await client.get("/org/demand", params=params)
    assert answer.status_code == 200, answer.text
    return page_of(answer)


# --- sign-in and navigation -----------------------------------------------------------------


async def test_sign_in_lands_on_demand_with_the_org_nav(
    client: httpx.AsyncClient, app_store: Store
) -> None:
    assert (await client.get("/org/demand")).headers["location"] == "/org/sign-in"
    _, key = await organisation(app_store, "FibreCo", {"categories": ["broadband"]})
    signed_in = await sign_in(client, key)
    assert signed_in.status_code == 303
    assert signed_in.headers["location"] == "/org/demand"

    for path, current in (("/org/demand", "Demand"), ("/org/endpoints", "Webhook endpoints")):
        page = page_of(await client.get(path))
        nav = page.find("nav", **{"aria-label": "Organisation"})
        assert nav is not None
        links = {a.words: a for a in page.find_all("a") if nav in a.ancestors}
        assert links["Demand"].attrs["href"] == "/org/demand"
        assert links["Webhook endpoints"].attrs["href"] == "/org/endpoints"
        assert [w for w, a in links.items() if a.attrs.get("aria-current") == "page"] == [current]
        sign_out = page.find("form", action="/org/sign-out")
        assert sign_out is not None and nav in sign_out.ancestors

    page = await client.get("/org/demand")
    out = await client.post("/org/sign-out", data={"csrf_token": csrf_of(page.text)})
    assert out.status_code == 303
    assert (await client.get("/org/demand")).headers["location"] == "/org/sign-in"


# --- the demand view ------------------------------------------------------------------------


async def test_demand_shows_covered_campaigns_by_progress(
    client: httpx.AsyncClient, app_store: Store
) -> None:
    # Broadband in Leeds (LS), and waste in Manchester M1: each endpoint's filters together.
    _, key = await organisation(
        app_store,
        "FibreCo",
        {"categories": ["broadband"], "postcode_prefixes": ["LS"]},
        {"categories": ["waste"], "postcode_prefixes": ["M1"]},
    )
    leeds = {"name": "Headingley", "postcode_districts": ["LS6", "LS16"]}
    thirty = await with_confirmed(
        app_store, await make_campaign(app_store, title="Thirty", target=10, area=leeds), 3
    )
    fifty = await with_confirmed(
        app_store,
        await make_campaign(
            app_store,
            title="Fifty",
            target=4,
            area={"name": "Adel", "postcode_districts": ["LS16"]},
        ),
        2,
    )
    tipped = await with_confirmed(
        app_store,
        await make_campaign(
            app_store,
            title="Past target",
            target=2,
            category="waste",
            area={"name": "Piccadilly", "postcode_districts": ["M1"]},
        ),
        3,
    )
    assert tipped.status == "tipped"
    await make_campaign(app_store, title="Zero", target=5, area=leeds)
    # Not covered: broadband in M1 (the M1 endpoint takes waste), waste in LS, and L1,
    # which the area LS does not cover.
    await make_campaign(
        app_store, title="Broadband in M1", area={"name": "Centre", "postcode_districts": ["M1"]}
    )
    await make_campaign(app_store, title="Waste in LS", category="waste", area=leeds)
    await make_campaign(
        app_store, title="Liverpool", area={"name": "Liverpool", "postcode_districts": ["L1"]}
    )
    # Never shown: a draft, a hidden campaign, an expired and a cancelled one.
    await make_campaign(app_store, title="Draft", draft=True, area=leeds)
    hidden = await with_confirmed(
        app_store, await make_campaign(app_store, title="Hidden", target=3, area=leeds), 2
    )
    await hide(app_store, hidden)
    await make_expired_campaign(app_store, title="Expired", area=leeds)
    await make_cancelled_campaign(app_store, title="Cancelled", area=leeds)

    await sign_in(client, key)
    page = await demand(client)
    assert titles(page) == ["Past target", "Fifty", "Thirty", "Zero"]
    assert page.find("h2") is not None and "4 campaigns" in page.words
    words = card(page, "Past target").words
    assert "3 of 2 confirmed pledges (150% of target)" in words
    assert "Tipped on" in words and "Waste" in words
    assert "2 of 4 confirmed pledges (50% of target)" in card(page, "Fifty").words
    assert "Open" in card(page, "Thirty").words and "days left" in card(page, "Thirty").words
    assert "every category" not in page.words
    assert "broadband, in LS" in page.words and "waste, in M1" in page.words

    # Widened to everywhere: the uncovered ones too, still never draft, hidden or closed.
    everywhere = await demand(client, everywhere="on")
    assert titles(everywhere) == [
        "Past target",
        "Fifty",
        "Thirty",
        "Zero",
        "Broadband in M1",
        "Waste in LS",
        "Liverpool",
    ]
    assert everywhere.find("input", id="everywhere").attrs.get("checked") is not None  # type: ignore[union-attr]
    # Narrowed: by category, by district, by area, and a full postcode for its district.
    assert titles(await demand(client, category="waste")) == ["Past target"]
    assert titles(await demand(client, postcode_prefix="ls16")) == ["Fifty", "Thirty", "Zero"]
    assert titles(await demand(client, postcode_prefix="LS16 5AA")) == ["Fifty", "Thirty", "Zero"]
    assert titles(await demand(client, postcode_prefix="L", everywhere="on")) == ["Liverpool"]
    assert titles(
        await demand(client, postcode_prefix="LS", everywhere="on", category="waste")
    ) == ["Waste in LS"]
    nothing = await demand(client, postcode_prefix="M2")
    assert titles(nothing) == [] and "No open or tipped campaigns match" in nothing.words
    assert thirty.percent == 30 and fifty.percent == 50


async def test_an_organisation_without_active_endpoints_sees_everything_and_how_to_register(
    client: httpx.AsyncClient, app_store: Store
) -> None:
    org, key = await organisation(app_store, "NewCo")
    await make_campaign(app_store, title="Waste", category="waste")
    await make_campaign(
        app_store, title="Broadband", area={"name": "Manchester", "postcode_districts": ["M1"]}
    )
    await sign_in(client, key)
    page = await demand(client)
    assert sorted(titles(page)) == ["Broadband", "Waste"]
    assert "You have no webhook endpoints yet, so this page shows campaigns everywhere" in (
        page.words
    )
    assert any(
        a.attrs["href"] == "/org/endpoints" and a.words == "Register a webhook endpoint"
        for a in page.find_all("a")
    )

    # A disabled endpoint covers nothing either.
    endpoint = await create_endpoint(
        app_store,
        org.id,
        await parse_endpoint(
            {"url": PUBLIC_URL, "filters": {"categories": ["waste"]}},
            partial=False,
            allow_private=False,
        ),
    )
    assert titles(await demand(client)) == ["Waste"]
    await update_endpoint(
        app_store,
        org.id,
        endpoint.public_id,
        await parse_endpoint({"status": "disabled"}, partial=True, allow_private=False),
    )
    page = await demand(client)
    assert sorted(titles(page)) == ["Broadband", "Waste"]
    assert "None of your webhook endpoints is active" in page.words


async def test_confirmed_pledges_are_broken_down_by_district(
    client: httpx.AsyncClient, app_store: Store
) -> None:
    org, key = await organisation(app_store, "FibreCo", {})
    campaign = await make_campaign(app_store, title="Headingley fibre", target=10)
    await pledge(app_store, campaign.slug, 1, postcode="LS6 1AB")
    await pledge(app_store, campaign.slug, 2, postcode="ls6 2db")
    await pledge(app_store, campaign.slug, 3, postcode="LS16 5AA")
    await pledge(app_store, campaign.slug, 4, postcode="LS16 6BB", confirm=False)  # pending
    gone = await pledge(app_store, campaign.slug, 5, postcode="LS16 7DD")
    await withdraw_pledge(app_store, gone)
    # A pledger from outside the campaign's districts still counts, under their own.
    await pledge(app_store, campaign.slug, 6, postcode="M1 1AE")
    await make_campaign(app_store, title="No pledges yet")

    await sign_in(client, key)
    page = await demand(client)
    assert district_rows(page, "Headingley fibre") == [("LS6", "2"), ("LS16", "1"), ("M1", "1")]
    assert "4 of 10 confirmed pledges (40% of target)" in card(page, "Headingley fibre").words
    assert "No confirmed pledges yet" in card(page, "No pledges yet").words
    assert district_rows(page, "No pledges yet") == []

    # The same numbers from the domain function the page uses.
    found = await organisation_demand(app_store.database, org.id, DemandFilter(everywhere=True))
    by_slug = {d.campaign.slug: d for d in found.campaigns}
    assert by_slug[campaign.slug].by_district == (("LS6", 2), ("LS16", 1), ("M1", 1))
    assert sum(n for _, n in by_slug[campaign.slug].by_district) == 4


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"postcode_prefix": "Leeds 6"}, "postcode_prefix", "Enter a postcode area, like LS"),
        ({"postcode_prefix": "L" * 300}, "postcode_prefix", "Enter a postcode area, like LS"),
        ({"postcode_prefix": "LS6\x00"}, "postcode_prefix", "Enter a postcode area, like LS"),
        ({"category": "pizza"}, "category", "Choose a category from the list"),
    ],
)
async def test_a_bad_filter_is_explained_beside_the_field(
    client: httpx.AsyncClient,
    app_store: Store,
    params: dict[str, str],
    field: str,
    message: str,
) -> None:
    _, key = await organisation(app_store, "FibreCo", {})
    await make_campaign(app_store, title="Anything")
    await sign_in(client, key)
    before = await table_snapshot(app_store)
    answer = await client.get("/org/demand", params=params)
    assert answer.status_code == 422
    page = page_of(answer)
    assert page.summary_links() == [f"#{field}"]
    control = page.by_id(field)
    assert control.attrs["aria-invalid"] == "true"
    error = page.by_id(f"{field}-error")
    assert message in error.words
    assert f"{field}-error" in control.attrs["aria-describedby"].split()
    assert titles(page) == []
    assert await table_snapshot(app_store) == before


# --- contacts download ----------------------------------------------------------------------


async def tipped_campaign(store: Store, **overrides: Any) -> Campaign:
    """Tipped at 2 of 2, with consenting, non-consenting, pending, withdrawn, invalidated and
    anonymised pledgers."""
    campaign = await make_campaign(store, title="Tipped fibre", target=2, **overrides)
    await pledge(store, campaign.slug, 0, share_contact=True, name='=HYPERLINK("http://x")')
    await pledge(store, campaign.slug, 1, share_contact=False)
    await pledge(store, campaign.slug, 2, share_contact=True, confirm=False)
    await pledge(
        store,
        campaign.slug,
        3,
        share_contact=True,
        name="+44 113 496 0000",
        email="-resident3@example.org",
        postcode="LS16 5AA",
    )
    gone = await pledge(store, campaign.slug, 4, share_contact=True)
    await withdraw_pledge(store, gone)
    struck = await pledge(store, campaign.slug, 5, share_contact=True, name="Struck out")
    anonymised = await pledge(store, campaign.slug, 6, share_contact=True, name="Anonymised")
    await pledge(store, campaign.slug, 7, share_contact=True, name="@SUM(A1)")
    async with store.write() as db:
        await db.execute(
            sa.update(pledges)
            .where(pledges.c.id == struck)
            .values(status="invalid", invalidated_at=utcnow())
        )
        await db.execute(
            sa.update(pledges).where(pledges.c.id == anonymised).values(anonymised_at=utcnow())
        )
    found = await get_campaign(store.database, campaign.slug)
    assert found.status == "tipped"
    return found


async def test_contacts_csv_lists_consenting_confirmed_pledgers_with_formulas_defused(
    client: httpx.AsyncClient, app_store: Store
) -> None:
    _, key = await organisation(
        app_store, "FibreCo", {"categories": ["broadband"], "postcode_prefixes": ["LS6"]}
    )
    campaign = await tipped_campaign(app_store)
    await sign_in(client, key)

    page = await demand(client)
    assert contacts_links(page) == [f"/org/campaigns/{campaign.slug}/contacts.csv"]

    answer = await client.get(f"/org/campaigns/{campaign.slug}/contacts.csv")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "text/csv; charset=utf-8"
    assert answer.headers["content-disposition"] == (
        f'attachment; filename="{campaign.slug}-contacts.csv"'
    )
    assert answer.headers["cache-control"] == "no-store"
    rows = list(csv.reader(io.StringIO(spreadsheet_text(answer))))
    assert rows[0] == ["name", "email", "postcode", "district", "confirmed_at", "address_line"]
    assert [r[:4] for r in rows[1:]] == [
        ['\'=HYPERLINK("http://x")', "resident0@example.org", "LS6 1AB", "LS6"],
        ["'+44 113 496 0000", "'-resident3@example.org", "LS16 5AA", "LS16"],
        ["'@SUM(A1)", "resident7@example.org", "LS6 1AB", "LS6"],
    ]
    confirmed = await app_store.database.fetch_all(
        sa.select(pledges.c.confirmed_at).where(
            pledges.c.campaign_id == campaign.id, pledges.c.email == "resident0@example.org"
        )
    )
    stamp = rows[1][4]
    assert stamp.startswith(confirmed[0]["confirmed_at"].strftime("%Y-%m-%dT%H:%M:%S"))
    assert stamp.endswith("+00:00")


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("=1+2", "'=1+2"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@A1", "'@A1"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("Ann = Bob", "Ann = Bob"),
        ("", ""),
        (None, ""),
    ],
)
def test_csv_cells_that_a_spreadsheet_would_run_are_prefixed(
    value: str | None, written: str
) -> None:
    assert csv_cell(value) == written


async def test_contacts_csv_is_refused_unless_tipped_and_received(
    client: httpx.AsyncClient, app_store: Store
) -> None:
    org, key = await organisation(
        app_store, "FibreCo", {"categories": ["broadband"], "postcode_prefixes": ["LS"]}
    )
    tipped = await tipped_campaign(app_store)
    open_one = await make_campaign(app_store, title="Still open")
    await pledge(app_store, open_one.slug, 0, share_contact=True)
    waste = await tipped_campaign(app_store, category="waste")
    draft = await make_campaign(app_store, title="A draft", draft=True)
    hidden = await tipped_campaign(app_store)
    await hide(app_store, hidden)

    assert (await client.get(f"/org/campaigns/{tipped.slug}/contacts.csv")).headers[
        "location"
    ] == "/org/sign-in"
    await sign_in(client, key)
    before = await table_snapshot(app_store)

    async def refused(slug: str, status: int, says: str) -> None:
        answer = await client.get(f"/org/campaigns/{slug}/contacts.csv")
        assert answer.status_code == status, answer.text
        assert answer.headers["content-type"].startswith("text/html")
        assert says in page_of(answer).words
        assert "@example.org" not in answer.text

    await refused(open_one.slug, 403, "only once a campaign has tipped")
    await refused(waste.slug, 403, "None of your webhook endpoints receives")
    await refused(draft.slug, 404, "no campaign")
    await refused(hidden.slug, 404, "no campaign")
    await refused("no-such-campaign", 404, "no campaign")
    assert await table_snapshot(app_store) == before
    # A download is recorded (test_contact_recipients), so it comes after the comparison.
    assert (await client.get(f"/org/campaigns/{tipped.slug}/contacts.csv")).status_code == 200

    # The demand view links only to what may be downloaded, and says why not for the rest.
    page = await demand(client, everywhere="on")
    assert contacts_links(page) == [f"/org/campaigns/{tipped.slug}/contacts.csv"]
    assert "Contacts can be downloaded once this campaign tips" in card(page, "Still open").words
    waste_card = [
        li
        for li in page.find_all("li")
        if li.has_class("card") and "Waste" in li.words and "Tipped" in li.words
    ]
    assert len(waste_card) == 1
    assert "none of your webhook endpoints receives this campaign's tipping" in (
        waste_card[0].words
    )

    # An endpoint covering the campaign but not taking campaign.tipped does not receive it;
    # the API answers the same as the page.
    _, openings_only = await organisation(
        app_store, "OpeningsOnly", {}, event_types=["campaign.opened"]
    )
    api = await client.get(
        f"/api/v1/campaigns/{tipped.slug}/contacts",
        headers={"Authorization": f"Bearer {openings_only}"},
    )
    assert api.status_code == 403
    api_hidden = await client.get(
        f"/api/v1/campaigns/{hidden.slug}/contacts", headers={"Authorization": f"Bearer {key}"}
    )
    assert api_hidden.status_code == 404
    assert org.name == "FibreCo"
