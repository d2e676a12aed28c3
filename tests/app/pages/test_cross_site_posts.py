"""Every form refuses a post another site made, with no session for people who only read:
what the browser says of a request's origin decides first (Sec-Fetch-Site, else Origin),
and a signed form token decides when it says nothing (app/csrf.py)."""

from __future__ import annotations

import re
import time

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Route

from app.csrf import DAY_SECONDS, REFUSED, public_token
from pledges.store import Store
from tests.app.pages.test_leads import browser, csrf_of, sign_in, store_of
from tests.app.pages.test_residents import csrf_for, form, nothing_changes, page_of, pledges_of
from tests.conftest import TEST_SECRET as SECRET
from tests.factories import make_campaign

CROSS_SITE = [
    {"Sec-Fetch-Site": "cross-site", "Origin": "https://elsewhere.example"},
    {"Sec-Fetch-Site": "same-site", "Origin": "https://news.testserver"},
    {"Origin": "https://elsewhere.example"},  # a browser without Fetch Metadata
    {"Origin": "null"},  # a sandboxed frame or a data: URL
    {"Sec-Fetch-Site": "cross-site"},
]


def form_routes(app: Starlette) -> list[str]:
    """Every path outside the API that takes a POST, its parameters filled in."""
    paths = []
    for route in app.routes:
        if isinstance(route, Route) and "POST" in (route.methods or ()):
            if not route.path.startswith("/api/"):
                paths.append(re.sub(r"\{(\w+)(:\w+)?\}", "1", route.path))
    return paths


def today() -> int:
    return int(time.time() // DAY_SECONDS)


@pytest.mark.parametrize("headers", CROSS_SITE, ids=lambda h: "+".join(h.values()))
async def test_every_form_refuses_a_post_another_site_made(
    app: Starlette, client: httpx.AsyncClient, store: Store, headers: dict[str, str]
) -> None:
    campaign = await make_campaign(store)
    token = await csrf_for(client, campaign.slug)  # a good token does not help
    paths = form_routes(app)
    assert len(paths) >= 40
    assert "/c/1/pledge" in paths and "/lead/campaigns/new" in paths and "/choose" in paths

    async with nothing_changes(store):
        for path in [*paths, f"/c/{campaign.slug}/pledge"]:
            answer = await client.post(path, data={**form(1), "csrf_token": token}, headers=headers)
            assert answer.status_code == 403, path
            assert REFUSED in page_of(answer).words, path
            assert "set-cookie" not in answer.headers


async def test_a_cross_site_post_is_refused_for_a_signed_in_lead_too(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    store = store_of(app)
    lead = await sign_in(client, store)
    campaign = await make_campaign(store, lead)
    token = csrf_of((await client.get(f"/lead/campaigns/{campaign.slug}")).text)

    async with nothing_changes(store):
        answer = await client.post(
            f"/lead/campaigns/{campaign.slug}/cancel",
            data={"csrf_token": token},
            headers={"Sec-Fetch-Site": "cross-site", "Origin": "https://elsewhere.example"},
        )

    assert answer.status_code == 403


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "same-origin", "Origin": "http://testserver"},
        {"Sec-Fetch-Site": "none"},  # typed or bookmarked
        {"Origin": "http://testserver"},  # a browser without Fetch Metadata, from here
    ],
    ids=["same-origin", "none", "origin"],
)
async def test_a_post_the_browser_says_came_from_this_site_needs_no_token(
    client: httpx.AsyncClient, store: Store, headers: dict[str, str]
) -> None:
    campaign = await make_campaign(store)

    answer = await client.post(f"/c/{campaign.slug}/pledge", data=form(1), headers=headers)

    assert answer.status_code == 303, answer.text
    assert [p["email"] for p in await pledges_of(store, campaign)] == [form(1)["email"]]


async def test_the_public_form_token_is_the_same_for_every_reader_and_needs_no_cookie(
    app: Starlette, client: httpx.AsyncClient, store: Store
) -> None:
    campaign = await make_campaign(store)
    first = await csrf_for(client, campaign.slug)
    async with browser(app) as other:
        second = await csrf_for(other, campaign.slug)
        answer = await other.post(
            f"/c/{campaign.slug}/pledge", data={**form(1), "csrf_token": first}
        )

    assert first == second == public_token(SECRET, today())
    assert not client.cookies and not other.cookies
    assert answer.status_code == 303
    assert len(await pledges_of(store, campaign)) == 1


@pytest.mark.parametrize(
    ("days_ago", "good"),
    [(0, True), (1, True), (-1, True), (2, False), (30, False)],
    ids=["today", "yesterday", "tomorrow", "two-days-old", "a-month-old"],
)
async def test_without_either_header_a_public_token_lasts_a_day_or_two(
    client: httpx.AsyncClient, store: Store, days_ago: int, good: bool
) -> None:
    campaign = await make_campaign(store)
    token = public_token(SECRET, today() - days_ago)
    url = f"/c/{campaign.slug}/pledge"

    if good:
        answer = await client.post(url, data={**form(1), "csrf_token": token})
        assert answer.status_code == 303
        assert len(await pledges_of(store, campaign)) == 1
    else:
        async with nothing_changes(store):
            answer = await client.post(url, data={**form(1), "csrf_token": token})
        assert answer.status_code == 403
        assert REFUSED in page_of(answer).words


@pytest.mark.parametrize(
    "token",
    [None, "", "forged-token", f"{int(time.time() // DAY_SECONDS)}.forged", "s.forged"],
    ids=["absent", "empty", "forged", "forged-today", "forged-session"],
)
async def test_without_either_header_a_bad_token_is_refused(
    client: httpx.AsyncClient, store: Store, token: str | None
) -> None:
    campaign = await make_campaign(store)
    data = form(1) if token is None else {**form(1), "csrf_token": token}

    async with nothing_changes(store):
        answer = await client.post(f"/c/{campaign.slug}/pledge", data=data)

    assert answer.status_code == 403
    assert REFUSED in page_of(answer).words


async def test_a_signed_in_session_needs_its_own_token_when_the_browser_says_nothing(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    store = store_of(app)
    lead = await sign_in(client, store)
    campaign = await make_campaign(store, lead)
    cancel = f"/lead/campaigns/{campaign.slug}/cancel"
    own = csrf_of((await client.get(f"/lead/campaigns/{campaign.slug}")).text)
    async with browser(app) as other:
        await sign_in(other, store, email="other.lead@example.org")
        theirs = csrf_of((await other.get("/lead")).text)

    assert own.startswith("s.") and own != theirs
    async with nothing_changes(store):
        for token in (public_token(SECRET, today()), theirs):
            refused = await client.post(cancel, data={"csrf_token": token})
            assert refused.status_code == 403, token
    accepted = await client.post(cancel, data={"csrf_token": own})
    assert accepted.status_code == 303
    assert "cancelled" in (await client.get(f"/lead/campaigns/{campaign.slug}")).text.lower()


async def test_the_session_cookie_is_given_at_sign_in_and_taken_at_sign_out(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    store = store_of(app)
    for path in ("/", "/lead/sign-in", "/me/sign-in", "/org/sign-in", "/privacy"):
        answer = await client.get(path)
        assert answer.status_code == 200, path
        assert "set-cookie" not in answer.headers, path
    assert not client.cookies

    await sign_in(client, store)
    assert "gs_session" in client.cookies
    lead_page = await client.get("/lead")
    assert lead_page.headers["cache-control"] == "no-store"

    signed_out = await client.post("/sign-out", data={"csrf_token": csrf_of(lead_page.text)})
    assert signed_out.status_code == 303
    assert not client.cookies
