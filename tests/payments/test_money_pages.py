"""Money pledges in the browser: the campaign page, the pledge form to Stripe's Checkout
and back, confirming before or after the card, and paying after a failed charge.

The app runs in-process (ASGI); the fake Stripe runs on 127.0.0.1 and its hosted Checkout
page is posted to over real HTTP, as a browser would."""

from __future__ import annotations

import socket
from datetime import timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from starlette.applications import Starlette

from app.main import create_app, services_of
from app.settings import Settings
from gateways.stripe_gateway import StripeGateway
from gateways.stripe_stand_in import FakeStripe
from pledges.campaigns import Campaign, get_campaign
from pledges.payments import refund_pledge, remind_and_give_up, run_payments
from pledges.pledging import parse_pledge, record_pledge
from pledges.store import Store, utcnow
from pledges.tables import pledges
from tests.app.pages.confirming import press_confirm
from tests.app.pages.test_accessibility import accessibility_problems
from tests.app.pages.test_residents import (
    Page,
    csrf_for,
    form,
    nothing_changes,
    page_of,
    sign,
    token_of_kind,
)
from tests.conftest import make_settings
from tests.factories import make_campaign, pledge_data
from tests.payments.conftest import make_money_campaign, make_money_pledge, money_settings
from tests.payments.stripe_server import API_KEY, WEBHOOK_SECRET

BASE = "http://testserver"
RANGE = {"currency": "gbp", "target": 100_000, "min": 500, "max": 5_000}  # £1,000; £5 to £50


@pytest.fixture
def settings(database_url: str, fake_stripe: FakeStripe) -> Settings:
    return money_settings(database_url, fake_stripe)


@pytest.fixture
async def store(app: Starlette) -> Store:
    """The app's own store, so the test and the app share SQLite's single writer."""
    found: Store = services_of(app).store
    return found


# ----- helpers ------------------------------------------------------------------------------


def accessible(response: httpx.Response) -> Page:
    page = page_of(response)
    assert accessibility_problems(response.text) == []
    return page


async def pledge_by_form(
    client: httpx.AsyncClient, slug: str, i: int = 1, **extra: str
) -> httpx.Response:
    token = await csrf_for(client, slug)
    return await client.post(f"/c/{slug}/pledge", data={**form(i), **extra, "csrf_token": token})


def session_id_of(checkout_url: str) -> str:
    return checkout_url.rsplit("/", 1)[1]


async def checkout(fake: FakeStripe, url: str, card: str = "visa") -> str:
    """Submit Stripe's hosted page as a browser would; the path it sends the resident back
    to on Groundswell."""
    assert url.startswith(f"{fake.public_url}/pay/cs_"), url
    async with httpx.AsyncClient(trust_env=False) as browser:
        response = await browser.post(url, data={"card": card})
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert location.startswith(f"{BASE}/"), location
    return location.removeprefix(BASE)


async def pledge_row(store: Store, pledge_id: int) -> dict[str, Any]:
    row = await store.database.fetch_one(sa.select(pledges).where(pledges.c.id == pledge_id))
    assert row is not None
    return dict(row._mapping)


async def only_pledge(store: Store, campaign: Campaign) -> dict[str, Any]:
    rows = await store.database.fetch_all(
        sa.select(pledges).where(pledges.c.campaign_id == campaign.id)
    )
    assert len(rows) == 1
    return dict(rows[0]._mapping)


async def reload(store: Store, campaign: Campaign) -> Campaign:
    return await get_campaign(store.database, campaign.slug)


async def post_button(
    client: httpx.AsyncClient, page: Page, action: str, **extra: str
) -> httpx.Response:
    """Press the page's button that posts to `action`, with the form's hidden fields."""
    return await client.post(action, data={**page.form_fields(action), **extra})


# ----- the campaign page --------------------------------------------------------------------


