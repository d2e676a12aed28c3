"""The lead's pages for a neighbour without email: the paper form without an email address
(with the lead's attestation), and the printable "to tell by hand" list, marked as told."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx
import sqlalchemy as sa
from starlette.applications import Starlette

from notifications.outbox import dispatch_events
from notifications.tables import emails, hand_notes
from pledges.campaigns import Campaign, get_campaign
from pledges.pledging import parse_vouched_pledge, record_vouched_pledge
from pledges.store import Store
from pledges.tables import pledges
from pledges.updates import parse_update, post_update
from tests.app.pages.stylesheets import linked_styles
from tests.app.pages.test_leads import csrf_from, field_error, sign_in, store_of
from tests.app.pages.test_organisations_demand import organisation
from tests.app.pages.test_organisations_demand import sign_in as org_sign_in
from tests.app.pages.test_residents import page_of
from tests.conftest import table_snapshot
from tests.factories import make_campaign, make_confirmed_pledge, make_lead
from tests.spreadsheets import spreadsheet_text


def doorstep(token: str, **overrides: str) -> dict[str, str]:
    data = {
        "csrf_token": token,
        "name": "Edna Doorstep",
        "email": "",
        "postcode": "ls6 1ab",
        "address_line": "12 Brudenell Road",
        "phone": "0113 496 0000",
        "share_contact": "on",
        "attested": "on",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


async def paper(client: httpx.AsyncClient, campaign: Campaign, **overrides: str) -> Any:
    token = await csrf_from(client, f"/lead/campaigns/{campaign.slug}")
    return await client.post(
        f"/lead/campaigns/{campaign.slug}/paper-pledges", data=doorstep(token, **overrides)
    )


async def pledge_count(store: Store) -> int:
    return int(await store.database.fetch_val(sa.select(sa.func.count()).select_from(pledges)))


async def test_a_pledge_without_email_is_recorded_on_the_leads_word(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    store = store_of(app)
    lead = await sign_in(client, store)
    campaign = await make_campaign(store, lead, counts="households", target=5)
    dashboard = page_of(await client.get(f"/lead/campaigns/{campaign.slug}"))
    fields = dashboard.form_fields(f"/lead/campaigns/{campaign.slug}/paper-pledges")
    assert {"address_line", "phone", "attested", "consent"} <= set(fields)

    answer = await paper(client, campaign)

    assert answer.status_code == 303
    row = await store.database.fetch_one(sa.select(pledges))
    assert row is not None
    assert (row["email"], row["vouched_by"], row["phone"], row["address_line"]) == (
        None,
        lead.id,
        "0113 496 0000",
        "12 Brudenell Road",
    )
    after = await get_campaign(store.database, campaign.slug)
    assert (after.confirmed, after.household_count) == (1, 1)
    shown = page_of(await client.get(f"/lead/campaigns/{campaign.slug}")).words
    assert "Pledge recorded on your word" in shown
    assert "To tell by hand: nothing to pass on" in shown

    # The same neighbour again: said beside the name, nothing stored.
    before = await table_snapshot(store)
    again = await paper(client, campaign, name="edna doorstep", address_line="12 brudenell rd")
    assert again.status_code == 409
    assert "has pledged already" in field_error(page_of(again), "paper-name")
    assert await table_snapshot(store) == before


async def test_bad_input_is_said_beside_each_field_and_nothing_is_stored(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    store = store_of(app)
    lead = await sign_in(client, store)
    campaign = await make_campaign(store, lead, counts="households", target=5)
    before = await table_snapshot(store)

    refused = await paper(
        client, campaign, address_line="x" * 5000, phone="ring the bell", attested=None
    )

    assert refused.status_code == 422
    page = page_of(refused)
    assert page.summary_links() == ["#paper-address_line", "#paper-phone", "#paper-attested"]
    assert "phone number of 7 to 20 digits" in field_error(page, "paper-phone")
    assert "met or spoke to this person" in field_error(page, "paper-attested")
    assert page.by_id("paper-name").attrs["value"] == "Edna Doorstep"
    assert await table_snapshot(store) == before

    # A households campaign needs the address, with or without email.
    no_address = await paper(client, campaign, address_line="")
    assert no_address.status_code == 422
    assert "first line of their address" in field_error(page_of(no_address), "paper-address_line")
    assert await table_snapshot(store) == before


async def test_an_email_still_needs_the_signed_form_and_not_the_attestation(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    store = store_of(app)
    lead = await sign_in(client, store)
    campaign = await make_campaign(store, lead, target=5)
    refused = await paper(client, campaign, email="edna@example.org", attested=None)
    assert refused.status_code == 422
    assert page_of(refused).summary_links() == ["#paper-consent"]
    accepted = await paper(client, campaign, email="edna@example.org", attested=None, consent="on")
    assert accepted.status_code == 303
    row = await store.database.fetch_one(sa.select(pledges))
    assert row is not None and (row["email"], row["vouched_by"]) == ("edna@example.org", None)


async def test_the_to_tell_list_prints_what_to_tell_and_marks_it_told(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    store = store_of(app)
    lead = await sign_in(client, store)
    campaign = await make_campaign(store, lead, target=3)
    assert (await paper(client, campaign)).status_code == 303
    assert (await paper(client, campaign, name="Fred Field", phone="")).status_code == 303
    await make_confirmed_pledge(store, campaign.slug, 1)  # the third: it tips
    await post_update(
        store, campaign.slug, lead.id, parse_update({"title": "Thank you", "body": "Well done."})
    )
    await dispatch_events(store)
    await dispatch_events(store)
    assert await store.database.fetch_val(sa.select(sa.func.count()).select_from(hand_notes)) == 4
    to_pledgers = sa.select(emails.c.to_address).where(emails.c.pledge_id.is_not(None))
    assert {r["to_address"] for r in await store.database.fetch_all(to_pledgers)} == {
        "resident1@example.org"
    }

    dashboard = page_of(await client.get(f"/lead/campaigns/{campaign.slug}"))
    assert "To tell by hand: 4 messages for people without email" in dashboard.words
    listed = await client.get(f"/lead/campaigns/{campaign.slug}/to-tell")
    assert listed.status_code == 200
    assert "@media print" in await linked_styles(client, listed)
    page = page_of(listed)
    words = page.words
    assert "Edna Doorstep" in words and "12 Brudenell Road, LS6 1AB" in words
    assert "Phone: 0113 496 0000" in words and "Fred Field" in words
    assert f"It tipped! {campaign.title} reached its target" in words
    assert "Thank you" in words and "Well done." in words
    buttons = page.find_all("form", action=f"/lead/campaigns/{campaign.slug}/to-tell/told")
    assert len(buttons) == 5  # one a message, and all shown

    token = await csrf_from(client, f"/lead/campaigns/{campaign.slug}/to-tell")
    note_id = await store.database.fetch_val(sa.select(sa.func.min(hand_notes.c.id)))
    told = await client.post(
        f"/lead/campaigns/{campaign.slug}/to-tell/told",
        data={"csrf_token": token, "note": str(note_id)},
    )
    assert told.status_code == 303
    after = page_of(await client.get(f"/lead/campaigns/{campaign.slug}/to-tell"))
    assert "Marked 1 message as told." in after.words
    assert len(after.find_all("form", action=f"/lead/campaigns/{campaign.slug}/to-tell/told")) == 4

    # Without the CSRF token nothing changes.
    forged = await client.post(
        f"/lead/campaigns/{campaign.slug}/to-tell/told", data={"note": str(note_id + 1)}
    )
    assert forged.status_code == 403
    shown = after.form_fields(f"/lead/campaigns/{campaign.slug}/to-tell/told")
    assert shown  # the last form on the page: all shown
    all_ids = [
        str(r["id"])
        for r in await store.database.fetch_all(
            sa.select(hand_notes.c.id).where(hand_notes.c.told_at.is_(None))
        )
    ]
    everything = await client.post(
        f"/lead/campaigns/{campaign.slug}/to-tell/told",
        data={"csrf_token": token, "note": all_ids},
    )
    assert everything.status_code == 303
    done = page_of(await client.get(f"/lead/campaigns/{campaign.slug}/to-tell"))
    assert "Marked 3 messages as told." in done.words and "Nothing to pass on" in done.words


async def test_another_leads_list_is_not_there(app: Starlette, client: httpx.AsyncClient) -> None:
    store = store_of(app)
    await sign_in(client, store)
    other, _ = await make_lead(store, "other@example.org")
    theirs = await make_campaign(store, other, target=3)
    assert (await client.get(f"/lead/campaigns/{theirs.slug}/to-tell")).status_code == 404


async def test_the_csv_export_has_an_empty_email_for_a_pledge_without_one(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    store = store_of(app)
    lead = await sign_in(client, store)
    campaign = await make_campaign(store, lead, target=5)
    await make_confirmed_pledge(store, campaign.slug, 1)
    assert (await paper(client, campaign)).status_code == 303
    exported = await client.get(f"/lead/campaigns/{campaign.slug}/pledges.csv")
    rows = list(csv.DictReader(io.StringIO(spreadsheet_text(exported))))
    assert [(r["name"], r["email"], r["source"]) for r in rows] == [
        ("Resident 1", "resident1@example.org", "web"),
        ("Edna Doorstep", "", "paper"),
    ]


async def test_the_contacts_download_has_an_empty_email_for_a_pledge_without_one(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    store = store_of(app)
    lead, _ = await make_lead(store)
    campaign = await make_campaign(store, lead, target=2)
    await record_vouched_pledge(
        store,
        campaign.slug,
        lead.id,
        parse_vouched_pledge(
            {
                "name": "Edna Doorstep",
                "postcode": "LS6 1AB",
                "share_contact": True,
                "attested": True,
            }
        ),
    )
    await make_confirmed_pledge(store, campaign.slug, 1, share_contact=True)  # tips it
    _, key = await organisation(
        store, "FibreCo", {"categories": ["broadband"], "postcode_prefixes": ["LS6"]}
    )

    contacts = await client.get(
        f"/api/v1/campaigns/{campaign.slug}/contacts", headers={"Authorization": f"Bearer {key}"}
    )
    assert contacts.status_code == 200, contacts.text
    assert contacts.json()["contacts"] == [
        {"name": "Edna Doorstep", "email": None, "postcode": "LS6 1AB"},
        {"name": "Resident 1", "email": "resident1@example.org", "postcode": "LS6 1AB"},
    ]
    await org_sign_in(client, key)
    answer = await client.get(f"/org/campaigns/{campaign.slug}/contacts.csv")
    assert answer.status_code == 200
    rows = list(csv.reader(io.StringIO(spreadsheet_text(answer))))
    assert [r[:3] for r in rows[1:]] == [
        ["Edna Doorstep", "", "LS6 1AB"],
        ["Resident 1", "resident1@example.org", "LS6 1AB"],
    ]


async def test_the_lead_erases_a_pledge_without_email_at_its_residents_request(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    store = store_of(app)
    lead = await sign_in(client, store)
    campaign = await make_campaign(store, lead, counts="households", target=5)
    assert (await paper(client, campaign)).status_code == 303
    neighbour = await store.database.fetch_val(sa.select(pledges.c.id))
    assert (await get_campaign(store.database, campaign.slug)).household_count == 1

    page = page_of(await client.get(f"/lead/campaigns/{campaign.slug}/to-tell"))
    assert "People you recorded without email" in page.words
    assert "Edna Doorstep, 12 Brudenell Road, LS6 1AB" in page.words
    token = await csrf_from(client, f"/lead/campaigns/{campaign.slug}/to-tell")
    erase = f"/lead/campaigns/{campaign.slug}/recorded/{neighbour}/erase"
    # Without the form's token nothing happens.
    assert (await client.post(erase, data={})).status_code == 403
    assert (await get_campaign(store.database, campaign.slug)).household_count == 1

    erased = await client.post(erase, data={"csrf_token": token}, follow_redirects=True)
    assert erased.status_code == 200
    assert "Their pledge is erased" in page_of(erased).words
    after = await get_campaign(store.database, campaign.slug)
    assert (after.confirmed, after.household_count) == (0, 0)
    row = await store.database.fetch_one(sa.select(pledges).where(pledges.c.id == neighbour))
    assert row is not None
    assert (row["name"], row["address_line"], row["phone"], row["postcode"]) == (
        "",
        None,
        None,
        "LS6",
    )
    assert "doorstep" not in repr(await table_snapshot(store)).lower()
    assert "People you recorded without email" not in page_of(erased).words
    again = await client.post(erase, data={"csrf_token": token}, follow_redirects=True)
    assert "Nothing changed" in page_of(again).words


async def test_another_leads_pledge_without_email_cannot_be_erased(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    store = store_of(app)
    await sign_in(client, store)
    other, _ = await make_lead(store, "other@example.org")
    theirs = await make_campaign(store, other, target=5)
    outcome = await record_vouched_pledge(
        store,
        theirs.slug,
        other.id,
        parse_vouched_pledge({"name": "Ada", "postcode": "LS6 1AB", "attested": True}),
    )
    token = await csrf_from(client, "/lead")
    answer = await client.post(
        f"/lead/campaigns/{theirs.slug}/recorded/{outcome.pledge_id}/erase",
        data={"csrf_token": token},
    )
    assert answer.status_code == 404
    assert (await get_campaign(store.database, theirs.slug)).confirmed == 1
