"""Every write of the JSON API and every form of the site, sent arbitrary strings (control
characters, NUL, lone surrogates, line breaks, overlong text, odd Unicode) in each of its
fields, one field at a time from a request that is otherwise valid: the answer is a 2xx or
3xx, or a 4xx that names the field (problem+json under /api, the form again with the
message beside the field elsewhere); never a 5xx, and nothing stored changes on a 4xx.

The routes come from the app itself: a write route that this module has no case for fails
`test_every_write_route_has_a_case` by name. The forms are read as a browser reads them
(GET the page, keep its fields and its CSRF token) and posted back with one field changed;
a 422 must mark that field if a person types into it (a button's, a hidden field's or a
choice's value is the page's own, so any 4xx that changes nothing will do there). A field
that was empty and is filled, or was filled and is emptied, may make another one wrong
(a voucher without prices), so then some field must be marked. Path parameters are
spoiled too: a 4xx answers them.

Examples per route are bounded by the Hypothesis profile (HYPOTHESIS_PROFILE: `ci`, the
default, reproducible; `deep` for a longer exploration by hand).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.routing import Route

from app.main import services_of
from app.settings import Settings
from notifications.tables import emails, webhook_endpoints
from pledges.accounts import Lead, Organisation
from pledges.campaigns import Campaign, get_campaign, open_campaign
from pledges.offers import Offer, parse_offer, post_offer
from pledges.reports import file_report, parse_report
from pledges.store import Store, utcnow
from pledges.tables import delivery_milestones, magic_links
from tests.app.pages.test_leads import sign_in as lead_sign_in
from tests.app.pages.test_my_pledges import sign_in as resident_sign_in
from tests.app.pages.test_organisations import sign_in as organisation_sign_in
from tests.app.pages.test_residents import Page
from tests.conftest import make_settings, table_snapshot
from tests.factories import (
    Delivered,
    campaign_data,
    covering_provider,
    make_campaign,
    make_confirmed_pledge,
    make_delivered_campaign,
    make_lead,
    make_pending_pledges,
    offer_data,
    pledge_data,
)

LEAD = "lead@example.org"  # also an administrator
RESIDENT = "resident1@example.org"  # pledge_data(1)'s address

hypothesis_settings.register_profile(
    "ci",
    max_examples=10,
    deadline=None,
    derandomize=True,  # the same examples on every run: a red CI is reproducible
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)
hypothesis_settings.register_profile(
    "deep",
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")


# What is sent


# Characters a form or a client may send that text columns, pages or emails trip on.
AWKWARD = [
    "\x00",  # NUL: PostgreSQL refuses it in text
    "\r",
    "\n",
    "\r\n",
    "\t",
    "\x0b",
    "\x1b",
    "\x7f",
    "\x85",  # C1: next line
    "\x9b",  # C1: control sequence introducer
    "\u2028",  # line separator
    "\u202e",  # right-to-left override
    "\u200b",  # zero-width space
    "\ufeff",  # byte-order mark
    "\ufffd",
    "\ud800",  # a lone surrogate: not encodable as UTF-8
    "\udfff",
    "\U0001f3f3\ufe0f\u200d\U0001f308",  # an emoji sequence
    "e\u0301",  # a combining accent
    "\U000e0001",  # a language tag
    "%00",
    "²",  # a digit to str.isdigit, not to int
    "١٢",  # Arabic-Indic twelve
    "&#0;",
    "<script>",
]
any_character = st.characters(exclude_categories=())  # surrogates included
arbitrary = st.one_of(
    st.text(any_character, max_size=30),
    st.sampled_from(AWKWARD),
    st.builds(
        lambda c, n: c * n,
        st.sampled_from(["x", "é", "\U0001f600", " ", "9"]),
        st.integers(250, 70_000),
    ),
)


# A path segment: clients refuse URLs over 64 KiB before sending, so shorter overlong ones.
arbitrary_segment = st.one_of(
    st.text(any_character, max_size=30),
    st.sampled_from(AWKWARD),
    st.builds(lambda c, n: c * n, st.sampled_from(["x", "é"]), st.integers(250, 3000)),
)


def spoil(base: str, draw: st.DataObject, *, segment: bool = False) -> str:
    """`base` with something awkward in it, or wholly replaced."""
    how = draw.draw(st.sampled_from(["replace", "insert", "append"]), label="how")
    if how == "replace" or not base:
        return draw.draw(arbitrary_segment if segment else arbitrary, label="text")
    awkward = draw.draw(
        st.one_of(st.sampled_from(AWKWARD), st.text(any_character, min_size=1, max_size=3)),
        label="awkward",
    )
    if how == "append":
        return base + awkward
    at = pick(draw, len(base) + 1, "at")
    return base[:at] + awkward + base[at:]


def pick(draw: st.DataObject, how_many: int, label: str) -> int:
    """An index below `how_many`, drawn the same way whatever `how_many` is: the examples
    replay although ids and the stored values they start from differ between runs."""
    return draw.draw(st.integers(0, 10_000), label=label) * how_many // 10_001


def form_body(fields: dict[str, str]) -> bytes:
    """URL-encoded as a client that does not check its text would send it: a lone
    surrogate goes as the bytes UTF-8 would give it (invalid UTF-8)."""
    return "&".join(
        f"{quote(k)}={quote(v.encode('utf-8', 'surrogatepass'), safe='')}"
        for k, v in fields.items()
    ).encode()


def multipart_body(fields: dict[str, str], boundary: str) -> bytes:
    parts = []
    for name, value in fields.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
            + value.encode("utf-8", "surrogatepass")
            + b"\r\n"
        )
    return b"".join(parts) + f"--{boundary}--\r\n".encode()


# The world each case starts from


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url, admin_emails=LEAD, webhook_allow_private_networks=True)


@dataclass
class World:
    """What the cases post to, made on demand and kept for the test's examples."""

    app: Starlette
    stack: AsyncExitStack
    made: dict[str, Any] = field(default_factory=dict)
    count: int = 0

    @property
    def store(self) -> Store:
        return services_of(self.app).store

    def next(self) -> int:
        self.count += 1
        return self.count

    async def client(self) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=self.app)
        return await self.stack.enter_async_context(
            httpx.AsyncClient(transport=transport, base_url="http://testserver")
        )

    async def once(self, name: str, make: Callable[[], Awaitable[Any]]) -> Any:
        if name not in self.made:
            self.made[name] = await make()
        return self.made[name]

    def sign(self, value: int, namespace: str) -> str:
        token: str = services_of(self.app).signer.sign(value, namespace)
        return token

    # People

    async def anyone(self) -> httpx.AsyncClient:
        return await self.once("anyone", self.client)

    async def new_lead_session(self) -> httpx.AsyncClient:
        await self.lead()  # the lead's account exists
        c = await self.client()
        await lead_sign_in(c, self.store, LEAD)
        return c

    async def lead(self) -> httpx.AsyncClient:
        async def make() -> httpx.AsyncClient:
            await self.lead_account()
            c = await self.client()
            await lead_sign_in(c, self.store, LEAD)
            return c

        return await self.once("lead", make)

    async def lead_account(self) -> tuple[Lead, str]:
        return await self.once("lead_account", lambda: make_lead(self.store, LEAD))

    async def lead_key(self) -> str:
        return (await self.lead_account())[1]

    async def new_resident_session(self) -> tuple[httpx.AsyncClient, str, int]:
        """A resident with a confirmed pledge on the open campaign, signed in to "me"."""
        i = 1000 + self.next()
        pledge_id = await make_confirmed_pledge(self.store, await self.open_slug(), i)
        c = await self.client()
        email = pledge_data(i)["email"]
        await resident_sign_in(c, self.store, email)
        return c, email, pledge_id

    async def resident(self) -> httpx.AsyncClient:
        async def make() -> httpx.AsyncClient:
            return (await self.new_resident_session())[0]

        return await self.once("resident", make)

    async def organisation_account(self) -> tuple[Organisation, str]:
        return await self.once("org_account", lambda: covering_provider(self.store, "FibreCo"))

    async def organisation_key(self) -> str:
        return (await self.organisation_account())[1]

    async def organisation(self) -> httpx.AsyncClient:
        async def make() -> httpx.AsyncClient:
            return await self.new_organisation_session()

        return await self.once("org", make)

    async def new_organisation_session(self) -> httpx.AsyncClient:
        c = await self.client()
        signed_in = await organisation_sign_in(c, await self.organisation_key())
        assert signed_in.status_code == 303, signed_in.text
        return c

    # Campaigns

    async def new_campaign(self, **overrides: Any) -> Campaign:
        lead, _ = await self.lead_account()
        return await make_campaign(self.store, lead, **overrides)

    async def open_slug(self) -> str:
        async def make() -> str:
            return (await self.new_campaign(target=50)).slug

        return await self.once("open", make)

    async def draft_slug(self) -> str:
        async def make() -> str:
            return (await self.new_campaign(draft=True)).slug

        return await self.once("draft", make)

    async def new_pledge(self, slug: str | None = None) -> int:
        [pledge_id] = await make_pending_pledges(
            self.store, slug or await self.open_slug(), 1, start=2000 + self.next()
        )
        return pledge_id

    async def tipped(self) -> Campaign:
        """A tipped campaign of the lead's that the organisation covers, with its offer."""

        async def make() -> tuple[Campaign, Offer]:
            campaign = await self.new_campaign(target=2)
            for i in range(2):
                await make_confirmed_pledge(self.store, campaign.slug, 3000 + i)
            campaign = await get_campaign(self.store.database, campaign.slug)
            org, _ = await self.organisation_account()
            offer = await post_offer(self.store, campaign, org.id, parse_offer(offer_data()))
            return campaign, offer

        return (await self.once("tipped", make))[0]

    async def new_tipped(self) -> Campaign:
        """A tipped campaign of the lead's with the organisation's offer on it."""
        campaign = await self.new_campaign(target=2)
        for i in range(2):
            await make_confirmed_pledge(self.store, campaign.slug, 3000 + i)
        campaign = await get_campaign(self.store.database, campaign.slug)
        org, _ = await self.organisation_account()
        await post_offer(self.store, campaign, org.id, parse_offer(offer_data()))
        return campaign

    async def offer(self) -> Offer:
        await self.tipped()
        return self.made["tipped"][1]

    async def choosing(self) -> tuple[Campaign, int]:
        """A campaign whose choice round is open, and a pledge that may choose."""

        async def make() -> tuple[Campaign, int]:
            delivered = await make_delivered_campaign(self.store, closed=False)
            return delivered.campaign, delivered.choosers[0]

        return await self.once("choosing", make)

    async def delivered(self) -> Delivered:
        async def make() -> Delivered:
            return await make_delivered_campaign(self.store)

        return await self.once("delivered", make)


