"""Letters through the API: the lead issues the codes (the letters as JSON, for a mail
merge); anyone enters a code for an address. A wrong code is a 422 naming `code`, too many
a 429 with Retry-After, and nothing counts; another lead's key gets 403."""

from __future__ import annotations

import httpx
import sqlalchemy as sa

from pledges.campaigns import Campaign, get_campaign
from pledges.letters import WRONG_CODE, WRONG_CODES_PER_ADDRESS
from pledges.pledging import confirm_pledge, parse_pledge, record_pledge
from pledges.store import Store
from pledges.tables import households, letter_attempts

# Every answer of these tests is one the document declares (test_api's autouse fixture).
from tests.app.api.test_api import bearer, every_answer_is_declared  # noqa: F401
from tests.conftest import table_snapshot
from tests.factories import add_premises, make_campaign, make_lead, pledge_data

HOMES = [("12 Brudenell Road", "LS6 1AB"), ("3 Manor Drive", "LS6 2DE")]


async def _campaign(store: Store, **overrides: object) -> tuple[Campaign, dict[str, str]]:
    lead, key = await make_lead(store)
    overrides.setdefault("target", 5)
    campaign = await make_campaign(store, lead, counts="households", **overrides)
    await add_premises(store, campaign.id, HOMES)
    return await get_campaign(store.database, campaign.slug), bearer(key)


async def _issue(client: httpx.AsyncClient, slug: str, key: dict[str, str]) -> dict[str, str]:
    answer = await client.post(f"/api/v1/campaigns/{slug}/letters", headers=key)
    assert answer.status_code == 200, answer.text
    return {x["address_line"]: x["code"] for x in answer.json()["letters"]}


async def test_the_lead_issues_the_letters_as_json(client: httpx.AsyncClient, store: Store) -> None:
    campaign, key = await _campaign(store)
    answer = await client.post(f"/api/v1/campaigns/{campaign.slug}/letters", headers=key)
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "no-store"
    body = answer.json()
    assert body["verify_url"] == f"http://testserver/c/{campaign.slug}/verify"
    assert [(x["address_line"], x["postcode"], x["street"]) for x in body["letters"]] == [
        ("12 Brudenell Road", "LS6 1AB", "Brudenell Road"),
        ("3 Manor Drive", "LS6 2DE", "Manor Drive"),
    ]
    assert all(len(x["code"]) == 9 and x["code"][4] == "-" for x in body["letters"])


async def test_only_the_lead_of_a_campaign_with_a_list_issues_letters(
    client: httpx.AsyncClient, store: Store
) -> None:
    campaign, _ = await _campaign(store)
    lead, other = await make_lead(store, "other@example.org")
    people = await make_campaign(store, lead)
    before = await table_snapshot(store)

    assert (await client.post(f"/api/v1/campaigns/{campaign.slug}/letters")).status_code == 401
    refused = await client.post(f"/api/v1/campaigns/{campaign.slug}/letters", headers=bearer(other))
    assert refused.status_code == 403
    closed = await client.post(f"/api/v1/campaigns/{people.slug}/letters", headers=bearer(other))
    assert closed.status_code == 409
    assert "counts people" in closed.json()["detail"]
    missing = await client.post("/api/v1/campaigns/nowhere-at-all/letters", headers=bearer(other))
    assert missing.status_code == 404
    assert await table_snapshot(store) == before


async def test_the_right_code_verifies_and_says_whether_the_home_counts(
    client: httpx.AsyncClient, store: Store
) -> None:
    campaign, key = await _campaign(store, require_letter=True, target=1)
    codes = await _issue(client, campaign.slug, key)
    data = pledge_data(1, address_line="12 Brudenell Rd", postcode="LS6 1AB")
    outcome = await record_pledge(store, campaign.slug, parse_pledge(data))
    await confirm_pledge(store, outcome.pledge_id)

    answer = await client.post(
        f"/api/v1/campaigns/{campaign.slug}/verify",
        json={
            "postcode": "ls6 1ab",
            "address_line": "12 Brudenell Road",
            "code": codes["12 Brudenell Road"].lower(),
        },
    )
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"verified": True, "household": {"level": "letter", "counted": True}}
    after = await get_campaign(store.database, campaign.slug)
    assert (after.household_count, after.status) == (1, "tipped")

    again = await client.post(
        f"/api/v1/campaigns/{campaign.slug}/verify",
        json={
            "postcode": "LS6 2DE",
            "address_line": "3 Manor Drive",
            "code": codes["3 Manor Drive"],
        },
    )
    assert again.json()["household"] == {"level": "letter", "counted": False}  # nobody pledged


async def test_a_wrong_code_is_a_422_naming_code(client: httpx.AsyncClient, store: Store) -> None:
    campaign, key = await _campaign(store)
    codes = await _issue(client, campaign.slug, key)
    answer = await client.post(
        f"/api/v1/campaigns/{campaign.slug}/verify",
        json={
            "postcode": "LS6 1AB",
            "address_line": "12 Brudenell Road",
            "code": codes["3 Manor Drive"],
        },
    )
    assert answer.status_code == 422
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["errors"] == [{"field": "code", "message": WRONG_CODE}]
    oks = await store.database.fetch_all(sa.select(letter_attempts.c.ok))
    assert [bool(r["ok"]) for r in oks] == [False]


async def test_bad_fields_are_named_and_not_counted(
    client: httpx.AsyncClient, store: Store
) -> None:
    campaign, _ = await _campaign(store)
    before = await table_snapshot(store)
    answer = await client.post(
        f"/api/v1/campaigns/{campaign.slug}/verify",
        json={"postcode": "QQ", "address_line": "x" * 5000, "code": "OIL-1"},
    )
    assert answer.status_code == 422
    assert [e["field"] for e in answer.json()["errors"]] == ["postcode", "address_line", "code"]
    missing = await client.post(f"/api/v1/campaigns/{campaign.slug}/verify", json={})
    assert missing.status_code == 422
    assert {e["field"] for e in missing.json()["errors"]} == {"postcode", "address_line", "code"}
    assert await table_snapshot(store) == before


async def test_too_many_wrong_codes_give_429_and_nothing_counts(
    client: httpx.AsyncClient, store: Store
) -> None:
    campaign, key = await _campaign(store)
    codes = await _issue(client, campaign.slug, key)
    claim = {"postcode": "LS6 1AB", "address_line": "12 Brudenell Road"}
    url = f"/api/v1/campaigns/{campaign.slug}/verify"
    for _ in range(WRONG_CODES_PER_ADDRESS):
        wrong = await client.post(url, json={**claim, "code": codes["3 Manor Drive"]})
        assert wrong.status_code == 422
    before = await table_snapshot(store)

    limited = await client.post(url, json={**claim, "code": codes["12 Brudenell Road"]})
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) > 23 * 3600
    assert "Too many wrong codes" in limited.json()["detail"]
    assert await table_snapshot(store) == before
    assert await store.database.fetch_val(sa.select(sa.func.count()).select_from(households)) == 0


async def test_verify_on_a_campaign_without_letters_is_a_409(
    client: httpx.AsyncClient, store: Store
) -> None:
    people = await make_campaign(store)
    answer = await client.post(
        f"/api/v1/campaigns/{people.slug}/verify",
        json={"postcode": "LS6 1AB", "address_line": "12 Brudenell Road", "code": "BCDF-2345"},
    )
    assert answer.status_code == 409
