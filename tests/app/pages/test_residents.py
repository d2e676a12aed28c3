"""The HTML pages, as a resident using a browser without JavaScript meets them."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from starlette.applications import Starlette
from starlette.datastructures import Secret

from app.main import create_app
from app.settings import Settings
from pledges.campaigns import Campaign, cancel_campaign, expire_due_campaigns, get_campaign
from pledges.pledging import parse_pledge, record_pledge, withdraw_pledge
from pledges.store import Store
from pledges.tables import pledges
from tests.app.pages.confirming import press_confirm
from tests.conftest import make_settings, table_snapshot
from tests.factories import (
    make_campaign,
    make_cancelled_campaign,
    make_confirmed_pledge,
    make_expired_campaign,
    make_pending_pledges,
    pledge_data,
)

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source"}


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    ancestors: list[Element]
    text: str = ""
    children: list[Element] = field(default_factory=list)

    def has_class(self, name: str) -> bool:
        return name in self.attrs.get("class", "").split()

    def inside(self, class_name: str) -> bool:
        return any(a.has_class(class_name) for a in self.ancestors)

    @property
    def words(self) -> str:
        return " ".join(self.text.split())


class Page(HTMLParser):
    """Just enough of the DOM to check what a resident sees and what a form submits."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[Element] = []
        self._open: list[Element] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: v or "" for k, v in attrs}, list(self._open))
        self.elements.append(element)
        if tag not in VOID:
            self._open.append(element)

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self._open) - 1, -1, -1):
            if self._open[i].tag == tag:
                del self._open[i:]
                break

    def handle_data(self, data: str) -> None:
        for element in self._open:
            element.text += data

    @property
    def words(self) -> str:
        body = self.find("body")
        return body.words if body else ""

    def find(self, tag: str, **attrs: str) -> Element | None:
        found = self.find_all(tag, **attrs)
        return found[0] if found else None

    def find_all(self, tag: str, **attrs: str) -> list[Element]:
        return [
            e
            for e in self.elements
            if e.tag == tag and all(e.attrs.get(k) == v for k, v in attrs.items())
        ]

    def by_id(self, element_id: str) -> Element:
        found = [e for e in self.elements if e.attrs.get("id") == element_id]
        assert len(found) == 1, f"{len(found)} elements with id {element_id!r}"
        return found[0]

    @property
    def ids(self) -> set[str]:
        return {e.attrs["id"] for e in self.elements if "id" in e.attrs}

    def summary_links(self) -> list[str]:
        return [a.attrs["href"] for a in self.find_all("a") if a.inside("error-summary")]

    def form_fields(self, action: str) -> dict[str, str]:
        form = self.find("form", action=action)
        assert form is not None, f"no form posting to {action}"
        return {
            e.attrs["name"]: e.attrs.get("value", "")
            for e in self.elements
            if e.tag == "input" and form in e.ancestors and "name" in e.attrs
        }


def page_of(response: httpx.Response) -> Page:
    assert response.headers["content-type"].startswith("text/html"), response.headers
    return Page(response.text)


def count_text(confirmed: int, target: int) -> str:
    return f"{confirmed} of {target} pledges ({min(100, confirmed * 100 // target)}%)"


async def csrf_for(client: httpx.AsyncClient, slug: str) -> str:
    """What a browser does: load the campaign page and keep the form's hidden token."""
    response = await client.get(f"/c/{slug}")
    assert response.status_code == 200
    token = page_of(response).form_fields(f"/c/{slug}/pledge")["csrf_token"]
    assert token
    return token


def form(i: int = 1, **overrides: str) -> dict[str, str]:
    data = pledge_data(i)
    values = {"name": data["name"], "email": data["email"], "postcode": data["postcode"]}
    values.update(overrides)
    return values


async def pledges_of(store: Store, campaign: Campaign) -> list[dict[str, Any]]:
    rows = await store.database.fetch_all(
        sa.select(pledges.c.name, pledges.c.email, pledges.c.status, pledges.c.source)
        .where(pledges.c.campaign_id == campaign.id)
        .order_by(pledges.c.id)
    )
    return [dict(r._mapping) for r in rows]


@asynccontextmanager
async def nothing_changes(store: Store) -> AsyncIterator[None]:
    before = await table_snapshot(store)
    yield
    assert await table_snapshot(store) == before


