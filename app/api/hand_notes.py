"""/api/v1 hand notes, for a campaign's lead: what Groundswell would have emailed the
residents who pledged without an email address, to tell them by hand, and marking each as
told (as on the lead's "to tell by hand" page). Another lead's key gets 403."""

from __future__ import annotations

import re

from pydantic import Field
from starlette.requests import Request
from starlette.responses import Response

from app.api.contract import Answer, Operation, answer, operation, parse_query
from app.api.models import Shape, timestamp
from app.api.pagination import NEXT, PageQuery, check_limit, next_link, with_next
from app.api.requests import require_lead
from app.bootstrap import services
from app.errors import Problem
from notifications import hand_notes
from pledges import campaigns as campaign_service
from pledges.campaigns import Campaign
from pledges.errors import NotCampaignLead
from pledges.pagination import decode_cursor, encode_cursor

# ----- models ----------------------------------------------------------------------------


class HandNote(Shape):
    """A message to pass on to a resident without email. Personal data: the lead's only."""

    id: int
    kind: str = Field(description="tipped, expired, cancelled or update (as the emails).")
    pledge_id: int
    name: str
    address_line: str | None
    postcode: str
    phone: str | None
    subject: str = Field(description="The email's subject.")
    body: str = Field(description="What to tell them, in plain text.")
    created_at: str | None = timestamp()
    told_at: str | None = timestamp("When the lead marked it as told; null until then.")


class HandNotes(Shape):
    hand_notes: list[HandNote]
    next: str | None = NEXT


# ----- handlers --------------------------------------------------------------------------


async def _own_campaign(request: Request) -> Campaign:
    lead = await require_lead(request)
    campaign = await campaign_service.get_campaign(
        services(request).store.database, request.path_params["slug"]
    )
    if campaign.lead_id != lead.id:
        raise NotCampaignLead(campaign.slug)
    return campaign


def _shown(note: hand_notes.HandNote) -> HandNote:
    return HandNote(
        id=note.id,
        kind=note.kind,
        pledge_id=note.pledge_id,
        name=note.name,
        address_line=note.address_line,
        postcode=note.postcode,
        phone=note.phone,
        subject=note.subject,
        body=note.body,
        created_at=note.created_at.isoformat(),
        told_at=note.told_at.isoformat() if note.told_at else None,
    )


@operation(
    "GET",
    "/api/v1/campaigns/{slug}/hand-notes",
    operation_id="listHandNotes",
    summary="Messages to tell by hand to residents without email (the lead's own campaign)",
    tag="campaigns",
    caller="lead",
    query=PageQuery,
    answers={
        200: Answer(
            "The messages not marked as told yet, oldest first, a page at a time",
            HandNotes,
            headers={"Link": 'The next page, as `<url>; rel="next"`; absent on the last.'},
        )
    },
    errors=(403, 404),
    description="What Groundswell would have emailed each resident whose pledge the lead "
    "recorded without an email address: campaign news (tipping, closing, the lead's "
    "updates), with whom to tell and how to reach them.",
)
async def list_hand_notes(request: Request) -> Response:
    campaign = await _own_campaign(request)
    query = await parse_query(request, PageQuery, check_limit)
    after_id = decode_cursor(query.cursor, (int,))[0] if query.cursor is not None else 0
    notes = await hand_notes.untold_notes(
        services(request).store.database, campaign.id, after_id=after_id, limit=query.limit + 1
    )
    cursor = encode_cursor([notes[query.limit - 1].id]) if len(notes) > query.limit else None
    listed = with_next(HandNotes(hand_notes=[_shown(n) for n in notes[: query.limit]]), cursor)
    return answer(listed, headers={"Cache-Control": "no-store", **next_link(request, cursor)})


@operation(
    "POST",
    "/api/v1/campaigns/{slug}/hand-notes/{id}/told",
    operation_id="markHandNoteTold",
    summary="Mark a message as told (the lead's own campaign)",
    tag="campaigns",
    caller="lead",
    answers={200: Answer("The message, marked as told (once: again keeps the time)", HandNote)},
    errors=(403, 404),
)
async def mark_hand_note_told(request: Request) -> Response:
    campaign = await _own_campaign(request)
    text = request.path_params["id"]
    note_id = int(text) if re.fullmatch(r"[0-9]{1,18}", text) else 0
    svc = services(request)
    if note_id:
        await hand_notes.mark_told(svc.store, campaign.id, [note_id])
    note = await hand_notes.get_note(svc.store.database, campaign.id, note_id)
    if note is None:
        raise Problem(404, "There is no such message on this campaign.")
    return answer(_shown(note), headers={"Cache-Control": "no-store"})


operations: list[Operation] = [list_hand_notes, mark_hand_note_told]
