"""The generated OpenAPI document holds true of the running API: it is valid OpenAPI 3.1,
every operation is driven by real requests (answers of success and of error, on SQLite and
PostgreSQL) whose bodies validate against the schema the document gives for that operation
and status, and real webhook bodies delivered by the worker validate against `webhooks`."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from jsonschema import FormatChecker
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate
from starlette.applications import Starlette

from app import api
from app.api.openapi import openapi_document
from app.main import services_of
from app.settings import Settings
from notifications.outbox import dispatch_events
from notifications.tables import webhook_deliveries
from pledges.accounts import create_organisation_api_key
from pledges.campaigns import cancel_campaign, expire_due_campaigns
from pledges.choices import close_round
from pledges.store import Store, utcnow
from tests.conftest import make_settings, wait_for
from tests.factories import (
    add_premises,
    approve,
    campaign_data,
    make_campaign,
    make_confirmed_pledge,
    make_delivered_campaign,
    make_lead,
    make_pending_pledges,
    pledge_data,
)
from tests.notifications.test_webhook_delivery import make_worker, running
from tests.receiver import Receiver, run_receiver

DOCUMENT = openapi_document("http://testserver")
HTTP_METHODS = {"get", "put", "post", "delete", "patch"}


def _schema_validator(schema: dict[str, Any]) -> OAS31Validator:
    """A validator of `schema` whose `#/components/...` references reach the document's."""
    return OAS31Validator(
        {**schema, "components": DOCUMENT["components"]}, format_checker=FormatChecker()
    )


def test_the_document_is_valid_openapi_3_1() -> None:
    validate(DOCUMENT)
    assert DOCUMENT["openapi"] == "3.1.0"


def test_every_event_sent_to_webhooks_is_in_the_document() -> None:
    from notifications.endpoints import EVENT_TYPES

    assert set(DOCUMENT["webhooks"]) == set(EVENT_TYPES)


def test_operations_are_declared_once_and_routed() -> None:
    documented = {
        (path, method.upper())
        for path, item in DOCUMENT["paths"].items()
        for method in item
        if method in HTTP_METHODS
    }
    declared = {(op.path, op.method) for op in api.operations}
    assert documented == declared
    assert len(declared) == len(api.operations)


def test_creations_link_to_what_follows() -> None:
    create = DOCUMENT["paths"]["/api/v1/campaigns"]["post"]["responses"]["201"]["links"]
    assert create["getCampaign"]["parameters"] == {"slug": "$response.body#/slug"}
    assert create["createPledge"]["operationId"] == "createPledge"
    endpoint = DOCUMENT["paths"]["/api/v1/webhook-endpoints"]["post"]["responses"]["201"]
    assert {link["operationId"] for link in endpoint["links"].values()} >= {
        "getWebhookEndpoint",
        "updateWebhookEndpoint",
        "rotateWebhookSecret",
        "sendWebhookTest",
        "listWebhookDeliveries",
    }


def test_an_operation_for_organisations_asks_for_their_key_and_may_answer_401() -> None:
    operation = DOCUMENT["paths"]["/api/v1/webhook-endpoints"]["get"]
    assert operation["security"] == [{"organisationKey": []}]
    assert operation["responses"]["401"]["content"]["application/problem+json"]
    create = DOCUMENT["paths"]["/api/v1/campaigns"]["post"]["responses"]
    assert {"400", "401", "413", "415", "422"} <= set(create)


# ----- every operation, for real --------------------------------------------------------


@dataclass
class Seen:
    operation_id: str
    status: int
    content_type: str
    body: Any


def _operation_of(method: str, path: str) -> dict[str, Any] | None:
    for template, item in DOCUMENT["paths"].items():
        pattern = "^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, path):
            found: dict[str, Any] | None = item.get(method.lower())
            return found
    return None