async def test_a_money_campaign_page_shows_money_count_and_terms(
    client: httpx.AsyncClient,
    store: Store,
    fake_stripe: FakeStripe,
    gateway: StripeGateway,
) -> None:
    campaign = await make_money_campaign(store, title="Fibre for Otley Road")
    await make_money_pledge(store, fake_stripe, gateway, campaign.slug, 1)

    response = await client.get(f"/c/{campaign.slug}")

    assert response.status_code == 200
    page = accessible(response)
    assert "£20 of £60 pledged" in page.words
    assert "1 of 3 households (33%)" in page.words
    assert "Each household pledges £20." in page.words
    deadline = campaign.deadline.strftime("%-d %B %Y")
    assert (
        "Your card is saved with Stripe and charged only if the campaign reaches its target "
        f"by {deadline}. Nothing is charged otherwise."
    ) in page.words
    fields = page.form_fields(f"/c/{campaign.slug}/pledge")
    assert "amount" not in fields  # a fixed deposit: nothing to choose
    assert "50% (£30 and 2 households): not reached yet" in page.words


async def test_a_money_only_campaign_with_a_range_asks_for_the_amount(
    client: httpx.AsyncClient, store: Store
) -> None:
    campaign = await make_money_campaign(store, money=RANGE, target=None)

    page = accessible(await client.get(f"/c/{campaign.slug}"))

    assert "£0 of £1,000 pledged (0%)" in page.words
    assert "0 households" in page.words
    assert " of 0" not in page.words
    assert "Each household pledges what it chooses, from £5 to £50." in page.words
    amount = page.by_id("amount")
    assert amount.attrs["name"] == "amount"
    assert amount.attrs["inputmode"] == "decimal"
    assert page.find("label", **{"for": "amount"}) is not None
    assert "Any amount from £5 to £50." in page.by_id("amount-hint").words
    assert "amount-hint" in amount.attrs["aria-describedby"].split()
    assert "25% (£250): not reached yet" in page.words


async def test_a_campaign_without_money_is_unchanged(
    client: httpx.AsyncClient, store: Store
) -> None:
    campaign = await make_campaign(store, target=8)

    page = accessible(await client.get(f"/c/{campaign.slug}"))

    assert "0 of 8 pledges (0%)" in page.words
    assert "pledged" not in page.words.replace("pledges", "")
    assert "Stripe" not in page.words
    assert "amount" not in page.form_fields(f"/c/{campaign.slug}/pledge")


# ----- pledge, save the card, confirm ---------------------------------------------------------


async def test_pledge_save_card_then_confirm_counts_once(
    client: httpx.AsyncClient, store: Store, app: Starlette, fake_stripe: FakeStripe
) -> None:
    campaign = await make_money_campaign(store)

    pledged = await pledge_by_form(client, campaign.slug)

    assert pledged.status_code == 303
    row = await only_pledge(store, campaign)
    assert (row["status"], row["payment_status"], row["amount"]) == (
        "pending",
        "awaiting_card",
        2000,
    )
    assert row["stripe_customer_id"]  # made once, reused by a second Checkout
    back = await checkout(fake_stripe, pledged.headers["location"])
    assert back.startswith(f"/c/{campaign.slug}/card-saved?session_id=cs_")

    saved = await client.get(back)

    assert saved.status_code == 200
    page = accessible(saved)
    assert (
        "Card saved. Check your email and confirm your pledge: it counts once you confirm"
        in page.words
    )
    row = await pledge_row(store, row["id"])
    assert (row["status"], row["payment_status"]) == ("pending", "card_saved")
    assert row["stripe_payment_method_id"]
    assert (await reload(store, campaign)).confirmed == 0

    confirmed = await press_confirm(client, sign(app, row["id"], "pledge-confirm"))

    assert confirmed.status_code == 200
    page = accessible(confirmed)
    assert "Your pledge is confirmed" in page.words
    assert "Your pledge of £20 counts." in page.words
    assert "charged only if the campaign reaches its target" in page.words
    after = await reload(store, campaign)
    assert (after.confirmed, after.pledged_amount) == (1, 2000)
    assert "£20 of £60 pledged" in page_of(await client.get(f"/c/{campaign.slug}")).words

    # Coming back to the return page, or Stripe's events arriving late, change nothing.
    again = await client.get(back)
    assert "Your pledge of £20 counts" in page_of(again).words
    after = await reload(store, campaign)
    assert (after.confirmed, after.pledged_amount) == (1, 2000)


