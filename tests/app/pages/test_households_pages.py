"""A campaign that counts households, on every page its numbers reach: the pledge form asks
the first line of the address, the confirmation says when a home is counted once, and the
campaign page, badge, widget, lead's dashboard and CSV, and a provider's demand page and
contacts show households, people and coverage of the premises."""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from typing import Any

import httpx
import sqlalchemy as sa
from starlette.applications import Starlette

from pledges.campaigns import Campaign, get_campaign
from pledges.pledging import confirm_pledge, parse_pledge, record_pledge
from pledges.store import Store
from pledges.tables import pledges
from tests.app.pages.confirming import press_confirm
from tests.app.pages.test_leads import sign_in as lead_sign_in
from tests.app.pages.test_leads import store_of
from tests.app.pages.test_organisations_demand import organisation
from tests.app.pages.test_organisations_demand import sign_in as org_sign_in
from tests.app.pages.test_residents import csrf_for, form, nothing_changes, page_of, sign
from tests.factories import make_campaign, pledge_data
from tests.spreadsheets import spreadsheet_text

SVG = "{http://www.w3.org/2000/svg}"
HINT = "One pledge counts per home: others at your address are shown as also from your household."


async def households_campaign(store: Store, **overrides: Any) -> Campaign:
    """Counts households, and tips at 40 % of 12 premises (the fifth home)."""
    values: dict[str, Any] = {
        "counts": "households",
        "target": None,
        "coverage_target": 40,
        "premises": {"count": 12},
        "title": "Fibre for the Brudenell streets",
    }
    values.update(overrides)
    return await make_campaign(store, **values)


async def pledge_from(
    store: Store, slug: str, i: int, line: str, *, confirm: bool = True, **extra: Any
) -> int:
    outcome = await record_pledge(
        store, slug, parse_pledge(pledge_data(i, address_line=line, **extra))
    )
    if confirm:
        await confirm_pledge(store, outcome.pledge_id)
    return outcome.pledge_id


async def three_people_at_two_homes(store: Store, campaign: Campaign) -> list[int]:
    """Two flatmates at 12 Brudenell Road (spelt two ways) and a neighbour at 14."""
    return [
        await pledge_from(store, campaign.slug, 1, "12 Brudenell Road"),
        await pledge_from(store, campaign.slug, 2, "12, BRUDENELL RD"),
        await pledge_from(store, campaign.slug, 3, "14 Brudenell Road", share_contact=True),
    ]


# --- the pledge form ------------------------------------------------------------------------


async def test_the_form_asks_the_first_line_of_the_address_beside_the_postcode(
    client: httpx.AsyncClient, store: Store
) -> None:
    campaign = await households_campaign(store)
    page = page_of(await client.get(f"/c/{campaign.slug}"))

    fields = page.form_fields(f"/c/{campaign.slug}/pledge")
    names = [n for n in fields if n in ("name", "email", "address_line", "postcode")]
    assert names == ["name", "email", "address_line", "postcode"]
    line = page.by_id("address_line")
    assert line.attrs["autocomplete"] == "address-line1"
    label = next(e for e in page.find_all("label") if e.attrs.get("for") == "address_line")
    assert label.words == "First line of your address"
    assert HINT in page.by_id("address_line-hint").words
    assert "script" not in {e.tag for e in page.elements}

    people = await make_campaign(store)
    other = page_of(await client.get(f"/c/{people.slug}"))
    assert "address_line" not in other.form_fields(f"/c/{people.slug}/pledge")


async def test_a_missing_or_overlong_address_is_shown_beside_it_and_nothing_is_stored(
    client: httpx.AsyncClient, store: Store
) -> None:
    campaign = await households_campaign(store)
    token = await csrf_for(client, campaign.slug)
    for typed in ("", "   ", "12 Brudenell Road " * 300):
        data = {**form(1), "address_line": typed, "csrf_token": token}
        async with nothing_changes(store):
            answer = await client.post(f"/c/{campaign.slug}/pledge", data=data)

        assert answer.status_code == 422
        page = page_of(answer)
        assert page.summary_links() == ["#address_line"]
        assert page.by_id("address_line-error").words
        assert page.by_id("address_line").attrs["aria-invalid"] == "true"
        kept = page.form_fields(f"/c/{campaign.slug}/pledge")
        assert (kept["name"], kept["email"], kept["postcode"]) == (
            data["name"],
            data["email"],
            data["postcode"],
        )