def record(client: httpx.AsyncClient) -> list[Seen]:
    seen: list[Seen] = []

    async def remember(response: httpx.Response) -> None:
        request = response.request
        operation = _operation_of(request.method, request.url.path)
        if operation is None or not request.url.path.startswith("/api/v1/"):
            return
        await response.aread()
        content_type = response.headers.get("content-type", "").split(";")[0]
        body = response.text if content_type == "text/csv" else None
        if response.content and body is None:
            body = response.json()
        seen.append(Seen(operation["operationId"], response.status_code, content_type, body))

    client.event_hooks["response"].append(remember)
    return seen


def _answer_schema(operation_id: str, status: int, content_type: str) -> dict[str, Any] | None:
    for item in DOCUMENT["paths"].values():
        for method, operation in item.items():
            if method in HTTP_METHODS and operation["operationId"] == operation_id:
                answer = operation["responses"].get(str(status))
                assert answer is not None, f"{operation_id} answered {status}, undeclared"
                content = answer.get("content")
                if content is None:
                    return None
                assert content_type in content, f"{operation_id} {status}: {content_type}"
                schema: dict[str, Any] | None = content[content_type].get("schema")
                return schema
    raise AssertionError(f"no operation {operation_id}")


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url, webhook_allow_private_networks=True)


