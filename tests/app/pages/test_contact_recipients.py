"""Who receives residents' details: only an organisation an administrator approved, only
through an endpoint whose filters name the campaign's category and area; every download
is recorded, shown to the campaign's lead and in each listed resident's data export, and
forgotten pledge by pledge when a pledge is erased or anonymised."""

from __future__ import annotations

import csv
import io
import json
import re
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from starlette.applications import Starlette

from app.settings import Settings
from notifications.outbox import scrub_pledge_mail
from pledges.accounts import ensure_lead
from pledges.contact_downloads import set_approval
from pledges.erasure import erase_resident
from pledges.store import Store
from pledges.tables import contact_download_pledges, contact_downloads, organisations
from tests.app.pages import test_administrators as admins
from tests.app.pages import test_my_pledges as residents
from tests.app.pages.test_leads import browser
from tests.app.pages.test_leads import sign_in as lead_sign_in
from tests.app.pages.test_organisations_demand import (
    card,
    contacts_links,
    demand,
    organisation,
    pledge,
    sign_in,
)
from tests.app.pages.test_residents import page_of
from tests.conftest import make_settings, table_snapshot
from tests.factories import approve, make_campaign

LEAD = "lead@example.org"
NAMING = {"categories": ["broadband"], "postcode_prefixes": ["LS6"]}


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url, admin_emails=admins.ADMIN)


def store_of(app: Starlette) -> Store:
    store: Store = app.state.services.store
    return store


async def unapproved(store: Store, name: str, *filters: dict[str, list[str]]) -> Any:
    """An organisation with its endpoints, not (or no longer) approved."""
    org, key = await organisation(store, name, *filters)
    await set_approval(store, org.id, None)
    return org, key


async def tipped(store: Store, title: str = "Tipped fibre", **overrides: Any) -> Any:
    """A campaign of the lead's, tipped at 2 of 2, with one consenting pledger (Jo), one
    not consenting, and a consenting one still pending."""
    lead = await lead_of(store)
    campaign = await make_campaign(store, lead, title=title, target=2, **overrides)
    jo = await pledge(store, campaign.slug, 0, share_contact=True, email="jo@example.org")
    await pledge(store, campaign.slug, 1, share_contact=False)
    await pledge(store, campaign.slug, 2, share_contact=True, confirm=False)
    return campaign, jo


async def lead_of(store: Store) -> Any:
    async with store.write() as db:
        return await ensure_lead(db, LEAD)


