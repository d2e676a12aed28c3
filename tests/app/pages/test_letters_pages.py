"""Letters with codes on the pages, without JavaScript: the lead prints them (the codes
shown once), a resident enters a code at /c/{slug}/verify or on the pledge form, errors
beside their field, a 429 page once wrong codes pass the limit, and the confirmation
email points to the verify page."""

from __future__ import annotations

import re

import httpx
import sqlalchemy as sa
from starlette.applications import Starlette

from pledges.accounts import Lead
from pledges.campaigns import Campaign, get_campaign
from pledges.letters import WRONG_CODE, WRONG_CODES_PER_ADDRESS, issue_letters
from pledges.pledging import confirm_pledge, parse_pledge, record_pledge
from pledges.store import Store
from pledges.tables import households, letter_attempts, pledges
from pledges.tokens import Signer
from tests.app.pages.stylesheets import linked_styles
from tests.app.pages.test_leads import browser, csrf_of, sign_in, store_of
from tests.app.pages.test_residents import csrf_for, form, nothing_changes, page_of
from tests.conftest import TEST_SECRET
from tests.factories import add_premises, make_campaign, make_lead, pledge_data

HOMES = [("12 Brudenell Road", "LS6 1AB"), ("14 Brudenell Road", "LS6 1AB")]
CODE = re.compile(r"\b[BCDFGHJKMNPQRSTVWXZ2-9]{4}-[BCDFGHJKMNPQRSTVWXZ2-9]{4}\b")

SIGNER = Signer(TEST_SECRET)


async def _households_campaign(store: Store, lead_id: int | None = None) -> Campaign:
    if lead_id is None:
        lead, _ = await make_lead(store, "someone@example.org")
        lead_id = lead.id
    campaign = await make_campaign(
        store, Lead(id=lead_id, email="", name=""), counts="households", target=5
    )
    await add_premises(store, campaign.id, HOMES)
    return await get_campaign(store.database, campaign.slug)


async def _codes(store: Store, campaign: Campaign) -> dict[str, str]:
    letters = await issue_letters(store, campaign.slug, campaign.lead_id, SIGNER)
    return {x.address_line: x.code for x in letters}


async def _attempts(store: Store) -> list[bool]:
    rows = await store.database.fetch_all(
        sa.select(letter_attempts.c.ok).order_by(letter_attempts.c.id)
    )
    return [bool(r["ok"]) for r in rows]


async def _verify_token(client: httpx.AsyncClient, slug: str) -> str:
    shown = await client.get(f"/c/{slug}/verify")
    assert shown.status_code == 200
    return page_of(shown).form_fields(f"/c/{slug}/verify")["csrf_token"]


# The lead's letters


