"""Review of campaigns on the site: under MODERATION=pre a campaign its lead publishes is
on no public page, list, badge or API answer until an administrator approves it at
/admin/moderation; a rejection is shown to the lead with its reason, and the public page
/moderation lists the reasons and rejected titles, naming no one."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import sqlalchemy as sa
from starlette.applications import Starlette

from app.settings import ConfigurationError, Settings
from pledges.campaigns import get_campaign
from pledges.review import REJECTION_REASONS
from pledges.store import Store
from pledges.tables import moderation_decisions
from tests.app.pages.test_administrators import csrf_of, sign_in
from tests.app.pages.test_residents import page_of
from tests.conftest import make_settings, table_snapshot
from tests.factories import make_campaign, make_lead, pledge_data

ADMIN = "admin@example.org"
LEAD = "lead@example.org"


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url, admin_emails=ADMIN, moderation="pre")


def another_browser(app: Starlette) -> httpx.AsyncClient:
    """A client with cookies of its own, to the same app."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


@pytest.fixture
async def admin(app: Starlette, store: Store) -> AsyncIterator[httpx.AsyncClient]:
    """A second browser: the administrator's, signed in."""
    async with another_browser(app) as c:
        await sign_in(c, store, ADMIN)
        yield c


async def publish_as_lead(client: httpx.AsyncClient, store: Store, **overrides: object) -> str:
    """The lead signs in and presses Publish on a draft of theirs; its slug."""
    lead, _ = await make_lead(store, LEAD)
    draft = await make_campaign(store, lead, draft=True, **overrides)
    await sign_in(client, store, LEAD)
    dashboard = page_of(await client.get(f"/lead/campaigns/{draft.slug}"))
    published = await client.post(
        f"/lead/campaigns/{draft.slug}/publish", data={"csrf_token": csrf_of(dashboard)}
    )
    assert published.status_code == 303
    return draft.slug


async def public_answers(client: httpx.AsyncClient, slug: str) -> dict[str, int]:
    """What the public gets at each place a campaign shows."""
    return {
        path: (await client.get(path)).status_code
        for path in (
            f"/c/{slug}",
            f"/c/{slug}/badge.svg",
            f"/c/{slug}/widget",
            f"/api/v1/campaigns/{slug}",
        )
    }


async def listed(client: httpx.AsyncClient, slug: str) -> bool:
    api = (await client.get("/api/v1/campaigns")).json()
    in_api = slug in [c["slug"] for c in api["campaigns"]]
    in_home = f"/c/{slug}" in (await client.get("/")).text
    return in_api or in_home


async def test_a_campaign_waiting_for_review_is_nowhere_public_until_approved(
    app: Starlette, client: httpx.AsyncClient, admin: httpx.AsyncClient, store: Store
) -> None:
    slug = await publish_as_lead(client, store, title="Fibre for Far Headingley")
    dashboard = page_of(await client.get(f"/lead/campaigns/{slug}"))
    assert "Sent for review" in dashboard.words
    assert "Waiting for review" in dashboard.words
    assert dashboard.find("form", action=f"/lead/campaigns/{slug}/publish") is None
    edit = page_of(await client.get(f"/lead/campaigns/{slug}/edit"))
    assert [h.words for h in edit.find_all("h1")] == ["This campaign is waiting for review"]

    async with another_browser(app) as anonymous:
        assert set((await public_answers(anonymous, slug)).values()) == {404}
        assert not await listed(anonymous, slug)
        pledge = await anonymous.post(f"/api/v1/campaigns/{slug}/pledges", json=pledge_data(1))
        assert pledge.status_code == 404

        queue = page_of(await admin.get("/admin/moderation"))
        assert "Fibre for Far Headingley" in queue.words
        approved = await admin.post(
            f"/admin/moderation/{slug}/approve", data={"csrf_token": csrf_of(queue)}
        )
        assert approved.status_code == 303
        assert approved.headers["location"] == "/admin/moderation"

        assert set((await public_answers(anonymous, slug)).values()) == {200}
        assert await listed(anonymous, slug)
        pledge = await anonymous.post(f"/api/v1/campaigns/{slug}/pledges", json=pledge_data(1))
        assert pledge.status_code == 202

    after = page_of(await admin.get("/admin/moderation"))
    assert "Nothing is waiting for review" in after.words
    assert "is approved" in after.words
    [row] = [r for r in after.find_all("tr") if "Fibre for Far Headingley" in r.words]
    assert "Approved" in row.words and ADMIN in row.words


