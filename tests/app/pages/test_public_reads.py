"""Public reads any cache can serve: no cookie, Cache-Control, a strong ETag and 304s, and
one render shared by every anonymous reader until the campaign changes (app/http_cache.py)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import Response

from app.http_cache import RenderCache, Rendered
from pledges.store import Store
from tests.app.pages.confirming import press_confirm
from tests.app.pages.test_leads import sign_in, store_of
from tests.app.pages.test_residents import count_text, page_of
from tests.factories import make_campaign, make_confirmed_pledge, make_lead, make_pending_pledges

ROOT = Path(__file__).resolve().parents[3]

# Every public read, and whether it is one of the hot ones with a short life.
PUBLIC_READS = [
    ("/c/{slug}", True),
    ("/c/{slug}/updates", True),
    ("/api/v1/campaigns/{slug}", True),
    ("/c/{slug}/badge.svg", False),
    ("/c/{slug}/widget", False),
    ("/", False),
    ("/privacy", False),
    ("/api/v1/campaigns", False),
    ("/api/v1/campaigns/{slug}/responses", True),
    ("/api/v1/openapi.json", False),
]


class FrozenClock:
    """The render cache's clock, moved by the test alone."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(app: Starlette) -> FrozenClock:
    frozen = FrozenClock()
    app.state.render_cache.now = frozen
    return frozen


def renders(app: Starlette) -> int:
    cache: RenderCache = app.state.render_cache
    return cache.renders


@pytest.mark.parametrize(("path", "hot"), PUBLIC_READS, ids=[p for p, _ in PUBLIC_READS])
async def test_a_public_read_twice_sends_no_cookie_and_the_second_is_a_304(
    client: httpx.AsyncClient, store: Store, path: str, hot: bool
) -> None:
    campaign = await make_campaign(store)
    url = path.format(slug=campaign.slug)

    first = await client.get(url)
    assert first.status_code == 200
    assert "set-cookie" not in first.headers
    cache_control = first.headers["cache-control"]
    assert cache_control.startswith("public, max-age=")
    assert "stale-while-revalidate=" in cache_control
    if hot:  # counts move: a few seconds at most
        assert int(cache_control.split("max-age=")[1].split(",")[0]) <= 5
    etag = first.headers["etag"]
    assert etag.startswith('"') and not etag.startswith("W/")
    # A shared cache keeps one copy for readers without a cookie or a key.
    assert first.headers["vary"] == "Cookie, Authorization"

    second = await client.get(url, headers={"If-None-Match": etag})
    assert second.status_code == 304
    assert second.content == b""
    assert second.headers["etag"] == etag
    assert second.headers["cache-control"] == cache_control
    assert second.headers["vary"] == "Cookie, Authorization"
    assert "set-cookie" not in second.headers
    assert not client.cookies

    # Another copy's tag (or none) gets the whole answer again.
    other = await client.get(url, headers={"If-None-Match": '"not-this-one"'})
    assert other.status_code == 200 and other.content == first.content


async def test_a_change_gives_a_new_etag(
    app: Starlette, client: httpx.AsyncClient, store: Store
) -> None:
    campaign = await make_campaign(store)
    first = await client.get(f"/c/{campaign.slug}")

    await make_confirmed_pledge(store, campaign.slug, 1)
    second = await client.get(
        f"/c/{campaign.slug}", headers={"If-None-Match": first.headers["etag"]}
    )

    assert second.status_code == 200
    assert second.headers["etag"] != first.headers["etag"]
    assert count_text(1, campaign.target) in page_of(second).words


async def test_what_is_not_there_is_not_kept(client: httpx.AsyncClient, store: Store) -> None:
    draft = await make_campaign(store, draft=True)
    for url in (f"/c/{draft.slug}", f"/api/v1/campaigns/{draft.slug}", "/c/no-such/badge.svg"):
        answer = await client.get(url)
        assert answer.status_code == 404, url
        assert answer.headers["cache-control"] == "no-store", url
        assert "etag" not in answer.headers, url


