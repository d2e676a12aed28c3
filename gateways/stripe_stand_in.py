"""A small stand-in for Stripe's API on 127.0.0.1, for tests and the offline demo.

Stripe cannot be reached from development machines without a network, so the real
`stripe` client is pointed here through `base_addresses`. Only what Groundswell uses is
implemented, with Stripe's documented request shapes (form-encoded, nested `a[b]` keys,
`Idempotency-Key`) and response shapes (objects with `id`/`object`, errors as
`{"error": {"type", "code", "message", ...}}` with Stripe's status codes):

- POST /v1/customers, DELETE /v1/customers/{id}
- POST /v1/checkout/sessions (modes `setup` and `payment`), GET /v1/checkout/sessions/{id}
- GET /v1/setup_intents/{id}
- POST /v1/payment_intents (`confirm=true`, `off_session=true`), GET /v1/payment_intents/{id},
  GET /v1/payment_intents?customer= (a list, newest first)
- POST /v1/payment_methods/{id}/detach
- POST /v1/refunds

The hosted Checkout page is `/pay/{session id}`: a plain form where the payer picks one of
Stripe's test cards (succeeds, `card_declined`, `authentication_required` off-session). On
completion the fake sends signed events (`checkout.session.completed`, ...) to its webhook
URLs, signed as Stripe signs them (`Stripe-Signature`, v1 HMAC-SHA256), then redirects to
the session's `success_url`.
"""

from __future__ import annotations

import asyncio
import html
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import httpx
import stripe
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

API_VERSION = "2025-10-29.clover"

# Stripe's test payment methods, by what they do when charged off-session.
TEST_CARDS: dict[str, dict[str, str]] = {
    "visa": {"brand": "visa", "last4": "4242", "label": "Visa ending 4242 (succeeds)"},
    "declined": {
        "brand": "visa",
        "last4": "0002",
        "label": "Visa ending 0002 (declined: card_declined)",
    },
    "authentication": {
        "brand": "visa",
        "last4": "3155",
        "label": "Visa ending 3155 (off-session charges need authentication)",
    },
}


def _id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def parse_form(body: bytes) -> dict[str, Any]:
    """Stripe's form encoding: `metadata[pledge_id]=7`, `line_items[0][quantity]=1`."""
    result: dict[str, Any] = {}
    for key, value in parse_qsl(body.decode(), keep_blank_values=True):
        parts = key.replace("]", "").split("[")
        node: Any = result
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if isinstance(node, list):
                index = int(part)
                while len(node) <= index:
                    node.append({} if not last else None)
                if last:
                    node[index] = value
                else:
                    if not isinstance(node[index], (dict, list)):
                        node[index] = [] if parts[i + 1].isdigit() else {}
                    node = node[index]
            else:
                if last:
                    node[part] = value
                else:
                    node = node.setdefault(part, [] if parts[i + 1].isdigit() else {})
    return result


class StripeError(Exception):
    def __init__(self, status: int, error: dict[str, Any]) -> None:
        super().__init__(error.get("message"))
        self.status = status
        self.error = error


def _missing(kind: str, object_id: str, param: str = "id") -> StripeError:
    return StripeError(
        404,
        {
            "type": "invalid_request_error",
            "code": "resource_missing",
            "message": f"No such {kind}: '{object_id}'",
            "param": param,
        },
    )


def _required(param: str) -> StripeError:
    return StripeError(
        400,
        {
            "type": "invalid_request_error",
            "code": "parameter_missing",
            "message": f"Missing required param: {param}.",
            "param": param,
        },
    )