def sign(app: Starlette, pledge_id: int, namespace: str) -> str:
    token: str = app.state.services.signer.sign(pledge_id, namespace)
    return token


# Home


async def test_home_lists_public_campaigns(client: httpx.AsyncClient, store: Store) -> None:
    fibre = await make_campaign(store, title="Full fibre for Otley Road")
    bins = await make_campaign(store, title="Weekly bins for Hyde Park", category="waste")
    await make_confirmed_pledge(store, bins.slug, 1)
    await make_campaign(store, title="A secret draft", draft=True)

    response = await client.get("/")

    assert response.status_code == 200
    page = page_of(response)
    assert "Full fibre for Otley Road" in page.words
    assert "Weekly bins for Hyde Park" in page.words
    assert "A secret draft" not in response.text
    links = {a.attrs["href"] for a in page.find_all("a")}
    assert {f"/c/{fibre.slug}", f"/c/{bins.slug}"} <= links
    assert count_text(1, 10) in page.words


async def test_home_with_no_campaigns(client: httpx.AsyncClient) -> None:
    response = await client.get("/")
    assert response.status_code == 200
    assert "No campaigns here yet." in page_of(response).words


@pytest.mark.parametrize("postcode", ["ls6 1ab", "LS61AB", "LS6", " ls6 "])
async def test_home_puts_campaigns_covering_the_postcode_first(
    client: httpx.AsyncClient, store: Store, postcode: str
) -> None:
    await make_campaign(
        store,
        title="Fibre for Headingley",
        area={"name": "Headingley", "postcode_districts": ["LS6"]},
    )
    await make_campaign(
        store, title="Buses for Adel", area={"name": "Adel", "postcode_districts": ["LS16"]}
    )

    response = await client.get("/", params={"postcode": postcode})

    assert response.status_code == 200
    page = page_of(response)
    assert "Campaigns covering LS6" in page.words
    # Nearby first, not a filter: Adel is listed, but under "Other campaigns".
    in_area, others = page.by_id("in-area"), page.by_id("other-campaigns")
    assert "In your area" in in_area.words and "Other campaigns" in others.words
    assert "Fibre for Headingley" in in_area.words
    assert "Buses for Adel" not in in_area.words
    assert "Buses for Adel" in others.words
    assert "Fibre for Headingley" not in others.words
    assert page.words.index("Fibre for Headingley") < page.words.index("Buses for Adel")
    assert page.by_id("postcode").attrs["value"] == postcode.strip()


async def test_home_with_a_postcode_nobody_covers(client: httpx.AsyncClient, store: Store) -> None:
    await make_campaign(store, title="Fibre for Headingley")

    response = await client.get("/", params={"postcode": "SW1A 1AA"})

    page = page_of(response)
    assert "Campaigns covering SW1A" in page.words
    assert "No campaigns here yet." in page.by_id("in-area").words
    assert "Fibre for Headingley" not in page.by_id("in-area").words
    assert "Fibre for Headingley" in page.by_id("other-campaigns").words


@pytest.mark.parametrize("postcode", ["nowhere", "12345", "LS6 1ABCD", "<b>LS6</b>"])
async def test_home_with_a_bad_postcode_says_so(
    client: httpx.AsyncClient, store: Store, postcode: str
) -> None:
    await make_campaign(store, title="Fibre for Headingley")

    response = await client.get("/", params={"postcode": postcode})

    assert response.status_code == 422
    page = page_of(response)
    message = page.by_id("postcode-error")
    assert "Enter a UK postcode, like LS6 1AB" in message.words
    assert page.by_id("postcode").attrs["aria-describedby"] == "postcode-error"
    assert page.by_id("postcode").attrs["value"] == postcode
    assert "<b>LS6</b>" not in response.text  # what was typed comes back escaped


# The campaign page


