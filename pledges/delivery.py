"""The delivery record: after the choice round closes, each provider whose offer residents
chose keeps its promise in public. It posts dated milestones (survey, build, first
connections), marks each done or moves its date; a date that passes undone is marked
missed once by the worker (`mark_missed_milestones`), with a public event
"delivery.milestone_missed" that emails the residents still waiting. Residents who chose
the provider say when the service reached them (`confirm_service`), which moves the
offer's served count in the same transaction, exactly once per unit.

Who may answer the campaign at all (an organisation whose endpoints cover it) is
notifications.answering's rule, checked by app/ first; the rule that only a chosen
provider keeps a record is here.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from databases import Database

from pledges.campaigns import Campaign, get_campaign_by_id
from pledges.choices import Choice, choice_for_pledge, pledges_choosing
from pledges.errors import FieldError, NotFound, NotPermitted, ValidationFailed, WrongState
from pledges.journal import record_event
from pledges.store import Store, aware, utcnow
from pledges.tables import (
    choice_rounds,
    choices,
    delivery_milestones,
    offers,
    organisations,
    pledges,
)
from pledges.titles import read_title

KINDS = ("survey", "build", "first_connections", "other")
KIND_NAMES = {
    "survey": "Survey",
    "build": "Build",
    "first_connections": "First connections",
    "other": "Other",
}
MAX_TITLE = 200
# A provider's milestones on one campaign: a plan, not a diary.
MAX_MILESTONES = 20
# How far ahead a due date may be set.
LATEST_DUE = timedelta(days=5 * 366)
MISSED_PER_PASS = 200
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


# ----- shapes ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Milestone:
    id: int
    public_id: str
    campaign_id: int
    organisation_id: int
    provider: str
    kind: str
    title: str
    due_on: date
    done_on: date | None
    missed_at: datetime | None
    created_at: datetime
    updated_at: datetime

    def status_on(self, today: date) -> str:
        """planned | done | missed: missed once its date passed undone, even before the
        worker's pass records it."""
        if self.done_on is not None:
            return "done"
        if self.missed_at is not None or self.due_on < today:
            return "missed"
        return "planned"

    @property
    def kind_name(self) -> str:
        return KIND_NAMES.get(self.kind, self.kind)

    def payload(self) -> dict[str, Any]:
        """What a public event says about the milestone: no internal ids."""
        return {
            "id": self.public_id,
            "kind": self.kind,
            "title": self.title,
            "due_on": self.due_on.isoformat(),
            "done_on": self.done_on.isoformat() if self.done_on else None,
            "missed_at": self.missed_at.isoformat() if self.missed_at else None,
            "provider": self.provider,
        }


@dataclass(frozen=True)
class MilestoneInput:
    """A new milestone as parse_milestone checked it."""

    kind: str
    title: str
    due_on: date


@dataclass(frozen=True)
class MilestoneChange:
    """A change as parse_milestone_change checked it; None: left as it is."""

    due_on: date | None = None
    done_on: date | None = None


@dataclass(frozen=True)
class OfferServed:
    """One chosen offer: how many units chose it and how many say the service reached them."""

    public_id: str
    title: str
    chosen: int
    served: int


@dataclass(frozen=True)
class ProviderRecord:
    organisation_id: int
    name: str
    milestones: list[Milestone]
    offers: list[OfferServed]


@dataclass(frozen=True)
class DeliveryRecord:
    round_closed_at: datetime | None
    providers: list[ProviderRecord]

    @property
    def shown(self) -> bool:
        return bool(self.providers)


@dataclass(frozen=True)
class ServiceConfirmation:
    newly_confirmed: bool
    confirmed_at: datetime | None  # None: not said yet
    offer_title: str
    provider: str
    served: int
    chosen: int


def served_words(campaign: Campaign, served: int, chosen: int) -> str:
    """ "2 of 3 households who chose it say the service reached them"."""
    one, many = ("household", "households") if campaign.counts_households else ("person", "people")
    return (
        f"{served} of {chosen} {one if chosen == 1 else many} who chose it "
        f"{'says' if served == 1 else 'say'} the service reached them"
    )


# ----- parsing ---------------------------------------------------------------------------


def _day(value: date) -> str:
    return f"{value.day} {value:%B %Y}"


def _read_date(data: dict[str, Any], name: str, errors: list[FieldError]) -> date | None:
    value = data.get(name)
    if isinstance(value, str) and _DATE.match(value.strip()):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    errors.append(FieldError(name, "not_a_date", "Enter a date as YYYY-MM-DD, like 2027-03-01."))
    return None


