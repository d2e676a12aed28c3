"""Residents' "my pledges", through the pages as a browser without JavaScript meets them:
sign in by an emailed link, see every pledge made with the address, withdraw one,
download the data, erase it."""

from __future__ import annotations

import json
import re
import time
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from starlette.applications import Starlette

from app.pages import sign_in as auth
from app.pages.sign_in import RESIDENT_SESSION_SECONDS
from notifications.outbox import dispatch_events, send_due_emails
from notifications.tables import emails
from pledges.campaigns import Campaign, get_campaign
from pledges.pledging import parse_pledge, record_pledge
from pledges.store import Store
from pledges.tables import magic_links, pledges
from tests.app.pages.confirming import press_confirm
from tests.app.pages.test_residents import Page, count_text, page_of, sign
from tests.conftest import table_snapshot
from tests.factories import make_campaign, make_confirmed_pledge, make_pending_pledges, pledge_data
from tests.pledges.test_erasure import without

SIGN_IN_LINK = re.compile(r"http://testserver/me/sign-in/confirm\?token=([A-Za-z0-9_.\-]+)")
JO_IP = "203.0.113.9"
# What identifies Jo anywhere in the database: every spelling of the address, the name,
# the full postcode, the client address.
JO_TRACES = ("smith", "Jo Smith", "LS6 2XY", JO_IP)


# Signing in, as a resident does it


async def ask_for_link(client: httpx.AsyncClient, address: str) -> httpx.Response:
    fields = page_of(await client.get("/me/sign-in")).form_fields("/me/sign-in")
    return await client.post("/me/sign-in", data={**fields, "email": address})


async def sign_in_emails(store: Store) -> list[tuple[str, str]]:
    rows = await store.database.fetch_all(
        sa.select(emails.c.to_address, emails.c.text_body)
        .where(emails.c.kind == "sign_in_resident")
        .order_by(emails.c.id)
    )
    return [(r["to_address"], r["text_body"]) for r in rows]


async def token_sent_to(store: Store, address: str) -> str:
    bodies = [body for to, body in await sign_in_emails(store) if to == address]
    assert bodies, f"no sign-in email to {address}"
    found = SIGN_IN_LINK.search(bodies[-1])
    assert found, "no sign-in link in the email"
    return found.group(1)


async def use_link(client: httpx.AsyncClient, token: str) -> httpx.Response:
    """Open the emailed link (a page with a button), then press the button."""
    opened = await client.get("/me/sign-in/confirm", params={"token": token})
    assert opened.status_code == 200
    return await client.post(
        "/me/sign-in/confirm", data=page_of(opened).form_fields("/me/sign-in/confirm")
    )


async def sign_in(client: httpx.AsyncClient, store: Store, address: str) -> None:
    assert (await ask_for_link(client, address)).status_code == 200
    signed_in = await use_link(client, await token_sent_to(store, address))
    assert signed_in.status_code == 303
    assert signed_in.headers["location"] == "/me"


async def csrf_of(client: httpx.AsyncClient) -> str:
    return page_of(await client.get("/me/sign-in")).form_fields("/me/sign-in")["csrf_token"]


# Data


async def pledge_as_jo(store: Store, campaign: Campaign, address: str, **extra: Any) -> int:
    data = pledge_data(0, name="Jo Smith", email=address, postcode="LS6 2XY", **extra)
    return (await record_pledge(store, campaign.slug, parse_pledge(data), ip=JO_IP)).pledge_id


async def send_mail(app: Starlette) -> None:
    """The worker's email work, done now: queue each event's emails and send them."""
    svc = app.state.services
    await dispatch_events(svc.store)
    while await send_due_emails(svc.store, svc.worker.mailer, svc.renderer):
        pass


async def count_of(store: Store, campaign: Campaign) -> int:
    return (await get_campaign(store.database, campaign.slug)).confirmed