async def test_campaign_page_shows_progress_and_the_form(
    client: httpx.AsyncClient, store: Store
) -> None:
    campaign = await make_campaign(
        store, title="Full fibre for Otley Road", summary="Gigabit broadband, please.", target=8
    )
    await make_confirmed_pledge(store, campaign.slug, 1)
    await make_confirmed_pledge(store, campaign.slug, 2)
    await make_pending_pledges(store, campaign.slug, 3, start=10)

    response = await client.get(f"/c/{campaign.slug}")

    assert response.status_code == 200
    page = page_of(response)
    assert page.find("h1") is not None and page.find("h1").words == "Full fibre for Otley Road"
    assert "Gigabit broadband, please." in page.words
    assert count_text(2, 8) in page.words  # pending pledges do not count
    fields = page.form_fields(f"/c/{campaign.slug}/pledge")
    visible = {"csrf_token", "name", "email", "postcode", "show_name", "share_contact"}
    assert set(fields) == visible | {"website"}  # website: the honeypot, hidden
    assert fields["csrf_token"]
    for name in ("name", "email", "postcode", "show_name", "share_contact"):
        assert page.find("label", **{"for": name}) is not None, name
    assert page.find("form", action=f"/c/{campaign.slug}/pledge").attrs["method"] == "post"


async def test_campaign_page_shows_only_names_people_chose_to_show(
    client: httpx.AsyncClient, store: Store
) -> None:
    campaign = await make_campaign(store)
    await make_confirmed_pledge(store, campaign.slug, 1, name="Shown Person", show_name=True)
    await make_confirmed_pledge(store, campaign.slug, 2, name="Private Person")
    await record_pledge(
        store,
        campaign.slug,
        parse_pledge(pledge_data(3, name="Unconfirmed Person", show_name=True)),
    )

    page = page_of(await client.get(f"/c/{campaign.slug}"))

    assert "Shown Person" in page.words
    assert "Private Person" not in page.words
    assert "Unconfirmed Person" not in page.words


async def test_a_tipped_campaign_says_so_and_still_takes_pledges(
    client: httpx.AsyncClient, store: Store
) -> None:
    campaign = await make_campaign(store, target=1)
    await make_confirmed_pledge(store, campaign.slug, 1)

    page = page_of(await client.get(f"/c/{campaign.slug}"))

    assert "reached its target" in page.words
    assert count_text(1, 1) in page.words
    assert page.find("form", action=f"/c/{campaign.slug}/pledge") is not None


@pytest.mark.parametrize("state", ["cancelled", "expired"])
async def test_a_closed_campaign_has_no_form(
    client: httpx.AsyncClient, store: Store, state: str
) -> None:
    make = make_cancelled_campaign if state == "cancelled" else make_expired_campaign
    campaign = await make(store, title="Closed campaign")

    response = await client.get(f"/c/{campaign.slug}")

    assert response.status_code == 200
    page = page_of(response)
    assert "Closed campaign" in page.words
    assert page.find("form", action=f"/c/{campaign.slug}/pledge") is None


async def test_draft_and_unknown_campaigns_are_404(client: httpx.AsyncClient, store: Store) -> None:
    draft = await make_campaign(store, title="A secret draft", draft=True)

    for path in (
        f"/c/{draft.slug}",
        f"/c/{draft.slug}/pledged",
        "/c/no-such-campaign",
        "/c/no-such-campaign/pledged",
        "/c/nul%00byte",
    ):
        response = await client.get(path)
        assert response.status_code == 404, path
        assert "A secret draft" not in response.text
        assert "Not found" in page_of(response).words


# Pledging through the form


async def test_a_valid_pledge_redirects_to_check_your_email(
    client: httpx.AsyncClient, store: Store
) -> None:
    campaign = await make_campaign(store, title="Full fibre for Otley Road")
    token = await csrf_for(client, campaign.slug)

    response = await client.post(
        f"/c/{campaign.slug}/pledge",
        data={**form(1, postcode="ls6 1ab"), "show_name": "on", "csrf_token": token},
    )

    assert response.status_code == 303
    assert response.headers["location"] == f"/c/{campaign.slug}/pledged"
    landed = await client.get(response.headers["location"])
    assert landed.status_code == 200
    assert "Check your email" in page_of(landed).words
    assert "Full fibre for Otley Road" in page_of(landed).words
    assert await pledges_of(store, campaign) == [
        {
            "name": "Resident 1",
            "email": "resident1@example.org",
            "status": "pending",
            "source": "web",
        }
    ]
    # Pending until confirmed: the count has not moved.
    assert count_text(0, 10) in page_of(await client.get(f"/c/{campaign.slug}")).words


