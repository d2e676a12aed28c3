"""Sending a resident to Stripe Checkout: to save a card for a money pledge (setup mode),
or to pay now after an off-session charge failed (payment mode). Card data never
touches Groundswell; these only open a Checkout Session and say where it is."""

from __future__ import annotations

from gateways.stripe_gateway import StripeGateway
from pledges.campaigns import get_campaign_by_id
from pledges.errors import CardNotNeeded, NothingToPay, PaymentsOff
from pledges.payments import payment_view, remember_customer
from pledges.store import Store
from pledges.tokens import Signer


def _gateway(gateway: StripeGateway | None) -> StripeGateway:
    if gateway is None:
        raise PaymentsOff()
    return gateway


async def card_checkout_url(
    store: Store, gateway: StripeGateway | None, signer: Signer, base_url: str, pledge_id: int
) -> str:
    """A new Checkout Session in setup mode for this pledge; its URL, to send the
    resident to. The Stripe customer is made once per pledge and reused. Raises
    CardNotNeeded unless the pledge is waiting for its card; Stripe failing raises."""
    payments = _gateway(gateway)
    pledge = await payment_view(store.database, pledge_id)
    campaign = await get_campaign_by_id(store.database, pledge.campaign_id)
    if pledge.payment_status != "awaiting_card" or campaign.currency is None:
        raise CardNotNeeded()
    customer = pledge.customer
    if customer is None:
        customer = await payments.create_customer(
            email=pledge.email, name=pledge.name, pledge_id=pledge_id
        )
        await remember_customer(store, pledge_id, customer)
    card_token = signer.sign(pledge_id, "pledge-card")
    base = f"{base_url}/c/{campaign.slug}"
    session = await payments.setup_session(
        customer=customer,
        pledge_id=pledge_id,
        currency=campaign.currency,
        success_url=f"{base}/card-saved?session_id={{CHECKOUT_SESSION_ID}}",
        cancel_url=f"{base}/card-cancelled?token={card_token}",
    )
    return session.url


async def pay_checkout_url(
    store: Store, gateway: StripeGateway | None, base_url: str, pledge_id: int, pay_token: str
) -> str:
    """A new Checkout Session in payment mode for a pledge whose off-session charge
    failed: the resident pays now, authenticating with their bank if it asks. Raises
    NothingToPay unless the pledge owes its amount now; Stripe failing raises."""
    payments = _gateway(gateway)
    pledge = await payment_view(store.database, pledge_id)
    campaign = await get_campaign_by_id(store.database, pledge.campaign_id)
    if (
        pledge.payment_status != "action_required"
        or pledge.status != "confirmed"  # withdrawn or struck out since: nothing to pay
        or not pledge.amount
        or not campaign.currency
    ):
        raise NothingToPay()
    if pledge.customer is None:  # pragma: no cover - a saved card always has its customer
        raise NothingToPay()
    base = f"{base_url}/pay/{pay_token}"
    session = await payments.payment_session(
        customer=pledge.customer,
        pledge_id=pledge_id,
        amount=pledge.amount,
        currency=campaign.currency,
        description=f"Pledge to {campaign.title}",
        success_url=f"{base}/done?session_id={{CHECKOUT_SESSION_ID}}",
        cancel_url=base,
    )
    return session.url
