"""Provider and council pages: sign in with the organisation key, manage endpoints,
see deliveries with their attempts, replay."""

from __future__ import annotations

import re

import httpx
from starlette.applications import Starlette

from pledges.accounts import create_organisation_api_key
from tests.conftest import table_snapshot


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


async def sign_in(client: httpx.AsyncClient, key: str) -> httpx.Response:
    page = await client.get("/org/sign-in")
    return await client.post(
        "/org/sign-in", data={"csrf_token": csrf_of(page.text), "api_key": key}
    )


async def test_pages_need_sign_in(client: httpx.AsyncClient) -> None:
    answer = await client.get("/org/endpoints")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/org/sign-in"


async def test_wrong_key_is_refused_with_a_message(client: httpx.AsyncClient) -> None:
    answer = await sign_in(client, "gs_not-a-real-key")
    assert answer.status_code == 401
    assert "not an organisation" in answer.text
    assert "gs_not-a-real-key" not in answer.text


async def test_member_adds_endpoint_sees_secret_once_and_sends_test(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    store = app.state.services.store
    _, key = await create_organisation_api_key(store, "ops@fibreco.example", "FibreCo", "provider")
    assert (await sign_in(client, key)).status_code == 303

    page = await client.get("/org/endpoints")
    assert "No endpoints yet" in page.text
    # Not https and a loopback address: refused beside the field, nothing stored.
    before = await table_snapshot(store)
    refused = await client.post(
        "/org/endpoints",
        data={"csrf_token": csrf_of(page.text), "url": "http://127.0.0.1:9/hook"},
    )
    assert refused.status_code == 422
    assert "https" in refused.text and 'href="#url"' in refused.text
    assert await table_snapshot(store) == before

    added = await client.post(
        "/org/endpoints",
        data={
            "csrf_token": csrf_of(page.text),
            "url": "https://93.184.216.34/hooks/groundswell",
            "description": "Planning team",
            "event_types": ["campaign.tipped"],
            "postcode_prefixes": "LS, M1",
        },
    )
    assert added.status_code == 200
    secret = re.search(r'<code class="secret">(whsec_[^<]+)</code>', added.text)
    assert secret
    endpoint_id = re.search(r'href="/org/endpoints/(ep_[^"]+)"', added.text)
    assert endpoint_id

    listing = await client.get("/org/endpoints")
    assert secret.group(1) not in listing.text  # shown once only

    detail = await client.get(f"/org/endpoints/{endpoint_id.group(1)}")
    assert "Nothing delivered yet" in detail.text
    tested = await client.post(
        f"/org/endpoints/{endpoint_id.group(1)}",
        data={"csrf_token": csrf_of(detail.text), "action": "test"},
    )
    assert "webhook.test" in tested.text
    rotated = await client.post(
        f"/org/endpoints/{endpoint_id.group(1)}",
        data={"csrf_token": csrf_of(detail.text), "action": "rotate"},
    )
    new_secret = re.search(r'<code class="secret">(whsec_[^<]+)</code>', rotated.text)
    assert new_secret and new_secret.group(1) != secret.group(1)


async def test_other_organisations_endpoints_are_not_found(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    store = app.state.services.store
    from notifications.endpoints import create_endpoint, parse_endpoint

    owner, _ = await create_organisation_api_key(store, "a@council.example", "Leeds", "council")
    endpoint = await create_endpoint(
        store,
        owner.id,
        await parse_endpoint(
            {"url": "https://93.184.216.34/x"}, partial=False, allow_private=False
        ),
    )
    _, other_key = await create_organisation_api_key(store, "b@isp.example", "ISP", "provider")
    await sign_in(client, other_key)
    answer = await client.get(f"/org/endpoints/{endpoint.public_id}")
    assert answer.status_code == 404
