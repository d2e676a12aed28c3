"""The choice round's emails through a real SMTP server: every confirmed pledger gets the
offers side by side with a link that chooses (unsubscribed ones too, never a withdrawn
one), a pledge without email is put on the lead's list with the offers to read out, and
when the round closes everyone who wants news, and whoever chose, hears the result."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from email.message import EmailMessage
from typing import Any

import pytest
import sqlalchemy as sa
from starlette.datastructures import Secret

from notifications.offer_words import day
from notifications.tables import hand_notes
from pledges.accounts import Lead
from pledges.campaigns import Campaign, get_campaign
from pledges.choices import choice_for_pledge, close_round, get_round, open_round, round_results
from pledges.offers import parse_withdrawal, withdraw_offer
from pledges.pledging import unsubscribe_pledge, withdraw_pledge
from pledges.store import utcnow
from tests.app.pages.test_residents import Page
from tests.conftest import make_settings
from tests.factories import make_campaign, make_confirmed_pledge, make_lead
from tests.notifications.conftest import SmtpServer
from tests.notifications.test_email import Running, body, drain, path_of, running
from tests.notifications.test_hand_notes import by_hand
from tests.pledges.test_choices import two_offers

CHOOSE_LINK = re.compile(r"http://testserver/choose\?token=[A-Za-z0-9_.\-]+")


@pytest.fixture
async def mailing(database_url: str, smtp_server: SmtpServer) -> AsyncIterator[Running]:
    settings = make_settings(database_url, smtp_url=Secret(smtp_server.url))
    async with running(settings) as r:
        yield r


def offers_mail(server: SmtpServer, to: str) -> list[EmailMessage]:
    return [
        m
        for m in server.messages
        if m["To"] == to and str(m["Subject"]).endswith("the offers are in, choose yours")
    ]


def result_mail(server: SmtpServer, to: str) -> list[EmailMessage]:
    return [
        m
        for m in server.messages
        if m["To"] == to and str(m["Subject"]).endswith("what residents chose")
    ]


def choose_links(message: EmailMessage) -> str:
    """The choice link, the same in the text part and the HTML part."""
    [in_text] = set(CHOOSE_LINK.findall(body(message, "plain")))
    hrefs = [html.unescape(h) for h in re.findall(r'href="([^"]+)"', body(message, "html"))]
    [in_html] = {h for h in hrefs if CHOOSE_LINK.fullmatch(h)}
    assert in_text == in_html
    return in_text


async def choose_through_page(r: Running, link: str, form: dict[str, str | None]) -> Page:
    """What a resident does: open the emailed link, change what they want (None unticks a
    box) and submit the form as the browser would, ticked boxes as they were shown."""
    shown = await r.client.get(path_of(link))
    assert shown.status_code == 200, shown.text
    page = Page(shown.text)
    fields = page.form_fields("/choose")
    data: dict[str, str | None] = {"csrf_token": fields["csrf_token"], "token": fields["token"]}
    for box in page.find_all("input", type="checkbox"):
        if "checked" in box.attrs:
            data[box.attrs["name"]] = "on"
    data.update(form)
    answer = await r.client.post("/choose", data={k: v for k, v in data.items() if v})
    assert answer.status_code == 200, answer.text
    return Page(answer.text)


async def round_with_residents(r: Running) -> tuple[Lead, Campaign, dict[str, int], Any, Any]:
    """A tipped campaign: two residents who want news, one unsubscribed, one withdrawn,
    a neighbour recorded by hand without email; two offers; the round open."""
    store = r.store
    lead, _ = await make_lead(store)
    campaign = await make_campaign(store, lead, target=2)
    ids = {
        "keen": await make_confirmed_pledge(store, campaign.slug, 0, share_contact=True),
        "quiet": await make_confirmed_pledge(store, campaign.slug, 1),
        "unsubscribed": await make_confirmed_pledge(store, campaign.slug, 2),
        "withdrawn": await make_confirmed_pledge(store, campaign.slug, 3),
    }
    ids["neighbour"] = await by_hand(store, campaign, lead, 4)
    await unsubscribe_pledge(store, ids["unsubscribed"])
    await withdraw_pledge(store, ids["withdrawn"])
    campaign = await get_campaign(store.database, campaign.slug)
    assert campaign.status == "tipped"
    north, south = await two_offers(store, campaign)
    await drain(r.worker)
    await open_round(store, campaign.id, utcnow() + timedelta(days=10), lead_id=lead.id)
    await drain(r.worker)
    return lead, campaign, ids, north, south


async def test_every_confirmed_pledger_gets_every_offer_side_by_side_with_a_link_that_chooses(
    mailing: Running, smtp_server: SmtpServer
) -> None:
    store = mailing.store
    _, campaign, ids, _north, south = await round_with_residents(mailing)
    current = await get_round(store.database, campaign.id)
    assert current is not None
    closes = day(current.closes_at)

    # Once each, to the confirmed pledgers, unsubscribed too; never to the withdrawn one.
    for i in range(3):
        assert len(offers_mail(smtp_server, f"resident{i}@example.org")) == 1
    assert offers_mail(smtp_server, "resident3@example.org") == []

    [message] = offers_mail(smtp_server, "resident0@example.org")
    assert message["List-Unsubscribe"] is None  # not news to stop: their say in the choice
    text, page = body(message, "plain"), body(message, "html")
    for part in (text, page):
        # The cheaper offer first (fair order), each with all its terms.
        assert "Full fibre 900" in part
        assert part.index("Southfibre") < part.index("Northnet")
        for words in (
            "£25 a month",
            "£30 a month",
            "12 months",
            "1 April 2027",
            "£15 a month. Who qualifies: Households on Universal Credit.",
            "None. We have none yet.",
            closes,
            "Groundswell takes no fee, and no provider paid for its place",
        ):
            assert words in html.unescape(part), words
    # The HTML shows them side by side: a column per offer.
    assert len(re.findall(r'<th scope="col"', page)) == 2

    # The link opens the choice page for this pledge, and choosing there is stored.
    link = choose_links(message)
    chosen = await choose_through_page(mailing, link, {"offer": south.public_id})
    assert "You chose Full fibre 900 from Southfibre" in chosen.words
    choice = await choice_for_pledge(store.database, ids["keen"])
    assert choice is not None and choice.offer_id == south.id
    assert choice.share_contact is True  # as they said when pledging

    # The neighbour without email is on the lead's list, with the offers to read out.
    [note] = await store.database.fetch_all(
        sa.select(hand_notes).where(hand_notes.c.kind == "offers")
    )
    assert note["pledge_id"] == ids["neighbour"]
    for words in ("Southfibre", "Northnet", "£25 a month", "None. We have none yet.", closes):
        assert words in note["body"], words
    assert "http" not in note["body"]  # a note carries no links


async def test_an_offer_withdrawn_after_the_round_opened_is_marked_in_the_email(
    mailing: Running, smtp_server: SmtpServer
) -> None:
    store = mailing.store
    lead, _ = await make_lead(store)
    campaign = await make_campaign(store, lead, target=1)
    await make_confirmed_pledge(store, campaign.slug, 0)
    campaign = await get_campaign(store.database, campaign.slug)
    north, _south = await two_offers(store, campaign)
    await open_round(store, campaign.id, utcnow() + timedelta(days=10), lead_id=lead.id)
    # Withdrawn before the email is sent: it still lists it, saying why it cannot be chosen.
    await withdraw_offer(
        store,
        campaign,
        north.organisation_id,
        north.public_id,
        parse_withdrawal({"reason": "Our build partner pulled out."}),
    )
    await drain(mailing.worker)
    [message] = offers_mail(smtp_server, "resident0@example.org")
    assert "(withdrawn by its provider: Our build partner pulled out.)" in body(message, "plain")


async def test_the_result_goes_to_news_takers_and_to_whoever_chose_with_each_offers_count(
    mailing: Running, smtp_server: SmtpServer
) -> None:
    store = mailing.store
    _, campaign, ids, north, south = await round_with_residents(mailing)
    links = {
        i: choose_links(offers_mail(smtp_server, f"resident{i}@example.org")[0]) for i in range(3)
    }
    await choose_through_page(mailing, links[0], {"offer": north.public_id, "share_contact": "on"})
    # The unsubscribed resident chooses: they hear the result of the choice they made.
    await choose_through_page(mailing, links[2], {"offer": "none"})

    assert await close_round(store, campaign.id)
    await drain(mailing.worker)

    assert [len(result_mail(smtp_server, f"resident{i}@example.org")) for i in range(4)] == [
        1,
        1,
        1,
        0,
    ]
    results = await round_results(store.database, campaign.id)
    assert results is not None
    assert {t.offer.public_id: t.chosen for t in results.offers} == {
        north.public_id: 1,
        south.public_id: 0,
    }
    [keen] = result_mail(smtp_server, "resident0@example.org")
    text = body(keen, "plain")
    assert "- Full fibre 900 from Northnet (£30 a month): 1 person" in text
    assert "- Full fibre 900 from Southfibre (£25 a month): 0 people" in text
    assert "- None of these: 1 person" in text
    assert "You chose Full fibre 900 from Northnet. Northnet now has your contact details" in text
    assert "delivery record" in text
    assert keen["List-Unsubscribe"] is not None
    [quiet] = result_mail(smtp_server, "resident1@example.org")
    assert "You chose" not in body(quiet, "plain")  # they did not choose
    [unsubscribed] = result_mail(smtp_server, "resident2@example.org")
    assert "You chose none of these." in body(unsubscribed, "plain")

    [note] = await store.database.fetch_all(
        sa.select(hand_notes).where(hand_notes.c.kind == "choice_result")
    )
    assert note["pledge_id"] == ids["neighbour"]
    assert "- Full fibre 900 from Northnet (£30 a month): 1 person" in note["body"]


def withdrawn_mail(server: SmtpServer, to: str) -> list[EmailMessage]:
    return [
        m
        for m in server.messages
        if m["To"] == to and str(m["Subject"]).endswith("the offer your home chose was withdrawn")
    ]


async def test_those_who_chose_an_offer_withdrawn_during_the_round_are_told_and_can_choose_again(
    mailing: Running, smtp_server: SmtpServer
) -> None:
    from pledges.choices import ChoiceInput, choose

    store = mailing.store
    _, campaign, ids, north, south = await round_with_residents(mailing)
    await choose(store, ids["keen"], ChoiceInput(south.public_id, False, None))
    await choose(store, ids["unsubscribed"], ChoiceInput(south.public_id, False, None))
    await choose(store, ids["neighbour"], ChoiceInput(south.public_id, False, None))
    await choose(store, ids["quiet"], ChoiceInput(north.public_id, False, None))
    await drain(mailing.worker)

    await withdraw_offer(
        store,
        campaign,
        south.organisation_id,
        south.public_id,
        parse_withdrawal({"reason": "Our network cannot reach these streets this year."}),
    )
    await drain(mailing.worker)
    await drain(mailing.worker)  # a second pass sends nothing more

    # Those whose choice it was, unsubscribed or not; not the one who chose the other offer.
    [keen] = withdrawn_mail(smtp_server, "resident0@example.org")
    assert len(withdrawn_mail(smtp_server, "resident2@example.org")) == 1
    assert withdrawn_mail(smtp_server, "resident1@example.org") == []
    text = body(keen, "plain")
    assert "Our network cannot reach these streets this year." in text
    assert north.title in text and north.organisation_name in text
    # The link chooses again: the resident moves to the offer that still stands.
    await choose_through_page(mailing, choose_links(keen), {"offer": north.public_id})
    results = await round_results(store.database, campaign.id)
    assert results is not None
    chosen = {t.offer.public_id: t.chosen for t in results.offers}
    assert chosen == {north.public_id: 2, south.public_id: 2}
    # The neighbour without email is on the lead's list, with the offers still standing.
    notes = await store.database.fetch_all(
        sa.select(hand_notes).where(
            hand_notes.c.pledge_id == ids["neighbour"], hand_notes.c.kind == "offer_withdrawn"
        )
    )
    assert len(notes) == 1
    assert "Our network cannot reach" in notes[0]["body"] and north.title in notes[0]["body"]


async def test_an_offer_withdrawn_after_the_round_closed_emails_no_one(
    mailing: Running, smtp_server: SmtpServer
) -> None:
    from pledges.choices import ChoiceInput, choose

    store = mailing.store
    _, campaign, ids, _north, south = await round_with_residents(mailing)
    await choose(store, ids["keen"], ChoiceInput(south.public_id, False, None))
    await close_round(store, campaign.id)
    await drain(mailing.worker)
    await withdraw_offer(
        store, campaign, south.organisation_id, south.public_id, "We could not build in time."
    )
    await drain(mailing.worker)
    assert withdrawn_mail(smtp_server, "resident0@example.org") == []


async def test_a_pledge_confirmed_while_the_round_is_open_is_sent_the_offers_once(
    mailing: Running, smtp_server: SmtpServer
) -> None:
    store = mailing.store
    _, campaign, _ids, _north, _south = await round_with_residents(mailing)
    late = await make_confirmed_pledge(store, campaign.slug, 7)
    await drain(mailing.worker)
    await drain(mailing.worker)
    [offers] = offers_mail(smtp_server, "resident7@example.org")
    # Its link chooses for the late pledge.
    await choose_through_page(mailing, choose_links(offers), {"offer": "none"})
    chosen = await choice_for_pledge(store.database, late)
    assert chosen is not None and chosen.offer_id is None

    await close_round(store, campaign.id)
    await make_confirmed_pledge(store, campaign.slug, 8)
    await drain(mailing.worker)
    assert offers_mail(smtp_server, "resident8@example.org") == []
