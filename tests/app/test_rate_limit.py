"""PLEDGE_RATE_LIMIT and the pledge form's honeypot, as residents, bots and leads meet them."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from starlette.applications import Starlette

from app.main import create_app
from app.settings import ConfigurationError, Settings
from pledges.campaigns import Campaign
from pledges.rate_limits import DEFAULT_PLEDGE_RATE_LIMIT, RateWindow
from pledges.store import Store, aware
from pledges.tables import pledges
from tests.app.pages.test_residents import csrf_for, form, page_of, pledges_of
from tests.conftest import make_settings, table_snapshot
from tests.factories import make_campaign, make_lead, pledge_data

ROOT = Path(__file__).resolve().parents[2]
LIMIT = "1/60,5/300"


@asynccontextmanager
async def running(database_url: str, limit: str) -> AsyncIterator[Starlette]:
    application = create_app(make_settings(database_url, pledge_rate_limit=limit))
    async with application.router.lifespan_context(application):
        yield application


@asynccontextmanager
async def browser(app: Starlette, ip: str = "127.0.0.1") -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=(ip, 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.fixture
async def limited_app(database_url: str) -> AsyncIterator[Starlette]:
    async with running(database_url, LIMIT) as application:
        yield application


@pytest.fixture
async def limited(limited_app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with browser(limited_app) as client:
        yield client


async def pledge_on_form(client: httpx.AsyncClient, slug: str, i: int) -> httpx.Response:
    token = await csrf_for(client, slug)
    return await client.post(f"/c/{slug}/pledge", data={**form(i), "csrf_token": token})


async def age_all(store: Store, campaign: Campaign, seconds: int) -> None:
    """Move every stored pledge of the campaign `seconds` into the past: no sleeping."""
    rows = await store.database.fetch_all(
        sa.select(pledges.c.id, pledges.c.created_at).where(pledges.c.campaign_id == campaign.id)
    )
    for row in rows:
        created = aware(row["created_at"])
        assert created is not None
        await store.database.execute(
            sa.update(pledges)
            .where(pledges.c.id == row["id"])
            .values(created_at=created - timedelta(seconds=seconds))
        )


# Settings


def test_the_default_is_e_petitions_limits() -> None:
    settings = Settings.from_environ({"DEBUG": "1"})
    assert settings.pledge_rate_limit == DEFAULT_PLEDGE_RATE_LIMIT
    assert settings.pledge_rate_limit == (RateWindow(1, 60), RateWindow(5, 300))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("off", ()),
        (" OFF ", ()),
        ("2/60", (RateWindow(2, 60),)),
        (" 1/60 , 5/300 ", (RateWindow(1, 60), RateWindow(5, 300))),
    ],
)
def test_good_values_are_read(value: str, expected: tuple[RateWindow, ...]) -> None:
    settings = Settings.from_environ({"DEBUG": "1", "PLEDGE_RATE_LIMIT": value})
    assert settings.pledge_rate_limit == expected


@pytest.mark.parametrize(
    "value",
    [
        "",
        "1",
        "60",
        "on",
        "1/",
        "/60",
        "1/60,",
        "1/60;5/300",
        "1.5/60",
        "-1/60",
        "a/b",
        "0/60",
        "1/0",
    ],
)
def test_bad_values_are_refused_with_a_clear_message(value: str) -> None:
    with pytest.raises(ConfigurationError, match="PLEDGE_RATE_LIMIT") as refused:
        Settings.from_environ({"DEBUG": "1", "PLEDGE_RATE_LIMIT": value})
    assert repr(value) in str(refused.value)
    assert "off" in str(refused.value)


def test_the_setting_is_in_the_readme_table() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "| `PLEDGE_RATE_LIMIT` | `1/60,5/300` |" in readme


# The pledge form


async def test_over_the_limit_the_form_answers_with_a_friendly_429(
    limited: httpx.AsyncClient, store: Store
) -> None:
    campaign = await make_campaign(store)
    assert (await pledge_on_form(limited, campaign.slug, 1)).status_code == 303
    token = await csrf_for(limited, campaign.slug)
    before = await table_snapshot(store)

    response = await limited.post(
        f"/c/{campaign.slug}/pledge", data={**form(2), "csrf_token": token}
    )

    assert await table_snapshot(store) == before
    assert response.status_code == 429
    wait = int(response.headers["Retry-After"])
    assert 59 <= wait <= 60
    # The campaign page again: the limit said exactly, when to try, and the form as typed.
    page = page_of(response)
    assert (
        "We take 1 pledge to a campaign from one internet connection every minute"
        in page.by_id("form").words
    )
    assert f"press the button again in {wait} seconds" in page.by_id("form").words
    assert "several pledges" not in page.words
    for field in ("name", "email", "postcode"):
        assert [i.attrs.get("value") for i in page.find_all("input", name=field)] == [
            form(2)[field]
        ]
    # Pressing the button again once the wait is over records it, as the page says.
    await age_all(store, campaign, wait + 1)
    again = await limited.post(
        f"/c/{campaign.slug}/pledge", data={**form(2), "csrf_token": token}
    )
    assert again.status_code == 303


async def test_a_longer_window_says_its_own_limit_and_wait(database_url: str, store: Store) -> None:
    campaign = await make_campaign(store)
    async with running(database_url, "5/300") as application, browser(application) as client:
        for i in range(5):
            assert (await pledge_on_form(client, campaign.slug, i)).status_code == 303
        refused = await pledge_on_form(client, campaign.slug, 5)

    assert refused.status_code == 429
    words = page_of(refused).by_id("form").words
    assert "We take 5 pledges to a campaign from one internet connection every 5 minutes" in words
    assert "press the button again in 5 minutes" in words
    assert int(refused.headers["Retry-After"]) in range(290, 301)


async def test_the_form_window_is_counted_from_the_stored_time(
    limited: httpx.AsyncClient, store: Store
) -> None:
    campaign = await make_campaign(store)
    assert (await pledge_on_form(limited, campaign.slug, 1)).status_code == 303
    assert (await pledge_on_form(limited, campaign.slug, 2)).status_code == 429

    await age_all(store, campaign, 61)

    assert (await pledge_on_form(limited, campaign.slug, 2)).status_code == 303
    assert [p["email"] for p in await pledges_of(store, campaign)] == [
        form(1)["email"],
        form(2)["email"],
    ]


async def test_the_form_records_the_client_address(limited_app: Starlette, store: Store) -> None:
    campaign = await make_campaign(store)
    async with browser(limited_app, "2001:db8::42") as client:
        assert (await pledge_on_form(client, campaign.slug, 1)).status_code == 303

    ips = await store.database.fetch_all(
        sa.select(pledges.c.ip).where(pledges.c.campaign_id == campaign.id)
    )
    assert [r["ip"] for r in ips] == ["2001:db8::42"]


async def test_other_addresses_and_other_campaigns_are_not_held_back(
    limited_app: Starlette, store: Store
) -> None:
    one = await make_campaign(store)
    two = await make_campaign(store)
    async with browser(limited_app, "203.0.113.1") as first:
        assert (await pledge_on_form(first, one.slug, 1)).status_code == 303
        assert (await pledge_on_form(first, two.slug, 2)).status_code == 303
        assert (await pledge_on_form(first, one.slug, 3)).status_code == 429
    async with browser(limited_app, "203.0.113.2") as neighbour:
        assert (await pledge_on_form(neighbour, one.slug, 4)).status_code == 303


async def test_off_disables_the_limit(database_url: str, store: Store) -> None:
    campaign = await make_campaign(store)
    async with running(database_url, "off") as application, browser(application) as client:
        for i in range(7):
            assert (await pledge_on_form(client, campaign.slug, i)).status_code == 303
    assert len(await pledges_of(store, campaign)) == 7


# The API


async def test_over_the_limit_the_api_answers_a_problem_with_retry_after(
    limited: httpx.AsyncClient, store: Store
) -> None:
    campaign = await make_campaign(store)
    url = f"/api/v1/campaigns/{campaign.slug}/pledges"
    assert (await limited.post(url, json=pledge_data(1))).status_code == 202
    before = await table_snapshot(store)

    response = await limited.post(url, json=pledge_data(2))

    assert await table_snapshot(store) == before
    assert response.status_code == 429
    assert response.headers["content-type"] == "application/problem+json"
    assert 59 <= int(response.headers["Retry-After"]) <= 60
    body = response.json()
    assert body["status"] == 429 and body["title"] == "Too many requests"
    assert "Try again in" in body["detail"]


async def test_a_repeated_pledge_over_the_limit_gets_the_same_answer_as_a_new_one(
    limited: httpx.AsyncClient, store: Store
) -> None:
    campaign = await make_campaign(store)
    url = f"/api/v1/campaigns/{campaign.slug}/pledges"
    assert (await limited.post(url, json=pledge_data(1))).status_code == 202

    repeated = await limited.post(url, json=pledge_data(1))
    new = await limited.post(url, json=pledge_data(2))

    assert (repeated.status_code, repeated.json()) == (new.status_code, new.json())


async def test_pledges_with_a_lead_key_are_not_limited(
    limited: httpx.AsyncClient, store: Store
) -> None:
    lead, key = await make_lead(store)
    campaign = await make_campaign(store, lead)
    url = f"/api/v1/campaigns/{campaign.slug}/pledges"
    headers = {"Authorization": f"Bearer {key}"}

    paper = [
        await limited.post(url, json=pledge_data(i, source="paper"), headers=headers)
        for i in range(6)
    ]
    keyed = [await limited.post(url, json=pledge_data(i), headers=headers) for i in range(10, 16)]

    assert [r.status_code for r in paper] == [201] * 6
    assert [r.status_code for r in keyed] == [202] * 6
    # Nor do they use up the limit of anonymous pledges from the same address.
    assert (await limited.post(url, json=pledge_data(20))).status_code == 202


async def test_the_openapi_document_declares_the_429(limited: httpx.AsyncClient) -> None:
    document = (await limited.get("/api/v1/openapi.json")).json()
    responses = document["paths"]["/api/v1/campaigns/{slug}/pledges"]["post"]["responses"]
    assert "Retry-After" in responses["429"]["headers"]


# The honeypot


async def test_the_honeypot_is_hidden_from_people(client: httpx.AsyncClient, store: Store) -> None:
    campaign = await make_campaign(store)

    page = page_of(await client.get(f"/c/{campaign.slug}"))

    trap = page.by_id("website")
    assert trap.attrs["name"] == "website" and trap.attrs.get("value", "") == ""
    assert trap.attrs["tabindex"] == "-1"
    assert trap.attrs["autocomplete"] == "off"
    wrapper = trap.ancestors[-1]
    assert wrapper.attrs["aria-hidden"] == "true"
    assert wrapper.has_class("trap")
    assert page.find("label", **{"for": "website"}).words == "Leave this empty"
    css = (ROOT / "app" / "static" / "site.css").read_text()
    assert ".trap {" in css and "left: -10000px" in css


async def test_a_filled_honeypot_looks_like_success_and_stores_nothing(
    client: httpx.AsyncClient, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    campaign = await make_campaign(store)
    token = await csrf_for(client, campaign.slug)
    real = await client.post(
        f"/c/{campaign.slug}/pledge", data={**form(1), "website": "", "csrf_token": token}
    )
    before = await table_snapshot(store)

    with caplog.at_level(logging.INFO, logger="groundswell.pages"):
        bot = await client.post(
            f"/c/{campaign.slug}/pledge",
            data={**form(2), "website": "https://spam.example", "csrf_token": token},
        )

    assert await table_snapshot(store) == before
    assert (bot.status_code, bot.headers["location"]) == (
        real.status_code,
        real.headers["location"],
    )
    assert real.headers["location"] == f"/c/{campaign.slug}/pledged"
    assert [p["email"] for p in await pledges_of(store, campaign)] == [form(1)["email"]]
    logged = [r for r in caplog.records if r.name == "groundswell.pages"]
    assert len(logged) == 1 and logged[0].levelno == logging.INFO
    assert "honeypot" in logged[0].getMessage()
    for personal in (form(2)["name"], form(2)["email"], form(2)["postcode"], "spam.example"):
        assert personal not in logged[0].getMessage()