def _check_due(due_on: date, today: date, errors: list[FieldError]) -> None:
    if due_on < today:
        errors.append(FieldError("due_on", "not_in_future", "The due date must be today or later."))
    elif due_on > today + LATEST_DUE:
        latest = today + LATEST_DUE
        errors.append(
            FieldError(
                "due_on",
                "too_far_ahead",
                f"The due date must be no later than {_day(latest)}.",
                {"latest": latest.isoformat()},
            )
        )


def _unknown(data: dict[str, Any], allowed: set[str], errors: list[FieldError]) -> None:
    for key in sorted(set(data) - allowed):
        errors.append(
            FieldError(str(key), "unknown_field", "This field is not part of the request.")
        )


def parse_milestone(data: Any, today: date | None = None) -> MilestoneInput:
    """A new milestone from what the provider sent; every problem at once, by field."""
    if not isinstance(data, dict):
        raise ValidationFailed([FieldError("body", "not_an_object", "Send a JSON object.")])
    today = today or utcnow().date()
    errors: list[FieldError] = []
    _unknown(data, {"kind", "title", "due_on"}, errors)
    kind = data.get("kind")
    kind = kind.strip() if isinstance(kind, str) else kind
    if kind not in KINDS:
        errors.append(
            FieldError(
                "kind",
                "not_in_choices",
                "Choose one of: " + ", ".join(KINDS) + ".",
                {"choices": KINDS},
            )
        )
    title = read_title(
        data, errors, longest=MAX_TITLE, missing="Enter what will be done, in one line."
    )
    due_on = _read_date(data, "due_on", errors)
    if due_on is not None:
        _check_due(due_on, today, errors)
    if errors:
        raise ValidationFailed(errors)
    assert isinstance(kind, str) and due_on is not None
    return MilestoneInput(kind, title, due_on)


def parse_milestone_change(data: Any, today: date | None = None) -> MilestoneChange:
    """A change to a milestone: a new due date, the date it was done, or both."""
    if not isinstance(data, dict):
        raise ValidationFailed([FieldError("body", "not_an_object", "Send a JSON object.")])
    today = today or utcnow().date()
    errors: list[FieldError] = []
    _unknown(data, {"due_on", "done_on"}, errors)
    due_on = done_on = None
    if "due_on" in data:
        due_on = _read_date(data, "due_on", errors)
        if due_on is not None:
            _check_due(due_on, today, errors)
    if "done_on" in data:
        done_on = _read_date(data, "done_on", errors)
        if done_on is not None and done_on > today:
            errors.append(
                FieldError(
                    "done_on",
                    "out_of_range",
                    "The date it was done cannot be in the future.",
                    {"max": today.isoformat()},
                )
            )
    if not errors and due_on is None and done_on is None:
        errors.append(
            FieldError("body", "required", "Send done_on (the date it was done), due_on, or both.")
        )
    if errors:
        raise ValidationFailed(errors)
    return MilestoneChange(due_on=due_on, done_on=done_on)


# ----- reading ---------------------------------------------------------------------------


def _midnight(value: date) -> datetime:
    return datetime.combine(value, time(0), tzinfo=UTC)


def _date_of(value: Any) -> date | None:
    found = aware(value)
    return found.date() if found is not None else None


def _milestone_query() -> sa.Select[Any]:
    return sa.select(delivery_milestones, organisations.c.name.label("provider")).join(
        organisations, organisations.c.id == delivery_milestones.c.organisation_id
    )


def _milestone(row: Any) -> Milestone:
    due_on = _date_of(row["due_on"])
    created, updated = aware(row["created_at"]), aware(row["updated_at"])
    assert due_on is not None and created is not None and updated is not None
    return Milestone(
        id=row["id"],
        public_id=row["public_id"],
        campaign_id=row["campaign_id"],
        organisation_id=row["organisation_id"],
        provider=row["provider"],
        kind=row["kind"],
        title=row["title"],
        due_on=due_on,
        done_on=_date_of(row["done_on"]),
        missed_at=aware(row["missed_at"]),
        created_at=created,
        updated_at=updated,
    )


async def round_closed_at(db: Database, campaign_id: int) -> datetime | None:
    """When the campaign's choice round closed; None while it is open or before it opened."""
    return aware(
        await db.fetch_val(
            sa.select(choice_rounds.c.closed_at).where(choice_rounds.c.campaign_id == campaign_id)
        )
    )


