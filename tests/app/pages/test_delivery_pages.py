"""The delivery record's pages: the chosen provider posts and marks milestones (errors beside
the fields, CSRF on every form, another provider refused), the campaign page shows them
plainly with the served counts, and a resident's signed link records once that the
service reached their home."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
import sqlalchemy as sa
from starlette.applications import Starlette

from pledges.delivery import mark_missed_milestones
from pledges.store import utcnow
from pledges.tables import offers
from tests.app.pages.test_organisations import csrf_of, sign_in
from tests.conftest import table_snapshot
from tests.factories import make_delivered_campaign
from tests.notifications.test_delivery_emails import backdate


def in_days(days: int) -> str:
    return (utcnow().date() + timedelta(days=days)).isoformat()


async def test_the_chosen_provider_keeps_its_record_on_its_pages(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    store = app.state.services.store
    delivered = await make_delivered_campaign(store)
    slug = delivered.campaign.slug
    assert (await sign_in(client, delivered.provider_key)).status_code == 303

    listing = await client.get("/org/delivery")
    assert f'href="/org/campaigns/{slug}/delivery"' in listing.text
    page = await client.get(f"/org/campaigns/{slug}/delivery")
    assert page.status_code == 200
    assert "None posted yet" in page.text
    assert "0 of 3 people who chose it say the service reached them" in page.text

    # Without the CSRF token: refused, nothing stored.
    before = await table_snapshot(store)
    forged = await client.post(
        f"/org/campaigns/{slug}/delivery",
        data={"kind": "survey", "title": "Survey", "due_on": in_days(3)},
    )
    assert forged.status_code == 403
    wrong = await client.post(
        f"/org/campaigns/{slug}/delivery",
        data={"csrf_token": csrf_of(page.text), "kind": "survey", "title": "", "due_on": "x"},
    )
    assert wrong.status_code == 422
    assert 'id="title-error"' in wrong.text and 'id="due_on-error"' in wrong.text
    assert 'href="#title"' in wrong.text
    assert await table_snapshot(store) == before

    posted = await client.post(
        f"/org/campaigns/{slug}/delivery",
        data={
            "csrf_token": csrf_of(page.text),
            "kind": "survey",
            "title": "Survey every street",
            "due_on": in_days(3),
        },
    )
    assert posted.status_code == 200 and "Posted: Survey every street" in posted.text
    [milestone_id] = re.findall(r'<article [^>]*id="(dlm_[^"]+)"', posted.text)

    late = await client.post(
        f"/org/campaigns/{slug}/delivery/{milestone_id}",
        data={"csrf_token": csrf_of(page.text), "action": "done", "done_on": in_days(1)},
    )
    assert late.status_code == 422
    assert f'id="{milestone_id}-done_on-error"' in late.text
    assert "cannot be in the future" in late.text

    campaign_page = await client.get(f"/c/{slug}")
    assert 'id="delivery"' in campaign_page.text
    assert (
        f"Survey: Survey every street. Due by {utcnow().date() + timedelta(days=3):%-d %B %Y}."
        in campaign_page.text
    )

    done = await client.post(
        f"/org/campaigns/{slug}/delivery/{milestone_id}",
        data={"csrf_token": csrf_of(page.text), "action": "done", "done_on": in_days(0)},
    )
    assert done.status_code == 303
    campaign_page = await client.get(f"/c/{slug}")
    assert f"<strong>Done</strong> on {utcnow().date():%-d %B %Y}" in campaign_page.text


async def test_another_provider_is_refused_and_a_missed_date_is_shown(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    store = app.state.services.store
    delivered = await make_delivered_campaign(store)
    slug = delivered.campaign.slug
    assert (await sign_in(client, delivered.rival_key)).status_code == 303
    refused = await client.get(f"/org/campaigns/{slug}/delivery")
    assert refused.status_code == 403
    assert "No resident chose an offer of yours" in refused.text
    assert (
        "No campaign has chosen an offer of yours yet" in (await client.get("/org/delivery")).text
    )

    assert (await sign_in(client, delivered.provider_key)).status_code == 303
    page = await client.get(f"/org/campaigns/{slug}/delivery")
    await client.post(
        f"/org/campaigns/{slug}/delivery",
        data={
            "csrf_token": csrf_of(page.text),
            "kind": "build",
            "title": "Dig the street",
            "due_on": in_days(0),
        },
    )
    [milestone_id] = re.findall(
        r'<article [^>]*id="(dlm_[^"]+)"', (await client.get(page.url)).text
    )
    await backdate(store, milestone_id, 2)
    assert await mark_missed_milestones(store) == 1
    shown = await client.get(f"/c/{slug}")
    due = utcnow().date() - timedelta(days=2)
    assert f"Build: Dig the street. Due by {due:%-d %B %Y}: <strong>missed</strong>" in shown.text


async def test_a_resident_says_the_service_reached_them_once(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    store = app.state.services.store
    signer = app.state.services.signer
    delivered = await make_delivered_campaign(store)
    token = signer.sign(delivered.choosers[0], "offer-choice")

    # The choice page's link, once the round closed, leads here.
    closed = await client.get("/choose", params={"token": token})
    assert closed.status_code == 409
    assert f'href="/choices/served?token={token}"' in closed.text
    page = await client.get("/choices/served", params={"token": token})
    assert page.status_code == 200
    assert delivered.offer.title in page.text and delivered.provider.name in page.text
    assert "The service has reached us" in page.text
    forged = await client.post("/choices/served", data={"token": token})
    assert forged.status_code == 403
    for _ in range(2):
        confirmed = await client.post(
            "/choices/served", data={"csrf_token": csrf_of(page.text), "token": token}
        )
        assert confirmed.status_code == 200
    assert "reached your home" in confirmed.text
    served = await store.database.fetch_val(
        sa.select(offers.c.served_count).where(offers.c.id == delivered.offer_id)
    )
    assert served == 1
    again = await client.get("/choices/served", params={"token": token})
    assert "You told us the service reached your home" in again.text
    assert "The service has reached us" not in again.text
    shown = await client.get(f"/c/{delivered.campaign.slug}")
    assert "1 of 3 people who chose it says the service reached them" in shown.text

    none = signer.sign(delivered.chose_none, "offer-choice")
    assert (await client.get("/choices/served", params={"token": none})).status_code == 409
    bad = await client.get("/choices/served", params={"token": token + "x"})
    assert bad.status_code == 400