@pytest.fixture
def store_of_app(app: Starlette) -> Store:
    return services_of(app).store


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_every_operation_answers_as_its_document_says(
    app: Starlette, client: httpx.AsyncClient, store_of_app: Store
) -> None:
    store = store_of_app
    seen = record(client)
    lead, lead_key = await make_lead(store)
    _, other_lead_key = await make_lead(store, "other-lead@example.org")
    org, org_key = await create_organisation_api_key(
        store, "ops@fibreco.example", "FibreCo", "provider"
    )
    await approve(store, org.id)
    lead_h, org_h = bearer(lead_key), bearer(org_key)
    signer = services_of(app).signer

    # The document, and campaigns.
    assert (await client.get("/api/v1/openapi.json")).status_code == 200
    created = await client.post("/api/v1/campaigns", json=campaign_data(), headers=lead_h)
    assert created.status_code == 201
    slug = created.json()["slug"]
    assert (await client.post("/api/v1/campaigns", json=campaign_data())).status_code == 401
    taken = await client.post("/api/v1/campaigns", json=campaign_data(slug=slug), headers=lead_h)
    assert taken.status_code == 409
    bad = await client.post("/api/v1/campaigns", json={"title": 5}, headers=lead_h)
    assert bad.status_code == 422
    # An address never ends in a newline (a pattern ending in `$` alone would allow one).
    newline = await client.post(
        "/api/v1/campaigns", json=campaign_data(slug="ends-in-newline\n"), headers=lead_h
    )
    assert newline.status_code == 422
    assert [e["field"] for e in newline.json()["errors"]] == ["slug"]
    assert (await client.post("/api/v1/campaigns", content=b"{", headers=lead_h)).status_code == 400
    assert (await client.get("/api/v1/campaigns")).status_code == 200
    assert (await client.get("/api/v1/campaigns", params={"status": ""})).status_code == 422
    assert (await client.get(f"/api/v1/campaigns/{slug}")).status_code == 200
    assert (await client.get("/api/v1/campaigns/no-such-campaign")).status_code == 404

    # Pledges: a resident's, a paper one, confirming and withdrawing.
    pledges = f"/api/v1/campaigns/{slug}/pledges"
    assert (await client.post(pledges, json=pledge_data(1))).status_code == 202
    assert (await client.post(pledges, json=pledge_data(2, postcode="X"))).status_code == 422
    paper = pledge_data(3, source="paper")
    assert (await client.post(pledges, json=paper, headers=lead_h)).status_code == 201
    other = await client.post(pledges, json=paper, headers=bearer(other_lead_key))
    assert other.status_code == 403
    [pledge_id] = await make_pending_pledges(store, slug, 1, start=10)
    confirm = {"token": signer.sign(pledge_id, "pledge-confirm")}
    withdraw = {"token": signer.sign(pledge_id, "pledge-withdraw")}
    assert (await client.post("/api/v1/pledges/confirm", json=confirm)).status_code == 200
    assert (await client.post("/api/v1/pledges/withdraw", json=withdraw)).status_code == 200
    assert (await client.post("/api/v1/pledges/confirm", json=confirm)).status_code == 409
    bad_token = {"token": "not-a-token"}
    assert (await client.post("/api/v1/pledges/confirm", json=bad_token)).status_code == 400
    assert (await client.post("/api/v1/pledges/withdraw", json=bad_token)).status_code == 400

    # A campaign asking the most each would pay: answers, the curve, a quote given later.
    asking = campaign_data(
        price_question={
            "currency": "gbp",
            "period": "once",
            "min": 25000,
            "max": 100000,
            "step": 25000,
        },
        target_price=50000,
        take_up_rates={"interested": 20},
        equity_floor={"share": 10, "districts": ["LS6"]},
    )
    priced = await client.post("/api/v1/campaigns", json=asking, headers=lead_h)
    assert priced.status_code == 201, priced.text
    priced_path = f"/api/v1/campaigns/{priced.json()['slug']}"
    answered = pledge_data(30, max_price=75000, firmness="deposit")
    assert (await client.post(f"{priced_path}/pledges", json=answered)).status_code == 202
    on_paper = pledge_data(31, source="paper", max_price="not_sure", firmness="interested")
    recorded = await client.post(f"{priced_path}/pledges", json=on_paper, headers=lead_h)
    assert recorded.status_code == 201
    off_curve = await client.post(f"{priced_path}/pledges", json=pledge_data(32, max_price=60000))
    assert off_curve.status_code == 422
    quoted = {"quote": {"total": 2000000, "voucher_per_home": 50000}}
    assert (await client.patch(priced_path, json=quoted, headers=lead_h)).status_code == 200
    assert (await client.get(priced_path)).json()["demand"]["quote"]["cost_each"]

    # Webhook endpoints and their deliveries.
    endpoints = "/api/v1/webhook-endpoints"
    new = {"url": "http://127.0.0.1:9/hook", "filters": {"postcode_prefixes": ["LS"]}}
    registered = await client.post(endpoints, json=new, headers=org_h)
    assert registered.status_code == 201
    one = f"{endpoints}/{registered.json()['id']}"
    assert (await client.post(endpoints, json={"url": 5}, headers=org_h)).status_code == 422
    assert (await client.get(endpoints)).status_code == 401
    assert (await client.get(endpoints, headers=org_h)).status_code == 200
    assert (await client.get(one, headers=org_h)).status_code == 200
    assert (await client.get(f"{endpoints}/ep_none", headers=org_h)).status_code == 404
    changed = await client.patch(one, json={"description": "Ours"}, headers=org_h)
    assert changed.status_code == 200
    assert (await client.patch(one, json={"status": "x"}, headers=org_h)).status_code == 422
    assert (await client.post(f"{one}/rotate-secret", headers=org_h)).status_code == 200
    assert (
        await client.post(f"{endpoints}/ep_none/rotate-secret", headers=org_h)
    ).status_code == 404
    tested = await client.post(f"{one}/test", headers=org_h)
    assert tested.status_code == 202
    delivery = tested.json()["delivery"]
    assert (await client.get(f"{one}/deliveries", headers=org_h)).status_code == 200
    bad_limit = await client.get(f"{one}/deliveries", params={"limit": "0"}, headers=org_h)
    assert bad_limit.status_code == 422
    retry = f"/api/v1/deliveries/{delivery}/retry"
    assert (await client.post(retry, headers=org_h)).status_code == 202
    assert (
        await client.post("/api/v1/deliveries/dlv_none/retry", headers=org_h)
    ).status_code == 404
    since = {"since": (utcnow() - timedelta(days=1)).isoformat()}
    assert (await client.post(f"{one}/recover", json=since, headers=org_h)).status_code == 202
    later = {"since": (utcnow() + timedelta(days=1)).isoformat()}
    assert (await client.post(f"{one}/recover", json=later, headers=org_h)).status_code == 422
    # Registered as disabled (this was a 500 before the document's tests found it).
    off = {"url": "http://127.0.0.1:9/off", "status": "disabled"}
    registered_off = await client.post(endpoints, json=off, headers=org_h)
    assert registered_off.status_code == 201
    assert registered_off.json()["status"] == "disabled"
    disabled = await client.patch(one, json={"status": "disabled"}, headers=org_h)
    assert disabled.status_code == 200
    assert (await client.post(f"{one}/test", headers=org_h)).status_code == 409

    # Contacts: refused before the campaign tips, given after.
    contacts = f"/api/v1/campaigns/{slug}/contacts"
    assert (await client.get(contacts, headers=org_h)).status_code == 409
    small = await make_campaign(store, lead, target=1)
    await make_confirmed_pledge(store, small.slug, 20, share_contact=True)
    # Contacts go through an endpoint whose filters name the campaign's category and area.
    naming = {"categories": ["broadband"], "postcode_prefixes": ["LS6"]}
    whole = await client.post(
        endpoints, json={"url": "http://127.0.0.1:9/all", "filters": naming}, headers=org_h
    )
    assert whole.status_code == 201
    tipped = await client.get(f"/api/v1/campaigns/{small.slug}/contacts", headers=org_h)
    assert tipped.status_code == 200 and tipped.json()["contacts"]

    # Demand: exact with the key, open data without, at a price, as CSV; a bad filter.
    priced = await make_campaign(
        store,
        lead,
        price_question={"currency": "gbp", "period": "month", "price_points": [1500, 2500]},
    )
    for i in range(6):
        await make_confirmed_pledge(store, priced.slug, 40 + i, max_price=2500)
    demand = "/api/v1/demand"
    at_price = {"price": "2000", "currency": "gbp", "period": "month"}
    assert (await client.get(demand, headers=org_h)).status_code == 200
    assert (await client.get(demand, params=at_price)).status_code == 200
    as_csv = await client.get(demand, params=at_price, headers={**org_h, "Accept": "text/csv"})
    assert as_csv.status_code == 200 and as_csv.text.startswith("campaign,")
    assert (await client.get(demand, params={"postcode": "nowhere"})).status_code == 422
    assert (await client.get(demand, headers=lead_h)).status_code == 401

    assert (await client.delete(one, headers=org_h)).status_code == 204
    assert (await client.delete(one, headers=org_h)).status_code == 404

    # The lead's own operations: edit, publish, cancel, pledges, updates.
    draft = await client.post("/api/v1/campaigns", json=campaign_data(draft=True), headers=lead_h)
    draft_path = f"/api/v1/campaigns/{draft.json()['slug']}"
    retitled = await client.patch(draft_path, json={"target": 40}, headers=lead_h)
    assert retitled.status_code == 200
    mine = bearer(other_lead_key)
    assert (await client.patch(draft_path, json={"target": 5}, headers=mine)).status_code == 403
    assert (await client.post(f"{draft_path}/publish", headers=lead_h)).status_code == 200
    assert (await client.post(f"{draft_path}/publish", headers=lead_h)).status_code == 409
    assert (await client.patch(draft_path, json={"target": 5}, headers=lead_h)).status_code == 409
    assert (await client.get(f"{draft_path}/pledges", headers=lead_h)).status_code == 200
    assert (await client.get(f"{draft_path}/pledges", headers=mine)).status_code == 403
    news = {"title": "Halfway", "body": "Thank you all."}
    assert (
        await client.post(f"{draft_path}/updates", json=news, headers=lead_h)
    ).status_code == 201
    assert (await client.post(f"{draft_path}/updates", json={}, headers=lead_h)).status_code == 422
    assert (await client.post(f"{draft_path}/cancel", headers=lead_h)).status_code == 200
    assert (await client.post(f"{draft_path}/cancel", headers=lead_h)).status_code == 409

    # A households campaign's premises list: as CSV and JSON, its coverage, a bad row.
    homes = campaign_data(counts="households", draft=True)
    homes_made = await client.post("/api/v1/campaigns", json=homes, headers=lead_h)
    homes_path = f"/api/v1/campaigns/{homes_made.json()['slug']}/premises"
    listing = "address_line,postcode\n2 Brudenell Road,LS6 1AB\n"
    as_csv = {**lead_h, "Content-Type": "text/csv"}
    assert (await client.put(homes_path, content=listing, headers=as_csv)).status_code == 200
    rows = [{"address_line": "4 Brudenell Road", "postcode": "LS6 1AB"}]
    assert (await client.put(homes_path, json=rows, headers=lead_h)).status_code == 200
    assert (await client.put(homes_path, json=[{}], headers=lead_h)).status_code == 422
    assert (await client.get(homes_path, headers=lead_h)).status_code == 200
    assert (await client.get(homes_path, headers=mine)).status_code == 403

    # Letters: the lead issues the codes of a households campaign's list; one verifies.
    lettered = await make_campaign(store, lead, counts="households", target=5)
    await add_premises(store, lettered.id, [("12 Brudenell Road", "LS6 1AB")])
    letters_path = f"/api/v1/campaigns/{lettered.slug}/letters"
    assert (await client.post(letters_path, headers=mine)).status_code == 403
    issued = await client.post(letters_path, headers=lead_h)
    assert issued.status_code == 200
    code = issued.json()["letters"][0]["code"]
    verify = f"/api/v1/campaigns/{lettered.slug}/verify"
    claim = {"postcode": "LS6 1AB", "address_line": "12 Brudenell Road"}
    shifted = str.maketrans("BCDFGHJKMNPQRSTVWXZ23456789", "CDFGHJKMNPQRSTVWXZ23456789B")
    wrong = code.translate(shifted)  # another code, so surely not this one
    assert (await client.post(verify, json={**claim, "code": wrong})).status_code == 422
    assert (await client.post(verify, json={**claim, "code": code})).status_code == 200

    # Offers and the choice round on the tipped campaign FibreCo's endpoint covers.
    offers = f"/api/v1/campaigns/{small.slug}/offers"
    offer = {
        "title": "Full fibre, 900 Mb",
        "description": "Fibre to the home.",
        "price": 2500,
        "period": "month",
        "no_social_tariff": "This is our cheapest package.",
    }
    posted = await client.post(offers, json=offer, headers=org_h)
    assert posted.status_code == 201
    assert (await client.post(offers, json={"price": -1}, headers=org_h)).status_code == 422
    assert (await client.get(offers, headers=org_h)).status_code == 200
    assert (await client.get("/api/v1/campaigns/no-such/offers")).status_code == 404
    one_offer = f"{offers}/{posted.json()['id']}"
    assert (await client.patch(one_offer, json={"price": 2400}, headers=org_h)).status_code == 200
    assert (await client.patch(f"{offers}/off_none", json={}, headers=org_h)).status_code == 404
    second = await client.post(offers, json=offer, headers=org_h)
    withdrawal = {"reason": "Replaced by a better offer."}
    withdrawn = f"{offers}/{second.json()['id']}/withdraw"
    assert (await client.post(withdrawn, json=withdrawal, headers=org_h)).status_code == 200
    assert (await client.post(withdrawn, json=withdrawal, headers=org_h)).status_code == 409
    choice_round = f"/api/v1/campaigns/{small.slug}/choice-round"
    assert (await client.get(choice_round)).status_code == 200
    assert (await client.get("/api/v1/campaigns/no-such/choice-round")).status_code == 404
    assert (await client.post(choice_round, json={}, headers=mine)).status_code == 403
    assert (await client.post(choice_round, json={}, headers=lead_h)).status_code == 201
    assert (await client.get(choice_round, headers=lead_h)).status_code == 200
    [chooser] = await store.database.fetch_all(
        "SELECT id FROM pledges WHERE campaign_id = :c", {"c": small.id}
    )
    choosing = {"token": signer.sign(chooser["id"], "offer-choice"), "offer": posted.json()["id"]}
    assert (await client.post("/api/v1/choices", json=choosing)).status_code == 200
    assert (
        await client.post("/api/v1/choices", json={"token": "x", "offer": "none"})
    ).status_code == 400
    assert (
        await client.get("/api/v1/choices", params={"token": choosing["token"]})
    ).status_code == 200
    assert (await client.get("/api/v1/choices", params={"token": "x"})).status_code == 400
    chooser_contacts = f"{choice_round}/contacts"
    assert (await client.get(chooser_contacts, headers=org_h)).status_code == 409
    await close_round(store, small.id)
    assert (await client.get(chooser_contacts, headers=org_h)).status_code == 200

    # Hand notes: a pledge without email, on a campaign that is then cancelled.
    by_hand = await make_campaign(store, lead, target=5)
    neighbour = {"name": "Edna", "postcode": "LS6 1AB", "source": "paper", "attested": True}
    recorded = await client.post(
        f"/api/v1/campaigns/{by_hand.slug}/pledges", json=neighbour, headers=lead_h
    )
    assert recorded.status_code == 201
    await client.post(f"/api/v1/campaigns/{by_hand.slug}/cancel", headers=lead_h)
    await dispatch_events(store)
    notes = f"/api/v1/campaigns/{by_hand.slug}/hand-notes"
    listed = await client.get(notes, headers=lead_h)
    assert listed.status_code == 200
    assert (await client.get(notes, headers=mine)).status_code == 403
    [note] = listed.json()["hand_notes"]
    assert (await client.post(f"{notes}/{note['id']}/told", headers=lead_h)).status_code == 200
    assert (await client.post(f"{notes}/0/told", headers=lead_h)).status_code == 404

    # The delivery record: the chosen provider posts and changes a milestone; anyone reads.
    delivered = await make_delivered_campaign(store)
    record_path = f"/api/v1/campaigns/{delivered.campaign.slug}/delivery"
    provider_h = bearer(delivered.provider_key)
    due = (utcnow().date() + timedelta(days=7)).isoformat()
    milestone = {"kind": "survey", "title": "Survey", "due_on": due}
    posted = await client.post(record_path, json=milestone, headers=provider_h)
    assert posted.status_code == 201
    rival = await client.post(record_path, json=milestone, headers=bearer(delivered.rival_key))
    assert rival.status_code == 403
    change_path = f"{record_path}/{posted.json()['id']}"
    done = {"done_on": utcnow().date().isoformat()}
    assert (await client.patch(change_path, json=done, headers=provider_h)).status_code == 200
    assert (await client.patch(change_path, json=done, headers=provider_h)).status_code == 409
    assert (await client.get(record_path)).status_code == 200
    assert (await client.get("/api/v1/campaigns/no-such/delivery")).status_code == 404
    # Responses: the provider whose endpoint covers the tipped campaign responds, once a day.
    responses_path = f"/api/v1/campaigns/{small.slug}/responses"
    reply = {"body": "We can survey in March."}
    assert (await client.post(responses_path, json=reply, headers=org_h)).status_code == 201
    assert (await client.post(responses_path, json=reply, headers=org_h)).status_code == 429
    assert (await client.post(responses_path, json={}, headers=org_h)).status_code == 422
    assert (await client.get(responses_path)).status_code == 200
    assert (await client.get("/api/v1/campaigns/no-such/responses")).status_code == 404

    # Every answer's body is what the document says for its operation and status.
    for answer in seen:
        schema = _answer_schema(answer.operation_id, answer.status, answer.content_type)
        if schema is None:
            assert answer.body is None, answer
            continue
        errors = list(_schema_validator(schema).iter_errors(answer.body))
        assert errors == [], (answer, [e.message for e in errors])

    # Every operation was driven, to a success and (where it has any) to an error.
    succeeded = {a.operation_id for a in seen if a.status < 400}
    failed = {a.operation_id for a in seen if a.status >= 400}
    every = {op.operation_id for op in api.operations}
    assert every - succeeded == set()
    assert every - failed == {"openapi"}  # the document itself has no way to fail