async def test_a_signed_in_reader_gets_a_private_copy_and_their_own_pages_are_not_kept(
    app: Starlette, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    store = store_of(app)
    lead = await sign_in(client, store)
    campaign = await make_campaign(store, lead)

    public = await client.get(f"/c/{campaign.slug}")
    assert public.headers["cache-control"] == "private, no-cache"
    again = await client.get(
        f"/c/{campaign.slug}", headers={"If-None-Match": public.headers["etag"]}
    )
    assert again.status_code == 304
    # Their page carries their session's form token, never the shared render's.
    assert renders(app) == 0
    for path in ("/lead", f"/lead/campaigns/{campaign.slug}"):
        own = await client.get(path)
        assert own.status_code == 200
        assert own.headers["cache-control"] == "no-store", path


async def test_an_api_caller_with_a_key_gets_a_private_copy(
    app: Starlette, client: httpx.AsyncClient, store: Store
) -> None:
    campaign = await make_campaign(store)
    _, key = await make_lead(store, "keyholder@example.org")

    answer = await client.get(
        f"/api/v1/campaigns/{campaign.slug}", headers={"Authorization": f"Bearer {key}"}
    )

    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "private, no-cache"


SHARED_READS = ["/c/{slug}", "/api/v1/campaigns/{slug}", "/c/{slug}/badge.svg"]


@pytest.mark.parametrize("path", SHARED_READS)
async def test_a_fresh_shared_render_is_served_before_the_app_with_the_same_answer(
    app: Starlette, client: httpx.AsyncClient, store: Store, clock: FrozenClock, path: str
) -> None:
    campaign = await make_campaign(store)
    url = path.format(slug=campaign.slug)
    cache: RenderCache = app.state.render_cache

    made = await client.get(url)  # rendered by the app, kept
    assert cache.served == 0
    again = await client.get(url)
    conditional = await client.get(url, headers={"If-None-Match": made.headers["etag"]})
    assert cache.served == 2

    assert again.status_code == 200 and again.content == made.content
    headers = {k: v for k, v in made.headers.items() if k != "date"}
    assert {k: v for k, v in again.headers.items() if k != "date"} == headers
    assert conditional.status_code == 304
    for name in ("etag", "cache-control", "vary"):
        assert conditional.headers[name] == made.headers[name]
    for security in ("x-content-type-options", "referrer-policy"):
        assert conditional.headers[security] == made.headers[security]

    # A key holder, a cookie that may be a session, a HEAD and a stale render reach the app.
    _, key = await make_lead(store)
    private = await client.get(url, headers={"Authorization": f"Bearer {key}"})
    assert private.headers["cache-control"] == "private, no-cache"
    forged = await client.get(url, headers={"Cookie": "gs_session=not-a-session"})
    assert forged.headers["cache-control"].startswith("public")  # no session: anonymous
    head = await client.head(url)
    assert head.status_code == 200 and head.content == b""
    assert cache.served == 2
    clock.now += 1.0
    await client.get(url)
    assert cache.served == 2 and renders(app) == 2
    await make_confirmed_pledge(store, campaign.slug, 1)  # a commit drops it at once
    changed = await client.get(url)
    assert cache.served == 2 and renders(app) == 3
    assert changed.headers["etag"] != made.headers["etag"]


async def test_every_anonymous_reader_shares_one_render(
    app: Starlette, client: httpx.AsyncClient, store: Store, clock: FrozenClock
) -> None:
    campaign = await make_campaign(store)
    before = renders(app)

    pages = await asyncio.gather(*(client.get(f"/c/{campaign.slug}") for _ in range(20)))
    jsons = await asyncio.gather(
        *(client.get(f"/api/v1/campaigns/{campaign.slug}") for _ in range(20))
    )
    badges = await asyncio.gather(*(client.get(f"/c/{campaign.slug}/badge.svg") for _ in range(5)))

    assert renders(app) - before == 3
    for answers in (pages, jsons, badges):
        assert {a.status_code for a in answers} == {200}
        assert len({a.content for a in answers}) == 1
        assert len({a.headers["etag"] for a in answers}) == 1


async def test_a_pledge_confirmed_in_this_process_shows_at_once(
    app: Starlette, client: httpx.AsyncClient, store: Store, clock: FrozenClock
) -> None:
    campaign = await make_campaign(store)
    (pending,) = await make_pending_pledges(store, campaign.slug, 1)
    first = await client.get(f"/c/{campaign.slug}")
    assert count_text(0, campaign.target) in page_of(first).words
    # A pledge recorded but not confirmed changes nothing shown: the render stands.
    rendered = renders(app)
    await client.get(f"/c/{campaign.slug}")
    assert renders(app) == rendered

    confirmed = await press_confirm(client, sign_confirm(app, pending))
    assert confirmed.status_code == 200
    # The resident's browser drops its copies, so the page it goes back to is current.
    assert confirmed.headers["clear-site-data"] == '"cache"'

    after = await client.get(f"/c/{campaign.slug}")  # the clock has not moved
    assert count_text(1, campaign.target) in page_of(after).words
    as_json = (await client.get(f"/api/v1/campaigns/{campaign.slug}")).json()
    assert as_json["progress"]["confirmed"] == 1


def sign_confirm(app: Starlette, pledge_id: int) -> str:
    token: str = app.state.services.signer.sign(pledge_id, "pledge-confirm")
    return token


CONFIRM_ELSEWHERE = textwrap.dedent(
    """
    import asyncio, sys
    from pledges.pledging import confirm_pledge
    from pledges.store import Store

    async def main() -> None:
        store = Store(sys.argv[1])
        await store.connect()
        await confirm_pledge(store, int(sys.argv[2]))
        await store.disconnect()

    asyncio.run(main())
    """
)


async def test_a_pledge_confirmed_by_another_process_shows_within_a_second(
    app: Starlette, client: httpx.AsyncClient, store: Store, clock: FrozenClock, database_url: str
) -> None:
    campaign = await make_campaign(store)
    (pending,) = await make_pending_pledges(store, campaign.slug, 1)
    assert count_text(0, campaign.target) in page_of(await client.get(f"/c/{campaign.slug}")).words

    # Another web or worker process on the same database confirms it.
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", CONFIRM_ELSEWHERE, database_url, str(pending)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr.decode()

    # This process was not told: for under a second it serves what it rendered...
    clock.now += 0.9
    stale = await client.get(f"/c/{campaign.slug}")
    assert count_text(0, campaign.target) in page_of(stale).words
    # ...and then reads the campaign again.
    clock.now += 0.1
    fresh = await client.get(f"/c/{campaign.slug}")
    assert count_text(1, campaign.target) in page_of(fresh).words


async def test_the_render_cache_keeps_a_bounded_number_of_renders() -> None:
    cache = RenderCache(size=3, now=FrozenClock())

    async def page(i: int) -> Response:
        return Response(f"page {i}")

    for i in range(10):
        found = await cache.get(f"/c/{i}", lambda i=i: page(i))
        assert isinstance(found, Rendered) and found.body == f"page {i}".encode()
    await cache.get("/c/9", lambda: page(9))
    assert cache.renders == 10  # the newest is kept
    await cache.get("/c/0", lambda: page(0))
    assert cache.renders == 11  # the oldest was let go
