"""pledges.reports on both databases: the per-address limit holds under concurrent reports,
two administrators deciding at once make one decision, hiding records its event once, and
retention forgets reporters' addresses on time."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
import sqlalchemy as sa

from pledges.errors import CampaignNotFound
from pledges.rate_limits import RateWindow
from pledges.reports import (
    IP_KEPT,
    REPORTER_EMAIL_KEPT,
    ReportClosed,
    ReportInput,
    ReportRateLimited,
    decide_report,
    file_report,
    forget_reporters,
    open_reports,
)
from pledges.store import Store, utcnow
from pledges.tables import events, report_actions, reports
from tests.factories import make_campaign

SPAM = ReportInput("spam", "", None)


async def test_concurrent_reports_from_one_address_stop_exactly_at_the_limit(
    store: Store,
) -> None:
    campaign = await make_campaign(store)
    limit = (RateWindow(3, 600),)

    async def one() -> int | ReportRateLimited:
        try:
            return await file_report(store, campaign.slug, SPAM, ip="198.51.100.7", limit=limit)
        except ReportRateLimited as exc:
            return exc

    results = await asyncio.gather(*(one() for _ in range(12)))
    refused = [r for r in results if isinstance(r, ReportRateLimited)]
    assert len(refused) == 9
    assert all(r.window == RateWindow(3, 600) and 0 < r.retry_after_seconds <= 600 for r in refused)
    count = await store.database.fetch_val(sa.select(sa.func.count()).select_from(reports))
    assert count == 3
    # Another address is counted on its own.
    await file_report(store, campaign.slug, SPAM, ip="198.51.100.8", limit=limit)


async def test_a_draft_cannot_be_reported(store: Store) -> None:
    campaign = await make_campaign(store, draft=True)
    with pytest.raises(CampaignNotFound):
        await file_report(store, campaign.slug, SPAM, ip=None)


async def test_two_administrators_hiding_at_once_make_one_decision(store: Store) -> None:
    campaign = await make_campaign(store)
    report_id = await file_report(store, campaign.slug, SPAM, ip=None)

    async def decide(who: str) -> str:
        try:
            await decide_report(store, report_id, "hide", who)
        except ReportClosed:
            return "refused"
        return "done"

    outcomes = await asyncio.gather(decide("a@example.org"), decide("b@example.org"))
    assert sorted(outcomes) == ["done", "refused"]
    actions = await store.database.fetch_all(sa.select(report_actions))
    assert len(actions) == 1
    hidden = await store.database.fetch_all(
        sa.select(events.c.id).where(events.c.type == "campaign.hidden")
    )
    assert len(hidden) == 1
    assert await open_reports(store.database) == []


async def test_retention_forgets_client_addresses_and_reporters_emails_on_time(
    store: Store,
) -> None:
    campaign = await make_campaign(store)
    with_email = ReportInput("spam", "", "jo@example.org")
    now = utcnow()
    old_open = await file_report(
        store, campaign.slug, with_email, ip="198.51.100.1", now=now - IP_KEPT - timedelta(hours=1)
    )
    fresh = await file_report(store, campaign.slug, with_email, ip="198.51.100.2", now=now)
    closed_long_ago = await file_report(store, campaign.slug, with_email, ip=None)
    await decide_report(store, closed_long_ago, "dismiss", "admin@example.org")
    await store.database.execute(
        sa.update(reports)
        .where(reports.c.id == closed_long_ago)
        .values(closed_at=now - REPORTER_EMAIL_KEPT - timedelta(hours=1))
    )

    assert await forget_reporters(store, now) == 2
    rows = {r["id"]: r for r in await store.database.fetch_all(sa.select(reports))}
    assert rows[old_open]["ip"] is None
    assert rows[old_open]["reporter_email"] == "jo@example.org"  # still open: a reply may come
    assert rows[fresh]["ip"] == "198.51.100.2"
    assert rows[fresh]["reporter_email"] == "jo@example.org"
    assert rows[closed_long_ago]["reporter_email"] is None
    assert rows[closed_long_ago]["reporter_email_canonical"] is None
    assert await forget_reporters(store, now) == 0  # nothing more to do