async def test_pledging_twice_looks_the_same_as_pledging_once(
    client: httpx.AsyncClient, store: Store
) -> None:
    campaign = await make_campaign(store)
    token = await csrf_for(client, campaign.slug)
    url = f"/c/{campaign.slug}/pledge"

    first = await client.post(
        url, data={**form(1, email="jo.bloggs@gmail.com"), "csrf_token": token}
    )
    second = await client.post(
        url, data={**form(2, email="jobloggs+x@gmail.com"), "csrf_token": token}
    )

    assert (first.status_code, first.headers["location"]) == (
        second.status_code,
        second.headers["location"],
    )
    assert len(await pledges_of(store, campaign)) == 1


@pytest.mark.parametrize(
    "csrf",
    [None, "", "forged-token", "x" * 43],
    ids=["absent", "empty", "forged", "same-length"],
)
async def test_a_form_post_without_the_forms_csrf_token_is_refused(
    client: httpx.AsyncClient, store: Store, csrf: str | None
) -> None:
    campaign = await make_campaign(store)
    await csrf_for(client, campaign.slug)  # the page has a token; the post does not match
    data = form(1) if csrf is None else {**form(1), "csrf_token": csrf}

    async with nothing_changes(store):
        response = await client.post(f"/c/{campaign.slug}/pledge", data=data)

    assert response.status_code == 403
    assert "This form has expired or came from another site" in page_of(response).words


@pytest.mark.parametrize(
    ("typed", "messages"),
    [
        ({"name": ""}, {"name": "Enter your name."}),
        ({"name": "x" * 201}, {"name": "Name must be 200 characters or fewer."}),
        ({"email": ""}, {"email": "Enter your email address."}),
        ({"email": "jo at example"}, {"email": "Enter an email address in the right format"}),
        ({"postcode": ""}, {"postcode": "Enter your postcode."}),
        ({"postcode": "LS6"}, {"postcode": "Enter a real UK postcode, like LS6 1AB."}),
        (
            {"name": " ", "email": "nope", "postcode": "nope"},
            {
                "name": "Enter your name.",
                "email": "Enter an email address in the right format",
                "postcode": "Enter a real UK postcode",
            },
        ),
    ],
)
async def test_invalid_input_is_shown_beside_each_field(
    client: httpx.AsyncClient, store: Store, typed: dict[str, str], messages: dict[str, str]
) -> None:
    campaign = await make_campaign(store, title="Full fibre for Otley Road")
    token = await csrf_for(client, campaign.slug)
    data = {**form(1), **typed, "show_name": "on", "csrf_token": token}

    async with nothing_changes(store):
        response = await client.post(f"/c/{campaign.slug}/pledge", data=data)

    assert response.status_code == 422
    page = page_of(response)
    assert "Full fibre for Otley Road" in page.words
    # An error summary at the top, each entry linking to its field.
    assert page.summary_links() == [f"#{name}" for name in messages]
    summary = next(e for e in page.elements if e.has_class("error-summary"))
    assert summary.attrs["role"] == "alert"
    for name, message in messages.items():
        assert message in summary.words
        # The message beside the field, tied to it for screen readers.
        assert message in page.by_id(f"{name}-error").words
        field_input = page.by_id(name)
        assert field_input.tag == "input"
        assert field_input.attrs["aria-invalid"] == "true"
        assert field_input.attrs["aria-describedby"] == f"{name}-error"
    # Fields without a problem carry no error.
    for name in {"name", "email", "postcode"} - set(messages):
        assert f"{name}-error" not in page.ids
        assert "aria-invalid" not in page.by_id(name).attrs
    # What was typed is kept, and the form can be sent again.
    fields = page.form_fields(f"/c/{campaign.slug}/pledge")
    for name in ("name", "email", "postcode"):
        assert fields[name] == data[name]
    assert "checked" in page.by_id("show_name").attrs
    assert "checked" not in page.by_id("share_contact").attrs
    assert fields["csrf_token"] == token


