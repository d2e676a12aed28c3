"""Responses: what a provider or council says in public to a campaign's residents once the
campaign tipped (or, for a council, reached a milestone). Stored, shown on the campaign
page under "Responses", and announced by the journal event "campaign.responded", which
emails the confirmed pledgers who still want news, notes it for those without email, and
goes out as a webhook.

Who may respond (the organisation's endpoints cover the campaign; its kind and the
campaign's state allow it) is notifications.answering's rule, checked by app/ first.
Each response is an email to everyone who pledged, so an organisation may publish at most
one a day on a campaign; the limit is checked inside the write transaction, under a lock
per campaign and organisation, so two responses sent at once cannot both slip under it.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from databases import Database

from pledges.campaigns import get_campaign_by_id
from pledges.errors import DomainError, FieldError, ValidationFailed, WrongState
from pledges.journal import record_event
from pledges.store import Store, aware, utcnow
from pledges.tables import events, organisations, responses
from pledges.text import text_error

# At most one response per organisation per campaign in this long.
RESPONSE_EVERY = timedelta(hours=24)
MAX_BODY = 5000
# The most responses one read returns (a campaign page shows them all, oldest first).
MAX_RESPONSES = 100


class ResponseRateLimited(DomainError):
    """This organisation responded to this campaign lately; nothing was stored."""

    def __init__(self, next_allowed_at: datetime) -> None:
        super().__init__(
            "Your organisation can publish one response a day on a campaign. The next can "
            f"be published after {next_allowed_at.isoformat(timespec='seconds')}."
        )
        self.next_allowed_at = next_allowed_at


@dataclass(frozen=True)
class CampaignResponse:
    id: int
    public_id: str
    campaign_id: int
    organisation_id: int
    organisation_name: str
    organisation_kind: str
    body: str
    created_at: datetime

    @property
    def paragraphs(self) -> list[str]:
        return [p.strip() for p in self.body.split("\n\n") if p.strip()]

    def public_payload(self) -> dict[str, Any]:
        """What the "campaign.responded" event (and its webhook) carries about it."""
        return {
            "id": self.public_id,
            "organisation": {"name": self.organisation_name, "kind": self.organisation_kind},
            "body": self.body,
            "created_at": self.created_at.isoformat(),
        }


@dataclass(frozen=True)
class ResponseInput:
    """A response as parse_response checked it: plain text, paragraphs apart by a blank
    line."""

    body: str


def parse_response(data: Any) -> ResponseInput:
    """A response from what the organisation sent; every problem at once, by field."""
    if not isinstance(data, dict):
        raise ValidationFailed([FieldError("body", "not_an_object", "Send a JSON object.")])
    body = data.get("body")
    body = body.replace("\r\n", "\n").replace("\r", "\n").strip() if isinstance(body, str) else ""
    if not body:
        raise ValidationFailed([FieldError("body", "required", "Enter the response.")])
    if len(body) > MAX_BODY:
        raise ValidationFailed(
            [
                FieldError(
                    "body",
                    "too_long",
                    f"The response must be {MAX_BODY} characters or fewer.",
                    {"max": MAX_BODY},
                )
            ]
        )
    if error := text_error("body", body, one_line=False, what="The response"):
        raise ValidationFailed([error])
    return ResponseInput(body)


def _columns() -> list[Any]:
    return [
        responses,
        organisations.c.name.label("organisation_name"),
        organisations.c.kind.label("organisation_kind"),
    ]


def _joined() -> Any:
    return responses.join(organisations, organisations.c.id == responses.c.organisation_id)


def _response_from_row(row: Any) -> CampaignResponse:
    created = aware(row["created_at"])
    assert created is not None
    return CampaignResponse(
        id=row["id"],
        public_id=row["public_id"],
        campaign_id=row["campaign_id"],
        organisation_id=row["organisation_id"],
        organisation_name=row["organisation_name"],
        organisation_kind=row["organisation_kind"],
        body=row["body"],
        created_at=created,
    )


async def publish_response(
    store: Store, campaign_id: int, organisation_id: int, body: str, now: datetime | None = None
) -> CampaignResponse:
    """Store a response and its journal event (which tells the pledgers and the webhooks),
    or raise ValidationFailed, ResponseRateLimited, or WrongState for a campaign that closed
    or was hidden meanwhile. The caller checked that the organisation may respond."""
    text = parse_response({"body": body}).body
    async with store.write() as db:
        now = now or utcnow()
        campaign = await get_campaign_by_id(db, campaign_id)
        if campaign.status not in ("open", "tipped") or campaign.hidden_at is not None:
            raise WrongState("This campaign is no longer open to responses.")
        organisation = await db.fetch_one(
            sa.select(organisations.c.name, organisations.c.kind).where(
                organisations.c.id == organisation_id
            )
        )
        if organisation is None:
            raise WrongState("This organisation no longer exists.")
        await store.lock_until_commit(db, f"campaign-responses:{campaign_id}:{organisation_id}")
        latest = aware(
            await db.fetch_val(
                sa.select(sa.func.max(responses.c.created_at)).where(
                    responses.c.campaign_id == campaign_id,
                    responses.c.organisation_id == organisation_id,
                )
            )
        )
        if latest is not None and latest > now - RESPONSE_EVERY:
            raise ResponseRateLimited(latest + RESPONSE_EVERY)
        public_id = f"rsp_{secrets.token_urlsafe(12)}"
        response_id = await db.fetch_val(
            sa.insert(responses)
            .values(
                public_id=public_id,
                campaign_id=campaign_id,
                organisation_id=organisation_id,
                body=text,
                created_at=now,
            )
            .returning(responses.c.id)
        )
        published = CampaignResponse(
            id=int(response_id),
            public_id=public_id,
            campaign_id=campaign_id,
            organisation_id=organisation_id,
            organisation_name=organisation["name"],
            organisation_kind=organisation["kind"],
            body=text,
            created_at=now,
        )
        await record_event(
            db,
            "campaign.responded",
            campaign_id,
            {**campaign.public_payload(), "response": published.public_payload()},
        )
    return published


async def list_responses(
    db: Database, campaign_id: int, limit: int = MAX_RESPONSES
) -> list[CampaignResponse]:
    """A campaign's responses, oldest first."""
    rows = await db.fetch_all(
        sa.select(*_columns())
        .select_from(_joined())
        .where(responses.c.campaign_id == campaign_id)
        .order_by(responses.c.created_at, responses.c.id)
        .limit(limit)
    )
    return [_response_from_row(r) for r in rows]


async def get_response(db: Database, public_id: str) -> CampaignResponse | None:
    row = await db.fetch_one(
        sa.select(*_columns()).select_from(_joined()).where(responses.c.public_id == public_id)
    )
    return _response_from_row(row) if row is not None else None


async def response_for_event(db: Database, event_id: int) -> CampaignResponse | None:
    """The response a "campaign.responded" event announced (for its emails and notes)."""
    payload = await db.fetch_val(sa.select(events.c.payload).where(events.c.id == event_id))
    if payload is None:
        return None
    found = json.loads(payload).get("response")
    if not isinstance(found, dict) or not isinstance(found.get("id"), str):
        return None
    return await get_response(db, found["id"])
