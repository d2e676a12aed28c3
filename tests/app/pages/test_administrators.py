"""The administrators' pages: who may open them, hiding campaigns, and striking out pledges
(preview, then do it), with bad input shown beside its field."""

from __future__ import annotations

import re

import httpx
import pytest
import sqlalchemy as sa

from app.settings import Settings
from notifications.tables import emails
from pledges.campaigns import get_campaign
from pledges.pledging import confirm_pledge, parse_pledge, record_pledge
from pledges.store import Store
from pledges.tables import pledges
from tests.app.pages.test_residents import Element, Page, page_of
from tests.conftest import make_settings, table_snapshot
from tests.factories import make_campaign, make_confirmed_pledge, pledge_data

ADMIN = "admin@example.org"


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url, admin_emails=f"Someone@example.org, {ADMIN.upper()}")


def csrf_of(page: Page) -> str:
    found = page.find("input", name="csrf_token")
    assert found is not None, "no CSRF token on the page"
    return found.attrs["value"]


async def session_csrf(client: httpx.AsyncClient) -> str:
    """The session's form token, from any page with a form."""
    return csrf_of(page_of(await client.get("/lead/sign-in")))


def cells(page: Page, row: Element) -> list[str]:
    return [e.words for e in page.elements if e.tag in ("th", "td") and row in e.ancestors]


async def sign_in(client: httpx.AsyncClient, store: Store, email: str) -> None:
    """As a person does: ask for a link, open it from the email, press the button."""
    ask = page_of(await client.get("/lead/sign-in"))
    sent = await client.post("/lead/sign-in", data={"csrf_token": csrf_of(ask), "email": email})
    assert sent.status_code == 200
    body = await store.database.fetch_val(
        sa.select(emails.c.text_body)
        .where(emails.c.to_address == email, emails.c.kind == "sign_in_lead")
        .order_by(emails.c.id.desc())
    )
    link = re.search(r"http://testserver(/lead/sign-in/confirm\?token=\S+)", body)
    assert link, body
    confirm = page_of(await client.get(link.group(1)))
    token = confirm.find("input", name="token")
    assert token is not None
    done = await client.post(
        "/lead/sign-in/confirm",
        data={"csrf_token": csrf_of(confirm), "token": token.attrs["value"]},
    )
    assert done.status_code == 303 and done.headers["location"] == "/lead"


async def pledge_from(store: Store, slug: str, i: int, ip: str, confirm: bool = True) -> int:
    outcome = await record_pledge(store, slug, parse_pledge(pledge_data(i)), ip=ip, rate_limit=())
    if confirm:
        await confirm_pledge(store, outcome.pledge_id)
    return outcome.pledge_id


async def statuses(store: Store) -> list[str]:
    rows = await store.database.fetch_all(sa.select(pledges.c.status).order_by(pledges.c.id))
    return [r["status"] for r in rows]


def one_h1(page: Page) -> str:
    found = page.find_all("h1")
    assert len(found) == 1
    return found[0].words


# Who may open them


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/admin"),
        ("GET", "/admin/invalidate"),
        ("POST", "/admin/invalidate"),
        ("POST", "/admin/campaigns/some-campaign/hide"),
    ],
)
async def test_without_a_session_they_lead_to_sign_in(
    client: httpx.AsyncClient, store: Store, method: str, path: str
) -> None:
    before = await table_snapshot(store)
    answer = await client.request(method, path, data={"ip": "203.0.113.1"})
    assert answer.status_code == 303
    assert answer.headers["location"] == "/lead/sign-in"
    assert await table_snapshot(store) == before


async def test_a_lead_who_is_not_an_administrator_is_forbidden(
    client: httpx.AsyncClient, store: Store
) -> None:
    campaign = await make_campaign(store)
    await sign_in(client, store, "lead@example.org")
    csrf = await session_csrf(client)
    before = await table_snapshot(store)

    for path in ("/admin", "/admin/invalidate"):
        answer = await client.get(path)
        assert answer.status_code == 403
        assert "administrators" in page_of(answer).words
    hide = await client.post(f"/admin/campaigns/{campaign.slug}/hide", data={"csrf_token": csrf})
    assert hide.status_code == 403
    strike = await client.post(
        "/admin/invalidate",
        data={"csrf_token": csrf, "campaign": campaign.slug, "action": "invalidate"},
    )
    assert strike.status_code == 403
    assert await table_snapshot(store) == before