async def test_what_was_typed_comes_back_escaped(client: httpx.AsyncClient, store: Store) -> None:
    campaign = await make_campaign(store)
    token = await csrf_for(client, campaign.slug)
    typed = '"><script>alert(1)</script>'

    response = await client.post(
        f"/c/{campaign.slug}/pledge",
        data={**form(1, name=typed, email="bad"), "csrf_token": token},
    )

    assert response.status_code == 422
    assert "<script>alert(1)</script>" not in response.text
    assert page_of(response).by_id("name").attrs["value"] == typed


@pytest.mark.parametrize("state", ["cancelled", "expired"])
async def test_pledging_on_a_closed_campaign_says_why(
    client: httpx.AsyncClient, store: Store, state: str
) -> None:
    campaign = await make_campaign(store)
    token = await csrf_for(client, campaign.slug)
    if state == "cancelled":
        await cancel_campaign(store, campaign.slug, campaign.lead_id)
    else:
        await expire_due_campaigns(store, now=campaign.deadline)

    async with nothing_changes(store):
        response = await client.post(
            f"/c/{campaign.slug}/pledge", data={**form(1), "csrf_token": token}
        )

    assert response.status_code == 409
    page = page_of(response)
    assert f"This campaign is {state} and is not taking pledges." in page.words
    for link in page.summary_links():
        assert link.removeprefix("#") in page.ids, f"summary link {link} leads nowhere"


async def test_pledging_on_a_draft_is_404(client: httpx.AsyncClient, store: Store) -> None:
    campaign = await make_campaign(store)
    token = await csrf_for(client, campaign.slug)
    draft = await make_campaign(store, draft=True)

    async with nothing_changes(store):
        response = await client.post(
            f"/c/{draft.slug}/pledge", data={**form(1), "csrf_token": token}
        )

    assert response.status_code == 404


# Confirming