def test_the_body_check_catches_a_body_unlike_its_schema() -> None:
    """The check the test above relies on does flag a body that is not as declared."""
    schema = _answer_schema("getCampaign", 200, "application/json")
    assert schema is not None
    assert list(_schema_validator(schema).iter_errors({"slug": "x"}))
    problem = _answer_schema("getCampaign", 404, "application/problem+json")
    assert problem is not None
    assert list(_schema_validator(problem).iter_errors({"status": "404"}))


# ----- webhook bodies ---------------------------------------------------------------------


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with run_receiver(Receiver()) as found:
        yield found


async def test_webhook_bodies_the_worker_sends_are_as_the_document_says(
    store: Store, receiver: Receiver
) -> None:
    """Opened, milestone, tipped, cancelled, expired and test messages, each signed and
    sent by the worker to a real receiver, validate against their `webhooks` schema."""
    org, _ = await create_organisation_api_key(store, "ops@fibreco.example", "FibreCo", "provider")
    from notifications.endpoints import create_endpoint, parse_endpoint
    from notifications.webhooks import queue_test_message

    spec = await parse_endpoint({"url": receiver.url}, partial=False, allow_private=True)
    endpoint = await create_endpoint(store, org.id, spec)
    receiver.secrets.append(endpoint.secret)
    worker = make_worker(store)
    async with running(worker):
        tipping = await make_campaign(store, target=4)
        for i in range(4):
            await make_confirmed_pledge(store, tipping.slug, i)
        # Asking a price, with a quote and an equity floor: demand, take-up and the floor.
        priced = await make_campaign(
            store,
            target=2,
            price_question={"currency": "gbp", "period": "month", "price_points": [2000, 3000]},
            target_price=3000,
            quote={"total": 500000, "voucher_per_home": 1000},
            equity_floor={"share": 50, "districts": ["LS6"]},
        )
        for i, price in enumerate([2000, 3000, 3000]):
            await make_confirmed_pledge(store, priced.slug, 10 + i, max_price=price)
        cancelled = await make_campaign(store)
        await cancel_campaign(store, cancelled.slug, cancelled.lead_id)
        expiring = await make_campaign(store)
        await expire_due_campaigns(store, now=expiring.deadline + timedelta(seconds=1))
        await queue_test_message(store, endpoint)
        expected = {
            "campaign.opened",
            "campaign.milestone",
            "campaign.tipped",
            "campaign.cancelled",
            "campaign.expired",
            "webhook.test",
        }

        async def every_type_arrived() -> set[str] | None:
            types = {r.verified["type"] for r in receiver.verified()}
            priced_ones = {
                r.verified["type"]
                for r in receiver.verified()
                if r.verified["data"].get("campaign", {}).get("slug") == priced.slug
            }
            arrived = expected <= types and {"campaign.milestone", "campaign.tipped"} <= priced_ones
            return types if arrived else None

        await wait_for(every_type_arrived, timeout=20)
        rows = await store.database.fetch_all(sa.select(webhook_deliveries.c.status))
        assert rows

    tipped = [
        r.verified["data"]["campaign"]
        for r in receiver.verified()
        if r.verified["type"] == "campaign.tipped"
    ]
    [asked] = [c for c in tipped if c["slug"] == priced.slug]
    assert [p["households"] for p in asked["demand"]["points"]] == [3, 2]
    assert asked["demand"]["quote"]["total"] == 500000
    assert asked["equity_floor"]["met"] and asked["take_up"]["by_firmness"]["will_switch"] == 3
    [plain] = [c for c in tipped if c["slug"] == tipping.slug]
    assert plain["demand"] is None and "equity_floor" not in plain
    for received in receiver.verified():
        schema = DOCUMENT["webhooks"][received.verified["type"]]["post"]["requestBody"]
        body_schema = schema["content"]["application/json"]["schema"]
        errors = list(_schema_validator(body_schema).iter_errors(received.verified))
        assert errors == [], (received.verified, [e.message for e in errors])