def traces_of_jo(snapshot: dict[str, list[tuple[Any, ...]]]) -> list[tuple[str, Any]]:
    return [
        (table, value)
        for table, rows in snapshot.items()
        for row in rows
        for value in row
        if isinstance(value, str) and any(t.lower() in value.lower() for t in JO_TRACES)
    ]


def others_rows(
    snapshot: dict[str, list[tuple[Any, ...]]], pledge_ids: set[int]
) -> dict[str, list[tuple[Any, ...]]]:
    """The rows about anyone but Jo: not Jo's pledges, their emails, or Jo's sign-ins."""
    return {
        table: [r for r in rows if not traces_of_jo({table: [r]})]
        for table, rows in without(snapshot, pledge_ids).items()
    }


def card_of(page: Page, pledge_id: int) -> str:
    return page.by_id(f"pledge-{pledge_id}").words


# Without a session


@pytest.mark.parametrize("path", ["/me", "/me/data.json", "/me/erase"])
async def test_pages_send_a_resident_without_a_session_to_sign_in(
    client: httpx.AsyncClient, path: str
) -> None:
    response = await client.get(path)

    assert response.status_code == 303
    assert response.headers["location"] == "/me/sign-in"


@pytest.mark.parametrize("path", ["/me/erase", "/me/pledges/{id}/withdraw"])
async def test_posts_without_a_session_change_nothing(
    client: httpx.AsyncClient, store: Store, path: str
) -> None:
    campaign = await make_campaign(store)
    pledge_id = await make_confirmed_pledge(store, campaign.slug, 1)
    csrf = await csrf_of(client)

    before = await table_snapshot(store)
    response = await client.post(path.format(id=pledge_id), data={"csrf_token": csrf})

    assert response.status_code == 303
    assert response.headers["location"] == "/me/sign-in"
    assert await table_snapshot(store) == before


# Asking for and using a link


async def test_a_link_is_emailed_only_to_an_address_that_pledged(
    client: httpx.AsyncClient, store: Store
) -> None:
    campaign = await make_campaign(store)
    await pledge_as_jo(store, campaign, "jo.smith@gmail.com")

    unknown = await ask_for_link(client, "nobody@example.org")
    assert await sign_in_emails(store) == []
    known = await ask_for_link(client, "Jo.Smith+me@gmail.com")

    # The same answer either way, so the form tells no one who has pledged.
    assert unknown.status_code == known.status_code == 200
    assert page_of(unknown).words.replace("nobody@example.org", "ADDRESS") == page_of(
        known
    ).words.replace("Jo.Smith+me@gmail.com", "ADDRESS")
    assert [to for to, _ in await sign_in_emails(store)] == ["Jo.Smith+me@gmail.com"]


async def test_a_badly_formed_address_is_said_beside_the_field(
    client: httpx.AsyncClient, store: Store
) -> None:
    before = await table_snapshot(store)

    response = await ask_for_link(client, "not an address")

    assert response.status_code == 422
    page = page_of(response)
    assert "Enter an email address" in page.by_id("email-error").words
    assert page.summary_links() == ["#email"]
    assert await table_snapshot(store) == before


async def test_opening_a_link_shows_a_button_and_the_link_works_once(
    client: httpx.AsyncClient, store: Store
) -> None:
    campaign = await make_campaign(store)
    await pledge_as_jo(store, campaign, "jo.smith@gmail.com")
    await ask_for_link(client, "jo.smith@gmail.com")
    token = await token_sent_to(store, "jo.smith@gmail.com")

    # A mail scanner fetching the link neither signs in nor spends it.
    opened = await client.get("/me/sign-in/confirm", params={"token": token})
    assert opened.status_code == 200
    assert "Show my pledges" in page_of(opened).words
    assert (await client.get("/me")).status_code == 303
    used = await store.database.fetch_val(sa.select(magic_links.c.used_at))
    assert used is None

    first = await client.post(
        "/me/sign-in/confirm", data=page_of(opened).form_fields("/me/sign-in/confirm")
    )
    assert first.status_code == 303 and first.headers["location"] == "/me"
    assert (await client.get("/me")).status_code == 200

    again = await client.post(
        "/me/sign-in/confirm", data=page_of(opened).form_fields("/me/sign-in/confirm")
    )
    assert again.status_code == 400
    assert "This link has already been used" in page_of(again).words


