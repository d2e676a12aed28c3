"""Residents' reports as residents and administrators meet them: the links and the form
(no account, no JavaScript, cross-site posts refused), bad input beside its field, the
per-address limit, and the administrators' queue: hide, warn (its email is in
tests/notifications/test_report_warning.py) and dismiss."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from starlette.applications import Starlette

from app.development.demo import DEMO_REPORT, seed_demo
from app.settings import Settings
from notifications.tables import emails
from pledges.campaigns import Campaign, get_campaign
from pledges.moderation import hide_campaign
from pledges.reports import ReportInput, file_report
from pledges.store import Store
from pledges.tables import report_actions, reports
from pledges.updates import UpdateInput, post_update
from tests.app.pages.test_administrators import ADMIN, session_csrf, sign_in
from tests.app.pages.test_residents import nothing_changes, page_of
from tests.conftest import make_settings
from tests.factories import make_campaign, make_confirmed_pledge, make_lead


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url, admin_emails=ADMIN)


@asynccontextmanager
async def browser(app: Starlette, ip: str) -> AsyncIterator[httpx.AsyncClient]:
    """Another resident, on another internet connection."""
    transport = httpx.ASGITransport(app=app, client=(ip, 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


async def report_form(client: httpx.AsyncClient, path: str) -> dict[str, str]:
    """What a browser does: open the report page from its link and keep the hidden fields."""
    answer = await client.get(path)
    assert answer.status_code == 200
    page = page_of(answer)
    slug = path.split("/")[2].split("?")[0]
    fields = page.form_fields(f"/c/{slug}/report")
    return {k: v for k, v in fields.items() if k in ("csrf_token", "update_id")}


async def send_report(
    client: httpx.AsyncClient, slug: str, path: str | None = None, **typed: str
) -> httpx.Response:
    hidden = await report_form(client, path or f"/c/{slug}/report")
    return await client.post(f"/c/{slug}/report", data={**hidden, **typed})


async def stored_reports(store: Store) -> list[dict[str, Any]]:
    rows = await store.database.fetch_all(sa.select(reports).order_by(reports.c.id))
    return [dict(r._mapping) for r in rows]


async def an_update(store: Store, campaign: Campaign, title: str = "Survey dates") -> int:
    await make_confirmed_pledge(store, campaign.slug)
    update = await post_update(
        store, campaign.slug, campaign.lead_id, UpdateInput(title, "The survey is in March.")
    )
    return update.id


def link_to(page: Any, words: str) -> str:
    found = [a.attrs["href"] for a in page.find_all("a") if a.words == words]
    assert found, f"no link {words!r}"
    return str(found[0])


# The form


async def test_the_campaign_page_and_each_update_link_to_a_report_form(
    client: httpx.AsyncClient, store: Store
) -> None:
    campaign = await make_campaign(store, title="Full fibre for Otley Road")
    update_id = await an_update(store, campaign)

    page = page_of(await client.get(f"/c/{campaign.slug}"))
    assert link_to(page, "Report this campaign") == f"/c/{campaign.slug}/report"
    assert link_to(page, "Report this update") == f"/c/{campaign.slug}/report?update={update_id}"
    updates = page_of(await client.get(f"/c/{campaign.slug}/updates"))
    assert link_to(updates, "Report this update") == (
        f"/c/{campaign.slug}/report?update={update_id}"
    )

    form = page_of(await client.get(f"/c/{campaign.slug}/report"))
    assert [h.words for h in form.find_all("h1")] == ["Report this campaign"]
    # A plain form: radios for the published reasons, free text, an optional email.
    radios = [e.attrs["value"] for e in form.find_all("input", type="radio", name="reason")]
    assert radios == ["misleading", "offensive", "personal_details", "spam", "illegal", "other"]
    assert form.find("textarea", name="details") is not None
    assert form.find("input", name="email") is not None
    assert "optional" in form.by_id("email").ancestors[-1].words
    assert form.find("script") is None
    assert "3 reports in 10 minutes and 10 in a day" in form.words

    on_update = page_of(await client.get(f"/c/{campaign.slug}/report?update={update_id}"))
    assert [h.words for h in on_update.find_all("h1")] == ["Report an update"]
    assert "Survey dates" in on_update.words
    fields = on_update.form_fields(f"/c/{campaign.slug}/report")
    assert fields["update_id"] == str(update_id)


async def test_a_report_is_stored_and_thanked_for(client: httpx.AsyncClient, store: Store) -> None:
    campaign = await make_campaign(store)
    answer = await send_report(
        client,
        campaign.slug,
        reason="misleading",
        details="  The prices are made up.\r\nNobody quoted them.  ",
        email="Jo.Bloggs+reports@gmail.com",
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/c/{campaign.slug}/reported"
    thanks = page_of(await client.get(answer.headers["location"]))
    assert "Thank you for your report" in thanks.words

    [row] = await stored_reports(store)
    assert row["campaign_id"] == campaign.id
    assert row["update_id"] is None
    assert row["reason"] == "misleading"
    assert row["details"] == "The prices are made up.\nNobody quoted them."
    assert row["reporter_email"] == "Jo.Bloggs+reports@gmail.com"
    assert row["reporter_email_canonical"] == "jobloggs@gmail.com"
    assert row["ip"] == "127.0.0.1"
    assert row["closed_at"] is None and row["action_id"] is None


async def test_a_report_of_an_update_names_the_update(
    client: httpx.AsyncClient, store: Store
) -> None:
    campaign = await make_campaign(store)
    update_id = await an_update(store, campaign)
    answer = await send_report(
        client, campaign.slug, f"/c/{campaign.slug}/report?update={update_id}", reason="spam"
    )
    assert answer.status_code == 303
    [row] = await stored_reports(store)
    assert row["update_id"] == update_id
    assert row["reporter_email"] is None  # the address is optional


async def test_an_update_of_another_campaign_or_a_hidden_campaign_is_404(
    client: httpx.AsyncClient, store: Store
) -> None:
    lead, _ = await make_lead(store)
    campaign = await make_campaign(store, lead)
    other = await make_campaign(store, lead, slug="another-campaign")
    update_id = await an_update(store, other)
    hidden = await make_campaign(store, lead, slug="hidden-one")
    token = (await report_form(client, f"/c/{campaign.slug}/report"))["csrf_token"]
    await hide_campaign(store, hidden.slug)

    async with nothing_changes(store):
        assert (
            await client.get(f"/c/{campaign.slug}/report?update={update_id}")
        ).status_code == 404
        posted = await client.post(
            f"/c/{campaign.slug}/report",
            data={"csrf_token": token, "update_id": str(update_id), "reason": "spam"},
        )
        assert posted.status_code == 404
        assert (await client.get(f"/c/{hidden.slug}/report")).status_code == 404
        posted = await client.post(
            f"/c/{hidden.slug}/report", data={"csrf_token": token, "reason": "spam"}
        )
        assert posted.status_code == 404
        assert (await client.get("/c/no-such-campaign/report")).status_code == 404


@pytest.mark.parametrize(
    ("typed", "messages"),
    [
        ({}, {"reason": "Choose why you are reporting this."}),
        ({"reason": "boring"}, {"reason": "Choose a reason from the list."}),
        ({"reason": "other"}, {"details": "Say what is wrong."}),
        ({"reason": "spam", "details": "x" * 1001}, {"details": "1000 characters or fewer"}),
        ({"reason": "spam", "details": "bad\x07bell"}, {"details": "hidden control character"}),
        (
            {"reason": "spam", "email": "jo at example"},
            {"email": "Enter an email address in the right format"},
        ),
        (
            {"details": "Nothing chosen", "email": "nope"},
            {
                "reason": "Choose why you are reporting this.",
                "email": "Enter an email address in the right format",
            },
        ),
    ],
)
async def test_bad_input_is_shown_beside_its_field_and_nothing_is_stored(
    client: httpx.AsyncClient, store: Store, typed: dict[str, str], messages: dict[str, str]
) -> None:
    campaign = await make_campaign(store)
    hidden = await report_form(client, f"/c/{campaign.slug}/report")

    async with nothing_changes(store):
        answer = await client.post(f"/c/{campaign.slug}/report", data={**hidden, **typed})

    assert answer.status_code == 422
    page = page_of(answer)
    assert page.summary_links() == [f"#{name}" for name in messages]
    for name, message in messages.items():
        assert message in page.by_id(f"{name}-error").words
    # What was typed comes back.
    if "details" in typed and "\x07" not in typed["details"]:
        assert page.by_id("details").text == typed["details"]
    fields = page.form_fields(f"/c/{campaign.slug}/report")
    assert fields["email"] == typed.get("email", "")
    if typed.get("reason") == "other":
        assert "checked" in page.by_id("reason-other").attrs


@pytest.mark.parametrize(
    "headers",
    [{}, {"Sec-Fetch-Site": "cross-site"}, {"Origin": "https://elsewhere.example"}],
    ids=["no-token", "cross-site", "other-origin"],
)
async def test_a_report_from_another_site_or_without_the_token_is_refused(
    client: httpx.AsyncClient, store: Store, headers: dict[str, str]
) -> None:
    campaign = await make_campaign(store)
    hidden = await report_form(client, f"/c/{campaign.slug}/report")
    data = {"reason": "spam"} if not headers else {**hidden, "reason": "spam"}

    async with nothing_changes(store):
        answer = await client.post(f"/c/{campaign.slug}/report", data=data, headers=headers)

    assert answer.status_code == 403
    assert "This form has expired or came from another site" in page_of(answer).words


# The limit


async def test_a_fourth_report_in_ten_minutes_is_refused_with_the_limit_and_the_form_kept(
    app: Starlette, client: httpx.AsyncClient, store: Store
) -> None:
    campaign = await make_campaign(store)
    for i in range(3):
        answer = await send_report(client, campaign.slug, reason="spam", details=f"Report {i}")
        assert answer.status_code == 303

    hidden = await report_form(client, f"/c/{campaign.slug}/report")
    typed = {"reason": "other", "details": "Still wrong & <odd>", "email": "jo@example.org"}
    async with nothing_changes(store):
        answer = await client.post(f"/c/{campaign.slug}/report", data={**hidden, **typed})

    assert answer.status_code == 429
    wait = int(answer.headers["Retry-After"])
    assert 540 < wait <= 600  # the first of the three leaves the 10 minutes
    page = page_of(answer)
    said = page.by_id("limited").words
    assert "We have had 3 reports from your internet connection in the last 10 minutes" in said
    assert "Each connection may send 3 reports in 10 minutes and 10 in a day." in said
    assert f"You can send it in {-(-wait // 60)} minutes" in said
    # What was typed is kept, ready to send again.
    assert page.by_id("details").text == typed["details"]
    assert page.form_fields(f"/c/{campaign.slug}/report")["email"] == typed["email"]
    assert "checked" in page.by_id("reason-other").attrs

    # Someone on another connection is not held back.
    async with browser(app, "203.0.113.9") as neighbour:
        answer = await send_report(neighbour, campaign.slug, reason="spam")
        assert answer.status_code == 303
    assert len(await stored_reports(store)) == 4


# The administrators' queue


async def reported(store: Store, campaign: Campaign, reason: str = "spam", **kw: Any) -> int:
    return await file_report(
        store, campaign.slug, ReportInput(reason, kw.pop("details", ""), None), ip=None, **kw
    )


async def test_the_queue_is_for_administrators_only(
    client: httpx.AsyncClient, store: Store
) -> None:
    campaign = await make_campaign(store)
    report_id = await reported(store, campaign)
    assert (await client.get("/admin/reports")).headers["location"] == "/lead/sign-in"
    await sign_in(client, store, "lead@example.org")
    csrf = await session_csrf(client)
    async with nothing_changes(store):
        assert (await client.get("/admin/reports")).status_code == 403
        for action in ("hide", "warn", "dismiss"):
            answer = await client.post(
                f"/admin/reports/{report_id}/{action}", data={"csrf_token": csrf, "message": "x"}
            )
            assert answer.status_code == 403


async def test_open_reports_reach_the_queue(client: httpx.AsyncClient, store: Store) -> None:
    campaign = await make_campaign(store, title="Full fibre for Otley Road")
    update_id = await an_update(store, campaign, "Survey dates")
    answer = await send_report(
        client,
        campaign.slug,
        reason="personal_details",
        details="It names my neighbour.",
        email="jo@example.org",
    )
    assert answer.status_code == 303
    await reported(store, campaign, "misleading", update_id=update_id)

    await sign_in(client, store, ADMIN)
    home = page_of(await client.get("/admin"))
    assert "2 reports wait for an administrator" in home.words
    page = page_of(await client.get("/admin/reports"))
    [first, second] = [e for e in page.find_all("article") if e.has_class("report")]
    assert "Full fibre for Otley Road" in first.words
    assert "It shares someone's personal details" in first.words
    assert "It names my neighbour." in first.words
    assert "jo@example.org" in first.words
    assert "UTC" in first.words
    assert "the update “Survey dates”" in second.words
    assert "It is misleading or untrue" in second.words
    assert "No address given" in second.words


async def test_hiding_from_a_report_hides_the_campaign_and_closes_its_reports(
    client: httpx.AsyncClient, store: Store
) -> None:
    lead, _ = await make_lead(store)
    campaign = await make_campaign(store, lead, title="Bad campaign")
    other = await make_campaign(store, lead, slug="good-campaign", title="Good campaign")
    first = await reported(store, campaign)
    await reported(store, campaign, "offensive")
    elsewhere = await reported(store, other)
    await sign_in(client, store, ADMIN)
    csrf = await session_csrf(client)

    answer = await client.post(f"/admin/reports/{first}/hide", data={"csrf_token": csrf})
    assert answer.status_code == 303 and answer.headers["location"] == "/admin/reports"

    # Gone from every public surface.
    assert (await get_campaign(store.database, campaign.slug)).hidden_at is not None
    assert (await client.get(f"/c/{campaign.slug}")).status_code == 404
    assert (await client.get(f"/api/v1/campaigns/{campaign.slug}")).status_code == 404
    assert "Bad campaign" not in page_of(await client.get("/")).words
    # Both of its reports closed by one recorded decision; the other campaign's stays open.
    [action] = await store.database.fetch_all(sa.select(report_actions))
    assert action["action"] == "hide" and action["admin_email"] == ADMIN
    assert action["campaign_id"] == campaign.id and action["created_at"] is not None
    rows = {r["id"]: r for r in await stored_reports(store)}
    assert [r["action_id"] for r in rows.values() if r["campaign_id"] == campaign.id] == [
        action["id"],
        action["id"],
    ]
    assert rows[elsewhere]["closed_at"] is None
    page = page_of(await client.get("/admin/reports"))
    assert "“Bad campaign” is hidden from every public page; 2 reports closed." in page.words
    assert len([e for e in page.find_all("article") if e.has_class("report")]) == 1
    assert page.by_id("decisions").words == "Recent decisions"
    table_rows = [e for e in page.find_all("tr") if e.ancestors and "Bad campaign" in e.words]
    assert len(table_rows) == 1
    assert "Hidden" in table_rows[0].words and ADMIN in table_rows[0].words


async def test_dismissing_closes_only_that_report_and_a_second_decision_is_refused(
    client: httpx.AsyncClient, store: Store
) -> None:
    campaign = await make_campaign(store, title="Fine campaign")
    first = await reported(store, campaign)
    second = await reported(store, campaign)
    await sign_in(client, store, ADMIN)
    csrf = await session_csrf(client)

    answer = await client.post(f"/admin/reports/{first}/dismiss", data={"csrf_token": csrf})
    assert answer.status_code == 303
    rows = {r["id"]: r for r in await stored_reports(store)}
    assert rows[first]["closed_at"] is not None and rows[first]["action_id"] is not None
    assert rows[second]["closed_at"] is None
    assert (await client.get(f"/c/{campaign.slug}")).status_code == 200  # still public
    page = page_of(await client.get("/admin/reports"))
    assert "The report about “Fine campaign” is dismissed." in page.words

    # Another administrator, on a page read before: the report is already dealt with.
    async with nothing_changes(store):
        again = await client.post(f"/admin/reports/{first}/hide", data={"csrf_token": csrf})
    assert again.status_code == 303
    page = page_of(await client.get("/admin/reports"))
    assert "Another administrator dealt with that report first." in page.words
    assert (await get_campaign(store.database, campaign.slug)).hidden_at is None


async def test_a_warning_needs_a_message_beside_its_report(
    client: httpx.AsyncClient, store: Store
) -> None:
    campaign = await make_campaign(store)
    report_id = await reported(store, campaign)
    await sign_in(client, store, ADMIN)
    csrf = await session_csrf(client)
    async with nothing_changes(store):
        answer = await client.post(
            f"/admin/reports/{report_id}/warn", data={"csrf_token": csrf, "message": "   "}
        )
    assert answer.status_code == 422
    page = page_of(answer)
    assert page.summary_links() == [f"#message-{report_id}"]
    assert "Write the message to the lead." in page.by_id(f"message-{report_id}-error").words


async def test_warning_queues_the_email_and_closes_the_reports(
    client: httpx.AsyncClient, store: Store
) -> None:
    lead, _ = await make_lead(store, "the-lead@example.org")
    campaign = await make_campaign(store, lead, title="Noisy campaign")
    report_id = await reported(store, campaign)
    await sign_in(client, store, ADMIN)
    csrf = await session_csrf(client)
    answer = await client.post(
        f"/admin/reports/{report_id}/warn",
        data={"csrf_token": csrf, "message": "Please remove the neighbour's name."},
    )
    assert answer.status_code == 303
    queued = await store.database.fetch_one(
        sa.select(emails).where(emails.c.kind == "lead_warning")
    )
    assert queued is not None and queued["to_address"] == "the-lead@example.org"
    assert "Please remove the neighbour's name." in queued["text_body"]
    [row] = await stored_reports(store)
    assert row["closed_at"] is not None
    [action] = await store.database.fetch_all(sa.select(report_actions))
    assert action["action"] == "warn" and action["message"] == "Please remove the neighbour's name."
    assert (await client.get(f"/c/{campaign.slug}")).status_code == 200  # still public


async def test_the_demo_has_a_report_waiting(client: httpx.AsyncClient, store: Store) -> None:
    assert await seed_demo(store)
    await sign_in(client, store, ADMIN)
    page = page_of(await client.get("/admin/reports"))
    [waiting] = [e for e in page.find_all("article") if e.has_class("report")]
    assert DEMO_REPORT in waiting.words
    assert "It is misleading or untrue" in waiting.words
