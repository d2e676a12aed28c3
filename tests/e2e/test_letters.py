"""Letters with codes, in real Chromium: the lead prints the letters and reads a code off
the printed page, a resident enters it at /c/{slug}/verify, and the lead's dashboard shows
the household verified by letter. Twenty wrong codes for another home are refused (the
later ones with the "try again later" page), and nothing more counts."""

from __future__ import annotations

import re
from typing import Any

import pytest
import sqlalchemy as sa

from pledges.campaigns import get_campaign
from pledges.store import Store
from pledges.tables import households
from tests.e2e.conftest import (
    LiveServer,
    Screenshot,
    create_campaign,
    run_async,
    sign_in_with_emailed_link,
)
from tests.factories import add_premises, pledge_data

pytestmark = pytest.mark.browser

LEAD = "rosa.lead@example.org"
HOMES = [("12 Brudenell Road", "LS6 1AB"), ("14 Brudenell Road", "LS6 1AB")]


async def _list_premises(database_url: str, slug: str) -> None:
    store = Store(database_url)
    await store.connect()
    try:
        campaign = await get_campaign(store.database, slug)
        await add_premises(store, campaign.id, HOMES)
    finally:
        await store.disconnect()


async def _verified_levels(database_url: str) -> list[str | None]:
    store = Store(database_url)
    await store.connect()
    try:
        rows = await store.database.fetch_all(
            sa.select(households.c.level)
            .where(households.c.letter_verified_at.is_not(None))
            .order_by(households.c.id)
        )
        return [r["level"] for r in rows]
    finally:
        await store.disconnect()


def _verify(page: Any, slug: str, line: str, code: str) -> None:
    page.goto(f"/c/{slug}/verify")
    page.get_by_label("Postcode").fill("ls6 1ab")
    page.get_by_label("First line of your address").fill(line)
    page.get_by_label("Code from your letter").fill(code)
    page.get_by_role("button", name="Verify my home").click()


def test_lead_prints_letters_and_a_resident_verifies_their_home(
    page: Any, browser: Any, live_server: LiveServer, screenshot: Screenshot
) -> None:
    from playwright.sync_api import expect

    key = live_server.lead_api_key(LEAD)
    campaign = create_campaign(
        live_server, key, counts="households", target=5, title="Full fibre for Brudenell Road"
    )
    slug = campaign["slug"]
    database_url = live_server.env["DATABASE_URL"]
    run_async(_list_premises(database_url, slug))
    with live_server.api(key) as api:  # a neighbour's pledge on paper, from number 12
        paper = {**pledge_data(1, address_line="12 Brudenell Rd"), "source": "paper"}
        assert api.post(f"/api/v1/campaigns/{slug}/pledges", json=paper).status_code == 201

    # The lead prints the letters and reads number 12's code off the printed page.
    page.goto("/lead")
    sign_in_with_emailed_link(page, "lead", LEAD)
    page.goto(f"/lead/campaigns/{slug}")
    page.get_by_role("link", name="Print letters with codes").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Letters with codes")
    expect(page.get_by_text("the codes on letters you printed before stop working")).to_be_visible()
    page.get_by_role("button", name="Print letters for 2 homes").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("2 letters to print")
    letter = page.get_by_role("article", name="Letter to 12 Brudenell Road, LS6 1AB")
    expect(letter.get_by_role("heading", level=2)).to_have_text("Full fibre for Brudenell Road")
    expect(letter.locator(".letter-qr svg")).to_be_visible()
    expect(letter).to_contain_text(f"{live_server.url}/c/{slug}/verify")
    code = letter.locator(".letter-code").inner_text().strip()
    assert re.fullmatch(r"[BCDFGHJKMNPQRSTVWXZ2-9]{4}-[BCDFGHJKMNPQRSTVWXZ2-9]{4}", code), code
    other_code = (
        page.get_by_role("article", name="Letter to 14 Brudenell Road, LS6 1AB")
        .locator(".letter-code")
        .inner_text()
        .strip()
    )
    page.emulate_media(media="print")
    expect(page.locator(".site-header")).to_be_hidden()  # the print page is the letters alone
    screenshot(page, "lead-letters-print")
    page.emulate_media(media="screen")

    # A resident, in a browser of their own, on a phone, enters it.
    resident_context = browser.new_context(
        base_url=live_server.url, viewport={"width": 390, "height": 844}, locale="en-GB"
    )
    try:
        resident = resident_context.new_page()
        _verify(resident, slug, "12, Brudenell Rd", code.lower().replace("-", " "))
        expect(resident.get_by_role("heading", level=1)).to_have_text("Your home is verified")
        expect(resident.get_by_text("Your home's pledge is counted.")).to_be_visible()
        screenshot(resident, "resident-verified")

        # Someone guessing number 14's code: refused, then held off, and nothing counts.
        shifted = str.maketrans("BCDFGHJKMNPQRSTVWXZ23456789", "CDFGHJKMNPQRSTVWXZ23456789B")
        wrong = other_code.translate(shifted)  # another code, so surely not number 14's
        for attempt in range(20):
            _verify(resident, slug, "14 Brudenell Road", wrong)
            if attempt < 5:
                error = resident.locator("#code-error")
                expect(error).to_contain_text("That code does not match this address")
                expect(resident.get_by_label("Code from your letter")).to_have_attribute(
                    "aria-invalid", "true"
                )
            else:
                heading = resident.get_by_role("heading", level=1)
                expect(heading).to_have_text("Please try again later")
                expect(resident.get_by_text("Nothing was counted.")).to_be_visible()
        screenshot(resident, "resident-verify-limited")
        # Even the right code is held off now for that address.
        _verify(resident, slug, "14 Brudenell Road", other_code)
        expect(resident.get_by_role("heading", level=1)).to_have_text("Please try again later")
    finally:
        resident_context.close()

    # The lead's dashboard: number 12 verified by letter, and counted at that level.
    page.goto(f"/lead/campaigns/{slug}")
    panel = page.locator(".counts").filter(has_text="Homes verified by letter")
    expect(panel).to_contain_text("Homes verified by letter 1")
    levels = page.locator("table").filter(has_text="Counted households by how they were verified")
    expect(levels.locator("tr").filter(has_text="Letter with a code")).to_contain_text("1")
    expect(levels.locator("tr").filter(has_text="Email")).to_contain_text("0")
    screenshot(page, "lead-dashboard-letters")
    assert run_async(_verified_levels(database_url)) == ["letter"]  # number 14 never was
