"""The home page's search: campaigns covering a postcode first, then the rest; a category
narrows both; drafts and hidden campaigns never show; bad input is said beside its field."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import httpx
import pytest
import sqlalchemy as sa

from pledges.campaigns import CATEGORIES, Campaign, cancel_campaign
from pledges.discovery import find_campaigns
from pledges.store import Store, utcnow
from pledges.tables import campaigns
from tests.app.pages.test_residents import Page, count_text, page_of
from tests.conftest import table_snapshot
from tests.factories import make_campaign, make_confirmed_pledge, make_expired_campaign, make_lead


def titles(page: Page, section_id: str) -> list[str]:
    section = page.by_id(section_id)
    return [h.words for h in page.find_all("h3") if section in h.ancestors]


async def hide(store: Store, campaign: Campaign) -> None:
    await store.database.execute(
        sa.update(campaigns).where(campaigns.c.id == campaign.id).values(hidden_at=utcnow())
    )


async def make_area_campaigns(store: Store) -> None:
    """Headingley (LS6) and Adel (LS16) campaigns, open and closed, with some never shown."""

    def area(name: str, district: str) -> dict[str, object]:
        return {"name": name, "postcode_districts": [district]}

    def days(n: int) -> str:
        return (utcnow() + timedelta(days=n)).isoformat()

    lead, _ = await make_lead(store)
    await make_campaign(
        store, lead, title="Adel fibre", area=area("Adel", "LS16"), deadline=days(5)
    )
    later = await make_campaign(
        store, lead, title="Headingley bins", category="waste", area=area("Headingley", "LS6")
    )
    await make_campaign(
        store, lead, title="Headingley fibre", area=area("Headingley", "LS6"), deadline=days(10)
    )
    await make_expired_campaign(store, title="Headingley buses", area=area("Headingley", "LS6"))
    buses = await make_campaign(
        store, lead, title="Adel buses", area=area("Adel", "LS16"), target=1
    )
    await make_confirmed_pledge(store, buses.slug, 1)  # tipped: still taking pledges
    await make_campaign(
        store, lead, title="Headingley draft", draft=True, area=area("Headingley", "LS6")
    )
    await hide(
        store,
        await make_campaign(store, lead, title="Headingley hidden", area=area("Headingley", "LS6")),
    )
    await cancel_campaign(store, later.slug, lead.id)


async def test_campaigns_in_the_area_come_first_then_the_rest(
    client: httpx.AsyncClient, store: Store
) -> None:
    await make_area_campaigns(store)

    response = await client.get("/", params={"postcode": "LS6 3HN"})

    assert response.status_code == 200
    page = page_of(response)
    # Taking pledges first (nearest deadline first), closed ones after.
    assert titles(page, "in-area") == ["Headingley fibre", "Headingley bins", "Headingley buses"]
    assert titles(page, "other-campaigns") == ["Adel fibre", "Adel buses"]
    assert [h.words for h in page.find_all("h2")] == ["In your area", "Other campaigns"]
    assert "Headingley draft" not in response.text
    assert "Headingley hidden" not in response.text


async def test_without_a_postcode_every_public_campaign_is_listed(
    client: httpx.AsyncClient, store: Store
) -> None:
    await make_area_campaigns(store)

    page = page_of(await client.get("/"))

    assert titles(page, "all-campaigns") == [
        "Adel fibre",
        "Headingley fibre",
        "Adel buses",
        "Headingley bins",
        "Headingley buses",
    ]
    assert "In your area" not in page.words


async def test_a_category_narrows_both_groups(client: httpx.AsyncClient, store: Store) -> None:
    await make_area_campaigns(store)

    page = page_of(await client.get("/", params={"postcode": "ls6", "category": "broadband"}))

    assert titles(page, "in-area") == ["Headingley fibre", "Headingley buses"]
    assert titles(page, "other-campaigns") == ["Adel fibre", "Adel buses"]
    selected = [o for o in page.find_all("option") if "selected" in o.attrs]
    assert [o.attrs["value"] for o in selected] == ["broadband"]

    waste = page_of(await client.get("/", params={"category": "waste"}))
    assert titles(waste, "all-campaigns") == ["Headingley bins"]
    assert "Waste campaigns" in waste.words

    nothing = page_of(await client.get("/", params={"category": "supplier", "postcode": "LS6"}))
    assert "No campaigns here yet." in nothing.by_id("in-area").words
    assert "other-campaigns" not in nothing.ids


async def test_the_form_offers_every_category_and_all(client: httpx.AsyncClient) -> None:
    page = page_of(await client.get("/"))

    form = page.find("form", action="/")
    assert form is not None and form.attrs["method"] == "get"
    options = [o.attrs["value"] for o in page.find_all("option")]
    assert options == ["", *CATEGORIES]
    assert page.find_all("option")[0].words == "All"
    assert page.find("label", **{"for": "category"}) is not None
    assert page.find("label", **{"for": "postcode"}) is not None
    assert len(page.find_all("h1")) == 1


async def test_each_campaign_shows_progress_area_and_time_left(
    client: httpx.AsyncClient, store: Store
) -> None:
    campaign = await make_campaign(
        store,
        title="Fibre for Otley Road",
        target=4,
        area={"name": "Far Headingley", "postcode_districts": ["LS6"]},
        # Noon UTC twelve days on: twelve calendar days whatever the time now.
        deadline=datetime.combine(utcnow().date() + timedelta(days=12), time(12), UTC).isoformat(),
    )
    await make_confirmed_pledge(store, campaign.slug, 1)

    card = page_of(await client.get("/", params={"postcode": "LS6"})).by_id("in-area").words

    assert count_text(1, 4) in card
    assert "Far Headingley" in card
    assert "12 days left" in card


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"postcode": "nowhere"}, "postcode", "Enter a UK postcode, like LS6 1AB"),
        ({"category": "gardening"}, "category", "Choose a category from the list."),
        ({"category": "waste\x00"}, "category", "Choose a category from the list."),
    ],
)
async def test_bad_input_is_said_beside_the_field_and_in_a_summary(
    client: httpx.AsyncClient, store: Store, params: dict[str, str], field: str, message: str
) -> None:
    await make_campaign(store, title="Fibre for Headingley")
    before = await table_snapshot(store)

    response = await client.get("/", params=params)

    assert response.status_code == 422  # refused as any bad form is; the page still works
    page = page_of(response)
    assert message in page.by_id(f"{field}-error").words
    assert page.by_id(field).attrs["aria-describedby"] == f"{field}-error"
    assert page.by_id(field).attrs["aria-invalid"] == "true"
    assert page.summary_links() == [f"#{field}"]
    assert "Fibre for Headingley" in page.words  # the rest of the page still works
    assert await table_snapshot(store) == before


async def test_find_campaigns_limits_the_total_in_area_first(store: Store) -> None:
    lead, _ = await make_lead(store)
    for n in range(3):
        area = {"name": "Adel", "postcode_districts": ["LS16"]}
        await make_campaign(store, lead, title=f"Adel {n}", area=area)
    for n in range(2):
        area = {"name": "Headingley", "postcode_districts": ["LS6"]}
        await make_campaign(store, lead, title=f"Headingley {n}", area=area)

    in_area, others = await find_campaigns(store.database, district="LS6", limit=3)
    assert [c.title for c in in_area] == ["Headingley 0", "Headingley 1"]
    assert [c.title for c in others] == ["Adel 0"]

    in_area, others = await find_campaigns(store.database, district="LS6", limit=1)
    assert ([c.title for c in in_area], others) == (["Headingley 0"], [])

    in_area, others = await find_campaigns(store.database, category="waste")
    assert (in_area, others) == ([], [])