async def test_a_second_pledger_at_a_home_is_told_it_is_counted_once(
    app: Starlette, client: httpx.AsyncClient, store: Store
) -> None:
    campaign = await households_campaign(store)
    token = await csrf_for(client, campaign.slug)

    async def pledge_and_confirm(i: int, line: str) -> tuple[Any, int]:
        sent = await client.post(
            f"/c/{campaign.slug}/pledge",
            data={**form(i), "address_line": line, "csrf_token": token},
        )
        assert sent.status_code == 303
        pledged = page_of(await client.get(sent.headers["location"]))
        # The same page whoever sent the form: it tells no one who else pledged at an address.
        assert "one pledge counts per home" in pledged.words
        assert "already pledged" not in pledged.words
        pledge_id = await store.database.fetch_val(
            sa.select(sa.func.max(pledges.c.id)).where(pledges.c.campaign_id == campaign.id)
        )
        link = {"token": sign(app, pledge_id, "pledge-confirm")}
        return page_of(await press_confirm(client, link["token"])), pledge_id

    first_page, first = await pledge_and_confirm(1, "Flat 2, 12 Brudenell Road")
    assert "You are counted in" in first_page.words
    assert "household" in first_page.words  # the progress: 1 household · 1 person
    assert "also from this household" not in first_page.words

    second_page, _ = await pledge_and_confirm(2, "flat 2 12 brudenell rd")
    assert (
        "Someone else at your address has already pledged to Fibre for the Brudenell streets, "
        "so your home is counted once, by their pledge. Yours is recorded as also from this "
        "household."
    ) in second_page.words
    assert "1 household · 2 people" in second_page.words

    link = {"token": sign(app, first, "pledge-confirm")}
    again = page_of(await press_confirm(client, link["token"]))
    assert "Someone else at your address has pledged too: your home is counted once" in (
        again.words
    )


# --- the campaign page, badge and widget --------------------------------------------------


async def test_the_campaign_page_shows_households_people_and_coverage(
    client: httpx.AsyncClient, store: Store
) -> None:
    campaign = await households_campaign(store)
    await three_people_at_two_homes(store, campaign)

    page = page_of(await client.get(f"/c/{campaign.slug}"))

    progress = next(e for e in page.find_all("div") if e.has_class("progress"))
    # 2 of 12 homes is 16.7 %; 40 % of 12 is 4.8, so the fifth home tips it: 2 of 5 is 40 %.
    assert progress.words == "2 households · 3 people 2 of 12 homes (16%) — target 40%"
    bar = next(e for e in page.find_all("progress") if e.has_class("bar"))
    assert (bar.attrs["value"], bar.attrs["max"]) == ("40", "100")
    milestones = [li.words for li in page.find_all("li") if li.inside("milestones")]
    assert milestones == [
        "25% (2 households): reached",
        "50% (3 households): not reached yet",
        "75% (4 households): not reached yet",
    ]


async def test_a_households_count_target_reads_in_households(
    client: httpx.AsyncClient, store: Store
) -> None:
    campaign = await households_campaign(
        store, target=4, coverage_target=None, premises={"count": 140}
    )
    await three_people_at_two_homes(store, campaign)

    page = page_of(await client.get(f"/c/{campaign.slug}"))
    progress = next(e for e in page.find_all("div") if e.has_class("progress"))
    assert progress.words == "2 of 4 households (50%) · 3 people 2 of 140 homes (1%)"


