"""Signing out ends the session on the server: a copy of the session cookie taken before
signing out opens nothing after it (a lead's, a resident's, an organisation's)."""

from __future__ import annotations

import httpx
from starlette.applications import Starlette

from app.csrf import SESSION_COOKIE
from pledges.accounts import create_organisation_api_key
from pledges.store import Store
from tests.app.pages import test_my_pledges as residents
from tests.app.pages import test_organisations as organisations
from tests.app.pages.test_leads import browser, csrf_of, sign_in
from tests.app.pages.test_my_pledges import pledge_as_jo
from tests.factories import make_campaign


def cookie_of(client: httpx.AsyncClient) -> str:
    value = client.cookies.get(SESSION_COOKIE)
    assert value, "no session cookie"
    return value


async def with_cookie(app: Starlette, path: str, cookie: str) -> httpx.Response:
    """`path` opened by another browser holding a copy of the cookie."""
    async with browser(app) as thief:
        return await thief.get(path, headers={"Cookie": f"{SESSION_COOKIE}={cookie}"})


async def test_a_leads_cookie_copied_before_sign_out_is_refused_after_it(
    client: httpx.AsyncClient, store: Store, app: Starlette
) -> None:
    await sign_in(client, store)
    copied = cookie_of(client)
    assert (await with_cookie(app, "/lead", copied)).status_code == 200  # the copy works

    home = await client.get("/lead")
    signed_out = await client.post("/sign-out", data={"csrf_token": csrf_of(home.text)})
    assert signed_out.status_code == 303

    after = await with_cookie(app, "/lead", copied)
    assert after.status_code == 303
    assert after.headers["location"] == "/lead/sign-in"
    # The signed-out browser itself is signed out too.
    assert (await client.get("/lead")).status_code == 303


async def test_signing_in_again_does_not_revive_the_old_cookie(
    client: httpx.AsyncClient, store: Store, app: Starlette
) -> None:
    await sign_in(client, store)
    copied = cookie_of(client)
    home = await client.get("/lead")
    await client.post("/sign-out", data={"csrf_token": csrf_of(home.text)})
    await sign_in(client, store)
    assert (await client.get("/lead")).status_code == 200
    assert (await with_cookie(app, "/lead", copied)).status_code == 303


async def test_a_residents_cookie_copied_before_sign_out_is_refused_after_it(
    client: httpx.AsyncClient, store: Store, app: Starlette
) -> None:
    campaign = await make_campaign(store)
    await pledge_as_jo(store, campaign, "jo@example.org")
    await residents.sign_in(client, store, "jo@example.org")
    copied = cookie_of(client)
    mine = await with_cookie(app, "/me", copied)
    assert mine.status_code == 200
    assert "jo@example.org" in mine.text

    page = await client.get("/me")
    assert (
        await client.post("/sign-out", data={"csrf_token": csrf_of(page.text)})
    ).status_code == 303

    after = await with_cookie(app, "/me", copied)
    assert after.status_code == 303
    assert after.headers["location"] == "/me/sign-in"
    assert (await with_cookie(app, "/me/data.json", copied)).status_code == 303


async def test_an_organisations_cookie_copied_before_sign_out_is_refused_after_it(
    client: httpx.AsyncClient, store: Store, app: Starlette
) -> None:
    _, key = await create_organisation_api_key(store, "ops@fibre.example", "Fibre Ltd", "provider")
    assert (await organisations.sign_in(client, key)).status_code == 303
    copied = cookie_of(client)
    assert (await with_cookie(app, "/org/endpoints", copied)).status_code == 200

    page = await client.get("/org/endpoints")
    out = await client.post("/org/sign-out", data={"csrf_token": csrf_of(page.text)})
    assert out.status_code == 303

    after = await with_cookie(app, "/org/endpoints", copied)
    assert after.status_code == 303
    assert after.headers["location"] == "/org/sign-in"


async def test_a_lead_signing_out_leaves_the_organisation_signed_in_with_a_new_session(
    client: httpx.AsyncClient, store: Store, app: Starlette
) -> None:
    _, key = await create_organisation_api_key(store, "ops@fibre.example", "Fibre Ltd", "provider")
    await sign_in(client, store)
    assert (await organisations.sign_in(client, key)).status_code == 303
    copied = cookie_of(client)

    home = await client.get("/lead")
    await client.post("/sign-out", data={"csrf_token": csrf_of(home.text)})

    assert (await client.get("/org/endpoints")).status_code == 200  # still signed in there
    assert (await client.get("/lead")).status_code == 303
    # The copy taken before is refused everywhere, for the organisation too.
    assert (await with_cookie(app, "/lead", copied)).status_code == 303
    assert (await with_cookie(app, "/org/endpoints", copied)).status_code == 303