async def test_confirm_first_then_save_the_card_counts_once(
    client: httpx.AsyncClient, store: Store, app: Starlette, fake_stripe: FakeStripe
) -> None:
    campaign = await make_money_campaign(store)
    pledged = await pledge_by_form(client, campaign.slug)
    pledge_id = (await only_pledge(store, campaign))["id"]
    confirm_token = sign(app, pledge_id, "pledge-confirm")

    confirmed = await press_confirm(client, confirm_token)

    assert confirmed.status_code == 200
    page = accessible(confirmed)
    assert "Email confirmed. Save your card to make your pledge count" in page.words
    assert (await reload(store, campaign)).confirmed == 0
    to_stripe = await post_button(client, page, "/pledges/card")
    assert to_stripe.status_code == 303
    fresh = to_stripe.headers["location"]
    assert session_id_of(fresh) != session_id_of(pledged.headers["location"])
    fake_stripe.complete_session(session_id_of(fresh), "visa")

    saved = await client.get(
        f"/c/{campaign.slug}/card-saved", params={"session_id": session_id_of(fresh)}
    )

    assert saved.status_code == 200
    assert "Your pledge of £20 counts" in accessible(saved).words
    after = await reload(store, campaign)
    assert (after.confirmed, after.pledged_amount) == (1, 2000)
    # The customer made for the first Checkout was reused for the second.
    sessions = [fake_stripe.objects[session_id_of(u)] for u in (fresh, pledged.headers["location"])]
    assert sessions[0]["customer"] == sessions[1]["customer"]
    assert len(fake_stripe.of_kind("customer")) == 1

    # The confirm link again, and the card-saved page again: still one.
    again = await press_confirm(client, confirm_token)
    assert "Your pledge was already confirmed" in page_of(again).words
    await client.get(f"/c/{campaign.slug}/card-saved", params={"session_id": session_id_of(fresh)})
    after = await reload(store, campaign)
    assert (after.confirmed, after.pledged_amount) == (1, 2000)


async def test_a_range_campaign_takes_the_amount_typed(
    client: httpx.AsyncClient, store: Store
) -> None:
    campaign = await make_money_campaign(store, money=RANGE, target=None)

    response = await pledge_by_form(client, campaign.slug, amount="£12.50")

    assert response.status_code == 303
    assert (await only_pledge(store, campaign))["amount"] == 1250


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("", "Choose an amount from £5 to £50."),
        ("4.99", "Choose an amount from £5 to £50."),
        ("50.01", "Choose an amount from £5 to £50."),
        ("lots", "Enter an amount in numbers, like 20 or 12.50."),
        ("12.345", "Enter an amount in numbers, like 20 or 12.50."),
    ],
)
async def test_a_bad_amount_is_shown_beside_its_field(
    client: httpx.AsyncClient, store: Store, typed: str, message: str
) -> None:
    campaign = await make_money_campaign(store, money=RANGE, target=None)
    token = await csrf_for(client, campaign.slug)

    async with nothing_changes(store):
        response = await client.post(
            f"/c/{campaign.slug}/pledge", data={**form(1), "amount": typed, "csrf_token": token}
        )

    assert response.status_code == 422
    page = accessible(response)
    assert page.summary_links() == ["#amount"]
    assert message in page.by_id("amount-error").words
    amount = page.by_id("amount")
    assert amount.attrs["value"] == typed  # what was typed comes back
    assert amount.attrs["aria-invalid"] == "true"
    assert set(amount.attrs["aria-describedby"].split()) == {"amount-hint", "amount-error"}


async def test_an_unreadable_amount_and_other_mistakes_are_shown_together(
    client: httpx.AsyncClient, store: Store
) -> None:
    campaign = await make_money_campaign(store, money=RANGE, target=None)
    token = await csrf_for(client, campaign.slug)

    async with nothing_changes(store):
        response = await client.post(
            f"/c/{campaign.slug}/pledge",
            data={**form(1), "name": "", "amount": "ten", "csrf_token": token},
        )

    assert response.status_code == 422
    assert accessible(response).summary_links() == ["#name", "#amount"]