async def test_a_rejection_needs_a_reason_shown_beside_its_field_and_changes_nothing(
    client: httpx.AsyncClient, admin: httpx.AsyncClient, store: Store
) -> None:
    slug = await publish_as_lead(client, store)
    queue = page_of(await admin.get("/admin/moderation"))
    before = await table_snapshot(store)
    refused = await admin.post(
        f"/admin/moderation/{slug}/reject",
        data={"csrf_token": csrf_of(queue), "reason": "", "note": "kept as typed"},
    )
    assert refused.status_code == 422
    page = page_of(refused)
    error = page.find("p", id=f"reason-{slug}-error")
    assert error is not None and "Choose the reason" in error.words
    note = page.find("textarea", id=f"note-{slug}")
    assert note is not None and note.words == "kept as typed"
    assert await table_snapshot(store) == before

    other = await admin.post(
        f"/admin/moderation/{slug}/reject",
        data={"csrf_token": csrf_of(queue), "reason": "other", "note": ""},
    )
    assert other.status_code == 422
    note_error = page_of(other).find("p", id=f"note-{slug}-error")
    assert note_error is not None
    assert await table_snapshot(store) == before


async def test_a_rejected_campaign_goes_back_to_its_lead_with_the_reason_and_is_listed_publicly(
    client: httpx.AsyncClient, admin: httpx.AsyncClient, store: Store
) -> None:
    slug = await publish_as_lead(client, store, title="Buses for Meanwood Road")
    queue = page_of(await admin.get("/admin/moderation"))
    rejected = await admin.post(
        f"/admin/moderation/{slug}/reject",
        data={
            "csrf_token": csrf_of(queue),
            "reason": "unclear",
            "note": "Which stops? Name the route.",
        },
    )
    assert rejected.status_code == 303
    campaign = await get_campaign(store.database, slug)
    assert (campaign.status, campaign.moderation) == ("draft", "rejected")

    dashboard = page_of(await client.get(f"/lead/campaigns/{slug}"))
    review = dashboard.find("div", id="review")
    assert review is not None
    assert "It is not clear what it asks for" in review.words
    assert "Which stops? Name the route." in review.words
    # A draft again: the lead can edit it and publish it anew.
    assert dashboard.find("form", action=f"/lead/campaigns/{slug}/publish") is not None

    public = await client.get("/moderation")
    assert public.status_code == 200
    words = page_of(public).words
    for reason in REJECTION_REASONS:
        assert reason.title in words
    assert "Buses for Meanwood Road" in words
    # No personal data: not the lead, not the administrator, not the note to the lead.
    for private in (LEAD, ADMIN, "Which stops?"):
        assert private not in public.text

    decisions = page_of(await admin.get("/admin/moderation"))
    [row] = [r for r in decisions.find_all("tr") if "Buses for Meanwood Road" in r.words]
    assert "Rejected" in row.words and ADMIN in row.words and "Which stops?" in row.words


async def test_only_administrators_decide_and_only_from_the_site_s_own_forms(
    app: Starlette, client: httpx.AsyncClient, admin: httpx.AsyncClient, store: Store
) -> None:
    slug = await publish_as_lead(client, store)
    # The lead (signed in, not an administrator) gets 403 on the queue and the buttons.
    dashboard = page_of(await client.get(f"/lead/campaigns/{slug}"))
    assert (await client.get("/admin/moderation")).status_code == 403
    forbidden = await client.post(
        f"/admin/moderation/{slug}/approve", data={"csrf_token": csrf_of(dashboard)}
    )
    assert forbidden.status_code == 403
    # The administrator's session without the form's token (a cross-site post) is refused.
    cross_site = await admin.post(f"/admin/moderation/{slug}/approve", data={})
    assert cross_site.status_code == 403
    async with another_browser(app) as anonymous:
        to_sign_in = await anonymous.get("/admin/moderation")
        assert to_sign_in.status_code in (302, 303)
    count = await store.database.fetch_val(
        sa.select(sa.func.count()).select_from(moderation_decisions)
    )
    assert count == 0
    assert (await get_campaign(store.database, slug)).status == "pending_review"
    # An unknown action or campaign is a 404, a decided one a notice.
    queue = page_of(await admin.get("/admin/moderation"))
    token = csrf_of(queue)
    odd = await admin.post(f"/admin/moderation/{slug}/delete", data={"csrf_token": token})
    assert odd.status_code == 404
    missing = await admin.post("/admin/moderation/no-such/approve", data={"csrf_token": token})
    assert missing.status_code == 404
    await admin.post(f"/admin/moderation/{slug}/approve", data={"csrf_token": token})
    twice = await admin.post(f"/admin/moderation/{slug}/approve", data={"csrf_token": token})
    assert twice.status_code == 303
    assert "not waiting for review any more" in page_of(await admin.get("/admin/moderation")).words