def api(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def downloads(store: Store) -> list[dict[str, Any]]:
    rows = await store.database.fetch_all(
        sa.select(contact_downloads).order_by(contact_downloads.c.id)
    )
    return [dict(r._mapping) for r in rows]


async def test_an_unapproved_organisation_gets_403_on_contacts_and_nothing_is_recorded(
    client: httpx.AsyncClient, app: Starlette
) -> None:
    store = store_of(app)
    org, key = await unapproved(store, "FibreCo", NAMING)
    campaign, _ = await tipped(store)
    await sign_in(client, key)
    before = await table_snapshot(store)

    answer = await client.get(f"/api/v1/campaigns/{campaign.slug}/contacts", headers=api(key))
    assert answer.status_code == 403
    assert answer.headers["content-type"] == "application/problem+json"
    assert "not yet approved" in answer.json()["detail"]
    assert "@example.org" not in answer.text

    page = await client.get(f"/org/campaigns/{campaign.slug}/contacts.csv")
    assert page.status_code == 403
    assert "not yet approved" in page_of(page).words
    # The demand page offers no download and says why.
    shown = await demand(client)
    assert contacts_links(shown) == []
    assert "not yet approved" in card(shown, "Tipped fibre").words
    assert await table_snapshot(store) == before

    await approve(store, org.id)
    allowed = await client.get(f"/api/v1/campaigns/{campaign.slug}/contacts", headers=api(key))
    assert allowed.status_code == 200, allowed.text
    assert [c["email"] for c in allowed.json()["contacts"]] == ["jo@example.org"]


@pytest.mark.parametrize(
    "filters",
    [
        {},  # empty filters: every campaign's events, never contacts
        {"categories": ["broadband"]},  # no area
        {"postcode_prefixes": ["LS"]},  # no category
        {"campaigns": ["__slug__"]},  # the campaign itself, but neither category nor area
    ],
    ids=["empty", "category-only", "area-only", "campaign-only"],
)
async def test_filters_must_name_the_campaigns_category_and_area(
    client: httpx.AsyncClient, app: Starlette, filters: dict[str, list[str]]
) -> None:
    store = store_of(app)
    campaign, _ = await tipped(store)
    if "campaigns" in filters:
        filters = {"campaigns": [campaign.slug]}
    org, key = await organisation(store, "FibreCo", filters)
    await approve(store, org.id)
    await sign_in(client, key)
    before = await table_snapshot(store)

    answer = await client.get(f"/api/v1/campaigns/{campaign.slug}/contacts", headers=api(key))
    assert answer.status_code == 403, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    detail = answer.json()["detail"]
    assert "category (broadband)" in detail and "empty filters" in detail
    assert (await client.get(f"/org/campaigns/{campaign.slug}/contacts.csv")).status_code == 403
    shown = await demand(client)
    assert contacts_links(shown) == []
    assert "Name its category and area" in card(shown, "Tipped fibre").words
    assert await table_snapshot(store) == before


async def test_an_endpoint_naming_a_wider_area_and_the_category_may_download(
    client: httpx.AsyncClient, app: Starlette
) -> None:
    store = store_of(app)
    campaign, _ = await tipped(store)
    waste, _ = await tipped(store, title="Tipped waste", category="waste")
    org, key = await organisation(
        store, "FibreCo", {"categories": ["broadband"], "postcode_prefixes": ["LS"]}, {}
    )
    await approve(store, org.id)
    assert (
        await client.get(f"/api/v1/campaigns/{campaign.slug}/contacts", headers=api(key))
    ).status_code == 200
    # Its empty-filtered endpoint receives the waste campaign, but names it not.
    assert (
        await client.get(f"/api/v1/campaigns/{waste.slug}/contacts", headers=api(key))
    ).status_code == 403


async def test_every_download_is_recorded_and_shown_to_the_lead(
    client: httpx.AsyncClient, app: Starlette
) -> None:
    store = store_of(app)
    campaign, jo = await tipped(store)
    org, key = await organisation(store, "FibreCo", NAMING)
    await approve(store, org.id)

    assert (
        await client.get(f"/api/v1/campaigns/{campaign.slug}/contacts", headers=api(key))
    ).status_code == 200
    async with browser(app) as org_browser:
        await sign_in(org_browser, key)
        got = await org_browser.get(f"/org/campaigns/{campaign.slug}/contacts.csv")
        assert got.status_code == 200
        assert [r[1] for r in csv.reader(io.StringIO(got.text))][1:] == ["jo@example.org"]

    found = await downloads(store)
    assert [
        (d["organisation_id"], d["campaign_id"], d["contact_count"], d["via"]) for d in found
    ] == [
        (org.id, campaign.id, 1, "api"),
        (org.id, campaign.id, 1, "csv"),
    ]
    carried = await store.database.fetch_all(
        sa.select(contact_download_pledges.c.pledge_id).order_by(
            contact_download_pledges.c.download_id
        )
    )
    assert [r["pledge_id"] for r in carried] == [jo, jo]

    await lead_sign_in(client, store_of(app), LEAD)
    page = page_of(await client.get(f"/lead/campaigns/{campaign.slug}"))
    section = page.words.split("Who downloaded contact details", 1)[1]
    assert section.count("FibreCo") == 2
    assert re.search(r"FibreCo \d{1,2} \w+ \d{4} \d\d:\d\d UTC 1", section)


async def test_the_residents_export_says_who_received_their_details_and_erasing_forgets_it(
    client: httpx.AsyncClient, app: Starlette
) -> None:
    store = store_of(app)
    campaign, jo = await tipped(store)
    org, key = await organisation(store, "FibreCo", NAMING)
    await approve(store, org.id)
    assert (
        await client.get(f"/api/v1/campaigns/{campaign.slug}/contacts", headers=api(key))
    ).status_code == 200
    when = (await downloads(store))[0]["created_at"]

    async with browser(app) as jo_browser:
        await residents.sign_in(jo_browser, store, "jo@example.org")
        exported = json.loads((await jo_browser.get("/me/data.json")).text)
    [mine] = exported["pledges"]
    [received] = mine["contact_details_received_by"]
    assert received["organisation"] == "FibreCo"
    assert received["kind"] == "provider"
    assert received["received_at"].startswith(when.strftime("%Y-%m-%dT%H:%M:%S"))

    await erase_resident(store, "jo@example.org", scrub_mail=scrub_pledge_mail)
    left = await store.database.fetch_all(
        sa.select(contact_download_pledges).where(contact_download_pledges.c.pledge_id == jo)
    )
    assert left == []
    # The lead's record keeps the download and its count.
    assert [d["contact_count"] for d in await downloads(store)] == [1]


async def test_an_administrator_approves_and_withdraws_with_who_and_when(
    client: httpx.AsyncClient, app: Starlette
) -> None:
    store = store_of(app)
    org, key = await unapproved(store, "FibreCo", NAMING)
    campaign, _ = await tipped(store)

    # A lead who is not an administrator cannot.
    async with browser(app) as other:
        await admins.sign_in(other, store, "someone-else@example.org")
        assert (await other.get("/admin/organisations")).status_code == 403

    await admins.sign_in(client, store, admins.ADMIN)
    page = page_of(await client.get("/admin/organisations"))
    row = page.by_id(f"organisation-{org.id}")
    assert "Not approved" in row.words
    fields = page.form_fields(f"/admin/organisations/{org.id}/approve")
    done = await client.post(f"/admin/organisations/{org.id}/approve", data=fields)
    assert done.status_code == 303

    stored = await store.database.fetch_one(
        sa.select(organisations).where(organisations.c.id == org.id)
    )
    assert stored is not None and stored["approved_at"] is not None
    page = page_of(await client.get("/admin/organisations"))
    assert f"by {admins.ADMIN}" in page.by_id(f"organisation-{org.id}").words
    assert (
        await client.get(f"/api/v1/campaigns/{campaign.slug}/contacts", headers=api(key))
    ).status_code == 200

    fields = page.form_fields(f"/admin/organisations/{org.id}/withdraw")
    assert (
        await client.post(f"/admin/organisations/{org.id}/withdraw", data=fields)
    ).status_code == 303
    assert (
        await client.get(f"/api/v1/campaigns/{campaign.slug}/contacts", headers=api(key))
    ).status_code == 403


async def test_a_cross_site_approval_is_refused(client: httpx.AsyncClient, app: Starlette) -> None:
    store = store_of(app)
    org, _ = await unapproved(store, "FibreCo", NAMING)
    await admins.sign_in(client, store, admins.ADMIN)
    forged = await client.post(
        f"/admin/organisations/{org.id}/approve", headers={"Origin": "https://evil.example"}
    )
    assert forged.status_code == 403
    stored = await store.database.fetch_val(
        sa.select(organisations.c.approved_at).where(organisations.c.id == org.id)
    )
    assert stored is None


async def test_approving_no_such_organisation_is_a_404_and_changes_nothing(
    client: httpx.AsyncClient, app: Starlette
) -> None:
    store = store_of(app)
    org, _ = await unapproved(store, "FibreCo", NAMING)
    await admins.sign_in(client, store, admins.ADMIN)
    page = page_of(await client.get("/admin/organisations"))
    fields = page.form_fields(f"/admin/organisations/{org.id}/approve")
    before = await table_snapshot(store)
    for path in (
        f"/admin/organisations/{org.id + 1000}/approve",
        f"/admin/organisations/{org.id}/promote",
        "/admin/organisations/not-a-number/approve",
    ):
        assert (await client.post(path, data=fields)).status_code == 404, path
    assert await table_snapshot(store) == before


async def test_the_privacy_page_says_who_receives_details_and_how_long_links_are_kept(
    client: httpx.AsyncClient,
) -> None:
    words = page_of(await client.get("/privacy")).words
    assert "Every download of contact details is recorded" in words
    assert "site's administrators have approved" in words
    assert "for 1 day, to limit how many links" in words
    assert "a copy of the cookie stops working once you sign out" in words
