"""A provider, in real Chromium: signs in with the organisation's key, adds a webhook endpoint
pointing at a real receiver, gives the receiver the secret shown once, and sees the
campaign.tipped delivery succeed after a campaign tips. The receiver checks the signature
with the standardwebhooks library, as a provider's own code would."""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.conftest import (
    LiveServer,
    Screenshot,
    add_paper_pledges,
    create_campaign,
    reload_until,
)
from tests.receiver import Receiver, run_receiver

pytestmark = pytest.mark.browser


@contextlib.contextmanager
def receiver_in_thread() -> Iterator[Receiver]:
    """tests/receiver.py's receiver, served from a thread with its own event loop."""
    receiver = Receiver()
    started = threading.Event()
    failure: list[BaseException] = []
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    async def serve() -> None:
        async with run_receiver(receiver):
            started.set()
            await stop.wait()

    def target() -> None:
        try:
            loop.run_until_complete(serve())
        except BaseException as exc:
            failure.append(exc)
        finally:
            started.set()
            loop.close()

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    if not started.wait(timeout=15) or failure:
        raise AssertionError(f"the webhook receiver did not start: {failure}")
    try:
        yield receiver
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=15)


def wait_for_verified(receiver: Receiver, event_type: str, timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        for received in receiver.verified():
            if received.verified.get("type") == event_type:
                return received.verified
        if time.monotonic() > deadline:
            raise AssertionError(
                f"no verified {event_type} within {timeout} s; received: "
                f"{[(r.path, r.verified is not None) for r in receiver.requests]}"
            )
        time.sleep(0.05)  # the poll interval of a deadline-bound wait


def test_provider_adds_endpoint_and_sees_tipped_delivery(
    page: Any, live_server: LiveServer, screenshot: Screenshot
) -> None:
    from playwright.sync_api import expect

    org_key = live_server.org_api_key("ops@fibreco.example", "FibreCo")
    lead_key = live_server.lead_api_key("lead@example.org")

    with receiver_in_thread() as receiver:
        page.goto("/org/sign-in")
        expect(page.get_by_role("heading", level=1)).to_have_text(
            "Sign in for providers and councils"
        )
        page.get_by_label("API key").fill(org_key)
        page.get_by_role("button", name="Sign in").click()
        org_nav = page.get_by_role("navigation", name="Organisation")
        expect(org_nav).to_contain_text("Signed in for FibreCo")
        org_nav.get_by_role("link", name="Webhook endpoints").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Webhook endpoints for FibreCo")
        expect(page.get_by_text("No endpoints yet.")).to_be_visible()

        page.get_by_label("URL (https)").fill(receiver.url)
        page.get_by_label("Description").fill("Planning team")
        page.get_by_label("campaign.tipped", exact=True).check()
        page.get_by_role("button", name="Add endpoint").click()

        added = page.get_by_role("status")
        expect(added).to_contain_text("Endpoint added")
        secret = page.locator("code.secret").inner_text().strip()
        assert re.fullmatch(r"whsec_[A-Za-z0-9+/=]+", secret), secret
        receiver.secrets.append(secret)
        endpoint_link = page.get_by_role("link", name=receiver.url)
        expect(endpoint_link).to_be_visible()

        # Three paper pledges tip a campaign with a target of three.
        campaign = create_campaign(
            live_server,
            lead_key,
            slug="full-fibre-for-kirkstall",
            title="Full fibre for Kirkstall",
            area={"name": "Kirkstall", "postcode_districts": ["LS5"]},
            target=3,
        )
        assert add_paper_pledges(live_server, lead_key, campaign["slug"], 3, "LS5 3AA") == 3

        endpoint_link.click()
        expect(page.get_by_role("heading", level=1)).to_have_text(receiver.url)
        delivery = page.locator("details summary").filter(has_text="campaign.tipped").first
        reload_until(page, delivery.filter(has_text="succeeded"))
        expect(page.get_by_text("Nothing delivered yet.")).to_have_count(0)
        delivery.click()  # open the delivery: its attempts and payload
        attempts = page.locator("details[open] table")
        expect(attempts).to_contain_text("200")
        expect(page.locator("details[open] pre")).to_contain_text("full-fibre-for-kirkstall")
        screenshot(page, "provider-endpoint")

        tipped = wait_for_verified(receiver, "campaign.tipped")
        assert tipped["data"]["campaign"]["slug"] == "full-fibre-for-kirkstall"
        assert tipped["data"]["campaign"]["url"] == f"{live_server.url}/c/full-fibre-for-kirkstall"
        assert tipped["data"]["pledges_by_district"] == {"LS5": 3}
        # The secret is shown once: the endpoint list no longer carries it.
        org_nav.get_by_role("link", name="Webhook endpoints").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Webhook endpoints for FibreCo")
        expect(page.get_by_text(secret)).to_have_count(0)

        # The demand view: the tipped campaign, counted by district.
        org_nav.get_by_role("link", name="Demand").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Demand in your areas")
        card = page.locator(".card").filter(
            has=page.get_by_role("link", name="Full fibre for Kirkstall")
        )
        expect(card).to_contain_text("Tipped")
        expect(card).to_contain_text("3 of 3 confirmed pledges")
        screenshot(page, "provider-demand")