async def test_the_lead_s_api_publishes_into_review_and_says_so(
    client: httpx.AsyncClient, store: Store
) -> None:
    lead, key = await make_lead(store, LEAD)
    draft = await make_campaign(store, lead, draft=True)
    auth = {"Authorization": f"Bearer {key}"}
    published = await client.post(f"/api/v1/campaigns/{draft.slug}/publish", headers=auth)
    assert published.status_code == 200
    body = published.json()
    assert body["status"] == "pending_review"
    assert body["review"]["state"] == "pending"
    assert body["review"]["submitted_at"] and body["review"]["decided_at"] is None
    assert (await client.get(f"/api/v1/campaigns/{draft.slug}")).status_code == 404
    again = await client.post(f"/api/v1/campaigns/{draft.slug}/publish", headers=auth)
    assert again.status_code == 409  # not a draft any more
    before = await table_snapshot(store)
    edit = await client.patch(
        f"/api/v1/campaigns/{draft.slug}", headers=auth, json={"title": "A new title"}
    )
    assert edit.status_code == 409 and "waiting for review" in edit.json()["detail"]
    update = await client.post(
        f"/api/v1/campaigns/{draft.slug}/updates",
        headers=auth,
        json={"title": "News", "body": "Nobody has pledged yet."},
    )
    assert update.status_code == 409  # as for a draft: nobody to tell yet
    assert "pending_review" in update.json()["detail"]
    assert await table_snapshot(store) == before

    created = await client.post(
        "/api/v1/campaigns",
        headers=auth,
        json={
            "slug": "buses-for-meanwood",
            "title": "Buses for Meanwood",
            "summary": "A bus every 15 minutes.",
            "category": "transport",
            "area": {"name": "Meanwood", "postcode_districts": ["LS6"]},
            "target": 50,
            "deadline": draft.deadline.isoformat(),
        },
    )
    assert created.status_code == 201, created.text
    assert created.json()["status"] == "pending_review"
    assert created.json()["review"]["state"] == "pending"
    assert (await client.get("/api/v1/campaigns/buses-for-meanwood")).status_code == 404


async def test_under_post_a_campaign_is_public_at_once_and_a_rejection_hides_it(
    database_url: str, store: Store
) -> None:
    from app.main import create_app

    settings = make_settings(database_url, admin_emails=ADMIN, moderation="post")
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        async with (
            another_browser(application) as lead,
            another_browser(application) as admin,
            another_browser(application) as public,
        ):
            slug = await publish_as_lead(lead, store)
            assert set((await public_answers(public, slug)).values()) == {200}
            await sign_in(admin, store, ADMIN)
            queue = page_of(await admin.get("/admin/moderation"))
            assert queue.find("section", id=f"review-{slug}") is not None
            rejected = await admin.post(
                f"/admin/moderation/{slug}/reject",
                data={"csrf_token": csrf_of(queue), "reason": "advertising", "note": ""},
            )
            assert rejected.status_code == 303
            assert set((await public_answers(public, slug)).values()) == {404}
            dashboard = page_of(await lead.get(f"/lead/campaigns/{slug}"))
            assert "Hidden by an administrator" in dashboard.words
            assert "It is advertising" in dashboard.words


async def test_the_privacy_page_says_what_a_decision_keeps(client: httpx.AsyncClient) -> None:
    section = page_of(await client.get("/privacy")).find("h2", id="review")
    assert section is not None
    words = page_of(await client.get("/privacy")).words
    assert "the email address of the administrator who took it" in words
    assert "not who took it" in words


def test_moderation_is_pre_unless_set_and_off_in_the_demo() -> None:
    secret = {"SECRET_KEY": "x" * 40}
    assert Settings.from_environ(secret).moderation == "pre"
    assert Settings.from_environ({**secret, "MODERATION": "Post "}).moderation == "post"
    assert Settings.from_environ(secret, demo=True).moderation == "off"
    assert Settings.from_environ({**secret, "DEMO": "1"}).moderation == "off"
    assert Settings.from_environ({**secret, "MODERATION": "pre"}, demo=True).moderation == "pre"
    with pytest.raises(ConfigurationError, match="MODERATION"):
        Settings.from_environ({**secret, "MODERATION": "sometimes"})