class SignedAnHourAndAMinuteAgo(TimestampSigner):
    def get_timestamp(self) -> int:
        return int(time.time()) - RESIDENT_SESSION_SECONDS - 60


def spoil(app: Starlette, token: str, kind: str) -> str:
    if kind == "tampered":
        value, _, signature = token.rpartition(".")
        return f"{value}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"
    # The same link, signed more than an hour ago.
    serializer = URLSafeTimedSerializer(
        str(app.state.services.settings.secret_key), salt="groundswell.resident-sign-in"
    )
    old = URLSafeTimedSerializer(
        str(app.state.services.settings.secret_key),
        salt="groundswell.resident-sign-in",
        signer=SignedAnHourAndAMinuteAgo,
    )
    return str(old.dumps(serializer.loads(token)))


@pytest.mark.parametrize("kind", ["tampered", "expired"])
async def test_a_spoilt_link_shows_the_problem_page(
    client: httpx.AsyncClient, store: Store, app: Starlette, kind: str
) -> None:
    campaign = await make_campaign(store)
    await pledge_as_jo(store, campaign, "jo.smith@gmail.com")
    await ask_for_link(client, "jo.smith@gmail.com")
    token = spoil(app, await token_sent_to(store, "jo.smith@gmail.com"), kind)
    csrf = await csrf_of(client)
    before = await table_snapshot(store)

    shown = await client.get("/me/sign-in/confirm", params={"token": token})
    posted = await client.post("/me/sign-in/confirm", data={"token": token, "csrf_token": csrf})

    expected = "This link has expired." if kind == "expired" else "This link is not valid."
    for response in (shown, posted):
        assert response.status_code == 400
        words = page_of(response).words
        assert "There is a problem with this link" in words and expected in words
    assert await table_snapshot(store) == before
    assert (await client.get("/me")).status_code == 303


