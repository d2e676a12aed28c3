"""A missed delivery date reaches a subscriber's real receiver once, signed, in the shape
the OpenAPI document declares, without any personal data."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from jsonschema import FormatChecker
from openapi_schema_validator import OAS31Validator

from app.api.openapi import openapi_document
from notifications.endpoints import create_endpoint, parse_endpoint
from pledges.accounts import create_organisation_api_key
from pledges.delivery import parse_milestone, record_milestone
from pledges.store import utcnow
from tests.conftest import make_settings
from tests.factories import make_delivered_campaign
from tests.notifications.test_delivery_emails import backdate
from tests.notifications.test_email import drain, running
from tests.receiver import Receiver, run_receiver

DOCUMENT = openapi_document("http://testserver")


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with run_receiver(Receiver()) as r:
        yield r


async def test_a_missed_date_is_one_signed_public_message(
    database_url: str, receiver: Receiver
) -> None:
    settings = make_settings(database_url, webhook_allow_private_networks=True)
    async with running(settings) as r:
        store = r.store
        delivered = await make_delivered_campaign(store)
        # A council watching the area: the event is public, not the provider's alone.
        council, _ = await create_organisation_api_key(
            store, "planning@leeds.example", "Leeds City Council", "council"
        )
        endpoint = await create_endpoint(
            store,
            council.id,
            await parse_endpoint(
                {"url": receiver.url, "event_types": ["delivery.milestone_missed"]},
                partial=False,
                allow_private=True,
            ),
        )
        receiver.secrets.append(endpoint.secret)
        milestone = await record_milestone(
            store,
            delivered.campaign,
            delivered.provider.id,
            parse_milestone(
                {"kind": "first_connections", "title": "First homes live",
                 "due_on": utcnow().date().isoformat()}
            ),
        )  # fmt: skip
        await backdate(store, milestone.public_id, 2)
        await drain(r.worker)
        await drain(r.worker)

    [message] = receiver.verified()
    assert len(receiver.requests) == 1
    assert message.verified["type"] == "delivery.milestone_missed"
    data = message.verified["data"]
    assert data["campaign"]["slug"] == delivered.campaign.slug
    assert data["milestone"]["id"] == milestone.public_id
    assert data["milestone"]["provider"] == delivered.provider.name
    assert "example.org" not in message.body.decode()  # no resident's address
    schema = DOCUMENT["webhooks"]["delivery.milestone_missed"]["post"]["requestBody"]
    validator = OAS31Validator(
        {**schema["content"]["application/json"]["schema"], "components": DOCUMENT["components"]},
        format_checker=FormatChecker(),
    )
    assert [e.message for e in validator.iter_errors(message.verified)] == []