# A form as a browser reads it


@dataclass(frozen=True)
class Form:
    """Who posts a form, the page it is read from (None: post `fill` as it is, for a form
    only a page this test cannot reach shows), where it posts to, and what a person types
    into the fields the page leaves empty."""

    client: httpx.AsyncClient
    page: str | None
    action: str
    fill: dict[str, str] = field(default_factory=dict)


@dataclass
class ReadForm:
    fields: dict[str, str]  # what the browser would send, the CSRF token included
    names: list[str]  # every field a request could carry (unchecked boxes too)
    multipart: bool
    typed: set[str] = field(default_factory=set)  # fields a person types into


# Inputs a person types into: a message about one goes beside it. (A button's, a hidden
# field's or a choice's value is the page's own; any 4xx that changes nothing will do.)
TYPED = {"text", "email", "search", "tel", "url", "number", "date", "password", "textarea"}


def read_form(page: Page, action: str, page_path: str = "") -> ReadForm:
    """The fields of the page's first form posting to `action` (a form without an action
    posts to its own page, `page_path`)."""
    forms = [e for e in page.find_all("form") if e.attrs.get("action", page_path) == action]
    assert forms, f"no form posting to {action}"
    form = forms[0]
    fields: dict[str, str] = {}
    names: list[str] = []
    button: tuple[str, str] | None = None
    typed: set[str] = set()
    inside = [e for e in page.elements if form in e.ancestors]
    for e in inside:
        name = e.attrs.get("name")
        if not name or e.tag not in ("input", "textarea", "select", "button"):
            continue
        if name not in names:
            names.append(name)
        kind = e.attrs.get("type", "text" if e.tag == "input" else e.tag)
        if kind in TYPED:
            typed.add(name)
        if e.tag == "button" or kind == "submit":
            button = button or (name, e.attrs.get("value", ""))
        elif kind in ("checkbox", "radio"):
            if "checked" in e.attrs:
                fields.setdefault(name, e.attrs.get("value", "on"))
        elif e.tag == "textarea":
            fields[name] = e.text.removeprefix("\n")
        elif e.tag == "select":
            options = [o for o in inside if o.tag == "option" and e in o.ancestors]
            chosen = [o for o in options if "selected" in o.attrs] or options[:1]
            fields[name] = (chosen[0].attrs.get("value", chosen[0].words)) if chosen else ""
        elif kind != "file":
            fields[name] = e.attrs.get("value", "")
    if button and button[0] not in fields:
        fields[button[0]] = button[1]
    multipart = form.attrs.get("enctype") == "multipart/form-data"
    return ReadForm(fields, names, multipart, typed)


