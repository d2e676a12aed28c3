"""The lead's premises pages, as a lead with a browser and no JavaScript meets them: the
dashboard's coverage and doors left to knock on, uploading the list (a file or pasted CSV,
errors beside the field with their rows), the review of addresses not on the list, and a
street's printable walk sheet."""

from __future__ import annotations

import re
from typing import Any

import httpx
import sqlalchemy as sa
from starlette.applications import Starlette

from pledges.campaigns import Campaign, get_campaign, open_campaign
from pledges.pledging import confirm_pledge, parse_pledge, record_pledge
from pledges.premises import parse_premises_json
from pledges.premises_list import replace_premises
from pledges.store import Store
from pledges.tables import households, premises
from tests.app.pages.stylesheets import linked_styles
from tests.app.pages.test_leads import csrf_from, sign_in, store_of
from tests.app.pages.test_residents import page_of
from tests.conftest import table_snapshot
from tests.factories import make_campaign, pledge_data

HOMES = [f"{n} Brudenell Road" for n in (2, 4, 6, 8, 10)] + [
    f"{n} Manor Drive" for n in (1, 3, 5, 7, 9)
]
CSV_TEN = "address_line,postcode\n" + "".join(f"{line},LS6 1AB\n" for line in HOMES)


async def _campaign(app: Starlette, client: httpx.AsyncClient, **extra: Any) -> Campaign:
    store = store_of(app)
    lead = await sign_in(client, store)
    values: dict[str, Any] = {"counts": "households", "target": None, "coverage_target": 50}
    values.update(extra)
    return await make_campaign(store, lead, draft=True, **values)


async def _pledge(store: Store, slug: str, i: int, line: str, *, confirm: bool = True) -> None:
    outcome = await record_pledge(store, slug, parse_pledge(pledge_data(i, address_line=line)))
    if confirm:
        await confirm_pledge(store, outcome.pledge_id)


async def _upload(
    client: httpx.AsyncClient, slug: str, *, pasted: str = "", file: str | None = None
) -> httpx.Response:
    path = f"/lead/campaigns/{slug}/premises"
    token = await csrf_from(client, path)
    files = {"premises_file": ("list.csv", file.encode(), "text/csv")} if file else None
    return await client.post(
        path, data={"csrf_token": token, "premises_csv": pasted}, files=files or {"x": ("", b"")}
    )


