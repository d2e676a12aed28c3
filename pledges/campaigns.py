"""Campaigns: creation and validation, lookup, and the deadline that expires them."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from databases import Database

from pledges.demand import (
    DemandInput,
    PriceQuestion,
    demand_settings,
    parse_demand,
    parse_quote,
    parse_take_up_rates,
)
from pledges.errors import (
    CampaignNotFound,
    CampaignNotOpen,
    FieldError,
    FieldsFixed,
    NotCampaignLead,
    SlugTaken,
    ValidationFailed,
)
from pledges.identity import read_districts
from pledges.journal import record_event
from pledges.money import (
    MAX_MONEY_TARGET,
    MAX_PLEDGE,
    MIN_PLEDGE,
    format_money,
    read_currency,
)
from pledges.pagination import BAD_CURSOR, DEFAULT_LIMIT, Page, decode_cursor, page_of
from pledges.store import Store, aware, mark_campaign_changed, utcnow
from pledges.tables import campaign_districts, campaigns
from pledges.text import text_error

CATEGORIES = ("broadband", "waste", "supplier", "transport", "other")
STATUSES = ("draft", "pending_review", "open", "tipped", "expired", "cancelled")
# Not published (yet): a draft, or one waiting for an administrator (MODERATION=pre). Neither
# is on any public page, list, API answer or webhook.
UNPUBLISHED = ("draft", "pending_review")
# MODERATION: off (publish at once), pre (an administrator approves before it goes live),
# post (live at once, reviewed after).
MODERATION_MODES = ("off", "pre", "post")
DEFAULT_MILESTONES = (25, 50, 75)
MAX_TARGET = 10_000_000
MAX_CAMPAIGN_LENGTH = timedelta(days=730)
RESERVED_SLUGS = frozenset({"new"})
MAX_DISTRICTS = 200
MONEY_UNAVAILABLE = (
    "Money campaigns are not available on this site: it has no payment provider set up."
)
# fullmatch: `$` alone would let an address end in a newline.
_SLUG = re.compile(r"[a-z0-9](?:[a-z0-9-]{1,78}[a-z0-9])")
COUNTS = ("people", "households")
MAX_PREMISES_COUNT = 1_000_000


@dataclass(frozen=True)
class Campaign:
    id: int
    slug: str
    title: str
    summary: str
    description: str
    category: str
    area_name: str
    postcode_districts: tuple[str, ...]
    target: int
    deadline: datetime
    milestones: tuple[int, ...]
    lead_id: int
    status: str
    confirmed: int
    milestone_reached: int
    created_at: datetime
    opened_at: datetime | None
    tipped_at: datetime | None
    closed_at: datetime | None
    # Set while an administrator has hidden the campaign from every public surface.
    hidden_at: datetime | None = None
    # Money campaigns: currency set, amounts in minor units (see pledges/money.py).
    currency: str | None = None
    money_target: int | None = None
    deposit_amount: int | None = None
    min_amount: int | None = None
    max_amount: int | None = None
    pledged_amount: int = 0
    collected_amount: int = 0
    refunded_amount: int = 0
    funded_at: datetime | None = None
    # What it counts ("people" or "households"), and the households campaign's own figures.
    counts: str = "people"
    premises_count: int | None = None
    premises_listed: int = 0
    coverage_target: int | None = None
    require_letter: bool = False
    household_count: int = 0
    covered_count: int = 0
    # The price question and the rest of the demand settings (pledges/demand.py), and the
    # counters counting moves for them.
    price_currency: str | None = None
    price_period: str | None = None
    price_points: tuple[int, ...] = ()
    price_required: bool = False
    target_price: int | None = None
    take_up_rates: dict[str, int] | None = None
    quote_total: int | None = None
    quote_voucher: int = 0
    tip_on_cost: bool = False
    equity_share: int | None = None
    equity_districts: tuple[str, ...] = ()
    firm_interested: int = 0
    firm_will_switch: int = 0
    firm_deposit: int = 0
    priced_count: int = 0
    priced_covered: int = 0
    priority_count: int = 0
    cost_covered: int = 0
    # Review by the administrators (pledges.review): None, pending, approved or rejected.
    moderation: str | None = None
    submitted_at: datetime | None = None

    @property
    def tally(self) -> Tally:
        return Tally.of(self.__dict__ | {"confirmed_count": self.confirmed})

    @property
    def asks_price(self) -> bool:
        return bool(self.price_points)

    @property
    def firmness_counts(self) -> dict[str, int]:
        """Counted units by firmness (people, or households through their counting pledge)."""
        return {
            "interested": self.firm_interested,
            "will_switch": self.firm_will_switch,
            "deposit": self.firm_deposit,
        }

    @property
    def counts_households(self) -> bool:
        return self.counts == "households"

    @property
    def premises(self) -> int | None:
        return self.tally.premises

    @property
    def is_public(self) -> bool:
        """Shown on public pages and the API: published (not a draft, not waiting for review)
        and not hidden."""
        return self.status not in UNPUBLISHED and self.hidden_at is None

    @property
    def is_money(self) -> bool:
        return self.currency is not None

    @property
    def percent(self) -> int:
        return progress_percent(
            self.tally.units, self.tally.goal, self.pledged_amount, self.money_target
        )

    def money(self, amount: int | None) -> str:
        """An amount in this campaign's currency, for pages and emails: "£20"."""
        return format_money(amount, self.currency)

    def money_payload(self) -> dict[str, Any] | None:
        if not self.is_money:
            return None
        return {
            "currency": self.currency,
            "target": self.money_target,
            "deposit": self.deposit_amount,
            "min": self.min_amount,
            "max": self.max_amount,
            "pledged": self.pledged_amount,
            "collected": self.collected_amount,
            "refunded": self.refunded_amount,
            "funded_at": self.funded_at.isoformat() if self.funded_at else None,
        }

    def premises_payload(self) -> dict[str, int] | None:
        """The premises in the area, as the API and events give them: null when unknown."""
        if self.premises is None:
            return None
        return {"count": self.premises, "listed": self.premises_listed}

    def public_payload(self) -> dict[str, Any]:
        """What events carry about a campaign: public facts only."""
        return {
            "slug": self.slug,
            "title": self.title,
            "category": self.category,
            "area": {"name": self.area_name, "postcode_districts": list(self.postcode_districts)},
            # null when the campaign has a money target instead of a count.
            "target": self.target or None,
            "confirmed": self.confirmed,
            "deadline": self.deadline.isoformat(),
            "tipped_at": self.tipped_at.isoformat() if self.tipped_at else None,
            "money": self.money_payload(),
            "counts": self.counts,
            "premises": self.premises_payload(),
        }


