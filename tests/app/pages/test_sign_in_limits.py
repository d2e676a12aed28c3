"""Sign-in emails are limited per mailbox (the canonical address, so +tag spellings count as
one) and per client address, and a limited request hears what the limit is and when to
try again, with the form kept."""

from __future__ import annotations

import asyncio

import httpx
import sqlalchemy as sa
from starlette.applications import Starlette

from notifications.sign_in import email_sign_in_link
from notifications.tables import emails
from pledges.errors import SignInLinksLimited
from pledges.magic_links import MAX_LINKS_PER_CLIENT_PER_HOUR, MAX_LINKS_PER_HOUR
from pledges.store import Store
from pledges.tables import magic_links
from tests.app.pages.test_residents import page_of
from tests.factories import make_campaign, make_confirmed_pledge


async def ask(client: httpx.AsyncClient, path: str, address: str) -> httpx.Response:
    fields = page_of(await client.get(path)).form_fields(path)
    return await client.post(path, data={**fields, "email": address})


async def emails_of_kind(store: Store, kind: str) -> list[str]:
    rows = await store.database.fetch_all(
        sa.select(emails.c.to_address).where(emails.c.kind == kind).order_by(emails.c.id)
    )
    return [r["to_address"] for r in rows]


async def test_plus_tag_spellings_of_one_address_share_one_limit(
    client: httpx.AsyncClient, store: Store
) -> None:
    spellings = [f"jo.smith+{i}@gmail.com" for i in range(8)]
    answers = [await ask(client, "/lead/sign-in", s) for s in spellings]
    assert [a.status_code for a in answers] == [200] * MAX_LINKS_PER_HOUR + [429] * (
        8 - MAX_LINKS_PER_HOUR
    )
    assert await emails_of_kind(store, "sign_in_lead") == spellings[:MAX_LINKS_PER_HOUR]

    limited = answers[-1]
    page = page_of(limited)
    assert f"{MAX_LINKS_PER_HOUR} requests for a sign-in link to this email address" in page.words
    assert "Please try again in" in page.words and "UTC" in page.words
    assert 0 < int(limited.headers["Retry-After"]) <= 3600
    # The form is kept, with what was typed.
    assert page.form_fields("/lead/sign-in")["email"] == spellings[-1]


async def test_another_address_from_the_same_client_is_not_held_up_by_one_mailbox(
    client: httpx.AsyncClient, store: Store
) -> None:
    for i in range(MAX_LINKS_PER_HOUR + 1):
        await ask(client, "/lead/sign-in", f"sam+{i}@outlook.com")
    assert (await ask(client, "/lead/sign-in", "alex@example.org")).status_code == 200
    assert "alex@example.org" in await emails_of_kind(store, "sign_in_lead")


async def test_one_client_asking_for_many_addresses_is_limited(
    client: httpx.AsyncClient, store: Store
) -> None:
    addresses = [f"person{i}@example.org" for i in range(MAX_LINKS_PER_CLIENT_PER_HOUR + 2)]
    answers = [await ask(client, "/lead/sign-in", a) for a in addresses]
    assert [a.status_code for a in answers] == [200] * MAX_LINKS_PER_CLIENT_PER_HOUR + [429] * 2
    assert len(await emails_of_kind(store, "sign_in_lead")) == MAX_LINKS_PER_CLIENT_PER_HOUR
    assert "this internet connection" in page_of(answers[-1]).words


async def test_unknown_residents_count_as_known_ones_do(
    client: httpx.AsyncClient, store: Store
) -> None:
    """Being limited must not tell anyone whether an address has pledged."""
    campaign = await make_campaign(store)
    await make_confirmed_pledge(store, campaign.slug, 0, email="known@example.org")
    for address in ("known@example.org", "unknown@example.org"):
        answers = [await ask(client, "/me/sign-in", address) for _ in range(MAX_LINKS_PER_HOUR + 1)]
        assert [a.status_code for a in answers] == [200] * MAX_LINKS_PER_HOUR + [429]
    assert await emails_of_kind(store, "sign_in_resident") == ["known@example.org"] * (
        MAX_LINKS_PER_HOUR
    )


async def test_the_limit_is_exact_when_requests_race(store: Store, app: Starlette) -> None:
    svc = app.state.services

    async def one(i: int) -> bool:
        try:
            await email_sign_in_link(
                store,
                svc.signer,
                svc.renderer,
                "lead",
                f"Race+{i}@gmail.com",
                "http://testserver/lead/sign-in/confirm",
                ip=f"10.0.0.{i}",
            )
        except SignInLinksLimited:
            return False
        return True

    sent = await asyncio.gather(*(one(i) for i in range(12)))
    assert sum(sent) == MAX_LINKS_PER_HOUR
    stored = await store.database.fetch_val(sa.select(sa.func.count()).select_from(magic_links))
    assert stored == MAX_LINKS_PER_HOUR
    assert len(await emails_of_kind(store, "sign_in_lead")) == MAX_LINKS_PER_HOUR
