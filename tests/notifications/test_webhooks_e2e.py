"""End to end: pledges confirmed through the API tip a campaign, and a provider's real
receiver gets exactly one valid, signed campaign.tipped (a households campaign's with its
homes counted by verification level and district)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import sqlalchemy as sa
from jsonschema import FormatChecker
from openapi_schema_validator import OAS31Validator

from app.api.openapi import openapi_document
from app.main import create_app
from pledges.accounts import create_organisation_api_key
from pledges.tables import pledges
from tests.conftest import make_settings, wait_for
from tests.factories import approve, campaign_data, make_lead, pledge_data
from tests.receiver import Receiver, run_receiver

DOCUMENT = openapi_document("http://testserver")


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with run_receiver(Receiver()) as r:
        yield r


async def test_tip_reaches_the_receiver_once_signed(database_url: str, receiver: Receiver) -> None:
    settings = make_settings(database_url, webhook_allow_private_networks=True)
    app = create_app(settings, run_worker=True)
    async with app.router.lifespan_context(app):
        store = app.state.services.store
        signer = app.state.services.signer
        _, lead_key = await make_lead(store)
        organisation, org_key = await create_organisation_api_key(
            store, "ops@fibreco.example", "FibreCo", "provider"
        )
        await approve(store, organisation.id)  # contacts go to approved organisations only
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            created = await client.post(
                "/api/v1/webhook-endpoints",
                headers={"Authorization": f"Bearer {org_key}"},
                json={
                    "url": receiver.url,
                    "description": "FibreCo planning",
                    "event_types": ["campaign.tipped"],
                    "filters": {"categories": ["broadband"], "postcode_prefixes": ["LS"]},
                },
            )
            assert created.status_code == 201, created.text
            assert created.json()["secret"].startswith("whsec_")
            receiver.secrets.append(created.json()["secret"])

            campaign = await client.post(
                "/api/v1/campaigns",
                headers={"Authorization": f"Bearer {lead_key}"},
                json=campaign_data(target=3),
            )
            slug = campaign.json()["slug"]
            for i in range(4):
                answer = await client.post(
                    f"/api/v1/campaigns/{slug}/pledges",
                    json=pledge_data(i, share_contact=i % 2 == 0),
                )
                assert answer.status_code == 202
            ids = [
                r["id"]
                for r in await store.database.fetch_all(
                    sa.select(pledges.c.id).order_by(pledges.c.id)
                )
            ]
            for pledge_id in ids:
                token = signer.sign(pledge_id, "pledge-confirm")
                confirmed = await client.post("/api/v1/pledges/confirm", json={"token": token})
                assert confirmed.status_code == 200

            async def delivered() -> bool:
                return len(receiver.verified()) >= 1

            await wait_for(delivered)
            [message] = receiver.verified()
            assert message.verified["type"] == "campaign.tipped"
            data = message.verified["data"]
            assert data["campaign"]["slug"] == slug
            assert data["campaign"]["confirmed"] == 3
            # A campaign of people says so, and carries no households.
            assert data["campaign"]["counts"] == "people"
            assert data["campaign"]["premises"] is None
            assert "households" not in data["campaign"]
            # Counted when the message is built, moments after the tip.
            assert data["pledges_by_district"]["LS6"] >= 3
            assert "@" not in message.body.decode()  # no personal data in the body
            assert message.headers["webhook-id"].startswith("msg_")

            contacts = await client.get(
                data["contacts_url"].replace("http://testserver", ""),
                headers={"Authorization": f"Bearer {org_key}"},
            )
            assert contacts.status_code == 200
            emails = sorted(c["email"] for c in contacts.json()["contacts"])
            assert emails == ["resident0@example.org", "resident2@example.org"]

        # Nothing else arrives: one tip, one message.
        deliveries = await store.database.fetch_val("SELECT count(*) FROM webhook_deliveries")
        assert deliveries == 1
        assert len(receiver.requests) == 1


async def test_a_households_tip_reaches_the_receiver_with_its_homes_and_no_address(
    database_url: str, receiver: Receiver
) -> None:
    """Ten premises and a 50 % coverage target: the fifth home tips it, however many people
    pledge from each; the signed message counts homes by level and district, as the
    document's `webhooks` say, and names no address."""
    settings = make_settings(database_url, webhook_allow_private_networks=True)
    app = create_app(settings, run_worker=True)
    async with app.router.lifespan_context(app):
        store = app.state.services.store
        signer = app.state.services.signer
        _, lead_key = await make_lead(store)
        _, org_key = await create_organisation_api_key(
            store, "ops@fibreco.example", "FibreCo", "provider"
        )
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            created = await client.post(
                "/api/v1/webhook-endpoints",
                headers={"Authorization": f"Bearer {org_key}"},
                json={"url": receiver.url, "event_types": ["campaign.tipped"]},
            )
            assert created.status_code == 201, created.text
            receiver.secrets.append(created.json()["secret"])
            campaign = await client.post(
                "/api/v1/campaigns",
                headers={"Authorization": f"Bearer {lead_key}"},
                json=campaign_data(
                    counts="households",
                    target=None,
                    coverage_target=50,
                    premises={"count": 10},
                ),
            )
            assert campaign.status_code == 201, campaign.text
            slug = campaign.json()["slug"]
            # Homes 0 to 4 (two people at home 0, one in LS16); home 5 pledges after the tip.
            homes = [(0, "LS6 1AB"), (0, "LS6 1AB"), (1, "LS6 1AB"), (2, "LS6 1AB")]
            homes += [(3, "LS16 5AA"), (4, "LS6 1AB"), (5, "LS6 1AB")]
            for i, (home, postcode) in enumerate(homes):
                answer = await client.post(
                    f"/api/v1/campaigns/{slug}/pledges",
                    json=pledge_data(
                        i, postcode=postcode, address_line=f"{10 + home} Brudenell Road"
                    ),
                )
                assert answer.status_code == 202, answer.text
            ids = [
                r["id"]
                for r in await store.database.fetch_all(
                    sa.select(pledges.c.id).order_by(pledges.c.id)
                )
            ]
            for pledge_id in ids[:-1]:
                token = signer.sign(pledge_id, "pledge-confirm")
                confirmed = await client.post("/api/v1/pledges/confirm", json={"token": token})
                assert confirmed.status_code == 200

            async def delivered() -> bool:
                return len(receiver.verified()) >= 1

            await wait_for(delivered)
            [message] = receiver.verified()
            assert message.verified["type"] == "campaign.tipped"
            tipped = message.verified["data"]["campaign"]
            assert tipped["counts"] == "households"
            assert tipped["premises"] == {"count": 10, "listed": 0}
            assert tipped["confirmed"] == 6
            assert tipped["households"] == {
                "count": 5,
                "premises": 10,
                "covered": 5,
                "coverage_percent": 50.0,
                "coverage_target": 50,
                "by_level": {"letter": 0, "vouched": 0, "email": 5},
                "by_district": {"LS16": 1, "LS6": 4},
            }
            assert "Brudenell" not in message.body.decode()
            schema = DOCUMENT["webhooks"]["campaign.tipped"]["post"]["requestBody"]
            validator = OAS31Validator(
                {
                    **schema["content"]["application/json"]["schema"],
                    "components": DOCUMENT["components"],
                },
                format_checker=FormatChecker(),
            )
            assert [e.message for e in validator.iter_errors(message.verified)] == []

        deliveries = await store.database.fetch_val("SELECT count(*) FROM webhook_deliveries")
        assert deliveries == 1