async def test_the_confirm_link_asks_for_a_button_and_only_the_button_confirms(
    client: httpx.AsyncClient, store: Store, app: Starlette
) -> None:
    # A mail system that opens every link to check it must not confirm a pledge: the link
    # opens a page, and only pressing its button (a POST with the form's token) confirms.
    campaign = await make_campaign(store, title="Full fibre for Otley Road")
    [pledge_id] = await make_pending_pledges(store, campaign.slug, 1)
    token = sign(app, pledge_id, "pledge-confirm")
    before = await table_snapshot(store)

    for _ in range(3):  # scanners open links more than once, and with HEAD too
        opened = await client.get("/pledges/confirm", params={"token": token})
        assert opened.status_code == 200
        assert (await client.head("/pledges/confirm", params={"token": token})).status_code in (
            200,
            405,
        )
    assert await table_snapshot(store) == before
    page = page_of(opened)
    assert "Press the button to confirm your pledge to Full fibre for Otley Road" in page.words
    assert opened.headers["cache-control"] == "no-store"
    fields = page.form_fields("/pledges/confirm")
    assert fields["token"] == token

    # A post from another site is refused before anything happens.
    refused = await client.post(
        "/pledges/confirm", data=fields, headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert refused.status_code == 403
    assert await table_snapshot(store) == before

    pressed = await client.post("/pledges/confirm", data=fields)
    assert pressed.status_code == 200
    assert "Your pledge is confirmed" in page_of(pressed).words
    assert (await get_campaign(store.database, campaign.slug)).confirmed == 1


async def test_confirm_link_confirms_and_shows_the_count(
    client: httpx.AsyncClient, store: Store, app: Starlette
) -> None:
    campaign = await make_campaign(store, title="Full fibre for Otley Road", target=4)
    await make_confirmed_pledge(store, campaign.slug, 1)
    [pledge_id] = await make_pending_pledges(store, campaign.slug, 1, start=2)
    token = sign(app, pledge_id, "pledge-confirm")

    first = await press_confirm(client, token)
    again = await press_confirm(client, token)

    assert first.status_code == 200
    page = page_of(first)
    assert "Your pledge is confirmed" in page.words
    assert "Full fibre for Otley Road" in page.words
    assert count_text(2, 4) in page.words
    assert again.status_code == 200
    assert "Your pledge was already confirmed" in page_of(again).words
    assert count_text(2, 4) in page_of(again).words
    assert count_text(2, 4) in page_of(await client.get(f"/c/{campaign.slug}")).words


async def test_the_confirmation_that_tips_says_so(
    client: httpx.AsyncClient, store: Store, app: Starlette
) -> None:
    campaign = await make_campaign(store, target=1)
    [pledge_id] = await make_pending_pledges(store, campaign.slug, 1)

    response = await press_confirm(client, sign(app, pledge_id, "pledge-confirm"))

    assert "This campaign has reached its target." in page_of(response).words


class SignedLongAgo(TimestampSigner):
    def get_timestamp(self) -> int:
        return int(time.time()) - 400 * 24 * 3600


def token_of_kind(app: Starlette, pledge_id: int, namespace: str, kind: str) -> str:
    signer = app.state.services.signer
    good = signer.sign(pledge_id, namespace)
    if kind == "tampered":
        value, _, signature = good.rpartition(".")
        return f"{value}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"
    if kind == "expired":
        secret = str(app.state.services.settings.secret_key)
        return URLSafeTimedSerializer(
            secret, salt=f"groundswell.{namespace}", signer=SignedLongAgo
        ).dumps(pledge_id)
    if kind == "wrong-namespace":
        other = "pledge-withdraw" if namespace == "pledge-confirm" else "pledge-confirm"
        return str(signer.sign(pledge_id, other))
    return {"garbage": "not-a-token", "empty": ""}[kind]


@pytest.mark.parametrize("kind", ["tampered", "expired", "wrong-namespace", "garbage", "empty"])
async def test_a_bad_confirm_link_shows_a_400_page(
    client: httpx.AsyncClient, store: Store, app: Starlette, kind: str
) -> None:
    campaign = await make_campaign(store)
    [pledge_id] = await make_pending_pledges(store, campaign.slug, 1)
    token = token_of_kind(app, pledge_id, "pledge-confirm", kind)

    async with nothing_changes(store):
        response = await press_confirm(client, token)

    assert response.status_code == 400
    page = page_of(response)
    assert "There is a problem with this link" in page.words
    expected = "This link has expired." if kind == "expired" else "This link is not valid."
    assert expected in page.words


async def test_a_confirm_link_without_a_token_shows_a_400_page(client: httpx.AsyncClient) -> None:
    response = await client.get("/pledges/confirm")
    assert response.status_code == 400
    assert "There is a problem with this link" in page_of(response).words


async def test_confirming_a_withdrawn_pledge_says_so(
    client: httpx.AsyncClient, store: Store, app: Starlette
) -> None:
    campaign = await make_campaign(store)
    pledge_id = await make_confirmed_pledge(store, campaign.slug, 1)
    await withdraw_pledge(store, pledge_id)

    async with nothing_changes(store):
        response = await press_confirm(client, sign(app, pledge_id, "pledge-confirm"))

    assert response.status_code == 409
    assert "This pledge was withdrawn" in page_of(response).words


# Withdrawing


async def test_withdraw_link_asks_first_and_does_not_withdraw(
    client: httpx.AsyncClient, store: Store, app: Starlette
) -> None:
    campaign = await make_campaign(store, title="Full fibre for Otley Road", target=4)
    pledge_id = await make_confirmed_pledge(store, campaign.slug, 1)
    token = sign(app, pledge_id, "pledge-withdraw")

    async with nothing_changes(store):
        response = await client.get("/pledges/withdraw", params={"token": token})

    assert response.status_code == 200
    page = page_of(response)
    assert "Do you want to withdraw your pledge to Full fibre for Otley Road?" in page.words
    fields = page.form_fields("/pledges/withdraw")
    assert fields["token"] == token
    assert fields["csrf_token"]
    assert page.find("form", action="/pledges/withdraw").attrs["method"] == "post"


async def test_withdraw_form_withdraws(
    client: httpx.AsyncClient, store: Store, app: Starlette
) -> None:
    campaign = await make_campaign(store, title="Full fibre for Otley Road", target=4)
    await make_confirmed_pledge(store, campaign.slug, 1)
    pledge_id = await make_confirmed_pledge(store, campaign.slug, 2)
    token = sign(app, pledge_id, "pledge-withdraw")
    asked = page_of(await client.get("/pledges/withdraw", params={"token": token}))

    response = await client.post("/pledges/withdraw", data=asked.form_fields("/pledges/withdraw"))

    assert response.status_code == 200
    page = page_of(response)
    assert "Your pledge is withdrawn" in page.words
    assert count_text(1, 4) in page.words
    assert [p["status"] for p in await pledges_of(store, campaign)] == ["confirmed", "withdrawn"]
    # The link still works, and says it is done.
    again = page_of(await client.get("/pledges/withdraw", params={"token": token}))
    assert "is already withdrawn" in again.words
    assert again.find("form", action="/pledges/withdraw") is None


@pytest.mark.parametrize("csrf", [None, "forged-token"], ids=["absent", "forged"])
async def test_withdraw_post_without_the_csrf_token_is_refused(
    client: httpx.AsyncClient, store: Store, app: Starlette, csrf: str | None
) -> None:
    campaign = await make_campaign(store)
    pledge_id = await make_confirmed_pledge(store, campaign.slug, 1)
    token = sign(app, pledge_id, "pledge-withdraw")
    await client.get("/pledges/withdraw", params={"token": token})
    data = {"token": token} if csrf is None else {"token": token, "csrf_token": csrf}

    async with nothing_changes(store):
        response = await client.post("/pledges/withdraw", data=data)

    assert response.status_code == 403


@pytest.mark.parametrize("kind", ["tampered", "expired", "wrong-namespace", "garbage", "empty"])
async def test_a_bad_withdraw_link_shows_a_400_page(
    client: httpx.AsyncClient, store: Store, app: Starlette, kind: str
) -> None:
    campaign = await make_campaign(store)
    pledge_id = await make_confirmed_pledge(store, campaign.slug, 1)
    token = token_of_kind(app, pledge_id, "pledge-withdraw", kind)
    good = sign(app, pledge_id, "pledge-withdraw")
    csrf = page_of(await client.get("/pledges/withdraw", params={"token": good})).form_fields(
        "/pledges/withdraw"
    )["csrf_token"]

    async with nothing_changes(store):
        shown = await client.get("/pledges/withdraw", params={"token": token})
        posted = await client.post("/pledges/withdraw", data={"token": token, "csrf_token": csrf})

    for response in (shown, posted):
        assert response.status_code == 400
        assert "There is a problem with this link" in page_of(response).words


# The development mailbox and missing pages


@asynccontextmanager
async def client_for(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield c


PRODUCTION_SECRET = Secret("a-long-random-production-secret-" + "k" * 32)


async def test_dev_mail_is_404_outside_development(database_url: str) -> None:
    settings = make_settings(database_url, debug=False, demo=False, secret_key=PRODUCTION_SECRET)
    assert not settings.development

    async with client_for(settings) as client:
        mailbox = await client.get("/dev/mail")
        message = await client.get("/dev/mail/1")
        home = await client.get("/")

    for response in (mailbox, message):
        assert response.status_code == 404
        assert "Not found" in page_of(response).words
        assert "Development mailbox" not in response.text
    assert home.status_code == 200
    assert "/dev/mail" not in home.text


@pytest.mark.parametrize("mode", [{"debug": True}, {"demo": True}])
async def test_dev_mail_is_there_in_development(database_url: str, mode: dict[str, bool]) -> None:
    settings = make_settings(
        database_url, **{"debug": False, "demo": False, **mode}, secret_key=PRODUCTION_SECRET
    )

    async with client_for(settings) as client:
        mailbox = await client.get("/dev/mail")
        home = await client.get("/")

    assert mailbox.status_code == 200
    assert "Development mailbox" in page_of(mailbox).words
    assert "/dev/mail" in home.text


async def test_a_missing_dev_mail_message_is_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/dev/mail/424242")
    assert response.status_code == 404
    assert "Not found" in page_of(response).words


@pytest.mark.parametrize("path", ["/no-such-page", "/c", "/c/", "/static/no-such-file.css"])
async def test_an_unknown_page_is_an_html_404(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)

    assert response.status_code == 404
    page = page_of(response)
    assert page.find("h1") is not None and page.find("h1").words == "Not found"
    assert page.find("a", href="/") is not None


async def test_an_unknown_api_path_is_a_problem_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/no-such-thing")

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 404


async def test_a_wrong_method_on_a_page_is_an_html_405(client: httpx.AsyncClient) -> None:
    response = await client.post("/")
    assert response.status_code == 405
    assert re.search(r"Method not allowed", page_of(response).words)
