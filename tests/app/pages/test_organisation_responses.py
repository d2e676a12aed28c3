"""An organisation's response form: linked from its Demand page for the campaigns it may
answer, protected by CSRF, errors beside the field with nothing stored, and on success the
response is on the campaign page."""

from __future__ import annotations

import re

import httpx
from starlette.applications import Starlette

from app.main import services_of
from pledges.campaigns import get_campaign
from pledges.responses import list_responses
from tests.app.api.test_responses_api import organisation
from tests.app.pages.test_organisations import csrf_of, sign_in
from tests.conftest import table_snapshot
from tests.factories import make_campaign, make_confirmed_pledge


async def test_the_demand_page_links_the_form_for_campaigns_the_organisation_may_answer(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    store = services_of(app).store
    tipped = await make_campaign(store, target=1)
    await make_confirmed_pledge(store, tipped.slug, 0)
    halfway = await make_campaign(store, target=2)
    await make_confirmed_pledge(store, halfway.slug, 1)  # a milestone: a council may answer
    _, provider = await organisation(store, "FibreCo", "provider")
    _, council = await organisation(store, "Leeds City Council", "council")

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as as_council:
        await sign_in(client, provider["Authorization"].removeprefix("Bearer "))
        await sign_in(as_council, council["Authorization"].removeprefix("Bearer "))
        for who, may in ((client, {tipped.slug}), (as_council, {tipped.slug, halfway.slug})):
            page = await who.get("/org/demand")
            assert page.status_code == 200
            linked = set(re.findall(r'href="/org/campaigns/([^/"]+)/respond"', page.text))
            assert linked == may


async def test_the_form_publishes_a_response_to_the_campaign_page(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    store = services_of(app).store
    campaign = await make_campaign(store, target=1)
    await make_confirmed_pledge(store, campaign.slug, 0)
    _, provider = await organisation(store, "FibreCo", "provider")
    await sign_in(client, provider["Authorization"].removeprefix("Bearer "))
    form_path = f"/org/campaigns/{campaign.slug}/respond"

    form = await client.get(form_path)
    assert form.status_code == 200
    assert f"Respond to {campaign.title}" in form.text
    assert '<textarea id="response-body" name="body"' in form.text
    token = csrf_of(form.text)

    # Empty: the message beside the field and in the summary; nothing stored.
    before = await table_snapshot(store)
    empty = await client.post(form_path, data={"csrf_token": token, "body": "  "})
    assert empty.status_code == 422
    assert 'id="response-body-error"' in empty.text
    assert "Enter the response." in empty.text
    assert 'href="#response-body"' in empty.text
    too_long = await client.post(form_path, data={"csrf_token": token, "body": "x" * 5001})
    assert too_long.status_code == 422
    assert "x" * 5001 in too_long.text  # what was typed comes back to be shortened
    assert "5000 characters or fewer" in too_long.text
    # Without the CSRF token: refused.
    forged = await client.post(form_path, data={"body": "Hello."})
    assert forged.status_code == 403
    assert await table_snapshot(store) == before

    text = "We can survey in March.\r\n\r\nOffers <i>soon</i>."
    published = await client.post(form_path, data={"csrf_token": token, "body": text})
    assert published.status_code == 303
    assert published.headers["location"] == f"/c/{campaign.slug}#responses"
    [stored] = await list_responses(store.database, campaign.id)
    assert stored.body == "We can survey in March.\n\nOffers <i>soon</i>."

    page = await client.get(f"/c/{campaign.slug}")
    section = page.text.split('<h2 id="responses">Responses</h2>', 1)[1]
    assert "FibreCo" in section and "(provider)" in section
    assert "<p>We can survey in March.</p>" in section
    assert "<p>Offers &lt;i&gt;soon&lt;/i&gt;.</p>" in section

    # A second the same day: the limit beside the field, the text kept, nothing stored.
    before = await table_snapshot(store)
    again = await client.post(form_path, data={"csrf_token": token, "body": "More news."})
    assert again.status_code == 429
    assert "one response a day" in again.text and "More news." in again.text
    assert await table_snapshot(store) == before


async def test_the_form_is_refused_where_the_organisation_may_not_answer(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    store = services_of(app).store
    tipped = await make_campaign(store, target=1)
    await make_confirmed_pledge(store, tipped.slug, 0)
    open_campaign = await make_campaign(store, target=5)
    assert (await get_campaign(store.database, open_campaign.slug)).status == "open"
    _, provider = await organisation(store, "MancNet", "provider", {"postcode_prefixes": ["M"]})
    _, everywhere = await organisation(store, "FibreCo", "provider")

    # Not signed in: to the sign-in page.
    signed_out = await client.get(f"/org/campaigns/{tipped.slug}/respond")
    assert signed_out.status_code == 303
    assert signed_out.headers["location"] == "/org/sign-in"

    await sign_in(client, provider["Authorization"].removeprefix("Bearer "))
    not_covered = await client.get(f"/org/campaigns/{tipped.slug}/respond")
    assert not_covered.status_code == 403
    assert "cannot answer it" in not_covered.text

    await client.post(
        "/org/sign-out",
        data={"csrf_token": csrf_of((await client.get("/org/demand")).text)},
    )
    await sign_in(client, everywhere["Authorization"].removeprefix("Bearer "))
    page = await client.get("/org/demand")
    before = await table_snapshot(store)
    early = await client.post(
        f"/org/campaigns/{open_campaign.slug}/respond",
        data={"csrf_token": csrf_of(page.text), "body": "Hello."},
    )
    assert early.status_code == 409
    assert "once the campaign has tipped" in early.text
    assert await table_snapshot(store) == before
    missing = await client.get("/org/campaigns/no-such-campaign/respond")
    assert missing.status_code == 404