async def is_chosen_provider(db: Database, campaign_id: int, organisation_id: int) -> bool:
    """Whether at least one unit chose one of the organisation's offers on the campaign."""
    found = await db.fetch_val(
        sa.select(choices.c.id)
        .join(offers, offers.c.id == choices.c.offer_id)
        .where(
            choices.c.campaign_id == campaign_id,
            offers.c.campaign_id == campaign_id,
            offers.c.organisation_id == organisation_id,
        )
        .limit(1)
    )
    return found is not None


async def check_chosen_provider(db: Database, campaign: Campaign, organisation_id: int) -> datetime:
    """The time the round closed, if the organisation is a chosen provider of the campaign;
    raises WrongState (409) before the round closed, NotPermitted (403) for any other."""
    closed_at = await round_closed_at(db, campaign.id)
    if closed_at is None:
        raise WrongState(
            "The delivery record starts once the choice round has closed and residents have "
            "chosen a provider."
        )
    if not await is_chosen_provider(db, campaign.id, organisation_id):
        raise NotPermitted(
            "Only a provider whose offer residents chose in the choice round keeps a delivery "
            "record on this campaign. No resident chose an offer of yours."
        )
    return closed_at


async def milestones_of(
    db: Database, campaign_id: int, organisation_id: int | None = None
) -> list[Milestone]:
    """The campaign's milestones (one provider's, if given), by due date."""
    query = _milestone_query().where(delivery_milestones.c.campaign_id == campaign_id)
    if organisation_id is not None:
        query = query.where(delivery_milestones.c.organisation_id == organisation_id)
    rows = await db.fetch_all(
        query.order_by(delivery_milestones.c.due_on, delivery_milestones.c.id)
    )
    return [_milestone(r) for r in rows]


async def delivery_record(db: Database, campaign_id: int) -> DeliveryRecord:
    """The public record: each chosen provider with its milestones and, for each of its
    chosen offers, how many units chose it and how many say the service reached them.
    Empty before the choice round closed."""
    closed_at = await round_closed_at(db, campaign_id)
    if closed_at is None:
        return DeliveryRecord(None, [])
    chosen = (
        sa.select(choices.c.offer_id)
        .where(choices.c.campaign_id == campaign_id, choices.c.offer_id.is_not(None))
        .distinct()
        .scalar_subquery()
    )
    rows = await db.fetch_all(
        sa.select(
            offers.c.organisation_id,
            organisations.c.name,
            offers.c.public_id,
            offers.c.title,
            offers.c.chosen_count,
            offers.c.served_count,
        )
        .join(organisations, organisations.c.id == offers.c.organisation_id)
        .where(offers.c.campaign_id == campaign_id, offers.c.id.in_(chosen))
        .order_by(organisations.c.name, offers.c.id)
    )
    milestones = await milestones_of(db, campaign_id)
    providers: list[ProviderRecord] = []
    for row in rows:
        if not providers or providers[-1].organisation_id != row["organisation_id"]:
            providers.append(
                ProviderRecord(
                    organisation_id=row["organisation_id"],
                    name=row["name"],
                    milestones=[
                        m for m in milestones if m.organisation_id == row["organisation_id"]
                    ],
                    offers=[],
                )
            )
        providers[-1].offers.append(
            OfferServed(row["public_id"], row["title"], row["chosen_count"], row["served_count"])
        )
    return DeliveryRecord(closed_at, providers)


async def campaigns_delivered_by(db: Database, organisation_id: int) -> list[Campaign]:
    """The campaigns on which residents chose one of the organisation's offers in a closed
    round: where it keeps a delivery record."""
    rows = await db.fetch_all(
        sa.select(offers.c.campaign_id)
        .join(choices, choices.c.offer_id == offers.c.id)
        .join(choice_rounds, choice_rounds.c.campaign_id == offers.c.campaign_id)
        .where(offers.c.organisation_id == organisation_id, choice_rounds.c.closed_at.is_not(None))
        .distinct()
    )
    found = [await get_campaign_by_id(db, r["campaign_id"]) for r in rows]
    return sorted(found, key=lambda c: c.title)


# ----- the provider's writes -------------------------------------------------------------


