"""A campaign lead, in real Chromium at desktop size: signs in by emailed link, starts a
campaign (fixing a mistake first), records a paper pledge (after forgetting the consent
box), downloads the pledge CSV with that pledge in it, and opens the printable flyer."""

from __future__ import annotations

import csv
import re
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import LiveServer, Screenshot, sign_in_with_emailed_link

pytestmark = pytest.mark.browser


def test_lead_starts_campaign_adds_paper_pledge_and_downloads_csv(
    page: Any, live_server: LiveServer, screenshot: Screenshot, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    deadline = date.today() + timedelta(days=60)

    # Signing in: the emailed link, then the button on the page it opens.
    page.goto("/")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Run a campaign").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in to run a campaign")
    sign_in_with_emailed_link(page, "lead", "maya.lead@example.org")
    expect(page.get_by_role("heading", level=1)).to_have_text("Your campaigns")
    expect(page.get_by_text("Signed in as maya.lead@example.org")).to_be_visible()

    # The campaign form, with one postcode district that is not one.
    page.get_by_role("link", name="Start a campaign").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Start a campaign")
    page.get_by_label("Title", exact=True).fill("Full fibre for Otley Road")
    page.get_by_label("Summary", exact=True).fill(
        "Gigabit broadband for the houses along Otley Road and the streets off it."
    )
    page.get_by_label("The full story (optional)").fill(
        "We are stuck on copper.\n\nIf 12 households pledge, a provider says it will build."
    )
    page.get_by_label("Category", exact=True).select_option(label="Broadband")
    page.get_by_label("Area name").fill("Otley Road, Headingley")
    districts = page.get_by_label("Postcode districts")
    districts.fill("LS6, LS16")
    page.get_by_label("Target: how many pledges it needs").fill("12")
    page.get_by_label("Deadline", exact=True).fill(deadline.isoformat())
    screenshot(page, "lead-new-campaign")
    districts.fill("LS6, LS16, QQ")  # one more district, mistyped
    page.get_by_role("button", name="Publish now").click()

    summary = page.locator(".error-summary")
    expect(summary).to_contain_text("Not a UK postcode district: QQ")
    expect(districts).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Title", exact=True)).to_have_value("Full fibre for Otley Road")
    summary.get_by_role("link", name=re.compile("Not a UK postcode district")).click()
    expect(districts).to_be_focused()
    districts.fill("LS6, LS16")
    page.get_by_role("button", name="Publish now").click()

    # The dashboard of the published campaign.
    expect(page.get_by_role("heading", level=1)).to_have_text("Full fibre for Otley Road")
    expect(page.get_by_role("status")).to_contain_text("Published")
    progress = page.get_by_role("group", name="Progress")
    expect(progress).to_contain_text("0 of 12 pledges")
    slug = page.url.rstrip("/").rsplit("/", 1)[-1]
    assert slug == "full-fibre-for-otley-road", page.url

    # A paper pledge: refused until the consent box is ticked, then counted at once.
    page.get_by_label("Their name", exact=True).fill("Tom Okafor")
    page.get_by_label("Their email address", exact=True).fill("tom.okafor@example.org")
    page.get_by_label("Their postcode", exact=True).fill("ls6 2ab")
    page.get_by_role("button", name="Add this pledge").click()
    consent = page.get_by_label(re.compile("^The person signed a paper form"))
    expect(page.locator(".error-summary")).to_contain_text("Tick the box")
    expect(consent).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Their name", exact=True)).to_have_value("Tom Okafor")
    expect(progress).to_contain_text("0 of 12 pledges")
    consent.check()
    page.get_by_role("button", name="Add this pledge").click()
    expect(page.get_by_role("status")).to_contain_text("Paper pledge recorded")
    expect(progress).to_contain_text("1 of 12 pledges")
    expect(page.get_by_role("heading", name="Confirmed pledges over time")).to_be_visible()
    expect(page.locator(".chart-figure svg")).to_be_visible()
    screenshot(page, "lead-dashboard")

    # The CSV holds the paper pledge.
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download every pledge (CSV)").click()
    download = download_info.value
    assert download.suggested_filename == f"{slug}-pledges.csv"
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    # The byte-order mark tells Excel the file is UTF-8 (accented names stay whole).
    assert saved.read_bytes().startswith(b"\xef\xbb\xbf")
    with saved.open(newline="", encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 1, rows
    row = rows[0]
    assert (row["name"], row["email"], row["postcode"]) == (
        "Tom Okafor",
        "tom.okafor@example.org",
        "LS6 2AB",
    )
    assert (row["status"], row["source"], row["district"]) == ("confirmed", "paper", "LS6")

    # The printable flyer points at the public page.
    page.get_by_role("link", name="Print a flyer").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Full fibre for Otley Road")
    expect(page.locator(".flyer-url")).to_have_text(f"{live_server.url}/c/{slug}")
    expect(page.locator(".flyer-qr svg")).to_be_visible()
    screenshot(page, "lead-flyer")

    # And the public page counts the paper pledge.
    page.goto(f"/c/{slug}")
    expect(page.get_by_role("group", name="Progress")).to_contain_text("1 of 12 pledges")
