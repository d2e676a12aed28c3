"""Public reads any cache can serve, rendered once per change rather than once per request.

A campaign spreads through one link, and its page is read hundreds of times for each
pledge. So a public read (`cacheable`):

- says how long any cache may keep it (`Cache-Control: public, max-age=...,
  stale-while-revalidate=...`), with a strong `ETag`, and answers `If-None-Match` with 304;
- sets no cookie and is the same for every reader who is not signed in (see app/csrf.py);
- for someone signed in, or an API caller with a key, is `private, no-cache` instead
  (their page may differ) and skips the shared render below;
- with `shared=True`, is rendered once and served to every anonymous reader from this
  process's RenderCache until the campaign it shows changes, and for one second at most:
  a commit in this process that changes the campaign drops it at once
  (pledges.store.mark_campaign_changed), and another process's commit shows within the
  second. Concurrent readers of a page being rendered wait for that one render.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import wraps

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

Endpoint = Callable[[Request], Awaitable[Response]]

# Request-state key: the campaign a shared render shows (set by the endpoint).
CAMPAIGN_SHOWN = "campaign_shown"
PRIVATE = "private, no-cache"


@dataclass(frozen=True)
class CachePolicy:
    """How long any cache may serve a public read as fresh, then stale while it asks again."""

    max_age: int
    stale_while_revalidate: int = 0

    @property
    def header(self) -> str:
        value = f"public, max-age={self.max_age}"
        if self.stale_while_revalidate:
            value += f", stale-while-revalidate={self.stale_while_revalidate}"
        return value


# A campaign's page, its updates and its JSON: counts move, so fresh for a few seconds.
CAMPAIGN = CachePolicy(max_age=5, stale_while_revalidate=30)
# The badge and the widget, embedded on other sites: a minute is soon enough.
EMBEDDED = CachePolicy(max_age=60, stale_while_revalidate=300)
# The home page's list of campaigns, and the API's lists.
LISTING = CachePolicy(max_age=30, stale_while_revalidate=60)
# Pages that change with a release, not with pledges (the privacy notice, the API's
# OpenAPI document).
STATIC_TEXT = CachePolicy(max_age=3600, stale_while_revalidate=86400)


def etag_of(body: bytes) -> str:
    """A strong validator: the same bytes give the same tag in every process."""
    return '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110's weak comparison, as If-None-Match uses it."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    wanted = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == wanted for tag in if_none_match.split(","))


def is_anonymous(request: Request) -> bool:
    """No session and no key: the reader every anonymous reader shares a page with."""
    return not request.session and "authorization" not in request.headers


@dataclass
class Rendered:
    status_code: int
    raw_headers: list[tuple[bytes, bytes]]
    body: bytes
    etag: str
    made: float  # RenderCache.now() when the render began to read
    seen: int  # RenderCache.clock before the render read anything
    campaign_id: int | None
    cache_control: str  # the read's CachePolicy header

    def response(self) -> Response:
        response = Response(self.body, status_code=self.status_code)
        response.raw_headers = [*self.raw_headers, *_length(self.body)]
        return response


def _length(body: bytes) -> list[tuple[bytes, bytes]]:
    return [(b"content-length", str(len(body)).encode())]


# What a public read's answer depends on beyond its URL: a signed-in reader or a key holder
# gets a private copy, so a shared cache must not hand them the anonymous one (nor the
# reverse).
VARY = "Cookie, Authorization"


def _not_modified(etag: str, cache_control: str, vary: str = VARY) -> Response:
    return Response(
        status_code=304, headers={"ETag": etag, "Cache-Control": cache_control, "Vary": vary}
    )


class RenderCache:
    """Responses rendered for anonymous readers, by method-less URL, in one process."""

    def __init__(
        self, seconds: float = 1.0, size: int = 512, now: Callable[[], float] = time.monotonic
    ) -> None:
        self.seconds = seconds
        self.now = now
        self.size = size
        self.clock = 0  # moves on every commit that changed a campaign
        self._any_change = 0  # the clock at the last change of any campaign
        self._changed: dict[int, int] = {}  # campaign -> the clock at its last change
        self._entries: OrderedDict[str, Rendered] = OrderedDict()
        self._rendering: dict[str, asyncio.Future[Rendered | None]] = {}
        self.renders = 0  # how many renders were stored (for tests and measurements)
        self.served = 0  # answers ServeRenders gave before the app (the same)

    def campaigns_changed(self, campaign_ids: set[int]) -> None:
        """Store.on_campaigns_changed: what was rendered from these campaigns is stale."""
        self.clock += 1
        self._any_change = self.clock
        for campaign_id in campaign_ids:
            self._changed[campaign_id] = self.clock
        if len(self._changed) > 4 * self.size:  # bounded: start again, everything re-renders
            self._changed.clear()
            self._entries.clear()

    def _fresh(self, key: str) -> Rendered | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if self.now() - entry.made >= self.seconds:
            return None
        changed = (
            self._any_change
            if entry.campaign_id is None
            else self._changed.get(entry.campaign_id, 0)
        )
        return entry if changed <= entry.seen else None

    def fresh(self, key: str) -> Rendered | None:
        """The render for `key` if it may still be served, without making one."""
        return self._fresh(key)

    async def get(
        self, key: str, render: Callable[[], Awaitable[Response]], cache_control: str = ""
    ) -> Rendered | Response:
        """The fresh render for `key`, or one made now (shared with whoever asks meanwhile).
        A response that cannot be shared (not a 200) comes back as it is."""
        entry = self._fresh(key)
        if entry is not None:
            return entry
        pending = self._rendering.get(key)
        if pending is not None:
            shared = await asyncio.shield(pending)
            if shared is not None:
                return shared
            return await render()  # the render it waited for could not be shared
        future: asyncio.Future[Rendered | None] = asyncio.get_running_loop().create_future()
        self._rendering[key] = future
        made: Rendered | None = None
        try:
            seen, started = self.clock, self.now()
            response = await render()
            made = self._keep(key, response, seen, started, cache_control)
            return made if made is not None else response
        finally:
            del self._rendering[key]
            future.set_result(made)

    def _keep(
        self, key: str, response: Response, seen: int, started: float, cache_control: str
    ) -> Rendered | None:
        body = getattr(response, "body", None)
        if response.status_code != 200 or not isinstance(body, bytes):
            return None
        headers = [
            (k, v) for k, v in response.raw_headers if k not in (b"content-length", b"set-cookie")
        ]
        etag = response.headers.get("etag") or etag_of(body)
        if "etag" not in response.headers:
            headers.append((b"etag", etag.encode()))
        campaign_id = getattr(response, "campaign_id", None)
        entry = Rendered(200, headers, body, etag, started, seen, campaign_id, cache_control)
        self._entries[key] = entry
        self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)
        self.renders += 1
        return entry


def render_key(scope: Scope) -> str:
    return str(scope["path"]) + "?" + scope["query_string"].decode("latin-1")


class ServeRenders:
    """In front of the session, the cross-site check and the router: an anonymous GET of
    a read that is rendered once for everyone (`cacheable(..., shared=True)`) and still
    fresh is answered from the RenderCache, as a 304 when its tag matches. Anything else,
    or a read not rendered yet, goes on to the app, which renders it once for the next."""

    def __init__(self, app: ASGIApp, cache: RenderCache, session_cookie: str) -> None:
        self.app = app
        self.cache = cache
        self.signed_in = session_cookie.encode() + b"="

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            entry = self.cache.fresh(render_key(scope))
            if entry is not None:
                wanted = None
                for name, value in scope["headers"]:
                    if name == b"authorization" or (name == b"cookie" and self.signed_in in value):
                        entry = None  # their own copy: the app decides what it is
                        break
                    if name == b"if-none-match":
                        wanted = value.decode("latin-1")
                if entry is not None:
                    self.cache.served += 1
                    await self._answer(entry, wanted, send)
                    return
        await self.app(scope, receive, send)

    @staticmethod
    async def _answer(entry: Rendered, wanted: str | None, send: Send) -> None:
        policy = [
            (b"cache-control", entry.cache_control.encode()),
            (b"vary", VARY.encode()),
        ]
        if etag_matches(wanted, entry.etag):
            headers = [(b"etag", entry.etag.encode()), *policy]
            await send({"type": "http.response.start", "status": 304, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return
        headers = [*entry.raw_headers, *_length(entry.body), *policy]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": entry.body})


def render_cache_of(request: Request) -> RenderCache:
    cache: RenderCache = request.app.state.render_cache
    return cache


def shows_campaign(response: Response, campaign_id: int) -> Response:
    """Mark a shared render with the campaign it shows, so its changes drop it."""
    response.campaign_id = campaign_id  # type: ignore[attr-defined]
    return response


def own_change_seen(response: Response) -> Response:
    """After a resident's own pledge is counted or taken back: their browser drops what it
    kept of this site, so the campaign page they go back to shows their change, not a copy
    from before it (public pages may be kept for a few seconds)."""
    response.headers["Clear-Site-Data"] = '"cache"'
    return response


def cacheable(policy: CachePolicy, *, shared: bool = False) -> Callable[[Endpoint], Endpoint]:
    """A public read: see the module's docstring."""

    def decorate(endpoint: Endpoint) -> Endpoint:
        @wraps(endpoint)
        async def read(request: Request) -> Response:
            if request.method not in ("GET", "HEAD"):
                return await endpoint(request)
            wanted = request.headers.get("if-none-match")
            if not is_anonymous(request):
                return _validated(await endpoint(request), PRIVATE, wanted)
            if shared:
                found = await render_cache_of(request).get(
                    render_key(request.scope), lambda: endpoint(request), policy.header
                )
                if isinstance(found, Rendered):
                    if etag_matches(wanted, found.etag):
                        return _not_modified(found.etag, policy.header)
                    return _with_policy(found.response(), policy.header)
                return _validated(found, policy.header, wanted)
            return _validated(await endpoint(request), policy.header, wanted)

        return read

    return decorate


def _with_policy(response: Response, cache_control: str) -> Response:
    response.headers["Cache-Control"] = cache_control
    response.headers["Vary"] = vary_with(response.headers.get("vary"))
    return response


def vary_with(own: str | None) -> str:
    """VARY beside what the read itself varies by (the demand's CSV or JSON by Accept)."""
    return f"{own}, {VARY}" if own else VARY


def _validated(response: Response, cache_control: str, wanted: str | None) -> Response:
    """A 200 gets its validator and `cache_control`, or becomes a 304; other answers are
    not to be kept by anyone."""
    body = getattr(response, "body", None)
    if response.status_code != 200 or not isinstance(body, bytes):
        response.headers.setdefault("Cache-Control", "no-store")
        return response
    etag = response.headers.get("etag") or etag_of(body)
    if etag_matches(wanted, etag):
        return _not_modified(etag, cache_control, vary_with(response.headers.get("vary")))
    response.headers["ETag"] = etag
    return _with_policy(response, cache_control)
