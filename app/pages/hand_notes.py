"""The lead's "to tell by hand" list: the messages for neighbours who pledged without an
email address, to pass on at the door or by phone, printable, each marked as told once
passed on (app/templates/lead/to_tell.html).

As on the lead's other pages: the lead's session is needed, and another lead's campaign
answers 404, as if it did not exist.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from app.bootstrap import services
from app.csrf import check_csrf
from app.pages.leads import FLASH
from app.pages.rendering import render
from app.pages.sign_in import (
    lead_campaign,
)
from notifications.hand_notes import MAX_NOTES, HandNote, mark_told, untold_notes
from notifications.outbox import scrub_pledge_mail
from pledges.dashboard import long_date
from pledges.erasure import erase_pledge_without_email, pledges_without_email

# Marking more than a page's worth at once is not something the page ever sends.
MAX_MARKED = MAX_NOTES


@dataclass
class Person:
    """Someone to tell, with every message for them (a household may have several)."""

    name: str
    address_line: str | None
    postcode: str
    phone: str | None
    notes: list[HandNote] = field(default_factory=list)


def people_to_tell(notes: list[HandNote]) -> list[Person]:
    """The notes by person, in walking order: by postcode, then address, then name."""
    people: dict[int, Person] = {}
    for note in notes:
        person = people.setdefault(
            note.pledge_id, Person(note.name, note.address_line, note.postcode, note.phone)
        )
        person.notes.append(note)
    return sorted(
        people.values(),
        key=lambda p: (p.postcode, (p.address_line or "").casefold(), p.name.casefold()),
    )


async def to_tell(request: Request) -> Response:
    campaign = await lead_campaign(request)
    if isinstance(campaign, Response):
        return campaign
    db = services(request).store.database
    notes = await untold_notes(db, campaign.id)
    recorded = await pledges_without_email(db, campaign.id)
    return render(
        request,
        "lead/to_tell.html",
        {
            "campaign": campaign,
            "people": people_to_tell(notes),
            "shown": [n.id for n in notes],
            "more": len(notes) >= MAX_NOTES,
            "recorded": recorded,
            "flash": request.session.pop(FLASH, None),
            "long_date": long_date,
        },
    )


def _note_ids(values: list[str]) -> list[int]:
    ids = []
    for value in values[:MAX_MARKED]:
        text = value.strip()
        if re.fullmatch(r"[0-9]{1,18}", text):
            ids.append(int(text))
    return ids


async def mark_as_told(request: Request) -> Response:
    """Mark the notes the form names (one, or all shown) as told; others change nothing."""
    campaign = await lead_campaign(request)
    if isinstance(campaign, Response):
        return campaign
    form = await request.form()
    check_csrf(request, form.get("csrf_token"))
    values = [v for v in form.getlist("note") if isinstance(v, str)]
    marked = await mark_told(services(request).store, campaign.id, _note_ids(values))
    request.session[FLASH] = (
        f"Marked {len(marked)} {'message' if len(marked) == 1 else 'messages'} as told."
        if marked
        else "Nothing changed: those messages were marked as told already."
    )
    return RedirectResponse(f"/lead/campaigns/{campaign.slug}/to-tell", status_code=303)


async def erase_recorded(request: Request) -> Response:
    """Erase, at its resident's request, a pledge the lead recorded without email."""
    campaign = await lead_campaign(request)
    if isinstance(campaign, Response):
        return campaign
    form = await request.form()
    check_csrf(request, form.get("csrf_token"))
    text = request.path_params["pledge_id"]
    pledge_id = int(text) if re.fullmatch(r"[0-9]{1,19}", text) else 0
    erased = await erase_pledge_without_email(
        services(request).store,
        campaign.slug,
        campaign.lead_id,
        pledge_id,
        scrub_mail=scrub_pledge_mail,
    )
    request.session[FLASH] = (
        "Their pledge is erased: their name, address and phone number are gone."
        if erased
        else "Nothing changed: that pledge was erased already."
    )
    return RedirectResponse(f"/lead/campaigns/{campaign.slug}/to-tell", status_code=303)


routes = [
    Route("/lead/campaigns/{slug}/to-tell", to_tell, methods=["GET"]),
    Route("/lead/campaigns/{slug}/to-tell/told", mark_as_told, methods=["POST"]),
    Route("/lead/campaigns/{slug}/recorded/{pledge_id}/erase", erase_recorded, methods=["POST"]),
]