async def record_milestone(
    store: Store, campaign: Campaign, organisation_id: int, milestone: MilestoneInput
) -> Milestone:
    """Store a chosen provider's new milestone; raises WrongState before the round closed,
    NotPermitted for a provider residents did not choose, ValidationFailed past
    MAX_MILESTONES. Nothing is stored on a refusal."""
    async with store.write() as db:
        await check_chosen_provider(db, campaign, organisation_id)
        await store.lock_until_commit(db, f"delivery:{campaign.id}:{organisation_id}")
        count = await db.fetch_val(
            sa.select(sa.func.count())
            .select_from(delivery_milestones)
            .where(
                delivery_milestones.c.campaign_id == campaign.id,
                delivery_milestones.c.organisation_id == organisation_id,
            )
        )
        if int(count) >= MAX_MILESTONES:
            raise ValidationFailed(
                [
                    FieldError(
                        "body",
                        "too_many",
                        f"A provider may post at most {MAX_MILESTONES} milestones on a "
                        "campaign; move the date of one instead.",
                        {"max": MAX_MILESTONES},
                    )
                ]
            )
        now = utcnow()
        milestone_id = await db.fetch_val(
            sa.insert(delivery_milestones)
            .values(
                public_id=f"dlm_{secrets.token_urlsafe(12)}",
                campaign_id=campaign.id,
                organisation_id=organisation_id,
                kind=milestone.kind,
                title=milestone.title,
                due_on=_midnight(milestone.due_on),
                created_at=now,
                updated_at=now,
            )
            .returning(delivery_milestones.c.id)
        )
        row = await db.fetch_one(_milestone_query().where(delivery_milestones.c.id == milestone_id))
    return _milestone(row)


async def change_milestone(
    store: Store,
    campaign: Campaign,
    organisation_id: int,
    public_id: str,
    change: MilestoneChange,
) -> Milestone:
    """Mark a provider's own milestone done, or move its due date. A done milestone is
    fixed (WrongState); another provider's, or none, is NotFound."""
    async with store.write() as db:
        closed_at = await check_chosen_provider(db, campaign, organisation_id)
        row = await db.fetch_one(
            _milestone_query().where(
                delivery_milestones.c.public_id == public_id,
                delivery_milestones.c.campaign_id == campaign.id,
                delivery_milestones.c.organisation_id == organisation_id,
            )
        )
        if row is None:
            raise NotFound("There is no such milestone of yours on this campaign.")
        current = _milestone(row)
        if current.done_on is not None:
            raise WrongState(
                f"This milestone was marked done on {_day(current.done_on)}; it can no longer "
                "change."
            )
        if change.done_on is not None and change.done_on < closed_at.date():
            raise ValidationFailed(
                [
                    FieldError(
                        "done_on",
                        "out_of_range",
                        "The date it was done cannot be before the choice round closed, on "
                        f"{_day(closed_at.date())}.",
                        {"min": closed_at.date().isoformat()},
                    )
                ]
            )
        values: dict[str, Any] = {"updated_at": utcnow()}
        if change.due_on is not None:
            values["due_on"] = _midnight(change.due_on)
        if change.done_on is not None:
            values["done_on"] = _midnight(change.done_on)
        # A milestone marked done by another request meanwhile keeps that date.
        await db.execute(
            sa.update(delivery_milestones)
            .where(delivery_milestones.c.id == current.id, delivery_milestones.c.done_on.is_(None))
            .values(**values)
        )
        row = await db.fetch_one(_milestone_query().where(delivery_milestones.c.id == current.id))
    return _milestone(row)


# ----- the worker's pass -----------------------------------------------------------------


async def mark_missed_milestones(store: Store, now: datetime | None = None) -> int:
    """Milestones whose due date has passed (the whole day) undone get missed_at, once,
    each with a public "delivery.milestone_missed" event; returns how many."""
    now = now or utcnow()
    # Due on a day: missed once that day is over (UTC).
    passed = _midnight(now.date())
    due = sa.and_(
        delivery_milestones.c.missed_at.is_(None),
        delivery_milestones.c.done_on.is_(None),
        delivery_milestones.c.due_on < passed,
    )
    probe = sa.select(delivery_milestones.c.id).where(due).limit(1)
    if await store.database.fetch_val(probe) is None:
        return 0  # the common case: no write transaction, no lock
    async with store.write() as db:
        ids = (
            sa.select(delivery_milestones.c.id)
            .where(due)
            .order_by(delivery_milestones.c.id)
            .limit(MISSED_PER_PASS)
            .scalar_subquery()
        )
        # The WHERE is checked again under the row lock: two workers mark each one once.
        marked = await db.fetch_all(
            sa.update(delivery_milestones)
            .where(delivery_milestones.c.id.in_(ids), due)
            .values(missed_at=now)
            .returning(delivery_milestones.c.id)
        )
        for milestone_id in sorted(r["id"] for r in marked):
            row = await db.fetch_one(
                _milestone_query().where(delivery_milestones.c.id == milestone_id)
            )
            milestone = _milestone(row)
            campaign = await get_campaign_by_id(db, milestone.campaign_id)
            await record_event(
                db,
                "delivery.milestone_missed",
                campaign.id,
                {**campaign.public_payload(), "milestone": milestone.payload()},
            )
    return len(marked)


