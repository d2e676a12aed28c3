"""One campaign per cause: a lead starting a campaign first sees the open campaigns of the
same category whose areas overlap theirs, with a link to pledge there instead; nothing is
stored until they go on, and then their campaign is created as typed."""

from __future__ import annotations

import httpx
import sqlalchemy as sa
from starlette.applications import Starlette

from pledges.campaigns import cancel_campaign
from pledges.discovery import similar_campaigns
from pledges.moderation import hide_campaign
from pledges.store import Store
from pledges.tables import campaigns
from tests.app.pages.test_leads import campaign_form, create, sign_in, store_of
from tests.app.pages.test_residents import nothing_changes, page_of
from tests.factories import make_campaign, make_confirmed_pledge, make_lead


async def titles(store: Store) -> list[str]:
    rows = await store.database.fetch_all(sa.select(campaigns.c.title).order_by(campaigns.c.id))
    return [r["title"] for r in rows]


async def test_similar_campaigns_share_a_district_and_the_category_and_take_pledges(
    store: Store,
) -> None:
    lead, _ = await make_lead(store)

    async def make(slug: str, districts: list[str], **kw: object) -> int:
        area = {"name": slug, "postcode_districts": districts}
        return (await make_campaign(store, lead, slug=slug, area=area, **kw)).id

    both = await make("both-districts", ["LS6", "LS16"])
    one = await make("one-district", ["LS16", "LS17"])
    await make_confirmed_pledge(store, "one-district")
    await make("elsewhere", ["BD1"])
    await make("other-category", ["LS6"], category="waste")
    await make("a-draft", ["LS6"], draft=True)
    await make("hidden", ["LS6"])
    await hide_campaign(store, "hidden")
    await make("cancelled", ["LS6"])
    await cancel_campaign(store, "cancelled", lead.id)

    found = await similar_campaigns(store.database, "broadband", ["LS6", "LS16"])

    assert [(s.campaign.id, s.shared_districts) for s in found] == [
        (both, ("LS16", "LS6")),
        (one, ("LS16",)),
    ]
    assert await similar_campaigns(store.database, "broadband", ["LS99"]) == []


async def test_starting_a_campaign_like_an_open_one_offers_to_join_it_first(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    store = store_of(app)
    other_lead, _ = await make_lead(store, "neighbour@example.org")
    existing = await make_campaign(
        store,
        other_lead,
        slug="fibre-for-headingley",
        title="Fibre for Headingley",
        area={"name": "Headingley", "postcode_districts": ["LS6"]},
    )
    await sign_in(client, store)

    async with nothing_changes(store):
        answer = await create(client, title="My fibre campaign", action="publish")

    assert answer.status_code == 200
    page = page_of(answer)
    panel = page.by_id("similar")
    assert "A campaign like yours is already gathering pledges" in panel.words
    assert "Fibre for Headingley" in panel.words
    assert "also covers LS6" in panel.words
    join = [a.attrs["href"] for a in page.find_all("a") if a.words.startswith("Pledge to")]
    assert join == [f"/c/{existing.slug}#pledge"]
    # What was typed is kept, and going on is one more press of the same button.
    fields = page.form_fields("/lead/campaigns/new")
    assert fields["title"] == "My fibre campaign"
    assert fields["similar_checked"] == "1"

    again = await client.post(
        "/lead/campaigns/new", data={**campaign_form(title="My fibre campaign"), **fields}
    )
    assert again.status_code == 303
    assert await titles(store) == ["Fibre for Headingley", "My fibre campaign"]


async def test_a_campaign_with_nothing_like_it_is_created_at_once(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    store = store_of(app)
    await make_campaign(
        store,
        slug="bins",
        category="waste",
        area={"name": "Headingley", "postcode_districts": ["LS6"]},
    )
    await make_campaign(
        store, slug="far-away", area={"name": "Bradford", "postcode_districts": ["BD1"]}
    )
    await sign_in(client, store)

    answer = await create(client, title="Fibre for Cardigan Road")

    assert answer.status_code == 303
    assert "Fibre for Cardigan Road" in await titles(store)
