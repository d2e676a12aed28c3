"""The moderation and retention commands: `groundswell admin hide|unhide|invalidate` and
`groundswell anonymise`, run as a process against each database."""

from __future__ import annotations

import asyncio
import subprocess
from datetime import timedelta

import sqlalchemy as sa

from pledges.campaigns import get_campaign
from pledges.pledging import confirm_pledge, parse_pledge, record_pledge
from pledges.store import Store
from pledges.tables import campaigns, pledges
from tests.app.test_settings_and_cli import _cli
from tests.conftest import table_snapshot
from tests.factories import make_campaign, pledge_data


async def cli(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env: dict[str, str | None] = {
        "DATABASE_URL": database_url,
        "SECRET_KEY": None,  # these commands need only the database
        "DEBUG": None,
        "PLEDGE_RETENTION_DAYS": "10",
    }
    return await asyncio.to_thread(_cli, *args, env=env)


async def statuses(store: Store) -> list[str]:
    rows = await store.database.fetch_all(sa.select(pledges.c.status).order_by(pledges.c.id))
    return [r["status"] for r in rows]


async def test_hide_and_unhide(store: Store, database_url: str) -> None:
    campaign = await make_campaign(store)

    hidden = await cli(database_url, "admin", "hide", campaign.slug)
    assert hidden.returncode == 0, hidden.stderr
    assert f"Campaign {campaign.slug} is hidden." in hidden.stdout
    assert (await get_campaign(store.database, campaign.slug)).hidden_at is not None

    shown = await cli(database_url, "admin", "unhide", campaign.slug)
    assert shown.returncode == 0, shown.stderr
    assert f"Campaign {campaign.slug} is shown." in shown.stdout
    assert (await get_campaign(store.database, campaign.slug)).hidden_at is None

    before = await table_snapshot(store)
    unknown = await cli(database_url, "admin", "hide", "no-such-campaign")
    assert unknown.returncode == 2
    assert "there is no campaign 'no-such-campaign'" in unknown.stderr
    assert await table_snapshot(store) == before


async def test_invalidate_dry_run_then_for_real(store: Store, database_url: str) -> None:
    campaign = await make_campaign(store, slug="cli-campaign", target=100)
    for i in range(3):
        outcome = await record_pledge(
            store,
            campaign.slug,
            parse_pledge(pledge_data(i, email=f"x{i}@Bots.example")),
            ip="203.0.113.4",
            rate_limit=(),
        )
        if i:
            await confirm_pledge(store, outcome.pledge_id)
    kept = await record_pledge(store, campaign.slug, parse_pledge(pledge_data(9)), rate_limit=())
    await confirm_pledge(store, kept.pledge_id)
    before = await table_snapshot(store)
    args = ("admin", "invalidate", "--ip", "203.0.113.0/24", "--email-domain", "bots.example")

    dry = await cli(database_url, *args, "--since", "2000-01-01", "--dry-run")

    assert dry.returncode == 0, dry.stderr
    assert "Dry run: would strike out 3 pledges (2 confirmed, 1 pending)." in dry.stdout
    assert "cli-campaign: 2 confirmed, 1 pending" in dry.stdout
    assert await table_snapshot(store) == before

    done = await cli(database_url, *args, "--campaign", campaign.slug)

    assert done.returncode == 0, done.stderr
    assert "Struck out 3 pledges (2 confirmed, 1 pending)." in done.stdout
    assert await statuses(store) == ["invalid", "invalid", "invalid", "confirmed"]
    assert (await get_campaign(store.database, campaign.slug)).confirmed == 1


async def test_invalidate_refuses_bad_input_and_changes_nothing(
    store: Store, database_url: str
) -> None:
    campaign = await make_campaign(store)
    await record_pledge(
        store, campaign.slug, parse_pledge(pledge_data(1)), ip="203.0.113.4", rate_limit=()
    )
    before = await table_snapshot(store)

    cases = [
        ((), "error: Choose at least one of"),
        (("--ip", "203.0.113"), "error: --ip: Enter an IP address"),
        (("--email-domain", "bots"), "error: --email-domain: Enter an email domain"),
        (("--since", "last week"), "error: --since: Enter a date and time"),
        (("--campaign", "nope"), "error: --campaign: There is no campaign"),
    ]
    for args, message in cases:
        result = await cli(database_url, "admin", "invalidate", *args)
        assert result.returncode == 2, args
        assert message in result.stderr, result.stderr
        assert result.stdout == ""
    assert await table_snapshot(store) == before


async def test_anonymise_runs_the_retention_job_once(store: Store, database_url: str) -> None:
    campaign = await make_campaign(store)
    outcome = await record_pledge(store, campaign.slug, parse_pledge(pledge_data(1)), rate_limit=())
    await confirm_pledge(store, outcome.pledge_id)
    closed_at = (await get_campaign(store.database, campaign.slug)).created_at
    await store.database.execute(
        sa.update(campaigns)
        .where(campaigns.c.id == campaign.id)
        .values(status="cancelled", closed_at=closed_at)
    )
    before = await table_snapshot(store)

    bad = await cli(database_url, "anonymise", "--now", "soon")
    assert bad.returncode == 2 and "--now" in bad.stderr
    early = await cli(
        database_url, "anonymise", "--now", (closed_at + timedelta(days=9)).isoformat()
    )
    assert early.returncode == 0, early.stderr
    assert "Anonymised 0 pledges of campaigns closed more than 10 days ago." in early.stdout
    assert await table_snapshot(store) == before

    late = (closed_at + timedelta(days=11)).isoformat()
    done = await cli(database_url, "anonymise", "--now", late)
    assert done.returncode == 0, done.stderr
    assert "Anonymised 1 pledge of campaigns closed more than 10 days ago." in done.stdout
    row = await store.database.fetch_one(
        sa.select(pledges).where(pledges.c.id == outcome.pledge_id)
    )
    assert row is not None and row["name"] == "" and row["anonymised_at"] is not None
    assert row["status"] == "confirmed"