async def test_a_repeat_pledge_with_its_card_saved_goes_to_check_your_email(
    client: httpx.AsyncClient, store: Store, fake_stripe: FakeStripe, gateway: StripeGateway
) -> None:
    campaign = await make_money_campaign(store)
    await make_money_pledge(store, fake_stripe, gateway, campaign.slug, 1, confirm=False)

    response = await pledge_by_form(client, campaign.slug, 1)

    assert response.status_code == 303
    assert response.headers["location"] == f"/c/{campaign.slug}/pledged"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


async def test_stripe_unreachable_the_pledge_is_kept_and_the_card_saved_later(
    database_url: str,
) -> None:
    settings = make_settings(
        database_url,
        stripe_secret_key=API_KEY,
        stripe_webhook_secret=WEBHOOK_SECRET,
        stripe_api_base=f"http://127.0.0.1:{closed_port()}",
    )
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
            store: Store = services_of(application).store
            campaign = await make_money_campaign(store)

            response = await pledge_by_form(client, campaign.slug)

            assert response.status_code == 503
            page = accessible(response)
            assert "Your pledge is recorded" in page.words
            assert "you can save your card from there" in page.words
            row = await only_pledge(store, campaign)
            assert (row["status"], row["payment_status"]) == ("pending", "awaiting_card")
            confirmed = await press_confirm(client, sign(application, row["id"], "pledge-confirm"))
            page = accessible(confirmed)
            assert "Save your card to make your pledge count" in page.words
            assert page.form_fields("/pledges/card")["token"]
            # Stripe is still down: the button says so and offers itself again.
            pressed = await post_button(client, page, "/pledges/card")
            assert pressed.status_code == 503
            assert accessible(pressed).form_fields("/pledges/card")["token"]


# ----- back from Checkout with something wrong ------------------------------------------------


@pytest.mark.parametrize(
    "kind", ["another campaign", "unknown", "still open", "not a session id", "missing"]
)
async def test_card_saved_with_a_wrong_session_is_400_and_stores_nothing(
    client: httpx.AsyncClient, store: Store, fake_stripe: FakeStripe, kind: str
) -> None:
    ours = await make_money_campaign(store)
    theirs = await make_money_campaign(store)
    to_stripe = (await pledge_by_form(client, theirs.slug)).headers["location"]
    session_id = session_id_of(to_stripe)
    if kind == "another campaign":
        fake_stripe.complete_session(session_id, "visa")
    params = {
        "another campaign": {"session_id": session_id},
        "unknown": {"session_id": "cs_test_" + "0" * 24},
        "still open": {"session_id": session_id},
        "not a session id": {"session_id": "../v1/customers"},
        "missing": {},
    }[kind]

    async with nothing_changes(store):
        response = await client.get(f"/c/{ours.slug}/card-saved", params=params)

    assert response.status_code == 400
    page = accessible(response)
    assert "Your card is not saved" in page.words
    assert "We could not find a saved card for a pledge to this campaign" in page.words


async def test_leaving_checkout_offers_to_save_the_card_again(
    client: httpx.AsyncClient, store: Store, fake_stripe: FakeStripe
) -> None:
    campaign = await make_money_campaign(store)
    first = (await pledge_by_form(client, campaign.slug)).headers["location"]
    cancel_url = fake_stripe.objects[session_id_of(first)]["cancel_url"]
    assert cancel_url.startswith(f"{BASE}/c/{campaign.slug}/card-cancelled?token=")

    response = await client.get(cancel_url.removeprefix(BASE))

    assert response.status_code == 200
    page = accessible(response)
    assert "No card was saved; your pledge does not count until you save one" in page.words
    again = await post_button(client, page, "/pledges/card")
    assert again.status_code == 303
    assert session_id_of(again.headers["location"]) != session_id_of(first)
    back = await checkout(fake_stripe, again.headers["location"])
    assert "Card saved" in page_of(await client.get(back)).words
    # Now there is no card to save: the old page says so, and its button does nothing.
    assert "Your card is already saved" in page_of(await client.get(cancel_url)).words
    async with nothing_changes(store):
        pressed = await post_button(client, page, "/pledges/card")
    assert pressed.status_code == 409