@dataclass
class FakeStripe:
    """The fake's state; `app` serves it. Tests read and steer it directly."""

    api_key: str
    webhook_secret: str
    public_url: str = "http://127.0.0.1"
    webhook_urls: list[str] = field(default_factory=list)
    # Deliver events as they happen; tests that reorder or repeat them turn this off.
    auto_deliver: bool = True
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    requests: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    _idempotent: dict[str, tuple[str, dict[str, Any], int, dict[str, Any]]] = field(
        default_factory=dict
    )
    _pending: set[asyncio.Task[list[int]]] = field(default_factory=set)

    # ----- objects --------------------------------------------------------------------
    def _store(self, obj: dict[str, Any]) -> dict[str, Any]:
        self.objects[obj["id"]] = obj
        return obj

    def get(self, kind: str, object_id: str) -> dict[str, Any]:
        obj = self.objects.get(object_id)
        if obj is None or obj["object"] != kind:
            raise _missing(kind, object_id)
        return obj

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [o for o in self.objects.values() if o["object"] == kind]

    def charges(self) -> list[dict[str, Any]]:
        """Every PaymentIntent that took money (status succeeded)."""
        return [p for p in self.of_kind("payment_intent") if p["status"] == "succeeded"]

    # ----- events ---------------------------------------------------------------------
    def emit(self, event_type: str, obj: dict[str, Any]) -> dict[str, Any]:
        event = {
            "id": _id("evt"),
            "object": "event",
            "api_version": API_VERSION,
            "created": int(time.time()),
            "data": {"object": json.loads(json.dumps(obj))},
            "livemode": False,
            "pending_webhooks": len(self.webhook_urls),
            "request": {"id": None, "idempotency_key": None},
            "type": event_type,
        }
        self.events.append(event)
        if self.auto_deliver:
            task = asyncio.get_running_loop().create_task(self.deliver(event))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)
        return event

    def signed(self, event: dict[str, Any]) -> tuple[str, dict[str, str]]:
        payload = json.dumps(event)
        header = stripe.WebhookSignature.generate_signature_header(payload, self.webhook_secret)
        return payload, {"Stripe-Signature": header, "Content-Type": "application/json"}

    async def deliver(self, event: dict[str, Any], url: str | None = None) -> list[int]:
        """POST one event, signed, to each webhook URL (or `url`); returns the statuses."""
        payload, headers = self.signed(event)
        statuses = []
        async with httpx.AsyncClient(timeout=10, trust_env=False) as client:
            for target in [url] if url else self.webhook_urls:
                try:
                    response = await client.post(target, content=payload, headers=headers)
                    statuses.append(response.status_code)
                except httpx.HTTPError:
                    statuses.append(0)
        return statuses

    async def drain(self) -> None:
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    # ----- API ------------------------------------------------------------------------
    def create_customer(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._store(
            {
                "id": _id("cus"),
                "object": "customer",
                "created": int(time.time()),
                "email": params.get("email"),
                "name": params.get("name"),
                "metadata": params.get("metadata", {}),
                "livemode": False,
            }
        )

    def delete_customer(self, customer_id: str) -> dict[str, Any]:
        """As Stripe: the customer goes for good, and its saved cards are detached."""
        self.get("customer", customer_id)
        del self.objects[customer_id]
        for method in self.of_kind("payment_method"):
            if method["customer"] == customer_id:
                method["customer"] = None
        return {"id": customer_id, "object": "customer", "deleted": True}

    def create_checkout_session(self, params: dict[str, Any]) -> dict[str, Any]:
        mode = params.get("mode")
        if mode not in ("setup", "payment"):
            raise StripeError(
                400,
                {
                    "type": "invalid_request_error",
                    "message": "Invalid mode: must be one of payment, setup, or subscription",
                    "param": "mode",
                },
            )
        if not params.get("success_url"):
            raise _required("success_url")
        customer = params.get("customer")
        if customer:
            self.get("customer", customer)
        amount_total = None
        currency = params.get("currency")
        if mode == "payment":
            items = params.get("line_items")
            if not items:
                raise _required("line_items")
            amount_total = 0
            for item in items:
                price = item.get("price_data") or {}
                if "unit_amount" not in price or "currency" not in price:
                    raise _required("line_items[0][price_data][unit_amount]")
                amount_total += int(price["unit_amount"]) * int(item.get("quantity", 1))
                currency = price["currency"]
        elif not currency:
            raise _required("currency")
        session_id = _id("cs_test")
        return self._store(
            {
                "id": session_id,
                "object": "checkout.session",
                "mode": mode,
                "status": "open",
                "payment_status": "no_payment_required" if mode == "setup" else "unpaid",
                "url": f"{self.public_url}/pay/{session_id}",
                "customer": customer,
                "customer_email": params.get("customer_email"),
                "client_reference_id": params.get("client_reference_id"),
                "currency": currency,
                "amount_total": amount_total,
                "metadata": params.get("metadata", {}),
                "setup_intent": None,
                "payment_intent": None,
                "success_url": params["success_url"],
                "cancel_url": params.get("cancel_url"),
                "created": int(time.time()),
                "expires_at": int(params.get("expires_at") or time.time() + 24 * 3600),
                "livemode": False,
                "_payment_intent_data": params.get("payment_intent_data", {}),
                "_setup_intent_data": params.get("setup_intent_data", {}),
            }
        )

    def _payment_method(self, card: str, customer: str | None) -> dict[str, Any]:
        info = TEST_CARDS[card]
        return self._store(
            {
                "id": _id("pm"),
                "object": "payment_method",
                "type": "card",
                "card": {
                    "brand": info["brand"],
                    "last4": info["last4"],
                    "exp_month": 12,
                    "exp_year": 2030,
                },
                "customer": customer,
                "created": int(time.time()),
                "livemode": False,
                "_test_card": card,
            }
        )

    def complete_session(self, session_id: str, card: str = "visa") -> dict[str, Any]:
        """What the hosted page does when the payer submits a card."""
        session = self.get("checkout.session", session_id)
        if session["status"] != "open":
            raise StripeError(
                400,
                {"type": "invalid_request_error", "message": "This session is not open."},
            )
        method = self._payment_method(card, session["customer"])
        if session["mode"] == "setup":
            intent = self._store(
                {
                    "id": _id("seti"),
                    "object": "setup_intent",
                    "status": "succeeded",
                    "usage": "off_session",
                    "customer": session["customer"],
                    "payment_method": method["id"],
                    # As Stripe: the SetupIntent carries setup_intent_data's metadata only.
                    "metadata": session["_setup_intent_data"].get("metadata", {}),
                    "created": int(time.time()),
                    "livemode": False,
                }
            )
            session["setup_intent"] = intent["id"]
            session["status"] = "complete"
            self.emit("setup_intent.succeeded", intent)
        else:
            if card == "declined":  # on-session: the payer sees the decline and may retry
                raise StripeError(
                    402,
                    {
                        "type": "card_error",
                        "code": "card_declined",
                        "decline_code": "generic_decline",
                        "message": "Your card was declined.",
                    },
                )
            intent = self._payment_intent(
                amount=int(session["amount_total"]),
                currency=session["currency"],
                customer=session["customer"],
                method=method,
                metadata=session["_payment_intent_data"].get("metadata", {}),
                status="succeeded",
            )
            session["payment_intent"] = intent["id"]
            session["payment_status"] = "paid"
            session["status"] = "complete"
            self.emit("payment_intent.succeeded", intent)
        self.emit("checkout.session.completed", self.public(session))
        return session

    @staticmethod
    def public(obj: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in obj.items() if not k.startswith("_")}

    def _payment_intent(
        self,
        *,
        amount: int,
        currency: str,
        customer: str | None,
        method: dict[str, Any],
        metadata: dict[str, Any],
        status: str,
    ) -> dict[str, Any]:
        intent_id = _id("pi")
        charge = _id("ch") if status == "succeeded" else None
        return self._store(
            {
                "id": intent_id,
                "object": "payment_intent",
                "amount": amount,
                "amount_received": amount if status == "succeeded" else 0,
                "currency": currency,
                "customer": customer,
                "payment_method": method["id"],
                "status": status,
                "latest_charge": charge,
                "metadata": metadata,
                "last_payment_error": None,
                "created": int(time.time()),
                "livemode": False,
            }
        )

    def create_payment_intent(self, params: dict[str, Any]) -> dict[str, Any]:
        for name in ("amount", "currency"):
            if not params.get(name):
                raise _required(name)
        if not str(params["amount"]).isdigit() or int(params["amount"]) < 1:
            raise StripeError(
                400,
                {
                    "type": "invalid_request_error",
                    "code": "parameter_invalid_integer",
                    "message": "Invalid integer: amount",
                    "param": "amount",
                },
            )
        method = self.get("payment_method", params.get("payment_method", ""))
        customer = params.get("customer")
        if method["customer"] is None or method["customer"] != customer:
            raise StripeError(
                400,
                {
                    "type": "invalid_request_error",
                    "code": "payment_method_unexpected_state",
                    "message": "The provided PaymentMethod was previously used with a "
                    "PaymentIntent without Customer attachment, or it is detached.",
                    "param": "payment_method",
                },
            )
        card = method["_test_card"]
        outcome = "succeeded" if card == "visa" else "requires_payment_method"
        intent = self._payment_intent(
            amount=int(params["amount"]),
            currency=params["currency"],
            customer=customer,
            method=method,
            metadata=params.get("metadata", {}),
            status=outcome,
        )
        if outcome == "succeeded":
            self.emit("payment_intent.succeeded", intent)
            return intent
        code = "card_declined" if card == "declined" else "authentication_required"
        error: dict[str, Any] = {
            "type": "card_error",
            "code": code,
            "message": "Your card was declined."
            if code == "card_declined"
            else "This payment required an authentication action to complete, but "
            "`off_session` was set to true.",
            "payment_method": self.public(method),
        }
        if code == "card_declined":
            error["decline_code"] = "generic_decline"
        intent["last_payment_error"] = {k: v for k, v in error.items() if k != "payment_method"}
        error["payment_intent"] = self.public(intent)
        self.emit("payment_intent.payment_failed", intent)
        raise StripeError(402, error)

    def list_payment_intents(self, params: dict[str, Any]) -> dict[str, Any]:
        """As Stripe's list: newest first, filtered by `customer`, at most `limit` (10)."""
        limit = int(params.get("limit") or 10)
        found = [
            self.public(p)
            for p in reversed(self.of_kind("payment_intent"))
            if not params.get("customer") or p["customer"] == params["customer"]
        ]
        return {
            "object": "list",
            "url": "/v1/payment_intents",
            "has_more": len(found) > limit,
            "data": found[:limit],
        }

    def detach_payment_method(self, method_id: str) -> dict[str, Any]:
        method = self.get("payment_method", method_id)
        if method["customer"] is None:
            raise StripeError(
                400,
                {
                    "type": "invalid_request_error",
                    "code": "payment_method_unexpected_state",
                    "message": "The payment method you provided is not attached to a customer "
                    "so detachment is impossible.",
                },
            )
        method["customer"] = None
        self.emit("payment_method.detached", method)
        return method

    def create_refund(self, params: dict[str, Any]) -> dict[str, Any]:
        intent_id = params.get("payment_intent")
        if not intent_id:
            raise _required("payment_intent")
        intent = self.get("payment_intent", intent_id)
        refunded = sum(
            r["amount"] for r in self.of_kind("refund") if r["payment_intent"] == intent_id
        )
        amount = int(params.get("amount") or intent["amount_received"] - refunded)
        if (
            intent["status"] != "succeeded"
            or amount < 1
            or refunded + amount > intent["amount_received"]
        ):
            raise StripeError(
                400,
                {
                    "type": "invalid_request_error",
                    "code": "charge_already_refunded",
                    "message": f"Charge {intent['latest_charge']} has already been refunded.",
                },
            )
        refund = self._store(
            {
                "id": _id("re"),
                "object": "refund",
                "amount": amount,
                "currency": intent["currency"],
                "payment_intent": intent_id,
                "charge": intent["latest_charge"],
                "status": "succeeded",
                "metadata": params.get("metadata", {}),
                "created": int(time.time()),
            }
        )
        self.emit("refund.created", refund)
        return refund

    # ----- HTTP -----------------------------------------------------------------------
    def _authorised(self, request: Request) -> bool:
        return request.headers.get("authorization", "") == f"Bearer {self.api_key}"

    async def _api(self, request: Request) -> Response:
        if not self._authorised(request):
            return JSONResponse(
                {
                    "error": {
                        "type": "invalid_request_error",
                        "message": "Invalid API Key provided.",
                    }
                },
                status_code=401,
            )
        params = (
            parse_form(await request.body())
            if request.method == "POST"
            else dict(request.query_params)
        )
        path = request.url.path
        self.requests.append((request.method, path, params))
        key = request.headers.get("idempotency-key")
        if key and request.method == "POST":
            seen = self._idempotent.get(key)
            if seen is not None:
                if (seen[0], seen[1]) != (path, params):
                    return JSONResponse(
                        {
                            "error": {
                                "type": "idempotency_error",
                                "message": "Keys for idempotent requests can only be used "
                                "with the same parameters they were first used with.",
                            }
                        },
                        status_code=400,
                    )
                return JSONResponse(
                    seen[3], status_code=seen[2], headers={"Idempotent-Replayed": "true"}
                )
        try:
            status, body = 200, self.public(self._route(request.method, path, params))
        except StripeError as exc:
            status, body = exc.status, {"error": exc.error}
        if key and request.method == "POST":
            self._idempotent[key] = (path, params, status, body)
        return JSONResponse(body, status_code=status)

    def _route(self, method: str, path: str, params: dict[str, Any]) -> dict[str, Any]:
        parts = path.strip("/").split("/")[1:]  # drop "v1"
        if method == "POST" and parts == ["customers"]:
            return self.create_customer(params)
        if method == "DELETE" and parts[0] == "customers" and len(parts) == 2:
            return self.delete_customer(parts[1])
        if method == "POST" and parts == ["checkout", "sessions"]:
            return self.create_checkout_session(params)
        if method == "GET" and parts[:2] == ["checkout", "sessions"] and len(parts) == 3:
            return self.get("checkout.session", parts[2])
        if method == "GET" and parts[0] == "setup_intents" and len(parts) == 2:
            return self.get("setup_intent", parts[1])
        if method == "POST" and parts == ["payment_intents"]:
            return self.create_payment_intent(params)
        if method == "GET" and parts == ["payment_intents"]:
            return self.list_payment_intents(params)
        if method == "GET" and parts[0] == "payment_intents" and len(parts) == 2:
            return self.get("payment_intent", parts[1])
        if method == "GET" and parts[0] == "payment_methods" and len(parts) == 2:
            return self.get("payment_method", parts[1])
        if method == "POST" and parts[0] == "payment_methods" and parts[2:] == ["detach"]:
            return self.detach_payment_method(parts[1])
        if method == "POST" and parts == ["refunds"]:
            return self.create_refund(params)
        raise StripeError(
            404,
            {
                "type": "invalid_request_error",
                "message": f"Unrecognized request URL ({method}: {path}).",
            },
        )

    async def _hosted_page(self, request: Request) -> Response:
        session_id = request.path_params["id"]
        try:
            session = self.get("checkout.session", session_id)
        except StripeError:
            return HTMLResponse("<h1>No such checkout session</h1>", status_code=404)
        error = ""
        if request.method == "POST":
            form = await request.form()
            card = str(form.get("card", ""))
            if card in TEST_CARDS:
                try:
                    self.complete_session(session_id, card)
                    target = session["success_url"].replace("{CHECKOUT_SESSION_ID}", session_id)
                    return RedirectResponse(target, status_code=303)
                except StripeError as exc:
                    error = str(exc)
            else:
                error = "Choose a test card."
        if session["mode"] == "setup":
            what = "Save a card for later. Nothing is charged now."
        else:
            what = f"Pay {int(session['amount_total']) / 100:.2f} {session['currency'].upper()}."
        cards = "".join(
            f'<div><input type="radio" name="card" id="card-{k}" value="{k}"'
            f'{" checked" if k == "visa" else ""}><label for="card-{k}">'
            f"{html.escape(v['label'])}</label></div>"
            for k, v in TEST_CARDS.items()
        )
        cancel = session.get("cancel_url") or ""
        body = (
            "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            "<title>Test checkout</title></head><body style='font-family: sans-serif; "
            "max-width: 30em; margin: 2em auto; padding: 0 1em'>"
            "<h1>Test checkout</h1><p>This is a test stand-in for Stripe Checkout. "
            f"{html.escape(what)}</p>"
            + (f"<p role='alert' style='color: #d4351c'>{html.escape(error)}</p>" if error else "")
            + f"<form method='post'><fieldset><legend>Test card</legend>{cards}</fieldset>"
            "<p><button type='submit'>Confirm</button></p></form>"
            + (f"<p><a href='{html.escape(cancel)}'>Cancel</a></p>" if cancel else "")
            + "</body></html>"
        )
        return HTMLResponse(body, status_code=402 if error else 200)

    @property
    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v1/{path:path}", self._api, methods=["GET", "POST", "DELETE"]),
                Route("/pay/{id}", self._hosted_page, methods=["GET", "POST"]),
            ]
        )