async def test_the_badge_and_widget_count_homes_and_people(
    client: httpx.AsyncClient, store: Store
) -> None:
    campaign = await households_campaign(store)
    await three_people_at_two_homes(store, campaign)

    badge = await client.get(f"/c/{campaign.slug}/badge.svg")
    assert badge.status_code == 200
    svg = ET.fromstring(badge.text)  # noqa: S314 - our own badge, parsed to prove it is well-formed
    title = svg.find(f"{SVG}title")
    assert title is not None
    assert title.text == (
        "Fibre for the Brudenell streets: 2 of 12 homes (16%) — target 40% · 3 people"
    )
    texts = [t.text for t in svg.iter(f"{SVG}text")]
    assert texts[1] == "2 of 12 homes (16%) — target 40% · 3 people"
    filled = [r for r in svg.iter(f"{SVG}rect") if r.attrib.get("fill") == "#00703c"]
    assert [r.attrib["width"] for r in filled] == [str(round(296 * 40 / 100))]

    widget = page_of(await client.get(f"/c/{campaign.slug}/widget"))
    assert "2 of 12 homes (16%) — target 40%" in widget.words
    assert "2 households · 3 people pledged, one counted per home" in widget.words

    page = page_of(await client.get(f"/c/{campaign.slug}"))
    assert 'height="240"' in page.by_id("embed-widget").words


async def test_a_people_campaigns_badge_is_as_before(
    client: httpx.AsyncClient, store: Store
) -> None:
    campaign = await make_campaign(store, title="Bins", target=10)
    svg = ET.fromstring((await client.get(f"/c/{campaign.slug}/badge.svg")).text)  # noqa: S314
    assert [t.text for t in svg.iter(f"{SVG}text")][1] == "0 of 10 pledges (0%)"
    widget = page_of(await client.get(f"/c/{campaign.slug}/widget"))
    assert "0 of 10 pledges (0%)" in widget.words and "people" not in widget.words


# --- the lead's dashboard and CSV ---------------------------------------------------------


