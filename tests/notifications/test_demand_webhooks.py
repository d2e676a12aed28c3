"""A campaign that asks the most each household would pay tips through the API, and a
provider's real receiver gets one signed campaign.tipped carrying the demand curve, the
projected take-up and the equity floor, as the document's `webhooks` say, and the same
curve as the campaign's JSON."""

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
from tests.factories import campaign_data, make_lead, pledge_data
from tests.receiver import Receiver, run_receiver

DOCUMENT = openapi_document("http://testserver")


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with run_receiver(Receiver()) as r:
        yield r


async def test_a_tip_on_a_target_price_reaches_the_receiver_with_its_curve(
    database_url: str, receiver: Receiver
) -> None:
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
                    target=2,
                    price_question={
                        "currency": "gbp",
                        "period": "month",
                        "price_points": [2000, 2500, 3000],
                    },
                    target_price=2500,
                    take_up_rates={"will_switch": 50},
                    equity_floor={"share": 25, "districts": ["LS16"]},
                ),
            )
            assert campaign.status_code == 201, campaign.text
            slug = campaign.json()["slug"]
            # Below the target price, not sure, then two at or above it (one from LS16).
            answers = [
                (2000, "LS6 1AB", "interested"),
                ("not_sure", "LS6 1AB", "will_switch"),
                (3000, "LS6 1AB", "deposit"),
                (2500, "LS16 5AA", "will_switch"),
            ]
            for i, (price, postcode, firmness) in enumerate(answers):
                answer = await client.post(
                    f"/api/v1/campaigns/{slug}/pledges",
                    json=pledge_data(i, max_price=price, postcode=postcode, firmness=firmness),
                )
                assert answer.status_code == 202, answer.text
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
            tipped = message.verified["data"]["campaign"]
            shown = (await client.get(f"/api/v1/campaigns/{slug}")).json()

    assert tipped["slug"] == slug and shown["status"] == "tipped"
    demand = tipped["demand"]
    assert demand == shown["demand"]
    assert [(p["price"], p["households"]) for p in demand["points"]] == [
        (2000, 3),
        (2500, 2),
        (3000, 1),
    ]
    assert demand["points"][1]["by_firmness"] == {
        "interested": 0,
        "will_switch": 1,
        "deposit": 1,
    }
    # 50 % of one will-switch and 90 % of one deposit household, at £25 a month.
    assert demand["points"][1]["projected"] == {"households": 1.4, "revenue": 3500}
    assert (demand["not_sure"], demand["target_price"]) == (1, 2500)
    assert demand["assumes"] == (
        "assumes 30 % of interested, 50 % of will-switch and 90 % of deposit people sign up"
    )
    assert tipped["take_up"] == shown["take_up"]
    assert tipped["take_up"]["by_firmness"] == {"interested": 1, "will_switch": 2, "deposit": 1}
    assert tipped["equity_floor"] == {
        "share": 25,
        "districts": ["LS16"],
        "priority": 1,
        "counted": 4,
        "met": True,
    }
    assert "@" not in message.body.decode()  # counts only: no personal data
    schema = DOCUMENT["webhooks"]["campaign.tipped"]["post"]["requestBody"]
    validator = OAS31Validator(
        {**schema["content"]["application/json"]["schema"], "components": DOCUMENT["components"]},
        format_checker=FormatChecker(),
    )
    assert [e.message for e in validator.iter_errors(message.verified)] == []