async def test_the_save_card_button_needs_the_csrf_token_and_a_good_link(
    client: httpx.AsyncClient, store: Store, app: Starlette
) -> None:
    campaign = await make_money_campaign(store)
    await pledge_by_form(client, campaign.slug)
    pledge_id = (await only_pledge(store, campaign))["id"]
    good = sign(app, pledge_id, "pledge-card")

    async with nothing_changes(store):
        no_csrf = await client.post("/pledges/card", data={"token": good})
        bad_token = await client.post(
            "/pledges/card",
            data={
                "token": token_of_kind(app, pledge_id, "pledge-card", "tampered"),
                "csrf_token": await csrf_for(client, campaign.slug),
            },
        )
        expired = await client.get(
            f"/c/{campaign.slug}/card-cancelled",
            params={"token": token_of_kind(app, pledge_id, "pledge-card", "expired")},
        )

    assert no_csrf.status_code == 403
    assert bad_token.status_code == 400
    assert "This link is not valid." in page_of(bad_token).words
    assert expired.status_code == 400
    assert "This link has expired." in page_of(expired).words


# ----- paying after a failed charge -----------------------------------------------------------


async def failed_charge(
    store: Store, fake: FakeStripe, gateway: StripeGateway, card: str
) -> tuple[Campaign, int]:
    """A one-household £20 campaign that tipped, and its pledge whose off-session charge
    failed with `card`."""
    campaign = await make_money_campaign(
        store, target=1, money={"currency": "gbp", "target": 2000, "deposit": 2000}
    )
    pledge_id = await make_money_pledge(store, fake, gateway, campaign.slug, 1, card=card)
    await run_payments(store, gateway)
    assert (await pledge_row(store, pledge_id))["payment_status"] == "action_required"
    return campaign, pledge_id


@pytest.mark.parametrize(
    ("card", "reason"),
    [
        ("authentication", "your bank asked to confirm the payment"),
        ("declined", "your card was declined"),
    ],
)
async def test_paying_after_a_failed_charge(
    client: httpx.AsyncClient,
    store: Store,
    app: Starlette,
    fake_stripe: FakeStripe,
    gateway: StripeGateway,
    card: str,
    reason: str,
) -> None:
    campaign, pledge_id = await failed_charge(store, fake_stripe, gateway, card)
    token = sign(app, pledge_id, "pledge-pay")

    response = await client.get(f"/pay/{token}")

    assert response.status_code == 200
    page = accessible(response)
    assert "Pay your pledge of £20" in page.words
    assert campaign.title in page.words
    assert reason in page.words
    to_stripe = await post_button(client, page, f"/pay/{token}")
    assert to_stripe.status_code == 303
    back = await checkout(fake_stripe, to_stripe.headers["location"], "visa")
    assert back.startswith(f"/pay/{token}/done?session_id=cs_")

    done = await client.get(back)

    assert done.status_code == 200
    assert "Thank you, your pledge of £20 is paid" in accessible(done).words
    assert (await pledge_row(store, pledge_id))["payment_status"] == "paid"
    assert (await reload(store, campaign)).collected_amount == 2000
    # The return page again, and the pay link again: paid once, and it says so.
    await client.get(back)
    assert (await reload(store, campaign)).collected_amount == 2000
    paid = await client.get(f"/pay/{token}")
    assert paid.status_code == 200
    assert "Thank you, this pledge is paid" in accessible(paid).words
    assert page_of(paid).find("form", action=f"/pay/{token}") is None