async def test_the_dashboard_sums_up_households_near_the_top(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    store = store_of(app)
    lead = await lead_sign_in(client, store)
    campaign = await households_campaign(store, lead=lead)
    await three_people_at_two_homes(store, campaign)

    page = page_of(await client.get(f"/lead/campaigns/{campaign.slug}"))

    headings = [h.words for h in page.find_all("h2") + page.find_all("h3")]
    assert "Households" in headings
    counts = {
        dt.words: dd.words
        for dt, dd in zip(page.find_all("dt"), page.find_all("dd"), strict=True)
        if dt.inside("counts")
    }
    assert counts["Households counted"] == "2"
    assert counts["Confirmed pledgers"] == "3"
    assert counts["Homes in the area"] == "12"
    assert counts["Coverage (target 40%)"] == "16.7%"
    assert "1 confirmed pledge does not add to the count" in page.words
    level = [tr.words for tr in page.find_all("tr") if tr.inside("data")]
    assert "Email 2" in level


async def test_the_csv_numbers_households_and_says_which_pledge_counts(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    store = store_of(app)
    lead = await lead_sign_in(client, store)
    campaign = await households_campaign(store, lead=lead)
    ids = await three_people_at_two_homes(store, campaign)
    pending = await pledge_from(store, campaign.slug, 4, "16 Brudenell Road", confirm=False)

    answer = await client.get(f"/lead/campaigns/{campaign.slug}/pledges.csv")

    rows = list(csv.DictReader(io.StringIO(spreadsheet_text(answer))))
    assert list(rows[0])[-2:] == ["household", "household_pledge"]
    assert list(rows[0]).index("address_line") == list(rows[0]).index("postcode") - 1
    seen = [(r["id"], r["address_line"], r["household"], r["household_pledge"]) for r in rows]
    assert seen == [
        (str(ids[0]), "12 Brudenell Road", "1", "counted"),
        (str(ids[1]), "12, BRUDENELL RD", "1", "also from this household"),
        (str(ids[2]), "14 Brudenell Road", "2", "counted"),
        (str(pending), "16 Brudenell Road", "3", "not counted"),
    ]

    # The API's list of pledges has the same columns and values.
    from pledges.accounts import create_lead_api_key

    _, key = await create_lead_api_key(store, "lead@example.org")
    listed = await client.get(
        f"/api/v1/campaigns/{campaign.slug}/pledges", headers={"Authorization": f"Bearer {key}"}
    )
    assert listed.status_code == 200, listed.text
    api_rows = listed.json()["pledges"]
    assert [list(r) for r in api_rows] == [list(rows[0])] * 4
    assert [(r["household"], r["household_pledge"]) for r in api_rows] == [
        (1, "counted"),
        (1, "also from this household"),
        (2, "counted"),
        (3, "not counted"),
    ]


async def test_a_people_campaigns_csv_has_the_address_but_no_households(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    store = store_of(app)
    lead = await lead_sign_in(client, store)
    campaign = await make_campaign(store, lead)
    await pledge_from(store, campaign.slug, 1, "3 Cardigan Road")

    answer = await client.get(f"/lead/campaigns/{campaign.slug}/pledges.csv")

    [row] = list(csv.DictReader(io.StringIO(spreadsheet_text(answer))))
    assert row["address_line"] == "3 Cardigan Road"
    assert "household" not in row and "household_pledge" not in row


# --- a provider's demand page and contacts -------------------------------------------------


async def test_demand_shows_households_coverage_by_level_and_district_never_an_address(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    store = store_of(app)
    _, key = await organisation(store, "FibreCo", {"postcode_prefixes": ["LS"]})
    campaign = await households_campaign(store)
    await three_people_at_two_homes(store, campaign)
    await pledge_from(store, campaign.slug, 5, "1 Otley Road", postcode="LS16 5AA")
    people = await make_campaign(store, title="People campaign", target=10)
    await org_sign_in(client, key)

    answer = await client.get("/org/demand")

    assert answer.status_code == 200
    page = page_of(answer)
    card = next(
        li
        for li in page.find_all("li")
        if li.has_class("card") and campaign.title in li.words and people.title not in li.words
    )
    assert "3 households counted (60% of target) · 4 people confirmed, one counted per home" in (
        card.words
    )
    assert "3 of 12 homes in the area covered (25.0%); target 40%" in card.words
    tables = {
        t.find_caption: t
        for t in [_Table(page, e) for e in page.find_all("table") if card in e.ancestors]
    }
    assert tables["Counted households by how they were verified"].rows == [
        ["Letter with a code", "0"],
        ["The campaign's lead", "0"],
        ["Email", "3"],
    ]
    assert tables["Counted households by postcode district"].rows == [["LS16", "1"], ["LS6", "2"]]
    assert "Brudenell Road" not in answer.text and "Otley Road" not in answer.text
    # A people campaign's card reads as before.
    other = next(
        li for li in page.find_all("li") if li.has_class("card") and people.title in li.words
    )
    assert "0 of 10 confirmed pledges (0% of target)" in other.words


async def test_contacts_carry_the_address_line_of_those_who_agreed_only(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    store = store_of(app)
    _, key = await organisation(
        store, "FibreCo", {"categories": ["broadband"], "postcode_prefixes": ["LS"]}
    )
    campaign = await households_campaign(store, coverage_target=None, target=2, premises=None)
    await three_people_at_two_homes(store, campaign)  # only the neighbour at 14 agreed
    assert (await get_campaign(store.database, campaign.slug)).status == "tipped"
    await org_sign_in(client, key)

    answer = await client.get(f"/org/campaigns/{campaign.slug}/contacts.csv")

    assert answer.status_code == 200, answer.text
    rows = list(csv.reader(io.StringIO(spreadsheet_text(answer))))
    assert rows[0] == ["name", "email", "postcode", "district", "confirmed_at", "address_line"]
    assert [(r[0], r[5]) for r in rows[1:]] == [("Resident 3", "14 Brudenell Road")]
    assert "12 Brudenell" not in answer.text

    api = await client.get(
        f"/api/v1/campaigns/{campaign.slug}/contacts", headers={"Authorization": f"Bearer {key}"}
    )
    assert api.status_code == 200, api.text
    assert api.json()["contacts"] == [
        {
            "name": "Resident 3",
            "email": "resident3@example.org",
            "postcode": "LS6 1AB",
            "address_line": "14 Brudenell Road",
        }
    ]


class _Table:
    """A table's caption and body rows, as words."""

    def __init__(self, page: Any, table: Any) -> None:
        caption = next((c for c in page.find_all("caption") if table in c.ancestors), None)
        self.find_caption = caption.words if caption else ""
        self.rows = [
            [td.words for td in page.find_all("td") if tr in td.ancestors]
            for tr in page.find_all("tr")
            if table in tr.ancestors and any(tr in td.ancestors for td in page.find_all("td"))
        ]