# All campaigns, hide and show


async def test_the_list_shows_every_campaign_with_counts_and_hides_and_shows(
    client: httpx.AsyncClient, store: Store
) -> None:
    public = await make_campaign(store, title="Fibre for Public Street", target=5)
    draft = await make_campaign(store, title="A draft campaign", draft=True)
    await make_confirmed_pledge(store, public.slug, 1)
    await make_confirmed_pledge(store, public.slug, 2)
    await record_pledge(store, public.slug, parse_pledge(pledge_data(3)))
    await sign_in(client, store, ADMIN)

    page = page_of(await client.get("/admin"))
    assert one_h1(page) == "Administration"
    text = page.words
    assert "Fibre for Public Street" in text and "A draft campaign" in text
    row = next(tr for tr in page.find_all("tr") if public.slug in tr.words)
    # Status, confirmed, pending, withdrawn, struck out.
    assert cells(page, row)[1:6] == ["open", "2 of 5", "1", "0", "0"]
    assert draft.slug in text
    form_action = f"/admin/campaigns/{public.slug}/hide"
    assert page.find("form", action=form_action) is not None

    # Without the form's token nothing happens.
    before = await table_snapshot(store)
    refused = await client.post(form_action, data={"csrf_token": "forged"})
    assert refused.status_code == 403
    assert await table_snapshot(store) == before

    hidden = await client.post(form_action, data={"csrf_token": csrf_of(page)})
    assert hidden.status_code == 303 and hidden.headers["location"] == "/admin"
    assert (await get_campaign(store.database, public.slug)).hidden_at is not None
    assert (await client.get(f"/c/{public.slug}")).status_code == 404
    page = page_of(await client.get("/admin"))
    assert "“Fibre for Public Street” is hidden from every public page." in page.words
    row = next(tr for tr in page.find_all("tr") if public.slug in tr.words)
    assert "hidden since" in row.words and "Show again" in row.words
    # The notice is shown once.
    assert "is hidden from every public page" not in page_of(await client.get("/admin")).words

    shown = await client.post(
        f"/admin/campaigns/{public.slug}/unhide", data={"csrf_token": csrf_of(page)}
    )
    assert shown.status_code == 303
    assert (await get_campaign(store.database, public.slug)).hidden_at is None
    assert (await client.get(f"/c/{public.slug}")).status_code == 200


async def test_hiding_an_unknown_campaign_is_404(client: httpx.AsyncClient, store: Store) -> None:
    await sign_in(client, store, ADMIN)
    csrf = await session_csrf(client)
    answer = await client.post("/admin/campaigns/no-such-thing/hide", data={"csrf_token": csrf})
    assert answer.status_code == 404
    odd = await client.post("/admin/campaigns/no-such-thing/delete", data={"csrf_token": csrf})
    assert odd.status_code == 404


# Striking out


