"""The one place Groundswell talks to Stripe: the real `stripe` client, async methods.

Card data never reaches Groundswell: residents give it to Stripe's hosted Checkout, in
setup mode to save a card for later (`usage=off_session`) and in payment mode to pay now.
Everything here returns plain values; callers never see the client's objects.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import stripe

DEFAULT_API_BASE = "https://api.stripe.com"


# What a call to Stripe raises when Stripe is unreachable or refuses; callers outside this
# package catch it by this name rather than importing stripe.
StripeFailure = stripe.StripeError


@dataclass(frozen=True)
class Session:
    id: str
    url: str


@dataclass(frozen=True)
class SessionState:
    """A Checkout Session as Groundswell needs it after the resident comes back."""

    id: str
    mode: str
    status: str  # open | complete | expired
    pledge_id: int | None
    customer: str | None
    setup_intent: str | None
    payment_intent: str | None
    amount_total: int | None


@dataclass(frozen=True)
class ChargeResult:
    succeeded: bool
    payment_intent_id: str | None
    amount: int
    # Stripe's code when the card was not charged: card_declined, authentication_required...
    error_code: str | None = None


def pledge_id_of(metadata: Any) -> int | None:
    """metadata.pledge_id as Groundswell set it, or None (an object not of ours)."""
    try:
        value = metadata["pledge_id"] if metadata else None
    except (KeyError, TypeError):
        return None
    return int(value) if isinstance(value, str) and value.isdigit() else None


class StripeGateway:
    def __init__(self, secret_key: str, webhook_secret: str, api_base: str = DEFAULT_API_BASE):
        self._webhook_secret = webhook_secret
        self._http = stripe.HTTPXClient(allow_sync_methods=True)
        self.client = stripe.StripeClient(
            secret_key,
            base_addresses={"api": api_base},
            http_client=self._http,
            max_network_retries=2,  # Stripe's client retries safely: it sends idempotency keys
        )

    async def create_customer(self, *, email: str, name: str, pledge_id: int) -> str:
        customer = await self.client.v1.customers.create_async(
            params={"email": email, "name": name, "metadata": {"pledge_id": str(pledge_id)}},
            options={"idempotency_key": f"groundswell-customer-{pledge_id}-{email}"[:255]},
        )
        return str(customer.id)

    async def setup_session(
        self,
        *,
        customer: str,
        pledge_id: int,
        currency: str,
        success_url: str,
        cancel_url: str,
    ) -> Session:
        """Checkout in setup mode: the resident saves a card to be charged off-session."""
        metadata = {"pledge_id": str(pledge_id)}
        params: Any = {  # checked by Stripe's SessionCreateParams, which mypy reads narrowly
            "mode": "setup",
            "currency": currency,
            "customer": customer,
            "payment_method_types": ["card"],
            "client_reference_id": str(pledge_id),
            "metadata": metadata,
            "setup_intent_data": {"metadata": metadata},
            "success_url": success_url,
            "cancel_url": cancel_url,
        }
        session = await self.client.v1.checkout.sessions.create_async(params=params)
        return Session(str(session.id), str(session.url))

    async def payment_session(
        self,
        *,
        customer: str,
        pledge_id: int,
        amount: int,
        currency: str,
        description: str,
        success_url: str,
        cancel_url: str,
    ) -> Session:
        """Checkout in payment mode: the resident pays now (after a failed off-session
        charge), authenticating with their bank if it asks."""
        metadata = {"pledge_id": str(pledge_id)}
        session = await self.client.v1.checkout.sessions.create_async(
            params={
                "mode": "payment",
                "customer": customer,
                "client_reference_id": str(pledge_id),
                "metadata": metadata,
                "payment_intent_data": {"metadata": metadata},
                "line_items": [
                    {
                        "quantity": 1,
                        "price_data": {
                            "currency": currency,
                            "unit_amount": amount,
                            "product_data": {"name": description[:200]},
                        },
                    }
                ],
                "success_url": success_url,
                "cancel_url": cancel_url,
            }
        )
        return Session(str(session.id), str(session.url))

    async def retrieve_session(self, session_id: str) -> SessionState:
        s: Any = await self.client.v1.checkout.sessions.retrieve_async(session_id)
        return SessionState(
            id=str(s.id),
            mode=str(s.mode),
            status=str(s.status),
            pledge_id=pledge_id_of(s.metadata),
            customer=_id_of(s.customer),
            setup_intent=_id_of(s.setup_intent),
            payment_intent=_id_of(s.payment_intent),
            amount_total=s.amount_total,
        )

    async def saved_card(self, setup_intent_id: str) -> tuple[str | None, str | None]:
        """(customer, payment method) of a succeeded SetupIntent, else (None, None)."""
        intent: Any = await self.client.v1.setup_intents.retrieve_async(setup_intent_id)
        if intent.status != "succeeded":
            return None, None
        return _id_of(intent.customer), _id_of(intent.payment_method)

    async def charge(
        self,
        *,
        pledge_id: int,
        customer: str,
        payment_method: str,
        amount: int,
        currency: str,
        description: str,
    ) -> ChargeResult:
        """Charge a saved card off-session. The idempotency key is the pledge's: a second
        call (a rerun after a crash) gets the first call's answer and charges nothing."""
        try:
            intent: Any = await self.client.v1.payment_intents.create_async(
                params={
                    "amount": amount,
                    "currency": currency,
                    "customer": customer,
                    "payment_method": payment_method,
                    "off_session": True,
                    "confirm": True,
                    "description": description[:1000],
                    "metadata": {"pledge_id": str(pledge_id)},
                },
                options={"idempotency_key": f"groundswell-charge-{pledge_id}"},
            )
        except stripe.CardError as exc:
            failed = exc.error.payment_intent if exc.error else None
            return ChargeResult(
                succeeded=False,
                payment_intent_id=_id_of(failed),
                amount=amount,
                error_code=str(exc.code or "card_error"),
            )
        if intent.status == "succeeded":
            return ChargeResult(True, str(intent.id), int(intent.amount_received or amount))
        # requires_action and the like: the resident has to finish it themselves.
        return ChargeResult(False, str(intent.id), amount, error_code=str(intent.status))

    async def pledge_payment(self, *, customer: str, pledge_id: int) -> tuple[str, int] | None:
        """(PaymentIntent id, amount received) of a payment that took this pledge's money,
        among its customer's PaymentIntents; None when Stripe has none. For a charge whose
        outcome was lost (the worker stopped between asking Stripe and recording)."""
        page: Any = await self.client.v1.payment_intents.list_async(
            params={"customer": customer, "limit": 100}
        )
        for intent in page.data:
            if intent.status == "succeeded" and pledge_id_of(intent.metadata) == pledge_id:
                return str(intent.id), int(intent.amount_received or intent.amount)
        return None

    async def detach(self, payment_method: str) -> None:
        """Remove a saved card from its customer; one already detached is not an error."""
        try:
            await self.client.v1.payment_methods.detach_async(payment_method)
        except stripe.InvalidRequestError as exc:
            if exc.code not in ("payment_method_unexpected_state", "resource_missing"):
                raise

    async def delete_customer(self, customer: str) -> None:
        """Delete a customer (its name and email at Stripe, and any saved card); one
        already deleted is not an error. Its payments stay, and can still be refunded."""
        try:
            await self.client.v1.customers.delete_async(customer)
        except stripe.InvalidRequestError as exc:
            if exc.code != "resource_missing":
                raise

    async def refund(self, *, pledge_id: int, payment_intent: str) -> str:
        refund: Any = await self.client.v1.refunds.create_async(
            params={"payment_intent": payment_intent, "metadata": {"pledge_id": str(pledge_id)}},
            options={"idempotency_key": f"groundswell-refund-{pledge_id}"},
        )
        return str(refund.id)

    def construct_event(self, payload: bytes, signature: str) -> dict[str, Any]:
        """Verify Stripe-Signature over the raw body; raises stripe.SignatureVerificationError
        or ValueError (not JSON). Returns the event as plain JSON."""
        event = json.loads(payload)  # not JSON: ValueError
        if not isinstance(event, dict):  # the client itself would fail on a JSON list
            raise ValueError("not an event object")
        stripe.Webhook.construct_event(payload, signature, self._webhook_secret, tolerance=300)
        return event

    async def aclose(self) -> None:
        await self._http.close_async()


def _id_of(value: Any) -> str | None:
    """An id whether Stripe sent the id itself or the expanded object."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    found = value.get("id") if isinstance(value, dict) else getattr(value, "id", None)
    return str(found) if found else None