# The columns of a campaign's row its Tally reads (Tally.of): move_count returns them.
TALLY_COLUMNS = (
    "counts",
    "confirmed_count",
    "target",
    "household_count",
    "covered_count",
    "premises_count",
    "premises_listed",
    "coverage_target",
    "target_price",
    "priced_count",
    "priced_covered",
    "tip_on_cost",
    "quote_total",
    "cost_covered",
    "equity_share",
    "priority_count",
)


@dataclass(frozen=True)
class Tally:
    """What a campaign has counted towards its threshold, and the threshold, in one unit:
    people; households; or, with a coverage target, households on the premises list (all
    counted households when there is no list) against that share of the premises. With a
    target price only units whose answer is at least that price count; a campaign tipping
    on cost sharing counts money instead: the most any price point's units would pay
    towards the quote, against the quote. The equity floor is a further condition."""

    counts: str
    confirmed: int
    target: int
    households: int = 0
    covered_count: int = 0
    premises_count: int | None = None
    premises_listed: int = 0
    coverage_target: int | None = None
    target_price: int | None = None
    priced_count: int = 0
    priced_covered: int = 0
    tip_on_cost: bool = False
    quote_total: int | None = None
    cost_covered: int = 0
    equity_share: int | None = None
    priority_count: int = 0

    @classmethod
    def of(cls, row: Any) -> Tally:
        """From a mapping of TALLY_COLUMNS (a campaigns row, or what an UPDATE returned)."""
        return cls(
            row["counts"],
            row["confirmed_count"],
            row["target"],
            row["household_count"],
            row["covered_count"],
            row["premises_count"],
            row["premises_listed"],
            row["coverage_target"],
            row["target_price"],
            row["priced_count"],
            row["priced_covered"],
            bool(row["tip_on_cost"]),
            row["quote_total"],
            row["cost_covered"],
            row["equity_share"],
            row["priority_count"],
        )

    @property
    def counted(self) -> int:
        """Every counted unit, whatever its price: the equity floor is a share of these."""
        return self.households if self.counts == "households" else self.confirmed

    @property
    def equity_met(self) -> bool:
        return not self.equity_share or self.priority_count * 100 >= (
            self.equity_share * self.counted
        )

    @property
    def premises(self) -> int | None:
        """The premises coverage is a share of: the list's rows, else the lead's number."""
        return self.premises_listed or self.premises_count

    @property
    def covered(self) -> int:
        return self.covered_count if self.premises_listed else self.households

    @property
    def coverage_percent(self) -> float | None:
        if self.counts != "households" or not self.premises:
            return None
        return round(self.covered * 100 / self.premises, 1)

    @property
    def units(self) -> int:
        if self.tip_on_cost:
            return self.cost_covered
        if self.target_price is not None:
            covered = self.counts == "households" and self.coverage_target and self.premises_listed
            return self.priced_covered if covered else self.priced_count
        if self.counts != "households":
            return self.confirmed
        return self.covered if self.coverage_target else self.households

    @property
    def goal(self) -> int:
        """The units that tip the campaign (0: no count target, a money target instead)."""
        if self.tip_on_cost:
            return self.quote_total or 0
        if self.counts == "households" and self.coverage_target:
            if not self.premises:
                return MAX_TARGET + 1  # cannot tip until the premises are known
            # The least whole number of households at or above the share: exact, no floats.
            return -(-self.coverage_target * self.premises // 100)
        return self.target


def progress_percent(
    confirmed: int, target: int, pledged: int = 0, money_target: int | None = None
) -> int:
    """How far a campaign is, 0-100: the lesser of its count and its money progress (both
    must be reached to tip)."""
    parts = []
    if target:
        parts.append(confirmed * 100 // target)
    if money_target:
        parts.append(pledged * 100 // money_target)
    return min(100, *parts) if parts else 0


def reached(
    percent: int, confirmed: int, target: int, pledged: int, money_target: int | None
) -> bool:
    """Whether a campaign is at `percent` of every target it has (100: it tips)."""
    return (not target or confirmed * 100 >= percent * target) and (
        not money_target or pledged * 100 >= percent * money_target
    )


def campaign_from_row(row: Any, districts: tuple[str, ...]) -> Campaign:
    return Campaign(
        id=row["id"],
        slug=row["slug"],
        title=row["title"],
        summary=row["summary"],
        description=row["description"],
        category=row["category"],
        area_name=row["area_name"],
        postcode_districts=districts,
        target=row["target"],
        deadline=aware(row["deadline"]),  # type: ignore[arg-type]
        milestones=tuple(json.loads(row["milestones"])),
        lead_id=row["lead_id"],
        status=row["status"],
        confirmed=row["confirmed_count"],
        milestone_reached=row["milestone_reached"],
        created_at=aware(row["created_at"]),  # type: ignore[arg-type]
        opened_at=aware(row["opened_at"]),
        tipped_at=aware(row["tipped_at"]),
        closed_at=aware(row["closed_at"]),
        hidden_at=aware(row["hidden_at"]),
        currency=row["currency"],
        money_target=row["money_target"],
        deposit_amount=row["deposit_amount"],
        min_amount=row["min_amount"],
        max_amount=row["max_amount"],
        pledged_amount=row["pledged_amount"],
        collected_amount=row["collected_amount"],
        refunded_amount=row["refunded_amount"],
        funded_at=aware(row["funded_at"]),
        counts=row["counts"],
        premises_count=row["premises_count"],
        premises_listed=row["premises_listed"],
        coverage_target=row["coverage_target"],
        require_letter=bool(row["require_letter"]),
        household_count=row["household_count"],
        covered_count=row["covered_count"],
        price_currency=row["price_currency"],
        price_period=row["price_period"],
        price_points=tuple(json.loads(row["price_points"])) if row["price_points"] else (),
        price_required=bool(row["price_required"]),
        target_price=row["target_price"],
        take_up_rates=json.loads(row["take_up_rates"]) if row["take_up_rates"] else None,
        quote_total=row["quote_total"],
        quote_voucher=row["quote_voucher"] or 0,
        tip_on_cost=bool(row["tip_on_cost"]),
        equity_share=row["equity_share"],
        equity_districts=(
            tuple(json.loads(row["equity_districts"])) if row["equity_districts"] else ()
        ),
        firm_interested=row["firm_interested"],
        firm_will_switch=row["firm_will_switch"],
        firm_deposit=row["firm_deposit"],
        priced_count=row["priced_count"],
        priced_covered=row["priced_covered"],
        priority_count=row["priority_count"],
        cost_covered=row["cost_covered"],
        moderation=row["moderation"],
        submitted_at=aware(row["submitted_at"]),
    )


async def load_campaigns(db: Database, query: Any) -> list[Campaign]:
    """The campaigns a `select(campaigns)` query finds, in its order, each with its
    postcode districts (read in one more query, not one per campaign)."""
    rows = await db.fetch_all(query)
    ids = [r["id"] for r in rows]
    districts: dict[int, list[str]] = {i: [] for i in ids}
    if ids:
        for r in await db.fetch_all(
            sa.select(campaign_districts)
            .where(campaign_districts.c.campaign_id.in_(ids))
            .order_by(campaign_districts.c.district)
        ):
            districts[r["campaign_id"]].append(r["district"])
    return [campaign_from_row(r, tuple(districts[r["id"]])) for r in rows]


async def get_campaign(db: Database, slug: str) -> Campaign:
    if "\x00" in slug:  # no slug has one, and PostgreSQL refuses it as a query parameter
        raise CampaignNotFound(slug)
    found = await load_campaigns(db, sa.select(campaigns).where(campaigns.c.slug == slug))
    if not found:
        raise CampaignNotFound(slug)
    return found[0]


async def get_campaign_by_id(db: Database, campaign_id: int) -> Campaign:
    found = await load_campaigns(db, sa.select(campaigns).where(campaigns.c.id == campaign_id))
    if not found:
        raise CampaignNotFound(str(campaign_id))
    return found[0]


async def list_campaigns(
    db: Database,
    *,
    status: str | None = None,
    category: str | None = None,
    district: str | None = None,
    include_drafts: bool = False,
    include_hidden: bool = False,
    limit: int = 100,
    after: tuple[datetime, int] | None = None,
) -> list[Campaign]:
    """Campaigns by deadline, then id; `after` (a deadline and an id) starts past that one."""
    query = sa.select(campaigns).order_by(campaigns.c.deadline, campaigns.c.id).limit(limit)
    if after is not None:
        deadline, campaign_id = after
        query = query.where(
            sa.or_(
                campaigns.c.deadline > deadline,
                sa.and_(campaigns.c.deadline == deadline, campaigns.c.id > campaign_id),
            )
        )
    if not include_hidden:  # hidden by an administrator: on no public list
        query = query.where(campaigns.c.hidden_at.is_(None))
    if status:
        query = query.where(campaigns.c.status == status)
    if not include_drafts:  # even when asked for status=draft: drafts are never public
        query = query.where(campaigns.c.status.not_in(UNPUBLISHED))
    if category:
        query = query.where(campaigns.c.category == category)
    if district:
        query = query.where(
            campaigns.c.id.in_(
                sa.select(campaign_districts.c.campaign_id).where(
                    campaign_districts.c.district == district
                )
            )
        )
    return await load_campaigns(db, query)


async def campaigns_page(
    db: Database,
    *,
    status: str | None = None,
    category: str | None = None,
    district: str | None = None,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> Page[Campaign]:
    """Public campaigns in list_campaigns' order (deadline, then id), a page at a time."""
    after = None
    if cursor is not None:
        deadline_text, campaign_id = decode_cursor(cursor, (str, int))
        try:
            after = (datetime.fromisoformat(deadline_text), campaign_id)
        except ValueError:
            raise ValidationFailed([FieldError("cursor", "not_a_cursor", BAD_CURSOR)]) from None
    found = await list_campaigns(
        db, status=status, category=category, district=district, limit=limit + 1, after=after
    )
    return page_of(found, limit, lambda c: (c.deadline.isoformat(), c.id))


def slugify(title: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
    return slug[:60].rstrip("-")


def _text(
    data: dict[str, Any],
    name: str,
    errors: list[FieldError],
    *,
    low: int,
    high: int,
    required: bool = True,
    one_line: bool = True,
) -> str:
    value = data.get(name, "" if not required else None)
    if value is None:
        errors.append(FieldError(name, "required", "Enter a value."))
        return ""
    if not isinstance(value, str):
        errors.append(FieldError(name, "not_text", "Must be text."))
        return ""
    value = value.strip()
    if error := text_error(name, value, one_line=one_line):
        errors.append(error)
    elif required and not value:
        errors.append(FieldError(name, "required", "Enter a value."))
    elif value and not low <= len(value) <= high:
        errors.append(
            FieldError(
                name,
                "wrong_length",
                f"Must be between {low} and {high} characters.",
                {"min": low, "max": high},
            )
        )
    return value


_NOT_A_DEADLINE = "Enter a deadline as an ISO 8601 date or time."


def _parse_deadline(value: Any, now: datetime, errors: list[FieldError]) -> datetime | None:
    if not isinstance(value, str) or not value.strip():
        errors.append(FieldError("deadline", "not_a_date", _NOT_A_DEADLINE))
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        errors.append(FieldError("deadline", "not_a_date", _NOT_A_DEADLINE))
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=now.tzinfo)
        if len(value.strip()) == 10:  # a date alone means the end of that day
            parsed = parsed.replace(hour=23, minute=59, second=59)  # no overflow on 9999-12-31
    if parsed <= now:
        errors.append(
            FieldError("deadline", "not_in_future", "The deadline must be in the future.")
        )
    elif parsed - now > MAX_CAMPAIGN_LENGTH:
        errors.append(
            FieldError("deadline", "too_far_ahead", "The deadline must be within two years.")
        )
    return parsed


@dataclass(frozen=True)
class CampaignInput:
    slug: str
    title: str
    summary: str
    description: str
    category: str
    area_name: str
    postcode_districts: tuple[str, ...]
    target: int
    deadline: datetime
    milestones: tuple[int, ...]
    draft: bool
    money: MoneyInput | None = None
    counts: str = "people"
    premises_count: int | None = None
    coverage_target: int | None = None
    require_letter: bool = False
    demand: DemandInput = field(default_factory=DemandInput)

    def household_columns(self) -> dict[str, Any]:
        return {
            "counts": self.counts,
            "premises_count": self.premises_count,
            "coverage_target": self.coverage_target,
            "require_letter": self.require_letter,
            **self.demand.columns(),
        }


@dataclass(frozen=True)
class MoneyInput:
    currency: str
    target: int | None
    deposit: int | None
    min: int | None
    max: int | None

    def columns(self) -> dict[str, Any]:
        return {
            "currency": self.currency,
            "money_target": self.target,
            "deposit_amount": self.deposit,
            "min_amount": self.min,
            "max_amount": self.max,
        }


NO_MONEY = {
    "currency": None,
    "money_target": None,
    "deposit_amount": None,
    "min_amount": None,
    "max_amount": None,
}


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _money_unavailable() -> ValidationFailed:
    return ValidationFailed([FieldError("money", "money_unavailable", MONEY_UNAVAILABLE)])


def _amount(
    money: dict[str, Any], name: str, errors: list[FieldError], low: int, high: int
) -> int | None:
    value = money.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        errors.append(
            FieldError(
                f"money.{name}",
                "out_of_range" if _whole(value) else "not_a_whole_number",
                f"Enter a whole number of minor units (pence, cents) from {low} to {high}.",
                {"min": low, "max": high},
            )
        )
        return None
    return value


def parse_money(value: Any, errors: list[FieldError]) -> MoneyInput | None:
    """`money`: {currency, target?, deposit} or {currency, target?, min, max}, amounts in
    minor units. None (or absent) for a campaign of names only."""
    if value is None:
        return None
    if not isinstance(value, dict):
        errors.append(
            FieldError(
                "money",
                "not_an_object",
                "Give money as {currency, target, deposit} or {..., min, max}.",
            )
        )
        return None
    before = len(errors)
    currency = read_currency(value, "money.currency", errors) or ""
    target = _amount(value, "target", errors, MIN_PLEDGE, MAX_MONEY_TARGET)
    deposit = _amount(value, "deposit", errors, MIN_PLEDGE, MAX_PLEDGE)
    low = _amount(value, "min", errors, MIN_PLEDGE, MAX_PLEDGE)
    high = _amount(value, "max", errors, MIN_PLEDGE, MAX_PLEDGE)
    if len(errors) == before:
        if deposit is not None and (low is not None or high is not None):
            errors.append(
                FieldError(
                    "money.deposit",
                    "deposit_or_range",
                    "Give either a fixed deposit or a minimum and maximum.",
                )
            )
        elif deposit is None and (low is None or high is None):
            field = (
                "money.deposit"
                if low is None and high is None
                else ("money.min" if low is None else "money.max")
            )
            errors.append(
                FieldError(
                    field, "required", "Give a fixed deposit, or both a minimum and a maximum."
                )
            )
        elif low is not None and high is not None and low > high:
            errors.append(
                FieldError(
                    "money.max",
                    "below_minimum",
                    "The maximum must not be below the minimum.",
                    {"min": low},
                )
            )
    if len(errors) > before:
        return None
    return MoneyInput(str(currency).lower(), target, deposit, low, high)


def parse_campaign(data: Any, now: datetime | None = None) -> CampaignInput:
    """Check what a lead sent; every problem is reported at once, by field, or the typed
    input create_campaign (and a draft's update_campaign) take."""
    now = now or utcnow()
    if not isinstance(data, dict):
        raise ValidationFailed([FieldError("body", "not_an_object", "Send a JSON object.")])
    errors: list[FieldError] = []
    title = _text(data, "title", errors, low=3, high=200)
    summary = _text(data, "summary", errors, low=3, high=500)
    description = _text(
        data, "description", errors, low=0, high=20_000, required=False, one_line=False
    )

    given_slug = data.get("slug")
    slug = given_slug or slugify(title)
    # /lead/campaigns/new is the form for a new campaign, so no campaign may be called that.
    if isinstance(slug, str) and slug in RESERVED_SLUGS:
        errors.append(
            FieldError(
                "slug",
                "reserved",
                f"The address {slug!r} is reserved; choose another.",
                {"value": slug},
            )
        )
        slug = ""
    elif not isinstance(slug, str) or not _SLUG.fullmatch(slug):
        # A slug made from a title that is itself wrong is not a second mistake.
        if given_slug or not any(e.field == "title" for e in errors):
            errors.append(
                FieldError(
                    "slug", "not_a_slug", "Use 3 to 80 lower-case letters, digits and hyphens."
                )
            )
        slug = ""

    category = data.get("category")
    if category not in CATEGORIES:
        errors.append(
            FieldError(
                "category",
                "not_in_choices",
                f"Choose one of: {', '.join(CATEGORIES)}.",
                {"choices": CATEGORIES},
            )
        )

    area = data.get("area")
    area_name = ""
    districts: list[str] = []
    if not isinstance(area, dict):
        errors.append(
            FieldError("area", "not_an_object", "Give the area as {name, postcode_districts}.")
        )
    else:
        area_name = _text(area, "name", errors, low=2, high=200)
        if errors and errors[-1].field == "name":
            errors[-1] = replace(errors[-1], field="area.name")
        raw = area.get("postcode_districts")
        if not isinstance(raw, list) or not raw or len(raw) > MAX_DISTRICTS:
            errors.append(
                FieldError(
                    "area.postcode_districts",
                    "not_a_list",
                    f"List 1 to {MAX_DISTRICTS} postcode districts.",
                    {"max": MAX_DISTRICTS},
                )
            )
        else:
            districts = read_districts(raw, "area.postcode_districts", errors)

    money = parse_money(data.get("money"), errors)
    counts, premises_count, coverage_target, require_letter = _parse_households(data, errors)
    target = data.get("target")
    demand = parse_demand(
        data,
        errors,
        counts=counts,
        target_given=target is not None or coverage_target is not None,
    )
    if (
        money is not None
        and demand.question is not None
        and demand.question.currency != (money.currency)
    ):
        errors.append(
            FieldError(
                "price_question.currency",
                "not_in_choices",
                "Ask the price in the campaign's money currency.",
                {"choices": [money.currency]},
            )
        )
    if target is None and money is not None and money.target is not None:
        target = 0  # a money target instead of a count
    elif target is None and demand.tip_on_cost:
        target = 0  # sharing the quote instead of a count
    elif coverage_target is not None:
        if target is not None:
            errors.append(
                FieldError(
                    "coverage_target",
                    "target_or_coverage",
                    "Give either a target or a coverage target, not both.",
                )
            )
        target = 0  # a share of the premises instead of a count
    elif isinstance(target, bool) or not isinstance(target, int) or not 1 <= target <= MAX_TARGET:
        errors.append(
            FieldError(
                "target",
                "out_of_range" if _whole(target) else "not_a_whole_number",
                f"Enter a whole number from 1 to {MAX_TARGET}.",
                {"min": 1, "max": MAX_TARGET},
            )
        )
        target = 0

    deadline = _parse_deadline(data.get("deadline"), now, errors)

    milestones = data.get("milestones", list(DEFAULT_MILESTONES))
    if (
        not isinstance(milestones, list)
        or len(milestones) > 10
        or any(
            isinstance(m, bool) or not isinstance(m, int) or not 1 <= m <= 99 for m in milestones
        )
    ):
        errors.append(
            FieldError(
                "milestones",
                "out_of_range",
                "List up to 10 whole percentages from 1 to 99.",
                {"max_items": 10, "min": 1, "max": 99},
            )
        )
        milestones = []

    draft = data.get("draft", False)
    if not isinstance(draft, bool):
        errors.append(FieldError("draft", "not_a_boolean", "Must be true or false."))
    elif coverage_target is not None and premises_count is None and not draft:
        errors.append(PREMISES_NEEDED)

    if errors:
        raise ValidationFailed(errors)
    assert deadline is not None
    return CampaignInput(
        slug=slug,
        title=title,
        summary=summary,
        description=description,
        category=str(category),
        area_name=area_name,
        postcode_districts=tuple(sorted(districts)),
        target=int(target),
        deadline=deadline,
        milestones=tuple(sorted(set(milestones))),
        draft=bool(draft),
        money=money,
        counts=counts,
        premises_count=premises_count,
        coverage_target=coverage_target,
        require_letter=require_letter,
        demand=demand,
    )


PREMISES_NEEDED = FieldError(
    "premises",
    "required",
    "A coverage target is a share of the premises: give their number "
    '({"count": 140}), or save the campaign as a draft and upload the list, then publish.',
)


def _parse_households(
    data: dict[str, Any], errors: list[FieldError]
) -> tuple[str, int | None, int | None, bool]:
    """`counts`, `premises` ({count}), `coverage_target` (a percent) and `require_letter`."""
    counts = data.get("counts", "people")
    if counts not in COUNTS:
        errors.append(
            FieldError(
                "counts",
                "not_in_choices",
                f"Choose one of: {', '.join(COUNTS)}.",
                {"choices": COUNTS},
            )
        )
        counts = "people"
    premises_count: int | None = None
    premises = data.get("premises")
    if premises is not None:
        count = premises.get("count") if isinstance(premises, dict) else None
        if not isinstance(premises, dict):
            errors.append(
                FieldError("premises", "not_an_object", 'Give the premises as {"count": 140}.')
            )
        elif (
            not isinstance(count, int) or not _whole(count) or not 1 <= count <= MAX_PREMISES_COUNT
        ):
            errors.append(
                FieldError(
                    "premises.count",
                    "out_of_range" if _whole(count) else "not_a_whole_number",
                    f"Enter the number of premises in the area, from 1 to {MAX_PREMISES_COUNT}.",
                    {"min": 1, "max": MAX_PREMISES_COUNT},
                )
            )
        else:
            premises_count = count
    coverage_target: int | None = None
    raw = data.get("coverage_target")
    if raw is not None:
        if not isinstance(raw, int) or not _whole(raw) or not 1 <= raw <= 100:
            errors.append(
                FieldError(
                    "coverage_target",
                    "out_of_range" if _whole(raw) else "not_a_whole_number",
                    "Enter the share of premises as a whole percent from 1 to 100.",
                    {"min": 1, "max": 100},
                )
            )
        elif counts != "households":
            errors.append(
                FieldError(
                    "coverage_target",
                    "households_only",
                    'Only a campaign that counts households ("counts": "households") can '
                    "aim for a share of the premises.",
                )
            )
        else:
            coverage_target = raw
    require_letter = data.get("require_letter", False)
    if not isinstance(require_letter, bool):
        errors.append(FieldError("require_letter", "not_a_boolean", "Must be true or false."))
        require_letter = False
    elif require_letter and counts != "households":
        errors.append(
            FieldError(
                "require_letter",
                "households_only",
                "Only a campaign that counts households can ask for verification by letter.",
            )
        )
    return str(counts), premises_count, coverage_target, require_letter


def _publishing(moderation: str, now: datetime) -> dict[str, Any]:
    """The columns a campaign being published takes under the MODERATION setting: live at
    once (off, post), or waiting in the administrators' queue (pre); pre and post queue it."""
    if moderation not in MODERATION_MODES:
        raise ValueError(f"MODERATION must be one of {MODERATION_MODES}, not {moderation!r}")
    if moderation == "pre":
        return {"status": "pending_review", "moderation": "pending", "submitted_at": now}
    queued = {"moderation": "pending", "submitted_at": now} if moderation == "post" else {}
    return {"status": "open", "opened_at": now, **queued}


async def _record_published(db: Database, campaign: Campaign) -> None:
    """The event of publishing: "campaign.opened" (to webhooks) when it went live; when it
    waits for review, an inside event only, so nothing reaches the outside before approval."""
    if campaign.status == "pending_review":
        await record_event(db, "campaign.submitted", campaign.id, {"slug": campaign.slug})
    else:
        await record_event(db, "campaign.opened", campaign.id, campaign.public_payload())


async def create_campaign(
    store: Store,
    lead_id: int,
    spec: CampaignInput,
    *,
    money_enabled: bool = True,
    moderation: str = "off",
) -> Campaign:
    """`money_enabled` False (no Stripe keys configured): a money campaign is refused.
    `moderation` (the MODERATION setting) says what publishing at once does."""
    if spec.money is not None and not money_enabled:
        raise _money_unavailable()
    now = utcnow()
    published = (
        {"status": "draft", "opened_at": None} if spec.draft else _publishing(moderation, now)
    )
    async with store.write() as db:
        # As a draft's rename holds it (update_campaign), so neither meets the other's
        # uncommitted row at the unique index.
        await store.lock_until_commit(db, f"campaign-edit:{spec.slug}")
        campaign_id = await db.fetch_val(
            store.insert_or_ignore(campaigns)
            .values(
                slug=spec.slug,
                title=spec.title,
                summary=spec.summary,
                description=spec.description,
                category=spec.category,
                area_name=spec.area_name,
                target=spec.target,
                deadline=spec.deadline,
                milestones=json.dumps(list(spec.milestones)),
                lead_id=lead_id,
                confirmed_count=0,
                milestone_reached=0,
                created_at=now,
                **published,
                **(spec.money.columns() if spec.money else NO_MONEY),
                **spec.household_columns(),
            )
            .returning(campaigns.c.id)
        )
        if campaign_id is None:
            raise SlugTaken(spec.slug)
        await db.execute_many(
            sa.insert(campaign_districts),
            [{"campaign_id": campaign_id, "district": d} for d in spec.postcode_districts],
        )
        campaign = await get_campaign_by_id(db, campaign_id)
        if not spec.draft:
            await _record_published(db, campaign)
    return campaign


DEADLINE_PASSED = FieldError(
    "deadline",
    "not_in_future",
    "The deadline has passed: set a later one, then publish.",
)


async def open_campaign(
    store: Store, slug: str, lead_id: int, *, moderation: str = "off"
) -> Campaign:
    """Publish a draft whose deadline is still ahead; nothing changes otherwise. Under
    MODERATION=pre (`moderation`) it waits for an administrator, as "pending_review"."""
    async with store.write() as db:
        campaign = await get_campaign(db, slug)
        if campaign.lead_id != lead_id:
            raise NotCampaignLead(slug)
        if campaign.status == "draft" and campaign.deadline <= utcnow():
            raise ValidationFailed([DEADLINE_PASSED])  # published, it would close at once
        if campaign.status == "draft" and campaign.coverage_target and not campaign.premises:
            raise ValidationFailed([PREMISES_NEEDED])
        row = await db.fetch_one(
            sa.update(campaigns)
            .where(campaigns.c.id == campaign.id, campaigns.c.status == "draft")
            .values(**_publishing(moderation, utcnow()))
            .returning(campaigns.c.id)
        )
        if row is None:
            raise CampaignNotOpen(campaign.status)
        campaign = await get_campaign_by_id(db, campaign.id)
        await _record_published(db, campaign)
    return campaign


async def cancel_campaign(store: Store, slug: str, lead_id: int) -> Campaign:
    async with store.write() as db:
        campaign = await get_campaign(db, slug)
        if campaign.lead_id != lead_id:
            raise NotCampaignLead(slug)
        row = await db.fetch_one(
            sa.update(campaigns)
            .where(campaigns.c.id == campaign.id, campaigns.c.status.in_(("draft", "open")))
            .values(status="cancelled", closed_at=utcnow())
            .returning(campaigns.c.id)
        )
        if row is None:
            raise CampaignNotOpen(campaign.status)
        campaign = await get_campaign_by_id(db, campaign.id)
        await record_event(db, "campaign.cancelled", campaign.id, campaign.public_payload())
    return campaign


async def expire_due_campaigns(store: Store, now: datetime | None = None) -> list[str]:
    """Open campaigns past their deadline become expired, each with one event. A campaign
    the administrators have hidden waits: it is as good as absent, so it sends no "expired"
    email or webhook; unhidden after its deadline, it expires at the next run."""
    now = now or utcnow()
    due_now = (
        campaigns.c.status == "open",
        campaigns.c.deadline <= now,
        campaigns.c.hidden_at.is_(None),
    )
    due = sa.select(campaigns.c.id).where(*due_now)
    if await store.database.fetch_val(due.limit(1)) is None:
        return []  # the common case: no write transaction, no lock
    async with store.write() as db:
        rows = await db.fetch_all(
            sa.update(campaigns)
            .where(*due_now)
            .values(status="expired", closed_at=now)
            .returning(campaigns.c.id)
        )
        expired = []
        for row in rows:
            campaign = await get_campaign_by_id(db, row["id"])
            await record_event(db, "campaign.expired", campaign.id, campaign.public_payload())
            expired.append(campaign.slug)
    return expired


async def campaigns_for_lead(db: Database, lead_id: int) -> list[Campaign]:
    """A lead's own campaigns, drafts and closed ones too, newest first."""
    return await load_campaigns(
        db,
        sa.select(campaigns)
        .where(campaigns.c.lead_id == lead_id)
        .order_by(campaigns.c.created_at.desc(), campaigns.c.id.desc()),
    )


# Once pledges are coming in, only these may change: what people pledged to stays put.
LIVE_EDITABLE = ("title", "summary", "description", "deadline", "quote", "take_up_rates")
# What the "campaign.updated" event lists as changed.
_EDIT_FIELDS = (
    "slug",
    "title",
    "summary",
    "description",
    "category",
    "area_name",
    "postcode_districts",
    "target",
    "deadline",
    "milestones",
    "currency",
    "money_target",
    "deposit_amount",
    "min_amount",
    "max_amount",
    "counts",
    "premises_count",
    "coverage_target",
    "require_letter",
    "price_points",
    "price_required",
    "target_price",
    "take_up_rates",
    "quote_total",
    "quote_voucher",
    "tip_on_cost",
    "equity_share",
    "equity_districts",
)


def _day(value: datetime) -> str:
    return f"{value.day} {value:%B %Y}"


def _check_later_deadline(
    parsed: datetime, current: Campaign, now: datetime, errors: list[FieldError]
) -> None:
    """A live campaign's deadline may only move later, and at most two years after it
    opened."""
    if parsed == current.deadline:
        return
    latest = (current.opened_at or now) + MAX_CAMPAIGN_LENGTH
    if parsed < current.deadline:
        errors.append(
            FieldError(
                "deadline",
                "not_later",
                f"The deadline can only move later, not before {_day(current.deadline)}.",
                {"current": current.deadline},
            )
        )
    elif parsed > latest:
        errors.append(
            FieldError(
                "deadline",
                "too_far_ahead",
                f"The deadline must be within two years of opening, by {_day(latest)}.",
                {"latest": latest},
            )
        )


def _later_deadline(
    value: Any, current: Campaign, now: datetime, errors: list[FieldError]
) -> datetime:
    """The deadline a live campaign moves to; the same date as now leaves it exactly as
    it is."""
    if isinstance(value, str) and value.strip() == current.deadline.date().isoformat():
        return current.deadline
    before = len(errors)
    parsed = _parse_deadline(value, now, errors)
    if parsed is None or len(errors) > before:
        return current.deadline
    _check_later_deadline(parsed, current, now, errors)
    return parsed


@dataclass(frozen=True)
class LiveEdit:
    """What an open or tipped campaign may change (LIVE_EDITABLE), as parse_live_edit
    checked it."""

    title: str
    summary: str
    description: str
    deadline: datetime
    # The quote and the take-up rates, as columns, when the edit gives them (a provider's
    # quote often comes once the campaign is open); absent keys leave them as they are.
    demand: dict[str, Any] = field(default_factory=dict)


QUOTE_TIP_FIXED = FieldError(
    "quote.tip",
    "not_valid",
    "Whether the campaign tips on sharing the quote is fixed once it is published.",
)


def _live_demand(
    data: dict[str, Any], current: Campaign, errors: list[FieldError]
) -> dict[str, Any]:
    """The quote (total, voucher) and take-up rates a live campaign may change."""
    columns: dict[str, Any] = {}
    if "take_up_rates" in data:
        rates = parse_take_up_rates(data["take_up_rates"], errors)
        columns["take_up_rates"] = json.dumps(rates) if rates else None
    if "quote" in data:
        value = data["quote"]
        if value is None:
            if current.tip_on_cost:
                errors.append(QUOTE_TIP_FIXED)
            columns.update(quote_total=None, quote_voucher=0, cost_covered=0)
            return columns
        question = (
            PriceQuestion(
                current.price_currency or "",
                current.price_period or "",
                current.price_points,
                current.price_required,
            )
            if current.asks_price
            else None
        )
        before = len(errors)
        total, voucher, tip = parse_quote(value, question, current.asks_price, errors)
        if len(errors) == before and tip != current.tip_on_cost:
            errors.append(QUOTE_TIP_FIXED)
        columns.update(quote_total=total, quote_voucher=voucher)
    return columns


def parse_live_edit(data: Any, current: Campaign, now: datetime | None = None) -> LiveEdit:
    """The fields an open or tipped campaign may change, checked as parse_campaign does
    (other keys are ignored); the deadline only later than `current`'s."""
    now = now or utcnow()
    if not isinstance(data, dict):
        raise ValidationFailed([FieldError("body", "not_an_object", "Send a JSON object.")])
    errors: list[FieldError] = []
    edit = LiveEdit(
        title=_text(data, "title", errors, low=3, high=200),
        summary=_text(data, "summary", errors, low=3, high=500),
        description=_text(
            data, "description", errors, low=0, high=20_000, required=False, one_line=False
        ),
        deadline=_later_deadline(data.get("deadline"), current, now, errors),
        demand=_live_demand(data, current, errors),
    )
    if errors:
        raise ValidationFailed(errors)
    return edit


def parse_campaign_edit(
    data: Any, current: Campaign, now: datetime | None = None
) -> CampaignInput | LiveEdit:
    """An edit of `current` as its status allows: every field of a draft (as parse_campaign
    checks them, publishing nothing); LIVE_EDITABLE only once open or tipped; nothing once
    closed (CampaignNotOpen)."""
    if current.status == "draft":
        if not isinstance(data, dict):
            raise ValidationFailed([FieldError("body", "not_an_object", "Send a JSON object.")])
        return parse_campaign({**data, "draft": True}, now)
    if current.status in ("open", "tipped"):
        return parse_live_edit(data, current, now)
    raise CampaignNotOpen(current.status)


def as_input(campaign: Campaign) -> dict[str, Any]:
    """The campaign as the body that would create it (parse_campaign's shape)."""
    data: dict[str, Any] = {
        "slug": campaign.slug,
        "title": campaign.title,
        "summary": campaign.summary,
        "description": campaign.description,
        "category": campaign.category,
        "area": {
            "name": campaign.area_name,
            "postcode_districts": list(campaign.postcode_districts),
        },
        "deadline": campaign.deadline.date().isoformat(),
        "milestones": list(campaign.milestones),
    }
    if campaign.target:
        data["target"] = campaign.target
    if campaign.currency is not None:
        money: dict[str, Any] = {"currency": campaign.currency}
        for name, value in (
            ("target", campaign.money_target),
            ("deposit", campaign.deposit_amount),
            ("min", campaign.min_amount),
            ("max", campaign.max_amount),
        ):
            if value is not None:
                money[name] = value
        data["money"] = money
    if campaign.counts_households:
        data["counts"] = campaign.counts
        if campaign.coverage_target is not None:
            data["coverage_target"] = campaign.coverage_target
            data.pop("target", None)
        if campaign.require_letter:
            data["require_letter"] = True
    if campaign.premises_count is not None:
        data["premises"] = {"count": campaign.premises_count}
    if campaign.asks_price:
        data["price_question"] = {
            "currency": campaign.price_currency,
            "period": campaign.price_period,
            "price_points": list(campaign.price_points),
            "required": campaign.price_required,
        }
        if campaign.target_price is not None:
            data["target_price"] = campaign.target_price
        if campaign.quote_total is not None:
            data["quote"] = {
                "total": campaign.quote_total,
                "currency": campaign.price_currency,
                "voucher_per_home": campaign.quote_voucher,
                "tip": campaign.tip_on_cost,
            }
            if campaign.tip_on_cost:
                data.pop("target", None)
    if campaign.take_up_rates:
        data["take_up_rates"] = dict(campaign.take_up_rates)
    if campaign.equity_share is not None:
        data["equity_floor"] = {
            "share": campaign.equity_share,
            "districts": list(campaign.equity_districts),
        }
    return data


def parse_changes(
    changes: dict[str, Any], current: Campaign, now: datetime | None = None
) -> CampaignInput | LiveEdit:
    """An edit that sends only what changes (the API's PATCH): the rest is kept as it is.
    A published campaign refuses changes to anything but LIVE_EDITABLE (FieldsFixed)."""
    if current.status in ("open", "tipped"):
        fixed = [name for name in changes if name not in LIVE_EDITABLE and name != "draft"]
        if fixed:
            raise FieldsFixed(sorted(fixed))
    merged = as_input(current) | changes
    if "money" in changes and changes["money"] is None:
        del merged["money"]  # null asks for no money
    return parse_campaign_edit(merged, current, now)


async def update_campaign(
    store: Store,
    slug: str,
    lead_id: int,
    edit: CampaignInput | LiveEdit,
    now: datetime | None = None,
    *,
    money_enabled: bool = True,
) -> Campaign:
    """The lead edits a campaign with what parse_campaign_edit made of the form: a draft's
    every field, or an open or tipped campaign's LIVE_EDITABLE ones. If the campaign is no
    longer in the state the edit was parsed for (published or closed meanwhile), nothing
    changes (CampaignNotOpen). Records "campaign.updated"."""
    now = now or utcnow()
    async with store.write() as db:
        # The campaign's slug, and a draft's new one: two drafts renamed to one slug at once
        # then meet here, and the second finds the name taken (409) instead of breaking the
        # unique index. Taken in one order, so two edits never wait on each other in a ring.
        wanted = {slug, edit.slug} if isinstance(edit, CampaignInput) else {slug}
        for name in sorted(wanted):
            await store.lock_until_commit(db, f"campaign-edit:{name}")
        current = await get_campaign(db, slug)
        if current.lead_id != lead_id:
            raise NotCampaignLead(slug)
        districts: tuple[str, ...] | None = None
        if current.status == "draft" and isinstance(edit, CampaignInput):
            spec = edit
            if spec.money is not None and not money_enabled:
                raise _money_unavailable()
            if spec.slug != current.slug:
                taken = await db.fetch_val(
                    sa.select(campaigns.c.id).where(campaigns.c.slug == spec.slug)
                )
                if taken is not None:
                    raise SlugTaken(spec.slug)
            values: dict[str, Any] = {
                "slug": spec.slug,
                "title": spec.title,
                "summary": spec.summary,
                "description": spec.description,
                "category": spec.category,
                "area_name": spec.area_name,
                "target": spec.target,
                "deadline": spec.deadline,
                "milestones": json.dumps(list(spec.milestones)),
                **(spec.money.columns() if spec.money else NO_MONEY),
                **spec.household_columns(),
            }
            districts = spec.postcode_districts
            allowed: tuple[str, ...] = ("draft",)
        elif current.status in ("open", "tipped") and isinstance(edit, LiveEdit):
            # Checked again against the deadline as it is now, should it have moved since.
            errors: list[FieldError] = []
            _check_later_deadline(edit.deadline, current, now, errors)
            if errors:
                raise ValidationFailed(errors)
            values = {
                "title": edit.title,
                "summary": edit.summary,
                "description": edit.description,
                "deadline": edit.deadline,
                **edit.demand,
            }
            if "quote_total" in edit.demand:
                # What the campaign's units would pay towards the quote is set again under
                # the campaign's row lock, taken before the UPDATE as counting takes it.
                await demand_settings(db, current.id)
            allowed = ("open", "tipped")
        else:
            raise CampaignNotOpen(current.status)
        mark_campaign_changed(current.id)
        row = await db.fetch_one(
            sa.update(campaigns)
            .where(campaigns.c.id == current.id, campaigns.c.status.in_(allowed))
            .values(**values)
            .returning(campaigns.c.id)
        )
        if row is None:  # published, tipped or closed meanwhile
            status = await db.fetch_val(
                sa.select(campaigns.c.status).where(campaigns.c.id == current.id)
            )
            raise CampaignNotOpen(str(status))
        if districts is not None and districts != current.postcode_districts:
            await db.execute(
                sa.delete(campaign_districts).where(campaign_districts.c.campaign_id == current.id)
            )
            await db.execute_many(
                sa.insert(campaign_districts),
                [{"campaign_id": current.id, "district": d} for d in districts],
            )
        if isinstance(edit, LiveEdit) and edit.demand.get("quote_total") is not None:
            from pledges.counting import move_count  # counting reads campaigns: import late

            await move_count(
                db, current.id, 0, settings=await demand_settings(db, current.id), recheck=True
            )
        campaign = await get_campaign_by_id(db, current.id)
        changed = [
            name for name in _EDIT_FIELDS if getattr(campaign, name) != getattr(current, name)
        ]
        await record_event(
            db, "campaign.updated", campaign.id, {"slug": campaign.slug, "changed": changed}
        )
    return campaign