async def test_a_pasted_list_and_the_dashboard_shows_coverage_and_doors_to_knock(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    campaign = await _campaign(app, client)
    store = store_of(app)

    saved = await _upload(client, campaign.slug, pasted=CSV_TEN)

    assert saved.status_code == 303
    assert saved.headers["location"] == f"/lead/campaigns/{campaign.slug}#premises"
    await open_campaign(store, campaign.slug, campaign.lead_id)
    await _pledge(store, campaign.slug, 1, "2 Brudenell Rd")
    await _pledge(store, campaign.slug, 2, "4 Brudenell Road")
    await _pledge(store, campaign.slug, 3, "1 Manor Drive")
    await _pledge(store, campaign.slug, 4, "99 Elsewhere Street")
    dashboard = await client.get(f"/lead/campaigns/{campaign.slug}")
    assert dashboard.status_code == 200
    page = page_of(dashboard)
    words = page.words
    assert "The premises list is saved: 10 premises (10 added, 0 removed, 0 kept)." in words
    assert "Premises on your list 10" in words
    assert "Of those, with a counted household 3" in words
    assert "Coverage 30.0 %" in words
    assert "1 address not on your list awaits your review." in words
    street_rows = [e.words for e in page.find_all("tr") if e.inside("data")]
    assert "Brudenell Road 5 2 40.0 %" in street_rows
    assert "Manor Drive 5 1 20.0 %" in street_rows
    assert "LS6 10 3 30.0 %" in street_rows
    assert any(r.startswith("Brudenell Road 3 Print") for r in street_rows), street_rows
    walk = f"/lead/campaigns/{campaign.slug}/walk?street=Brudenell%20Road"
    assert page.find("a", href=walk) is not None
    assert page.find("a", href=f"/lead/campaigns/{campaign.slug}/premises/review") is not None
    assert "Resident" not in words  # counts, never names, in the coverage section


async def test_an_uploaded_file_with_bad_rows_is_refused_beside_the_field(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    campaign = await _campaign(app, client)
    store = store_of(app)
    before = await table_snapshot(store)
    bad = "address_line,postcode\n2 Brudenell Road,LS6 1AB\n4 Brudenell Road,NOPE\n"

    refused = await _upload(client, campaign.slug, file=bad)

    assert refused.status_code == 422
    page = page_of(refused)
    assert page.by_id("premises-file").attrs.get("aria-invalid") == "true"
    message = page.by_id("premises-file-error").words
    assert "3" in message and "postcode" in message, message
    assert page.summary_links() == ["#premises-file"]
    assert await table_snapshot(store) == before

    missing = await _upload(client, campaign.slug, pasted="line,postcode\n2 X Road,LS6 1AB\n")
    assert missing.status_code == 422
    assert "address_line" in page_of(missing).by_id("premises-csv-error").words
    assert "2 X Road" in page_of(missing).by_id("premises-csv").words  # kept to correct
    nothing = await _upload(client, campaign.slug)
    assert nothing.status_code == 422
    assert "Choose a CSV file" in page_of(nothing).by_id("premises-csv-error").words
    assert await table_snapshot(store) == before


async def test_the_upload_needs_the_form_token(app: Starlette, client: httpx.AsyncClient) -> None:
    campaign = await _campaign(app, client)
    store = store_of(app)
    before = await table_snapshot(store)
    forged = await client.post(
        f"/lead/campaigns/{campaign.slug}/premises",
        data={"csrf_token": "forged", "premises_csv": CSV_TEN},
        files={"x": ("", b"")},
    )
    assert forged.status_code == 403
    assert await table_snapshot(store) == before


async def test_addresses_not_on_the_list_are_added_or_left_out(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    campaign = await _campaign(app, client)
    store = store_of(app)
    await replace_premises(
        store,
        campaign.slug,
        campaign.lead_id,
        parse_premises_json([{"address_line": line, "postcode": "LS6 1AB"} for line in HOMES]),
    )
    await open_campaign(store, campaign.slug, campaign.lead_id)
    await _pledge(store, campaign.slug, 1, "99 Elsewhere Street")
    await _pledge(store, campaign.slug, 2, "99 elsewhere st", confirm=False)
    await _pledge(store, campaign.slug, 3, "1 Far Lane")
    path = f"/lead/campaigns/{campaign.slug}/premises/review"

    listed = await client.get(path)

    assert listed.status_code == 200
    rows = [e.words for e in page_of(listed).find_all("tr")][1:]
    assert rows[0].startswith("1 Far Lane LS6 1AB 1")
    assert rows[1].startswith("99 Elsewhere Street LS6 1AB 2")
    ids = re.findall(r'name="household_id" value="(\d+)"', listed.text)
    far, elsewhere = ids[0], ids[2]
    token = await csrf_from(client, path)
    added = await client.post(
        path, data={"csrf_token": token, "household_id": elsewhere, "action": "add"}
    )
    assert added.status_code == 303
    left = await client.post(
        path, data={"csrf_token": token, "household_id": far, "action": "leave_out"}
    )
    assert left.status_code == 303
    after = page_of(await client.get(path))
    assert "No address awaits review." in after.words
    assert "Left out of the list." in after.words
    stored = await get_campaign(store.database, campaign.slug)
    assert (stored.premises_listed, stored.covered_count) == (11, 1)
    row = await store.database.fetch_one(
        sa.select(premises.c.address_line).where(premises.c.address_key == "99 ELSEWHERE STREET")
    )
    assert row is not None and row["address_line"] == "99 Elsewhere Street"
    left_out = await store.database.fetch_val(
        sa.select(households.c.left_out_at).where(households.c.id == int(far))
    )
    assert left_out is not None
    dashboard = page_of(await client.get(f"/lead/campaigns/{campaign.slug}"))
    assert "No address awaits review" in dashboard.words
    forged = await client.post(
        path, data={"csrf_token": "forged", "household_id": far, "action": "add"}
    )
    assert forged.status_code == 403


async def test_a_walk_sheet_lists_the_doors_left_with_a_tick_box_and_the_qr_code(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    campaign = await _campaign(app, client)
    store = store_of(app)
    await replace_premises(
        store,
        campaign.slug,
        campaign.lead_id,
        parse_premises_json([{"address_line": line, "postcode": "LS6 1AB"} for line in HOMES]),
    )
    await open_campaign(store, campaign.slug, campaign.lead_id)
    await _pledge(store, campaign.slug, 1, "4 Brudenell Road")
    await _pledge(store, campaign.slug, 2, "6 Brudenell Road", confirm=False)

    sheet = await client.get(f"/lead/campaigns/{campaign.slug}/walk?street=Brudenell+Road")

    assert sheet.status_code == 200
    assert "@page { size: A4; margin: 15mm }" in await linked_styles(client, sheet)
    page = page_of(sheet)
    doors = [li.words for li in page.find_all("li") if li.inside("walk-doors")]
    assert doors == [
        "2 Brudenell Road",
        "6 Brudenell Road",
        "8 Brudenell Road",
        "10 Brudenell Road",
    ]
    assert len(re.findall(r'class="tick"', sheet.text)) == 4
    assert campaign.title in page.words and "Brudenell Road" in page.find("h1").words  # type: ignore[union-attr]
    assert re.search(r'<svg[^>]*class="qr"', sheet.text)
    assert f"http://testserver/c/{campaign.slug}" in page.words
    assert "Resident" not in page.words
    nowhere = await client.get(f"/lead/campaigns/{campaign.slug}/walk?street=Nowhere")
    assert nowhere.status_code == 404


async def test_a_people_campaign_has_no_premises_pages(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    store = store_of(app)
    lead = await sign_in(client, store)
    people = await make_campaign(store, lead)
    assert (await client.get(f"/lead/campaigns/{people.slug}/premises")).status_code == 404
    dashboard = page_of(await client.get(f"/lead/campaigns/{people.slug}"))
    assert "Premises and coverage" not in dashboard.words