async def test_a_session_older_than_an_hour_is_refused(
    client: httpx.AsyncClient, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    campaign = await make_campaign(store)
    await pledge_as_jo(store, campaign, "jo.smith@gmail.com")
    await sign_in(client, store, "jo.smith@gmail.com")
    assert (await client.get("/me")).status_code == 200
    csrf = await csrf_of(client)

    later = time.time() + RESIDENT_SESSION_SECONDS + 1
    monkeypatch.setattr(auth, "time", SimpleNamespace(time=lambda: later))
    before = await table_snapshot(store)

    for path in ("/me", "/me/data.json", "/me/erase"):
        response = await client.get(path)
        assert response.status_code == 303 and response.headers["location"] == "/me/sign-in"
    erase = await client.post("/me/erase", data={"csrf_token": csrf})
    assert erase.status_code == 303
    assert await table_snapshot(store) == before


# The whole journey


async def test_my_pledges_from_sign_in_to_erasure(
    client: httpx.AsyncClient, store: Store, app: Starlette
) -> None:
    fibre = await make_campaign(store, title="Full fibre for Otley Road", target=3)
    bins = await make_campaign(store, title="Weekly bins for Hyde Park", category="waste")
    other_confirmed = await make_confirmed_pledge(store, fibre.slug, 1)
    [other_pending] = await make_pending_pledges(store, bins.slug, 1, start=2)
    # Jo pledged twice, with two spellings of one gmail address.
    counted = await pledge_as_jo(store, fibre, "Jo.Smith+fibre@gmail.com", show_name=True)
    pending = await pledge_as_jo(store, bins, "jo.smith@googlemail.com", share_contact=True)
    await send_mail(app)  # the confirmation emails go out
    confirm = page_of(await press_confirm(client, sign(app, counted, "pledge-confirm")))
    assert "Your pledge is confirmed" in confirm.words
    assert await count_of(store, fibre) == 2

    # Signed in with a third spelling: the canonical address finds both pledges.
    await sign_in(client, store, "JoSmith@gmail.com")
    mine = await client.get("/me")
    assert mine.status_code == 200
    assert mine.headers["cache-control"] == "no-store"
    page = page_of(mine)
    assert len(page.find_all("h1")) == 1
    links = {a.attrs["href"]: a.words for a in page.find_all("a")}
    assert links[f"/c/{fibre.slug}"] == "Full fibre for Otley Road"
    assert links[f"/c/{bins.slug}"] == "Weekly bins for Hyde Park"
    assert "Confirmed" in card_of(page, counted)
    assert "Not confirmed yet" in card_of(page, pending)
    for pledge_id in (counted, pending):
        assert "LS6 2XY" in card_of(page, pledge_id)
    assert "Name shown on the campaign page Yes" in card_of(page, counted)
    assert "Name shown on the campaign page No" in card_of(page, pending)
    assert "if it reaches its target Yes" in card_of(page, pending)
    assert "Resident 1" not in page.words and "Resident 2" not in page.words
    assert page.find("form", action="/sign-out") is not None

    # Someone else's pledge, or no pledge at all, is not found, and nothing changes.
    csrf = page.form_fields(f"/me/pledges/{counted}/withdraw")["csrf_token"]
    before = await table_snapshot(store)
    for pledge_id in (other_confirmed, other_pending, 999_999, 10**30):
        refused = await client.post(f"/me/pledges/{pledge_id}/withdraw", data={"csrf_token": csrf})
        assert refused.status_code == 404
    forged = await client.post(f"/me/pledges/{counted}/withdraw", data={"csrf_token": "forged"})
    assert forged.status_code == 403
    assert await table_snapshot(store) == before

    # Withdrawing one of Jo's lowers the count at once.
    withdrawn = await client.post(f"/me/pledges/{counted}/withdraw", data={"csrf_token": csrf})
    assert withdrawn.status_code == 303
    after = page_of(await client.get(withdrawn.headers["location"]))
    assert "Your pledge to Full fibre for Otley Road is withdrawn." in after.words
    assert "Withdrawn: not counted" in card_of(after, counted)
    assert after.find("form", action=f"/me/pledges/{counted}/withdraw") is None
    assert await count_of(store, fibre) == 1

    # The download holds everything kept about Jo, and the emails sent.
    download = await client.get("/me/data.json")
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("application/json")
    assert download.headers["content-disposition"].startswith("attachment;")
    assert download.headers["cache-control"] == "no-store"
    data = json.loads(download.text)
    by_id = {p["pledge_id"]: p for p in data["pledges"]}
    assert set(by_id) == {counted, pending}
    fibre_data = by_id[counted]
    assert fibre_data["campaign"] == {"slug": fibre.slug, "title": "Full fibre for Otley Road"}
    assert (fibre_data["name"], fibre_data["email"]) == ("Jo Smith", "Jo.Smith+fibre@gmail.com")
    assert (fibre_data["postcode"], fibre_data["postcode_district"]) == ("LS6 2XY", "LS6")
    assert fibre_data["show_name_on_campaign_page"] is True
    assert fibre_data["share_contact_with_providers"] is False
    assert by_id[pending]["share_contact_with_providers"] is True
    assert fibre_data["ip_address"] == JO_IP
    assert (fibre_data["status"], by_id[pending]["status"]) == ("withdrawn", "pending")
    assert fibre_data["pledged_at"] and fibre_data["confirmed_at"] and fibre_data["withdrawn_at"]
    assert [e["subject"] for e in fibre_data["emails"]] == [
        "Confirm your pledge: Full fibre for Otley Road"
    ]
    assert fibre_data["emails"][0]["sent_at"]
    assert "resident1@example.org" not in download.text

    # Erasing: a page that explains, then the button.
    explained = page_of(await client.get("/me/erase"))
    assert "This cannot be undone" in explained.words
    others_before = others_rows(await table_snapshot(store), {counted, pending})
    assert len(others_before["pledges"]) == len(others_before["emails"]) == 2
    # The one signed-in session is Jo's, which erasing ends (it signs Jo out).
    assert len(others_before.pop("signed_in_sessions")) == 1
    erased = await client.post("/me/erase", data=explained.form_fields("/me/erase"))

    assert erased.status_code == 200
    assert "Your data is erased" in page_of(erased).words
    assert await count_of(store, fibre) == 1  # the other resident's pledge
    assert await count_of(store, bins) == 0
    rows = await store.database.fetch_all(
        sa.select(pledges.c.id, pledges.c.status).where(pledges.c.id.in_([counted, pending]))
    )
    assert {(r["id"], r["status"]) for r in rows} == {
        (counted, "withdrawn"),
        (pending, "withdrawn"),
    }
    everything = await table_snapshot(store)
    assert traces_of_jo({t: everything[t] for t in ("pledges", "emails", "magic_links")}) == []
    others_after = others_rows(everything, {counted, pending})
    assert others_after.pop("signed_in_sessions") == []
    assert others_after == others_before

    # Signed out of "my pledges"; and with no pledges left, no link is sent any more.
    gone = await client.get("/me")
    assert gone.status_code == 303 and gone.headers["location"] == "/me/sign-in"
    await ask_for_link(client, "JoSmith@gmail.com")
    assert await sign_in_emails(store) == []


async def test_erasing_a_confirmed_pledge_on_a_tipped_campaign_keeps_it_tipped(
    client: httpx.AsyncClient, store: Store
) -> None:
    campaign = await make_campaign(store, target=2)
    await make_confirmed_pledge(store, campaign.slug, 1)
    await make_confirmed_pledge(store, campaign.slug, 2, email="jo.smith@gmail.com")
    assert (await get_campaign(store.database, campaign.slug)).status == "tipped"
    await sign_in(client, store, "jo.smith@gmail.com")
    erase = page_of(await client.get("/me/erase"))

    erased = await client.post("/me/erase", data=erase.form_fields("/me/erase"))

    assert "We withdrew and erased 1 pledge." in page_of(erased).words
    after = await get_campaign(store.database, campaign.slug)
    assert (after.status, after.confirmed) == ("tipped", 1)


async def test_erasing_needs_the_csrf_token(client: httpx.AsyncClient, store: Store) -> None:
    campaign = await make_campaign(store)
    await pledge_as_jo(store, campaign, "jo.smith@gmail.com")
    await sign_in(client, store, "jo.smith@gmail.com")
    before = await table_snapshot(store)

    response = await client.post("/me/erase", data={"csrf_token": "forged"})

    assert response.status_code == 403
    assert await table_snapshot(store) == before
    assert (await client.get("/me")).status_code == 200


async def test_pledge_pages_link_to_my_pledges(
    client: httpx.AsyncClient, store: Store, app: Starlette
) -> None:
    campaign = await make_campaign(store, target=5)
    [pledge_id] = await make_pending_pledges(store, campaign.slug, 1)
    confirm_token = sign(app, pledge_id, "pledge-confirm")
    withdraw_token = sign(app, pledge_id, "pledge-withdraw")

    pledged = page_of(await client.get(f"/c/{campaign.slug}/pledged"))
    confirmed = page_of(await press_confirm(client, confirm_token))
    asked = page_of(await client.get("/pledges/withdraw", params={"token": withdraw_token}))
    withdrawn = page_of(
        await client.post("/pledges/withdraw", data=asked.form_fields("/pledges/withdraw"))
    )

    for page in (pledged, confirmed, withdrawn):
        link = [a for a in page.find_all("a") if a.attrs.get("href") == "/me/sign-in"]
        assert [a.words for a in link] == ["See or change your pledges"]
    assert count_text(0, 5) in withdrawn.words