async def test_the_pay_link_after_the_week_to_pay_or_a_refund_explains(
    client: httpx.AsyncClient,
    store: Store,
    app: Starlette,
    fake_stripe: FakeStripe,
    gateway: StripeGateway,
) -> None:
    _, given_up = await failed_charge(store, fake_stripe, gateway, "declined")
    await remind_and_give_up(store, now=utcnow() + timedelta(days=8))
    refunded_campaign = await make_money_campaign(store)
    refunded = await make_money_pledge(store, fake_stripe, gateway, refunded_campaign.slug, 2)
    await make_money_pledge(store, fake_stripe, gateway, refunded_campaign.slug, 3)
    await make_money_pledge(store, fake_stripe, gateway, refunded_campaign.slug, 4)
    await run_payments(store, gateway)
    await refund_pledge(store, gateway, refunded, by="test")
    given_up_token = sign(app, given_up, "pledge-pay")

    failed = await client.get(f"/pay/{given_up_token}")
    async with nothing_changes(store):
        pressed = await client.post(
            f"/pay/{given_up_token}",
            data={"csrf_token": await csrf_for(client, refunded_campaign.slug)},
        )
    refund = await client.get(f"/pay/{sign(app, refunded, 'pledge-pay')}")

    assert failed.status_code == 409
    assert "The 7 days to pay your pledge of £20" in accessible(failed).words
    assert pressed.status_code == 409  # no Checkout for a pledge given up
    assert refund.status_code == 409
    assert "This pledge was refunded" in accessible(refund).words


@pytest.mark.parametrize("kind", ["tampered", "expired", "wrong-namespace", "garbage"])
async def test_a_bad_pay_link_is_400(
    client: httpx.AsyncClient,
    store: Store,
    app: Starlette,
    fake_stripe: FakeStripe,
    gateway: StripeGateway,
    kind: str,
) -> None:
    _, pledge_id = await failed_charge(store, fake_stripe, gateway, "authentication")
    token = token_of_kind(app, pledge_id, "pledge-pay", kind)

    async with nothing_changes(store):
        page = await client.get(f"/pay/{token}")
        done = await client.get(f"/pay/{token}/done", params={"session_id": "cs_test_x"})

    for response in (page, done):
        assert response.status_code == 400
        assert "There is a problem with this link" in accessible(response).words


async def test_pay_done_with_another_pledges_session_is_400(
    client: httpx.AsyncClient,
    store: Store,
    app: Starlette,
    fake_stripe: FakeStripe,
    gateway: StripeGateway,
) -> None:
    _, mine = await failed_charge(store, fake_stripe, gateway, "authentication")
    _, other = await failed_charge(store, fake_stripe, gateway, "authentication")
    other_token = sign(app, other, "pledge-pay")
    page = page_of(await client.get(f"/pay/{other_token}"))
    to_stripe = await post_button(client, page, f"/pay/{other_token}")
    session_id = session_id_of(to_stripe.headers["location"])
    fake_stripe.complete_session(session_id, "visa")  # the other pledge's payment

    async with nothing_changes(store):
        response = await client.get(
            f"/pay/{sign(app, mine, 'pledge-pay')}/done", params={"session_id": session_id}
        )

    assert response.status_code == 400
    assert "Your payment is not recorded" in accessible(response).words


# ----- a site without Stripe ------------------------------------------------------------------


async def test_without_stripe_money_pages_say_so_and_take_nothing(database_url: str) -> None:
    application = create_app(make_settings(database_url))
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
            store: Store = services_of(application).store
            campaign = await make_money_campaign(store)
            plain = await make_campaign(store)
            pending = await record_pledge(store, campaign.slug, parse_pledge(pledge_data(5)))

            page = accessible(await client.get(f"/c/{campaign.slug}"))

            assert "Money pledges are not available on this site right now" in page.words
            assert page.find("form", action=f"/c/{campaign.slug}/pledge") is None
            token = await csrf_for(client, plain.slug)
            async with nothing_changes(store):
                posted = await client.post(
                    f"/c/{campaign.slug}/pledge", data={**form(1), "csrf_token": token}
                )
                webhook = await client.post("/stripe/webhook", content=b"{}")
                pay = await client.get(f"/pay/{sign(application, pending.pledge_id, 'pledge-pay')}")
                saved = await client.get(
                    f"/c/{campaign.slug}/card-saved", params={"session_id": "cs_test_x"}
                )
            assert posted.status_code == 409
            assert "Money pledges are not available" in page_of(posted).words
            assert webhook.status_code == 404
            assert pay.status_code == 404
            assert saved.status_code == 404
            confirmed = await press_confirm(
                client, sign(application, pending.pledge_id, "pledge-confirm")
            )
            confirm_page = accessible(confirmed)
            assert "Money pledges are not available on this site right now" in confirm_page.words
            assert confirm_page.find("form", action="/pledges/card") is None
