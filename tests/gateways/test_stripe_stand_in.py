"""The fake Stripe server answers the real stripe client as Stripe documents it."""

from __future__ import annotations

import json

import httpx
import pytest
import stripe

from tests.payments.stripe_server import WEBHOOK_SECRET, client_for, run_fake_stripe


async def _saved_card(client: stripe.StripeClient, fake, card: str):
    customer = await client.v1.customers.create_async({"email": "a@example.org"})
    session = await client.v1.checkout.sessions.create_async(
        {
            "mode": "setup",
            "currency": "gbp",
            "customer": customer.id,
            "success_url": "http://127.0.0.1/done?session={CHECKOUT_SESSION_ID}",
            "metadata": {"pledge_id": "7"},
        }
    )
    assert session.status == "open" and session.url.endswith(session.id)
    fake.complete_session(session.id, card)
    session = await client.v1.checkout.sessions.retrieve_async(session.id)
    intent = await client.v1.setup_intents.retrieve_async(session.setup_intent)
    return customer, session, intent


async def test_setup_then_off_session_charge_and_refund() -> None:
    async with run_fake_stripe() as fake:
        fake.auto_deliver = False
        client = client_for(fake)
        customer, session, intent = await _saved_card(client, fake, "visa")
        assert session.status == "complete" and session.metadata["pledge_id"] == "7"
        assert intent.status == "succeeded" and intent.usage == "off_session"
        params = {
            "amount": 2500,
            "currency": "gbp",
            "customer": customer.id,
            "payment_method": intent.payment_method,
            "off_session": True,
            "confirm": True,
            "metadata": {"pledge_id": "7"},
        }
        first = await client.v1.payment_intents.create_async(
            params, {"idempotency_key": "charge-7"}
        )
        again = await client.v1.payment_intents.create_async(
            params, {"idempotency_key": "charge-7"}
        )
        assert first.status == "succeeded" and again.id == first.id
        assert len(fake.charges()) == 1
        refund = await client.v1.refunds.create_async({"payment_intent": first.id})
        assert refund.amount == 2500 and refund.status == "succeeded"
        with pytest.raises(stripe.InvalidRequestError):
            await client.v1.refunds.create_async({"payment_intent": first.id})
        types = [e["type"] for e in fake.events]
        assert types[:2] == ["setup_intent.succeeded", "checkout.session.completed"]
        assert "payment_intent.succeeded" in types and "refund.created" in types


@pytest.mark.parametrize(
    ("card", "code"), [("declined", "card_declined"), ("authentication", "authentication_required")]
)
async def test_off_session_failures_are_card_errors(card: str, code: str) -> None:
    async with run_fake_stripe() as fake:
        fake.auto_deliver = False
        client = client_for(fake)
        customer, _, intent = await _saved_card(client, fake, card)
        with pytest.raises(stripe.CardError) as caught:
            await client.v1.payment_intents.create_async(
                {
                    "amount": 1000,
                    "currency": "gbp",
                    "customer": customer.id,
                    "payment_method": intent.payment_method,
                    "off_session": True,
                    "confirm": True,
                }
            )
        assert caught.value.code == code
        assert caught.value.http_status == 402
        failed = caught.value.error.payment_intent
        assert failed["status"] == "requires_payment_method"
        assert fake.charges() == []


async def test_detach_unknown_ids_and_bad_keys() -> None:
    async with run_fake_stripe() as fake:
        fake.auto_deliver = False
        client = client_for(fake)
        _, _, intent = await _saved_card(client, fake, "visa")
        method = await client.v1.payment_methods.detach_async(intent.payment_method)
        assert method.customer is None
        with pytest.raises(stripe.InvalidRequestError) as missing:
            await client.v1.payment_intents.retrieve_async("pi_nope")
        assert missing.value.code == "resource_missing" and missing.value.http_status == 404
        bad = stripe.StripeClient(
            "sk_test_wrong",
            base_addresses={"api": fake.public_url},
            http_client=stripe.HTTPXClient(allow_sync_methods=True),
        )
        with pytest.raises(stripe.AuthenticationError):
            await bad.v1.customers.create_async({})


async def test_idempotency_key_reused_with_other_params_is_refused() -> None:
    async with run_fake_stripe() as fake:
        client = client_for(fake)
        await client.v1.customers.create_async({"email": "a@x.org"}, {"idempotency_key": "k"})
        with pytest.raises(stripe.IdempotencyError):
            await client.v1.customers.create_async({"email": "b@x.org"}, {"idempotency_key": "k"})


async def test_events_are_signed_as_stripe_signs_them() -> None:
    received: list[tuple[bytes, str]] = []

    async def app(scope, receive, send):  # a bare ASGI receiver
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = dict(scope["headers"])
        received.append((body, headers[b"stripe-signature"].decode()))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    async with run_fake_stripe() as fake:
        fake.auto_deliver = False
        client = client_for(fake)
        await _saved_card(client, fake, "visa")
        event = fake.events[-1]
        transport = httpx.ASGITransport(app=app)
        payload, headers = fake.signed(event)
        async with httpx.AsyncClient(transport=transport, base_url="http://r") as c:
            await c.post("/", content=payload, headers=headers)
        body, signature = received[0]
        verified = stripe.Webhook.construct_event(body, signature, WEBHOOK_SECRET)
        assert verified.type == "checkout.session.completed"
        assert json.loads(body)["data"]["object"]["status"] == "complete"
        with pytest.raises(stripe.SignatureVerificationError):
            stripe.Webhook.construct_event(body, signature, "whsec_other")