def marks_field(page: Page, name: str) -> bool:
    """The field is shown as wrong: it is aria-invalid, or it (or the group it is in) is
    described by an error message on the page."""
    ids = page.ids
    for e in page.elements:
        if e.attrs.get("name") != name:
            continue
        if e.attrs.get("aria-invalid") == "true":
            return True
        for holder in (e, *e.ancestors):
            described = holder.attrs.get("aria-describedby", "").split()
            if any(d.endswith("-error") and d in ids for d in described):
                return True
    return False


async def stored(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    async with store.read():  # one connection for every table (SQLite opens one a query)
        return await table_snapshot(store)


def page_or_none(response: httpx.Response) -> Page | None:
    if response.headers.get("content-type", "").startswith("text/html"):
        return Page(response.text)
    return None


async def post_form(form: Form, fields: dict[str, str], multipart: bool) -> httpx.Response:
    if multipart:
        boundary = "groundswell-property-test"
        return await form.client.post(
            form.action,
            content=multipart_body(fields, boundary),
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
    return await form.client.post(
        form.action,
        content=form_body(fields),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )


async def check_one_form(world: World, route: str, form: Form, draw: st.DataObject) -> None:
    if form.page is None:
        read = ReadForm(dict(form.fill), list(form.fill), multipart=False, typed=set(form.fill))
        read.fields.setdefault("csrf_token", await csrf_of_session(form.client))
    else:
        shown = await form.client.get(form.page)
        assert shown.status_code == 200, (form.page, shown.status_code)
        read = read_form(Page(shown.text), form.action, urlsplit(form.page).path)
        read.fields.update(form.fill)
        read.names += [n for n in form.fill if n not in read.names]
    names = [n for n in read.names if n != "csrf_token"]
    path_names = [n for n, v in path_parameters(route, form.action).items()]
    choices = names + [f"path:{n}" for n in path_names]
    if not choices:
        return  # nothing a person or a client could type: covered by the CSRF tests
    name = choices[pick(draw, len(choices), "field")]
    fields = dict(read.fields)
    action = form.action
    if name.startswith("path:"):
        param = name.removeprefix("path:")
        value = spoil(path_parameters(route, form.action)[param], draw, segment=True)
        action = replace_path_parameter(route, form.action, param, value)
    else:
        fields[name] = spoil(fields.get(name, ""), draw)
    before = await stored(world.store)
    answer = await post_form(
        Form(form.client, form.page, action, form.fill), fields, read.multipart
    )
    assert answer.status_code < 500, (route, name, answer.status_code, answer.text[:2000])
    if answer.status_code < 400:
        return
    assert await stored(world.store) == before, (route, name, answer.status_code)
    assert answer.status_code != 403, (route, name, answer.text[:2000])  # the token was good
    if answer.status_code == 422 and name in read.typed:
        page = page_or_none(answer)
        assert page is not None, (route, name, answer.text[:2000])
        if read.fields.get(name) and fields[name].strip():
            assert marks_field(page, name), (route, name, fields[name][:100], said_wrong(page))
        else:  # an empty field filled, or a filled one emptied, may make another wrong (a
            # voucher without prices; a paper pledge without an email needs the box ticked)
            assert said_wrong(page), (route, name, fields[name][:100])


def said_wrong(page: Page) -> list[tuple[str, str]]:
    """The messages a page puts beside fields, by their ids."""
    return [
        (e.attrs["id"], e.words) for e in page.elements if e.attrs.get("id", "").endswith("-error")
    ]


async def public_csrf(world: World) -> str:
    return await csrf_of_session(await world.anyone())


async def csrf_of_session(client: httpx.AsyncClient) -> str:
    """The token of the client's forms (its session's, or the public one), from any form."""
    page = Page((await client.get("/lead/sign-in")).text)
    token = page.find("input", name="csrf_token")
    assert token is not None
    return token.attrs["value"]


PARAMETER = re.compile(r"\{(\w+)(?::\w+)?\}")


def path_parameters(route: str, url: str) -> dict[str, str]:
    """The values `url` gives the route's path parameters."""
    pattern = PARAMETER.sub(lambda m: f"(?P<{m.group(1)}>[^/]+)", "^" + route + "$")
    found = re.match(pattern, urlsplit(url).path)
    assert found, (route, url)
    return found.groupdict()


def replace_path_parameter(route: str, url: str, param: str, value: str) -> str:
    values = path_parameters(route, url)
    values[param] = quote(value.encode("utf-8", "surrogatepass"), safe="")
    path = PARAMETER.sub(lambda m: values[m.group(1)], route)
    query = urlsplit(url).query
    return path + (f"?{query}" if query else "")


# Every form, as (the route, how to reach its form)


def tomorrow_plus(days: int) -> str:
    return (utcnow().date() + timedelta(days=days)).isoformat()


async def pledge_form(w: World) -> Form:
    slug = await w.open_slug()
    person = pledge_data(w.next() + 100)
    return Form(
        await w.anyone(),
        f"/c/{slug}",
        f"/c/{slug}/pledge",
        {"name": person["name"], "email": person["email"], "postcode": person["postcode"]},
    )


async def withdraw_form(w: World) -> Form:
    token = w.sign(await w.new_pledge(), "pledge-withdraw")
    return Form(await w.anyone(), f"/pledges/withdraw?token={token}", "/pledges/withdraw")


async def unsubscribe_form(w: World) -> Form:
    token = w.sign(await w.new_pledge(), "unsubscribe")
    return Form(await w.anyone(), f"/unsubscribe?token={token}", "/unsubscribe")


async def card_form(w: World) -> Form:  # money pledges: this site has no Stripe keys
    return Form(await w.anyone(), None, "/pledges/card", {"token": w.sign(1, "pledge-card")})


async def pay_form(w: World) -> Form:
    token = w.sign(await w.new_pledge(), "pledge-pay")
    return Form(await w.anyone(), None, f"/pay/{token}", {})


async def lead_sign_in_form(w: World) -> Form:
    return Form(await w.client(), "/lead/sign-in", "/lead/sign-in", {"email": LEAD})


async def resident_sign_in_form(w: World) -> Form:
    return Form(await w.client(), "/me/sign-in", "/me/sign-in", {"email": RESIDENT})


async def emailed_token(w: World, kind: str, pattern: str) -> str:
    body = await w.store.database.fetch_val(
        sa.select(emails.c.text_body).where(emails.c.kind == kind).order_by(emails.c.id.desc())
    )
    found = re.search(pattern, body or "")
    assert found, body
    return found.group(1)


async def sign_in_limits_passed(w: World) -> None:
    """Each example asks for a new sign-in link for one address: move the links already
    asked for out of the hour the per-address and per-client limits count (no sleeping)."""
    await w.store.database.execute(
        sa.update(magic_links).values(created_at=utcnow() - timedelta(hours=2))
    )


async def lead_confirm_form(w: World) -> Form:
    await w.lead_account()
    await sign_in_limits_passed(w)
    c = await w.client()
    asked = await c.post("/lead/sign-in", data={"csrf_token": await public_csrf(w), "email": LEAD})
    assert asked.status_code == 200
    token = await emailed_token(w, "sign_in_lead", r"/lead/sign-in/confirm\?token=(\S+)")
    return Form(c, f"/lead/sign-in/confirm?token={token}", "/lead/sign-in/confirm")


async def resident_confirm_form(w: World) -> Form:
    slug = await w.open_slug()
    await w.once("resident1", lambda: make_confirmed_pledge(w.store, slug, 1))  # RESIDENT's
    await sign_in_limits_passed(w)
    c = await w.client()
    asked = await c.post(
        "/me/sign-in", data={"csrf_token": await public_csrf(w), "email": RESIDENT}
    )
    assert asked.status_code == 200
    token = await emailed_token(w, "sign_in_resident", r"/me/sign-in/confirm\?token=(\S+)")
    return Form(c, f"/me/sign-in/confirm?token={token}", "/me/sign-in/confirm")


async def sign_out_form(w: World) -> Form:
    return Form(await w.new_lead_session(), "/lead", "/sign-out")


async def org_sign_in_form(w: World) -> Form:
    return Form(
        await w.client(), "/org/sign-in", "/org/sign-in", {"api_key": await w.organisation_key()}
    )


async def org_sign_out_form(w: World) -> Form:
    return Form(await w.new_organisation_session(), "/org/endpoints", "/org/sign-out")


async def respond_form(w: World) -> Form:
    slug = (await w.tipped()).slug
    return Form(
        await w.organisation(),
        f"/org/campaigns/{slug}/respond",
        f"/org/campaigns/{slug}/respond",
        {"body": "We can build here next spring."},
    )


async def endpoints_form(w: World) -> Form:
    return Form(
        await w.organisation(),
        "/org/endpoints",
        "/org/endpoints",
        {"url": "http://127.0.0.1:9/hooks", "description": "Our receiver"},
    )


async def endpoint_form(w: World) -> Form:
    org = await w.organisation()
    url = f"/org/endpoints/{await endpoint_id(w)}"
    return Form(org, url, url)


async def offers_form(w: World) -> Form:
    slug = (await w.tipped()).slug
    return Form(
        await w.organisation(),
        f"/org/campaigns/{slug}/offers",
        f"/org/campaigns/{slug}/offers",
        {
            "title": "Fibre 500",
            "description": "500 Mb/s both ways.",
            "price": "25.00",
            "social_tariff_kind": "none",
            "no_social_tariff": "We have no social tariff here yet.",
        },
    )


async def offer_form(w: World) -> Form:
    slug = (await w.tipped()).slug
    offer = await w.offer()
    url = f"/org/campaigns/{slug}/offers/{offer.public_id}"
    return Form(await w.organisation(), url, url)


async def another_provider_offer(w: World) -> tuple[str, Offer]:
    """A new provider's offer on the tipped campaign (a provider may post three)."""
    org, key = await covering_provider(w.store, f"Provider{w.next()}")
    return key, await post_offer(w.store, await w.tipped(), org.id, parse_offer(offer_data()))


async def offer_withdraw_form(w: World) -> Form:
    slug = (await w.tipped()).slug
    key, offer = await another_provider_offer(w)
    c = await w.client()
    assert (await organisation_sign_in(c, key)).status_code == 303
    return Form(
        c,
        f"/org/campaigns/{slug}/offers",
        f"/org/campaigns/{slug}/offers/{offer.public_id}/withdraw",
    )


async def provider_delivery_form(w: World) -> Form:
    delivered = await w.delivered()
    c = await w.client()
    assert (await organisation_sign_in(c, delivered.provider_key)).status_code == 303
    url = f"/org/campaigns/{delivered.campaign.slug}/delivery"
    return Form(c, url, url, {"title": "Survey every street", "due_on": tomorrow_plus(60)})


async def provider_change_form(w: World) -> Form:
    delivered = await w.delivered()
    c = await w.client()
    assert (await organisation_sign_in(c, delivered.provider_key)).status_code == 303
    url = f"/org/campaigns/{delivered.campaign.slug}/delivery"
    return Form(c, url, f"{url}/{await new_milestone(w, delivered)}")


async def provider_delivery_form_with_room(w: World) -> Form:
    await make_room_for_milestones(w, await w.delivered())
    return await provider_delivery_form(w)


async def served_form(w: World) -> Form:
    delivered = await w.delivered()
    token = w.sign(delivered.choosers[0], "offer-choice")
    return Form(await w.anyone(), None, "/choices/served", {"token": token})


async def choose_form(w: World) -> Form:
    _, pledge_id = await w.choosing()
    token = w.sign(pledge_id, "offer-choice")
    return Form(await w.anyone(), f"/choose?token={token}", "/choose")


async def new_campaign_form(w: World) -> Form:
    n = w.next()
    return Form(  # a slug of its own: one made from the title would be wrong when it is
        await w.lead(),
        "/lead/campaigns/new",
        "/lead/campaigns/new",
        {
            "title": f"Full fibre for Cardigan Road {n}",
            "summary": "Gigabit broadband for every house on the road.",
            "description": "Openreach has no plans for us.",
            "category": "broadband",
            "area_name": "Cardigan Road",
            "postcode_districts": "LS6",
            "target": "40",
            "deadline": tomorrow_plus(30),
            "slug": f"fuzz-campaign-{n}",
            "action": "draft",
        },
    )


async def edit_form(w: World) -> Form:
    slug = (await w.new_campaign(draft=True)).slug  # an edit may change its slug
    url = f"/lead/campaigns/{slug}/edit"
    return Form(await w.lead(), url, url)


async def publish_form(w: World) -> Form:
    slug = (await w.new_campaign(draft=True)).slug
    return Form(await w.lead(), f"/lead/campaigns/{slug}", f"/lead/campaigns/{slug}/publish")


async def cancel_form(w: World) -> Form:
    slug = (await w.new_campaign(draft=True)).slug
    url = f"/lead/campaigns/{slug}/cancel"
    return Form(await w.lead(), url, url)


async def paper_pledge_form(w: World) -> Form:
    slug = await w.open_slug()
    person = pledge_data(w.next() + 500)
    return Form(
        await w.lead(),
        f"/lead/campaigns/{slug}",
        f"/lead/campaigns/{slug}/paper-pledges",
        {
            "name": person["name"],
            "email": person["email"],
            "postcode": person["postcode"],
            "consent": "on",
        },
    )


async def update_form(w: World) -> Form:
    slug = await w.open_slug()
    return Form(
        await w.lead(),
        f"/lead/campaigns/{slug}",
        f"/lead/campaigns/{slug}/updates",
        {"title": "News from the street", "body": "Forty of us now."},
    )


async def lead_refund_form(w: World) -> Form:  # money pledges: this site has no Stripe keys
    slug = await w.open_slug()
    return Form(await w.lead(), None, f"/lead/campaigns/{slug}/refunds", {"pledge_id": "1"})


async def letters_form(w: World) -> Form:
    slug = await w.open_slug()
    return Form(await w.lead(), None, f"/lead/campaigns/{slug}/letters", {})


async def verify_form(w: World) -> Form:
    slug = await w.open_slug()
    return Form(
        await w.anyone(),
        None,
        f"/c/{slug}/verify",
        {"postcode": "LS6 1AB", "address_line": "12 Brudenell Road", "code": "ABCD-EFGH"},
    )


async def premises_form(w: World) -> Form:
    slug = (
        await w.new_campaign(draft=True, counts="households", target=None, coverage_target=50)
    ).slug
    url = f"/lead/campaigns/{slug}/premises"
    return Form(
        await w.lead(),
        url,
        url,
        {"premises_csv": "address_line,postcode\n12 Brudenell Road,LS6 1AB\n"},
    )


async def premises_review_form(w: World) -> Form:
    slug = (
        await w.new_campaign(draft=True, counts="households", target=None, coverage_target=50)
    ).slug
    url = f"/lead/campaigns/{slug}/premises/review"
    return Form(await w.lead(), None, url, {"household_id": "1", "action": "add"})


async def told_form(w: World) -> Form:
    slug = await w.open_slug()
    return Form(await w.lead(), None, f"/lead/campaigns/{slug}/to-tell/told", {"note": "1"})


async def erase_recorded_form(w: World) -> Form:
    slug = await w.open_slug()
    pledge_id = await w.new_pledge(slug)
    return Form(await w.lead(), None, f"/lead/campaigns/{slug}/recorded/{pledge_id}/erase", {})


async def open_choice_form(w: World) -> Form:
    slug = (await w.new_tipped()).slug  # a round opens once
    url = f"/lead/campaigns/{slug}/choice/open"
    return Form(await w.lead(), None, url, {"closes_at": tomorrow_plus(10)})


async def record_choice_form(w: World) -> Form:
    campaign, pledge_id = await w.choosing()
    return Form(
        await w.lead(),
        None,
        f"/lead/campaigns/{campaign.slug}/choice/recorded/{pledge_id}",
        {"offer": "none"},
    )


async def admin_refund_form(w: World) -> Form:
    return Form(await w.lead(), "/admin/refund", "/admin/refund", {"pledge_id": "1"})


async def admin_invalidate_form(w: World) -> Form:
    await w.open_slug()
    return Form(await w.lead(), "/admin/invalidate", "/admin/invalidate", {"ip": "203.0.113.9"})


async def admin_hide_form(w: World) -> Form:
    slug = (await w.new_campaign()).slug
    return Form(await w.lead(), "/admin", f"/admin/campaigns/{slug}/hide")


async def my_withdraw_form(w: World) -> Form:
    c, _, pledge_id = await w.new_resident_session()
    return Form(c, "/me", f"/me/pledges/{pledge_id}/withdraw")


async def erase_form(w: World) -> Form:
    c, _, _ = await w.new_resident_session()
    return Form(c, "/me/erase", "/me/erase")


async def stripe_webhook_form(w: World) -> Form:  # Stripe's posts, signed; not a person's
    return Form(await w.anyone(), None, "/stripe/webhook", {"type": "checkout.session.completed"})


async def dev_webhook_form(w: World) -> Form:  # the demo's receiver of its own webhooks
    return Form(await w.anyone(), None, "/dev/webhooks/demo", {"type": "webhook.test"})


async def confirm_form(w: World) -> Form:
    token = w.sign(await w.new_pledge(), "pledge-confirm")
    return Form(await w.anyone(), f"/pledges/confirm?token={token}", "/pledges/confirm")


async def report_form(w: World) -> Form:
    slug = await w.open_slug()
    return Form(await w.anyone(), f"/c/{slug}/report", f"/c/{slug}/report", {"reason": "spam"})


async def admin_report_form(w: World) -> Form:
    slug = await w.open_slug()
    report_id = await file_report(
        w.store, slug, parse_report({"reason": "spam"}), ip=None, limit=()
    )
    return Form(await w.lead(), "/admin/reports", f"/admin/reports/{report_id}/dismiss")


async def admin_review_form(w: World) -> Form:
    lead, _ = await w.lead_account()
    draft = await make_campaign(w.store, lead, draft=True)
    await open_campaign(w.store, draft.slug, lead.id, moderation="pre")
    return Form(await w.lead(), "/admin/moderation", f"/admin/moderation/{draft.slug}/approve")


async def admin_organisation_form(w: World) -> Form:
    organisation, _ = await w.organisation_account()
    return Form(
        await w.lead(),
        "/admin/organisations",
        f"/admin/organisations/{organisation.id}/approve",
    )


FORMS: dict[str, Callable[[World], Awaitable[Form]]] = {
    "/pledges/confirm": confirm_form,
    "/c/{slug}/report": report_form,
    "/admin/reports/{report_id:int}/{action:str}": admin_report_form,
    "/admin/moderation/{slug}/{action:str}": admin_review_form,
    "/admin/organisations/{id:int}/{action:str}": admin_organisation_form,
    "/stripe/webhook": stripe_webhook_form,
    "/dev/webhooks/{name}": dev_webhook_form,
    "/c/{slug}/pledge": pledge_form,
    "/pledges/withdraw": withdraw_form,
    "/unsubscribe": unsubscribe_form,
    "/pledges/card": card_form,
    "/pay/{token}": pay_form,
    "/org/sign-in": org_sign_in_form,
    "/org/sign-out": org_sign_out_form,
    "/org/campaigns/{slug}/respond": respond_form,
    "/org/endpoints": endpoints_form,
    "/org/endpoints/{id}": endpoint_form,
    "/org/campaigns/{slug}/offers": offers_form,
    "/org/campaigns/{slug}/offers/{offer_id}": offer_form,
    "/org/campaigns/{slug}/offers/{offer_id}/withdraw": offer_withdraw_form,
    "/lead/sign-in": lead_sign_in_form,
    "/lead/sign-in/confirm": lead_confirm_form,
    "/me/sign-in": resident_sign_in_form,
    "/me/sign-in/confirm": resident_confirm_form,
    "/sign-out": sign_out_form,
    "/admin/refund": admin_refund_form,
    "/admin/campaigns/{slug}/{action:str}": admin_hide_form,
    "/admin/invalidate": admin_invalidate_form,
    "/me/pledges/{pledge_id:int}/withdraw": my_withdraw_form,
    "/me/erase": erase_form,
    "/lead/campaigns/{slug}/premises": premises_form,
    "/lead/campaigns/{slug}/premises/review": premises_review_form,
    "/lead/campaigns/new": new_campaign_form,
    "/lead/campaigns/{slug}/edit": edit_form,
    "/lead/campaigns/{slug}/publish": publish_form,
    "/lead/campaigns/{slug}/cancel": cancel_form,
    "/lead/campaigns/{slug}/paper-pledges": paper_pledge_form,
    "/lead/campaigns/{slug}/updates": update_form,
    "/lead/campaigns/{slug}/refunds": lead_refund_form,
    "/lead/campaigns/{slug}/letters": letters_form,
    "/c/{slug}/verify": verify_form,
    "/lead/campaigns/{slug}/to-tell/told": told_form,
    "/lead/campaigns/{slug}/recorded/{pledge_id}/erase": erase_recorded_form,
    "/org/campaigns/{slug}/delivery": provider_delivery_form_with_room,
    "/org/campaigns/{slug}/delivery/{id}": provider_change_form,
    "/choices/served": served_form,
    "/lead/campaigns/{slug}/choice/open": open_choice_form,
    "/lead/campaigns/{slug}/choice/recorded/{pledge_id}": record_choice_form,
    "/choose": choose_form,
}


# The API's writes, as (method and route, how to make a valid call)


@dataclass(frozen=True)
class Call:
    url: str
    headers: dict[str, str]
    body: Any = None  # None: no body


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def as_lead(w: World) -> dict[str, str]:
    return bearer(await w.lead_key())


async def as_organisation(w: World) -> dict[str, str]:
    return bearer(await w.organisation_key())


async def endpoint_id(w: World) -> str:
    await w.organisation_key()
    row = await w.store.database.fetch_val(sa.select(sa.func.min(webhook_endpoints.c.public_id)))
    return str(row)


API: dict[str, Callable[[World], Awaitable[Call]]] = {}


def api(
    route: str,
) -> Callable[[Callable[[World], Awaitable[Call]]], Callable[[World], Awaitable[Call]]]:
    def add(make: Callable[[World], Awaitable[Call]]) -> Callable[[World], Awaitable[Call]]:
        API[route] = make
        return make

    return add


@api("POST /api/v1/campaigns")
async def _create(w: World) -> Call:
    data = campaign_data(slug=f"fuzz-{w.next()}", draft=True)
    return Call("/api/v1/campaigns", await as_lead(w), data)


@api("PATCH /api/v1/campaigns/{slug}")
async def _edit(w: World) -> Call:
    data = campaign_data()
    del data["slug"], data["deadline"]
    return Call(f"/api/v1/campaigns/{await w.draft_slug()}", await as_lead(w), data)


@api("POST /api/v1/campaigns/{slug}/publish")
async def _publish(w: World) -> Call:
    slug = (await w.new_campaign(draft=True)).slug
    return Call(f"/api/v1/campaigns/{slug}/publish", await as_lead(w))


@api("POST /api/v1/campaigns/{slug}/cancel")
async def _cancel(w: World) -> Call:
    slug = (await w.new_campaign(draft=True)).slug
    return Call(f"/api/v1/campaigns/{slug}/cancel", await as_lead(w))


@api("POST /api/v1/campaigns/{slug}/pledges")
async def _pledge(w: World) -> Call:
    return Call(f"/api/v1/campaigns/{await w.open_slug()}/pledges", {}, pledge_data(w.next() + 700))


@api("POST /api/v1/campaigns/{slug}/updates")
async def _update(w: World) -> Call:
    return Call(
        f"/api/v1/campaigns/{await w.open_slug()}/updates",
        await as_lead(w),
        {"title": "Halfway there", "body": "Thank you all."},
    )


@api("PUT /api/v1/campaigns/{slug}/premises")
async def _premises(w: World) -> Call:
    slug = (
        await w.new_campaign(draft=True, counts="households", target=None, coverage_target=50)
    ).slug
    return Call(
        f"/api/v1/campaigns/{slug}/premises",
        await as_lead(w),
        [{"address_line": "12 Brudenell Road", "postcode": "LS6 1AB"}],
    )


@api("POST /api/v1/campaigns/{slug}/hand-notes/{id}/told")
async def _told(w: World) -> Call:
    return Call(f"/api/v1/campaigns/{await w.open_slug()}/hand-notes/1/told", await as_lead(w))


@api("POST /api/v1/pledges/confirm")
async def _confirm(w: World) -> Call:
    return Call(
        "/api/v1/pledges/confirm", {}, {"token": w.sign(await w.new_pledge(), "pledge-confirm")}
    )


@api("POST /api/v1/pledges/withdraw")
async def _withdraw(w: World) -> Call:
    token = w.sign(await w.new_pledge(), "pledge-withdraw")
    return Call("/api/v1/pledges/withdraw", {}, {"token": token})


@api("POST /api/v1/webhook-endpoints")
async def _new_endpoint(w: World) -> Call:
    body = {
        "url": "http://127.0.0.1:9/hooks",
        "description": "Our receiver",
        "event_types": ["campaign.tipped"],
        "filters": {"categories": ["broadband"], "postcode_prefixes": ["LS"]},
    }
    return Call("/api/v1/webhook-endpoints", await as_organisation(w), body)


@api("PATCH /api/v1/webhook-endpoints/{id}")
async def _change_endpoint(w: World) -> Call:
    body = {"description": "Our receiver", "url": "http://127.0.0.1:9/other"}
    return Call(f"/api/v1/webhook-endpoints/{await endpoint_id(w)}", await as_organisation(w), body)


@api("DELETE /api/v1/webhook-endpoints/{id}")
async def _delete_endpoint(w: World) -> Call:
    return Call(f"/api/v1/webhook-endpoints/{await endpoint_id(w)}", await as_organisation(w))


@api("POST /api/v1/webhook-endpoints/{id}/rotate-secret")
async def _rotate(w: World) -> Call:
    url = f"/api/v1/webhook-endpoints/{await endpoint_id(w)}/rotate-secret"
    return Call(url, await as_organisation(w))


@api("POST /api/v1/webhook-endpoints/{id}/test")
async def _test_endpoint(w: World) -> Call:
    return Call(f"/api/v1/webhook-endpoints/{await endpoint_id(w)}/test", await as_organisation(w))


@api("POST /api/v1/deliveries/{id}/retry")
async def _retry(w: World) -> Call:
    return Call("/api/v1/deliveries/1/retry", await as_organisation(w))


@api("POST /api/v1/webhook-endpoints/{id}/recover")
async def _recover(w: World) -> Call:
    since = (utcnow() - timedelta(hours=1)).isoformat()
    url = f"/api/v1/webhook-endpoints/{await endpoint_id(w)}/recover"
    return Call(url, await as_organisation(w), {"since": since})


async def new_milestone(w: World, d: Delivered) -> str:
    """A new milestone of the provider's (one marked done changes no more), its record
    cleared first when it nears the limit of 20 so that every example may post."""
    await make_room_for_milestones(w, d)
    added = await (await w.anyone()).post(
        f"/api/v1/campaigns/{d.campaign.slug}/delivery",
        headers=bearer(d.provider_key),
        json={"kind": "survey", "title": "Survey every street", "due_on": tomorrow_plus(60)},
    )
    assert added.status_code == 201, added.text
    return str(added.json()["id"])


async def make_room_for_milestones(w: World, d: Delivered) -> None:
    where = delivery_milestones.c.campaign_id == d.campaign.id
    count = await w.store.database.fetch_val(
        sa.select(sa.func.count()).select_from(delivery_milestones).where(where)
    )
    if int(count) >= 15:
        async with w.store.write() as db:
            await db.execute(sa.delete(delivery_milestones).where(where))


@api("POST /api/v1/campaigns/{slug}/delivery")
async def _milestone(w: World) -> Call:
    d = await w.delivered()
    await make_room_for_milestones(w, d)
    body = {"kind": "survey", "title": "Survey every street", "due_on": tomorrow_plus(60)}
    return Call(f"/api/v1/campaigns/{d.campaign.slug}/delivery", bearer(d.provider_key), body)


@api("PATCH /api/v1/campaigns/{slug}/delivery/{id}")
async def _milestone_change(w: World) -> Call:
    d = await w.delivered()
    url = f"/api/v1/campaigns/{d.campaign.slug}/delivery/{await new_milestone(w, d)}"
    return Call(url, bearer(d.provider_key), {"due_on": tomorrow_plus(90)})


@api("POST /api/v1/campaigns/{slug}/letters")
async def _letters(w: World) -> Call:
    return Call(f"/api/v1/campaigns/{await w.open_slug()}/letters", await as_lead(w))


@api("POST /api/v1/campaigns/{slug}/verify")
async def _verify(w: World) -> Call:
    body = {"postcode": "LS6 1AB", "address_line": "12 Brudenell Road", "code": "BCDF-2345"}
    return Call(f"/api/v1/campaigns/{await w.open_slug()}/verify", {}, body)


@api("POST /api/v1/campaigns/{slug}/responses")
async def _respond(w: World) -> Call:
    slug = (await w.tipped()).slug
    body = {"body": "We can survey in March."}
    return Call(f"/api/v1/campaigns/{slug}/responses", await as_organisation(w), body)


@api("POST /api/v1/campaigns/{slug}/offers")
async def _offer(w: World) -> Call:
    slug = (await w.tipped()).slug
    return Call(f"/api/v1/campaigns/{slug}/offers", await as_organisation(w), offer_data())


@api("PATCH /api/v1/campaigns/{slug}/offers/{offer}")
async def _offer_change(w: World) -> Call:
    slug = (await w.tipped()).slug
    offer = await w.offer()
    body = {"title": "Full fibre 900", "description": "Faster."}
    url = f"/api/v1/campaigns/{slug}/offers/{offer.public_id}"
    return Call(url, await as_organisation(w), body)


@api("POST /api/v1/campaigns/{slug}/offers/{offer}/withdraw")
async def _offer_withdraw(w: World) -> Call:
    campaign = await w.tipped()
    key, offer = await another_provider_offer(w)
    url = f"/api/v1/campaigns/{campaign.slug}/offers/{offer.public_id}/withdraw"
    return Call(url, bearer(key), {"reason": "We cannot build here before 2028."})


@api("POST /api/v1/campaigns/{slug}/choice-round")
async def _choice_round(w: World) -> Call:
    slug = (await w.new_tipped()).slug  # a round opens once
    body = {"closes_at": tomorrow_plus(10)}
    return Call(f"/api/v1/campaigns/{slug}/choice-round", await as_lead(w), body)


@api("POST /api/v1/choices")
async def _choose(w: World) -> Call:
    _, pledge_id = await w.choosing()
    body = {"token": w.sign(pledge_id, "offer-choice"), "offer": "none"}
    return Call("/api/v1/choices", {}, body)


def string_leaves(value: Any, path: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    if isinstance(value, str):
        return [path]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in string_leaves(v, (*path, k))]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in string_leaves(v, (*path, i))]
    return []


def replaced(value: Any, path: tuple[str | int, ...], new: str) -> Any:
    if not path:
        return new
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[path[0]] = replaced(value[path[0]], path[1:], new)  # type: ignore[index]
    return copy


def dotted(path: tuple[str | int, ...]) -> str:
    return ".".join(str(p) for p in path)


async def check_one_call(world: World, route: str, call: Call, draw: st.DataObject) -> None:
    method, template = route.split(" ", 1)
    leaves = string_leaves(call.body) if call.body is not None else []
    params = list(path_parameters(template, call.url))
    choices = [dotted(p) for p in leaves] + [f"path:{p}" for p in params]
    name = choices[pick(draw, len(choices), "field")]
    url, body = call.url, call.body
    if name.startswith("path:"):
        param = name.removeprefix("path:")
        url = replace_path_parameter(
            template,
            call.url,
            param,
            spoil(path_parameters(template, call.url)[param], draw, segment=True),
        )
    else:
        path = leaves[[dotted(p) for p in leaves].index(name)]
        current: Any = call.body
        for step in path:
            current = current[step]
        body = replaced(call.body, path, spoil(current, draw))
    content = None if body is None else json.dumps(body).encode()
    headers = {**call.headers, **({"Content-Type": "application/json"} if content else {})}
    before = await stored(world.store)
    client = await world.anyone()
    answer = await client.request(method, url, content=content, headers=headers)
    assert answer.status_code < 500, (route, name, answer.status_code, answer.text[:2000])
    if answer.status_code < 400:
        return
    assert await stored(world.store) == before, (route, name, answer.status_code)
    assert answer.headers["content-type"] == "application/problem+json", (route, answer.text)
    problem = answer.json()
    if answer.status_code == 422 and not name.startswith("path:"):
        key = [p for p in name.split(".") if not p.isdigit()][-1]
        named = [str(e["field"]) for e in problem.get("errors", [])]
        assert any(key in re.split(r"\W+", n) for n in named), (route, name, named)


# The tests


UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


def write_routes(app: Starlette) -> list[str]:
    """Every route that changes something: "METHOD /api/..." for the API, the path for a
    form (a form only posts)."""
    found = []
    for route in app.routes:
        if not isinstance(route, Route):
            continue
        for method in sorted((route.methods or set()) & UNSAFE):
            found.append(f"{method} {route.path}" if route.path.startswith("/api/") else route.path)
    return found


async def test_every_write_route_has_a_case(app: Starlette) -> None:
    routes = write_routes(app)
    assert len(routes) >= 60
    uncovered = [r for r in routes if r not in API and r not in FORMS]
    assert uncovered == [], f"no case in tests/app/test_text_inputs.py for {uncovered}"
    assert not set(API) - set(routes) and not set(FORMS) - set(routes)


@pytest.fixture
async def world(app: Starlette) -> AsyncIterator[World]:
    async with AsyncExitStack() as stack:
        yield World(app, stack)


@pytest.mark.parametrize("route", sorted(FORMS))
@hypothesis_settings(hypothesis_settings.get_profile(PROFILE))
@given(draw=st.data())
async def test_a_form_answers_any_text_with_a_page_not_an_error(
    world: World, route: str, draw: st.DataObject
) -> None:
    form = await FORMS[route](world)
    await check_one_form(world, route, form, draw)


@pytest.mark.parametrize("route", sorted(API))
@hypothesis_settings(hypothesis_settings.get_profile(PROFILE))
@given(draw=st.data())
async def test_the_api_answers_any_text_with_a_problem_not_an_error(
    world: World, route: str, draw: st.DataObject
) -> None:
    call = await API[route](world)
    await check_one_call(world, route, call, draw)


@pytest.mark.parametrize(
    ("method", "path", "kind"),
    [
        ("POST", "/api/v1/webhook-endpoints/ep_%00/rotate-secret", "application/problem+json"),
        ("DELETE", "/api/v1/webhook-endpoints/ep%0Aone", "application/problem+json"),
        ("GET", "/api/v1/campaigns/fibre%00", "application/problem+json"),
        ("GET", "/c/fibre%00for-all", "text/html"),
        ("POST", "/org/endpoints/ep_%C2%85", "text/html"),
    ],
)
async def test_a_path_with_a_control_character_names_nothing(
    world: World, method: str, path: str, kind: str
) -> None:
    headers = bearer(await world.organisation_key())
    before = await stored(world.store)
    answer = await (await world.anyone()).request(method, path, headers=headers)
    assert answer.status_code == 404, answer.text
    assert answer.headers["content-type"].startswith(kind)
    assert await stored(world.store) == before


# The issue's own examples, by hand: what was accepted before and is refused now


@pytest.mark.parametrize("name", ["Jane\r\nDoe", "Jane\nBcc: all@example.org", "Jane\x1b[2J"])
async def test_a_name_with_a_line_break_is_refused_beside_the_field(
    world: World, name: str
) -> None:
    answer = await refused_form(world, "/c/{slug}/pledge", "name", name)
    assert "Your name must be one line of text" in Page(answer.text).by_id("name-error").words


@pytest.mark.parametrize(
    ("route", "name", "value"),
    [
        ("/lead/campaigns/new", "title", "Fibre\nfor all"),
        ("/lead/campaigns/new", "summary", "Gigabit\x85now"),
        ("/lead/campaigns/{slug}/paper-pledges", "name", "Jo\r\nBloggs"),
        ("/lead/campaigns/{slug}/updates", "title", "News\tnow"),
        ("/org/endpoints", "description", "Ours\x00"),
        ("/org/endpoints", "url", "http://127.0.0.1:9/ho\x1boks"),
        ("/org/campaigns/{slug}/offers", "title", "Fibre\r\n900"),
        ("/lead/sign-in", "email", "\x00lead@example.org"),
        ("/me/sign-in", "email", "resident\x1b@example.org"),
        ("/c/{slug}/pledge", "email", "jo\x00@example.org"),
    ],
)
async def test_a_form_refuses_control_characters_beside_the_field(
    world: World, route: str, name: str, value: str
) -> None:
    await refused_form(world, route, name, value)


async def refused_form(world: World, route: str, name: str, value: str) -> httpx.Response:
    """Post the route's form with `value` in field `name`: a 422 with the message beside
    that field, and nothing stored."""
    form = await FORMS[route](world)
    assert form.page is not None
    shown = Page((await form.client.get(form.page)).text)
    read = read_form(shown, form.action, urlsplit(form.page).path)
    before = await stored(world.store)

    answer = await post_form(form, {**read.fields, **form.fill, name: value}, read.multipart)

    assert answer.status_code == 422, answer.text[:2000]
    assert marks_field(Page(answer.text), name), said_wrong(Page(answer.text))
    assert await stored(world.store) == before
    return answer


@pytest.mark.parametrize(
    ("route", "change"),
    [
        ("POST /api/v1/campaigns/{slug}/pledges", {"name": "Jane\r\nDoe"}),
        ("POST /api/v1/campaigns", {"title": "Fibre\nfor all"}),
        ("POST /api/v1/campaigns", {"summary": "Gigabit\u2028now"}),
        ("POST /api/v1/campaigns/{slug}/updates", {"body": "Bell\x07"}),
        ("POST /api/v1/campaigns/{slug}/offers", {"title": "Fibre\ud800"}),
        ("POST /api/v1/webhook-endpoints", {"url": "http://127.0\x85.0.1:9/hooks"}),
        ("POST /api/v1/webhook-endpoints", {"description": "Ours\ud800"}),
    ],
)
async def test_the_api_refuses_control_characters_naming_the_field(
    world: World, route: str, change: dict[str, str]
) -> None:
    call = await API[route](world)
    before = await stored(world.store)

    answer = await (await world.anyone()).post(
        call.url,
        content=json.dumps({**call.body, **change}).encode(),
        headers={**call.headers, "Content-Type": "application/json"},
    )

    assert answer.status_code == 422, answer.text
    assert [e["field"] for e in answer.json()["errors"]] == list(change)
    assert await stored(world.store) == before


@pytest.mark.parametrize("number", ["²", "9" * 5000, "١٢"], ids=["superscript", "huge", "arabic"])
@pytest.mark.parametrize(
    ("route", "name"),
    [
        ("/lead/campaigns/{slug}/refunds", "pledge_id"),
        ("/admin/refund", "pledge_id"),
        ("/lead/campaigns/{slug}/premises/review", "household_id"),
        ("/org/campaigns/{slug}/offers", "minimum_term_months"),
    ],
)
async def test_a_number_that_is_digits_only_to_isdigit_is_a_4xx(
    world: World, route: str, name: str, number: str
) -> None:
    form = await FORMS[route](world)
    if form.page is None:
        fields = {**form.fill, "csrf_token": await csrf_of_session(form.client)}
    else:
        shown = Page((await form.client.get(form.page)).text)
        fields = {**read_form(shown, form.action, urlsplit(form.page).path).fields, **form.fill}
    before = await stored(world.store)

    answer = await post_form(form, {**fields, name: number}, multipart=False)

    assert 400 <= answer.status_code < 500, answer.text[:2000]
    assert await stored(world.store) == before