async def test_preview_changes_nothing_then_strike_out_does_it(
    client: httpx.AsyncClient, store: Store
) -> None:
    first = await make_campaign(store, slug="first-campaign", target=3)
    second = await make_campaign(store, slug="second-campaign")
    for i in range(4):
        await pledge_from(store, first.slug, i, ip="203.0.113.9")
    await pledge_from(store, first.slug, 10, ip="203.0.113.10", confirm=False)
    await pledge_from(store, second.slug, 11, ip="203.0.113.11")
    await pledge_from(store, second.slug, 12, ip="198.51.100.1")
    assert (await get_campaign(store.database, first.slug)).status == "tipped"
    await sign_in(client, store, ADMIN)
    form_page = page_of(await client.get("/admin/invalidate"))
    assert one_h1(form_page) == "Strike out pledges"
    for name in ("campaign", "ip", "email_domain", "since", "until"):
        assert form_page.find("label", **{"for": name}) is not None, name
    before = await table_snapshot(store)

    preview = await client.post(
        "/admin/invalidate",
        data={"csrf_token": csrf_of(form_page), "ip": "203.0.113.0/24", "action": "preview"},
    )

    assert preview.status_code == 200
    assert await table_snapshot(store) == before
    page = page_of(preview)
    assert "6 pledges match" in page.words
    assert "5 confirmed and 1 pending. Nothing has been changed yet." in page.words
    rows = [cells(page, tr) for tr in page.find_all("tr")]
    assert rows[1:] == [["first-campaign", "4", "1"], ["second-campaign", "1", "0"]]
    # The button that does it carries the same filters.
    fields = page.form_fields("/admin/invalidate")
    assert fields["ip"] == "203.0.113.0/24"
    button = next(b for b in page.find_all("button") if b.attrs.get("value") == "invalidate")
    assert button.words == "Strike out 6 pledges"

    done = await client.post(
        "/admin/invalidate",
        data={"csrf_token": csrf_of(page), "ip": "203.0.113.0/24", "action": "invalidate"},
    )

    assert done.status_code == 200
    assert "6 pledges struck out" in page_of(done).words
    assert await statuses(store) == ["invalid"] * 6 + ["confirmed"]
    after = await get_campaign(store.database, first.slug)
    assert (after.confirmed, after.status) == (0, "tipped")
    assert (await get_campaign(store.database, second.slug)).confirmed == 1

    again = await client.post(
        "/admin/invalidate",
        data={"csrf_token": csrf_of(page), "ip": "203.0.113.0/24", "action": "preview"},
    )
    assert "0 pledges match" in page_of(again).words
    assert not [
        b for b in page_of(again).find_all("button") if b.attrs.get("value") == "invalidate"
    ]


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({}, "filters", "Choose at least one of"),
        ({"ip": "203.0.113.999"}, "ip", "Enter an IP address"),
        ({"ip": "203.0.113.9/24"}, "ip", "did you mean 203.0.113.0/24?"),
        ({"email_domain": "spam"}, "email_domain", "Enter an email domain"),
        ({"since": "1 March"}, "since", "Enter a date and time"),
        ({"until": "2025-02-30"}, "until", "Enter a date and time"),
        ({"campaign": "not-a-campaign"}, "campaign", "There is no campaign"),
    ],
)
async def test_bad_input_is_shown_beside_its_field_with_422(
    client: httpx.AsyncClient, store: Store, data: dict[str, str], field: str, message: str
) -> None:
    campaign = await make_campaign(store)
    await pledge_from(store, campaign.slug, 1, ip="203.0.113.9")
    await sign_in(client, store, ADMIN)
    csrf = csrf_of(page_of(await client.get("/admin/invalidate")))
    before = await table_snapshot(store)

    for action in ("preview", "invalidate"):
        answer = await client.post(
            "/admin/invalidate", data={"csrf_token": csrf, "action": action, **data}
        )

        assert answer.status_code == 422
        page = page_of(answer)
        assert page.summary_links() == [f"#{field}"]
        assert field in page.ids
        error = page.by_id(f"{field}-error")
        assert message in error.words and error.has_class("error-message")
        if field != "filters":
            target = page.by_id(field)
            assert target.attrs.get("aria-invalid") == "true"
            assert f"{field}-error" in target.attrs["aria-describedby"]
            assert any(e.has_class("field-error") for e in target.ancestors), (
                "the field is not marked"
            )
        if field in ("ip", "email_domain", "since", "until"):
            assert page.by_id(field).attrs["value"] == data[field]  # what was typed comes back
        assert "result" not in page.ids  # neither a preview nor a result
    assert await table_snapshot(store) == before


async def test_a_post_without_the_token_or_action_changes_nothing(
    client: httpx.AsyncClient, store: Store
) -> None:
    campaign = await make_campaign(store)
    await pledge_from(store, campaign.slug, 1, ip="203.0.113.9")
    await sign_in(client, store, ADMIN)
    csrf = csrf_of(page_of(await client.get("/admin/invalidate")))
    before = await table_snapshot(store)

    forged = await client.post(
        "/admin/invalidate", data={"ip": "203.0.113.9", "action": "invalidate"}
    )
    assert forged.status_code == 403
    unknown = await client.post(
        "/admin/invalidate", data={"csrf_token": csrf, "ip": "203.0.113.9", "action": "zap"}
    )
    assert unknown.status_code == 400
    assert await table_snapshot(store) == before