async def milestone_for_event(db: Database, payload: dict[str, Any]) -> Milestone | None:
    """The milestone a "delivery.milestone_missed" event names (for its emails)."""
    public_id = (payload.get("milestone") or {}).get("id")
    if not isinstance(public_id, str):
        return None
    row = await db.fetch_one(_milestone_query().where(delivery_milestones.c.public_id == public_id))
    return _milestone(row) if row is not None else None


def waiting_pledges(campaign_id: int, organisation_id: int) -> sa.Select[Any]:
    """The ids of the campaign's confirmed pledges (not anonymised or erased) whose unit
    chose one of the organisation's offers and has not said the service reached it."""
    return pledges_choosing(campaign_id).where(
        offers.c.organisation_id == organisation_id,
        choices.c.service_confirmed_at.is_(None),
    )


# ----- the resident's confirmation -------------------------------------------------------


async def _choice_of_pledge(db: Database, pledge_id: int) -> tuple[Any, Choice | None]:
    """The pledge's row and its unit's choice (or None)."""
    pledge = await db.fetch_one(
        sa.select(pledges.c.campaign_id, pledges.c.status, pledges.c.anonymised_at).where(
            pledges.c.id == pledge_id
        )
    )
    if pledge is None or pledge["anonymised_at"] is not None:
        raise NotFound("That pledge no longer exists.")
    return pledge, await choice_for_pledge(db, pledge_id)


async def service_status(db: Database, pledge_id: int) -> ServiceConfirmation | None:
    """What the resident's unit chose and whether it said the service reached it; None when
    there is nothing to confirm (no closed round, no offer chosen)."""
    pledge, choice = await _choice_of_pledge(db, pledge_id)
    if choice is None or choice.offer_id is None:
        return None
    if await round_closed_at(db, pledge["campaign_id"]) is None:
        return None
    offer = await _offer(db, choice.offer_id)
    confirmed_at = choice.service_confirmed_at
    return ServiceConfirmation(
        newly_confirmed=False,
        confirmed_at=confirmed_at,
        offer_title=offer["title"],
        provider=offer["name"],
        served=offer["served_count"],
        chosen=offer["chosen_count"],
    )


async def _offer(db: Database, offer_id: int) -> Any:
    return await db.fetch_one(
        sa.select(offers, organisations.c.name)
        .join(organisations, organisations.c.id == offers.c.organisation_id)
        .where(offers.c.id == offer_id)
    )


async def confirm_service(
    store: Store, pledge_id: int, now: datetime | None = None
) -> ServiceConfirmation:
    """The resident says the chosen provider's service reached their unit: sets
    service_confirmed_at once and moves the offer's served count by one in the same
    transaction (a repeat changes nothing). WrongState for a withdrawn pledge, before the
    round closed, or for a unit that chose no offer."""
    async with store.write() as db:
        now = now or utcnow()
        pledge, choice = await _choice_of_pledge(db, pledge_id)
        if pledge["status"] != "confirmed":
            raise WrongState("This pledge is not counted now, so it cannot confirm a service.")
        if await round_closed_at(db, pledge["campaign_id"]) is None:
            raise WrongState("You can say the service reached you once the choice round closed.")
        if choice is None or choice.offer_id is None:
            raise WrongState(
                "Your home chose none of the offers, so there is no service to confirm."
            )
        # Only the request that sets it counts it: exact however many arrive at once.
        changed = await db.fetch_one(
            sa.update(choices)
            .where(
                choices.c.campaign_id == choice.campaign_id,
                choices.c.unit_key == choice.unit_key,
                choices.c.service_confirmed_at.is_(None),
            )
            .values(service_confirmed_at=now)
            .returning(choices.c.offer_id)
        )
        if changed is not None:
            await db.execute(
                sa.update(offers)
                .where(offers.c.id == changed["offer_id"])
                .values(served_count=offers.c.served_count + 1)
            )
        offer = await _offer(db, choice.offer_id)
        confirmed_at = aware(
            await db.fetch_val(
                sa.select(choices.c.service_confirmed_at).where(
                    choices.c.campaign_id == choice.campaign_id,
                    choices.c.unit_key == choice.unit_key,
                )
            )
        )
    return ServiceConfirmation(
        newly_confirmed=changed is not None,
        confirmed_at=confirmed_at,
        offer_title=offer["title"],
        provider=offer["name"],
        served=offer["served_count"],
        chosen=offer["chosen_count"],
    )