async def test_the_lead_prints_one_letter_a_home_with_its_code_shown_once(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    store = store_of(app)
    lead = await sign_in(client, store)
    campaign = await _households_campaign(store, lead.id)

    dashboard = page_of(await client.get(f"/lead/campaigns/{campaign.slug}"))
    link = dashboard.find("a", href=f"/lead/campaigns/{campaign.slug}/letters")
    assert link is not None and link.words == "Print letters with codes"

    explained = await client.get(f"/lead/campaigns/{campaign.slug}/letters")
    assert explained.status_code == 200
    page = page_of(explained)
    assert "the codes on letters you printed before stop working" in page.words
    assert "Homes on your list 2" in page.words

    printed = await client.post(
        f"/lead/campaigns/{campaign.slug}/letters", data={"csrf_token": csrf_of(explained.text)}
    )
    assert printed.status_code == 200
    letters = page_of(printed).find_all("article")
    assert [a.attrs["aria-label"] for a in letters] == [
        "Letter to 12 Brudenell Road, LS6 1AB",
        "Letter to 14 Brudenell Road, LS6 1AB",
    ]
    codes = [CODE.search(a.words) for a in letters]
    assert all(codes) and len({c.group() for c in codes if c}) == 2
    for letter in letters:
        assert campaign.title in letter.words and campaign.summary in letter.words
        assert f"http://testserver/c/{campaign.slug}/verify" in letter.words
    assert printed.text.count('class="qr"') == 2
    assert "@page { size: A4" in await linked_styles(client, printed)
    assert "stops working" in page_of(printed).words

    again = page_of(await client.get(f"/lead/campaigns/{campaign.slug}/letters"))
    assert "Codes printed, not used yet 2" in again.words
    assert not CODE.search(again.words)  # never shown again


async def test_letters_need_the_lead_the_token_and_a_list(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    store = store_of(app)
    stranger = await client.get("/lead/campaigns/anything/letters")
    assert stranger.status_code == 303 and stranger.headers["location"].startswith("/lead/sign")
    lead = await sign_in(client, store)
    others = await _households_campaign(store)
    assert (await client.get(f"/lead/campaigns/{others.slug}/letters")).status_code == 404

    mine = await _households_campaign(store, lead.id)
    async with nothing_changes(store):
        refused = await client.post(f"/lead/campaigns/{mine.slug}/letters", data={})
    assert refused.status_code == 403

    people = await make_campaign(store, lead)
    shown = await client.get(f"/lead/campaigns/{people.slug}/letters")
    assert "counts people" in page_of(shown).words
    assert page_of(shown).find("form", action=f"/lead/campaigns/{people.slug}/letters") is None
    dashboard = await client.get(f"/lead/campaigns/{people.slug}")
    assert page_of(dashboard).find("a", href=f"/lead/campaigns/{people.slug}/letters") is None
    async with nothing_changes(store):  # a stale page's button, say
        posted = await client.post(
            f"/lead/campaigns/{people.slug}/letters", data={"csrf_token": csrf_of(dashboard.text)}
        )
    assert posted.status_code == 409
    assert "counts people" in page_of(posted).words


async def test_the_dashboard_shows_homes_verified_by_letter(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    store = store_of(app)
    lead = await sign_in(client, store)
    campaign = await _households_campaign(store, lead.id)
    codes = await _codes(store, campaign)
    async with browser(app) as resident:
        token = await csrf_for(resident, campaign.slug)
        pledged = await resident.post(
            f"/c/{campaign.slug}/pledge",
            data={
                **form(1, address_line="12 Brudenell Rd"),
                "letter_code": codes["12 Brudenell Road"],
                "csrf_token": token,
            },
        )
        assert pledged.status_code == 303
    pledge_id = await store.database.fetch_val(sa.select(pledges.c.id))
    await confirm_pledge(store, pledge_id)

    page = page_of(await client.get(f"/lead/campaigns/{campaign.slug}"))
    assert "Homes verified by letter 1" in page.words
    assert "Email 0 Letter with a code 1 You (paper or vouched) 0" in page.words


# The resident's code


async def test_a_resident_verifies_their_home_with_the_code(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    store = store_of(app)
    campaign = await _households_campaign(store)
    codes = await _codes(store, campaign)

    shown = await client.get(f"/c/{campaign.slug}/verify")
    fields = page_of(shown).form_fields(f"/c/{campaign.slug}/verify")
    assert set(fields) == {"csrf_token", "postcode", "address_line", "code"}
    assert "<script" not in shown.text

    verified = await client.post(
        f"/c/{campaign.slug}/verify",
        data={
            "csrf_token": fields["csrf_token"],
            "postcode": "ls6 1ab",
            "address_line": "14, Brudenell Rd",
            "code": codes["14 Brudenell Road"].lower(),
        },
    )
    assert verified.status_code == 200
    page = page_of(verified)
    assert page.find("h1") is not None and page.find("h1").words == "Your home is verified"  # type: ignore[union-attr]
    assert "Nobody at your address has pledged yet" in page.words
    assert page.find("a", href=f"/c/{campaign.slug}#pledge") is not None
    home = await store.database.fetch_one(sa.select(households))
    assert home is not None and home["letter_verified_at"] is not None


async def test_a_wrong_code_is_said_beside_the_field_and_recorded(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    store = store_of(app)
    campaign = await _households_campaign(store)
    codes = await _codes(store, campaign)
    token = await _verify_token(client, campaign.slug)
    typed = {"postcode": "LS6 1AB", "address_line": "12 Brudenell Road"}

    wrong = await client.post(
        f"/c/{campaign.slug}/verify",
        data={**typed, "code": codes["14 Brudenell Road"], "csrf_token": token},
    )
    assert wrong.status_code == 422
    page = page_of(wrong)
    assert page.by_id("code-error").words == f"Error: {WRONG_CODE}"
    assert page.by_id("code").attrs["aria-invalid"] == "true"
    assert page.by_id("address_line").attrs["value"] == "12 Brudenell Road"  # kept
    assert page.summary_links() == ["#code"]
    assert await _attempts(store) == [False]

    async with nothing_changes(store):  # what cannot be a claim is not counted as a try
        malformed = await client.post(
            f"/c/{campaign.slug}/verify",
            data={"postcode": "nowhere", "address_line": "", "code": "12", "csrf_token": token},
        )
        assert malformed.status_code == 422
        assert page_of(malformed).summary_links() == ["#postcode", "#address_line", "#code"]
        no_token = await client.post(f"/c/{campaign.slug}/verify", data={**typed, "code": "x"})
        assert no_token.status_code == 403


async def test_too_many_wrong_codes_give_the_429_page_and_nothing_counts(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    store = store_of(app)
    campaign = await _households_campaign(store)
    codes = await _codes(store, campaign)
    token = await _verify_token(client, campaign.slug)
    typed = {"postcode": "LS6 1AB", "address_line": "12 Brudenell Road", "csrf_token": token}
    for _ in range(WRONG_CODES_PER_ADDRESS):
        answer = await client.post(
            f"/c/{campaign.slug}/verify", data={**typed, "code": codes["14 Brudenell Road"]}
        )
        assert answer.status_code == 422

    async with nothing_changes(store):
        limited = await client.post(
            f"/c/{campaign.slug}/verify", data={**typed, "code": codes["12 Brudenell Road"]}
        )
    assert limited.status_code == 429
    assert 23 * 3600 < int(limited.headers["Retry-After"]) <= 24 * 3600
    page = page_of(limited)
    assert page.find("h1").words == "Please try again later"  # type: ignore[union-attr]
    assert "Too many wrong codes have been entered for this address" in page.words
    assert "Nothing was counted" in page.words


async def test_the_verify_page_is_only_for_campaigns_with_letters(
    client: httpx.AsyncClient, store: Store
) -> None:
    people = await make_campaign(store)
    assert (await client.get(f"/c/{people.slug}/verify")).status_code == 409
    draft = await make_campaign(store, counts="households", target=5, draft=True)
    await add_premises(store, draft.id, HOMES)
    assert (await client.get(f"/c/{draft.slug}/verify")).status_code == 404
    assert (await client.get("/c/no-such-campaign/verify")).status_code == 404


# The code on the pledge form


async def test_the_pledge_form_takes_the_code_and_verifies_the_home(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    store = store_of(app)
    campaign = await _households_campaign(store)
    codes = await _codes(store, campaign)
    shown = page_of(await client.get(f"/c/{campaign.slug}"))
    assert shown.by_id("letter_code").attrs["name"] == "letter_code"
    people = await make_campaign(store)
    assert "letter_code" not in (await client.get(f"/c/{people.slug}")).text

    token = await csrf_for(client, campaign.slug)
    posted = await client.post(
        f"/c/{campaign.slug}/pledge",
        data={
            **form(1, address_line="12 Brudenell Road"),
            "letter_code": codes["12 Brudenell Road"].replace("-", " "),
            "csrf_token": token,
        },
    )
    assert posted.status_code == 303
    after = page_of(await client.get(posted.headers["location"]))
    assert "your home is verified by letter" in after.words
    home = await store.database.fetch_one(sa.select(households))
    assert home is not None and home["letter_verified_at"] is not None
    # Shown once.
    assert "verified by letter" not in page_of(await client.get(posted.headers["location"])).words


async def test_a_wrong_code_on_the_pledge_form_keeps_the_pledge_and_says_so_next(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    store = store_of(app)
    campaign = await _households_campaign(store)
    codes = await _codes(store, campaign)
    token = await csrf_for(client, campaign.slug)
    posted = await client.post(
        f"/c/{campaign.slug}/pledge",
        data={
            **form(1, address_line="12 Brudenell Road"),
            "letter_code": codes["14 Brudenell Road"],
            "csrf_token": token,
        },
    )
    assert posted.status_code == 303
    after = page_of(await client.get(posted.headers["location"]))
    note = after.by_id("letter_code")
    assert "Your pledge is recorded, but the code from your letter was not accepted" in note.words
    assert WRONG_CODE in note.words
    assert after.find("a", href=f"/c/{campaign.slug}/verify") is not None
    assert await store.database.fetch_val(sa.select(sa.func.count()).select_from(pledges)) == 1
    assert await _attempts(store) == [False]


async def test_a_code_that_cannot_be_one_is_refused_beside_the_field_before_pledging(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    store = store_of(app)
    campaign = await _households_campaign(store)
    token = await csrf_for(client, campaign.slug)
    async with nothing_changes(store):
        refused = await client.post(
            f"/c/{campaign.slug}/pledge",
            data={
                **form(1, address_line="12 Brudenell Road", email=""),
                "letter_code": "ABC",
                "csrf_token": token,
            },
        )
    assert refused.status_code == 422
    page = page_of(refused)
    assert page.summary_links() == ["#email", "#letter_code"]
    assert "like BCDF-2345" in page.by_id("letter_code-error").words
    assert page.by_id("letter_code").attrs["value"] == "ABC"


async def test_the_confirmation_email_points_to_the_verify_page(
    app: Starlette, store: Store
) -> None:
    campaign = await _households_campaign(store)
    data = pledge_data(1, address_line="12 Brudenell Road")
    outcome = await record_pledge(store, campaign.slug, parse_pledge(data))
    renderer = app.state.services.renderer
    async with store.read() as db:
        rendered = await renderer.render(db, "confirm", outcome.pledge_id)
    assert f"http://testserver/c/{campaign.slug}/verify" in rendered.text
    assert f'href="http://testserver/c/{campaign.slug}/verify"' in rendered.html

    people = await make_campaign(store)
    other = await record_pledge(store, people.slug, parse_pledge(pledge_data(2)))
    async with store.read() as db:
        plain = await renderer.render(db, "confirm", other.pledge_id)
    assert "/verify" not in plain.text
