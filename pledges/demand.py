"""Demand: the most each household would pay, and how firmly.

A campaign may ask a price question: "the most you would pay", in a currency, per period
(`month`, `year`, `once`), choosing one of the campaign's price points (or "not sure",
unless the lead requires an answer). Every pledge says how firm it is: `interested`,
`will_switch` (will sign up when offered at or below its price; the default) or `deposit`
(a money pledge always is).

What a counted unit (a person, or on a households campaign a household, through the
pledge that counts for it) contributes is a `Unit`. Counting (pledges/counting.py) turns
the units that start and stop counting into `Deltas`, which move, in the same transaction
as the change and after the campaign's row lock:

- on the campaign row, in move_count's one UPDATE: units by firmness (`firm_*`), units at
  or above the target price (`priced_count`, and of them households on the premises list,
  `priced_covered`), units in priority places (`priority_count`);
- in `demand_counts`, for a campaign with a price question, one counter per bucket
  (price, firmness, level, listed); the demand curve D(p) is a sum of buckets.

Tipping on cost sharing (a provider's quote shared by the homes that join) reads the
buckets under the same lock: it tips when for some point p, D(p) x (p + voucher) >= quote
(for N households at p, each pays quote / N less the voucher: at least N willing to pay
that is the same condition, checked at N = D(p); see `cost_cover`).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from databases import Database
from sqlalchemy.dialects import postgresql, sqlite

from pledges.errors import FieldError
from pledges.identity import read_districts
from pledges.money import MAX_PLEDGE, format_money, read_currency
from pledges.tables import campaigns, demand_counts, households, pledges

FIRMNESS = ("interested", "will_switch", "deposit")
DEFAULT_FIRMNESS = "will_switch"
PERIODS = ("month", "year", "once")
# The share of each tier expected to sign up when offered, percent. Evidence in the README:
# PledgeBank found about 75 % of money pledges paid; stated intent converts far less.
DEFAULT_TAKE_UP = {"interested": 30, "will_switch": 60, "deposit": 90}
_site_take_up: dict[str, int] = dict(DEFAULT_TAKE_UP)


def configure_take_up(rates: Mapping[str, int]) -> None:
    """The site's take-up rates (TAKE_UP_RATES), set once when the app starts: what every
    projection assumes unless a campaign's lead set its own."""
    _site_take_up.clear()
    _site_take_up.update(DEFAULT_TAKE_UP)
    _site_take_up.update(rates)


def site_take_up() -> dict[str, int]:
    return dict(_site_take_up)


MAX_POINTS = 40
MAX_QUOTE = 100_000_000_000
NOT_SURE = 0  # the bucket price of a unit that gave no price
LEVELS = ("letter", "vouched", "email")
PERIOD_WORDS = {"month": "a month", "year": "a year", "once": "once"}


@dataclass(frozen=True)
class PriceQuestion:
    currency: str
    period: str
    points: tuple[int, ...]
    required: bool = False

    def columns(self) -> dict[str, Any]:
        return {
            "price_currency": self.currency,
            "price_period": self.period,
            "price_points": json.dumps(list(self.points)),
            "price_required": self.required,
        }

    def money(self, amount: int | None) -> str:
        return format_money(amount, self.currency)

    def label(self, amount: int) -> str:
        """ "£25 a month"."""
        return f"{self.money(amount)} {PERIOD_WORDS[self.period]}"


NO_PRICE_QUESTION: dict[str, Any] = {
    "price_currency": None,
    "price_period": None,
    "price_points": None,
    "price_required": False,
}


@dataclass(frozen=True)
class DemandInput:
    """The demand settings of a campaign, as parse_demand checked them."""

    question: PriceQuestion | None = None
    target_price: int | None = None
    take_up_rates: dict[str, int] | None = None
    quote_total: int | None = None
    quote_voucher: int = 0
    tip_on_cost: bool = False
    equity_share: int | None = None
    equity_districts: tuple[str, ...] = ()

    def columns(self) -> dict[str, Any]:
        return {
            **(self.question.columns() if self.question else NO_PRICE_QUESTION),
            "target_price": self.target_price,
            "take_up_rates": json.dumps(self.take_up_rates) if self.take_up_rates else None,
            "quote_total": self.quote_total,
            "quote_voucher": self.quote_voucher,
            "tip_on_cost": self.tip_on_cost,
            "equity_share": self.equity_share,
            "equity_districts": (
                json.dumps(list(self.equity_districts)) if self.equity_districts else None
            ),
        }


# ----- reading what a lead sent ------------------------------------------------------------


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _within(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _amount_error(field_name: str, low: int, high: int) -> FieldError:
    return FieldError(
        field_name,
        "out_of_range",
        f"Enter a whole number of minor units (pence, cents) from {low} to {high}.",
        {"min": low, "max": high},
    )


def parse_price_question(value: Any, errors: list[FieldError]) -> PriceQuestion | None:
    """`price_question`: {currency, period, price_points: [...], required?} or {currency,
    period, min, max, step, required?}; amounts in minor units. None: no question."""
    if value is None:
        return None
    if not isinstance(value, dict):
        errors.append(
            FieldError(
                "price_question",
                "not_an_object",
                'Give the price question as {"currency": "gbp", "period": "month", '
                '"price_points": [1500, 2000, 2500]}.',
            )
        )
        return None
    before = len(errors)
    currency = read_currency(value, "price_question.currency", errors)
    period = value.get("period")
    if period not in PERIODS:
        errors.append(
            FieldError(
                "price_question.period",
                "not_in_choices",
                f"Choose one of: {', '.join(PERIODS)}.",
                {"choices": PERIODS},
            )
        )
    required = value.get("required", False)
    if not isinstance(required, bool):
        errors.append(
            FieldError("price_question.required", "not_a_boolean", "Must be true or false.")
        )
    points = _points(value, errors)
    if len(errors) > before or points is None:
        return None
    return PriceQuestion(str(currency).lower(), str(period), points, bool(required))


def _points(value: dict[str, Any], errors: list[FieldError]) -> tuple[int, ...] | None:
    raw = value.get("price_points")
    if raw is not None:
        if (
            not isinstance(raw, list)
            or not 2 <= len(raw) <= MAX_POINTS
            or not all(_within(p, 1, MAX_PLEDGE) for p in raw)
        ):
            errors.append(
                FieldError(
                    "price_question.price_points",
                    "not_a_list",
                    f"List 2 to {MAX_POINTS} prices, whole minor units from 1 to {MAX_PLEDGE}.",
                    {"min_items": 2, "max_items": MAX_POINTS, "min": 1, "max": MAX_PLEDGE},
                )
            )
            return None
        if len(set(raw)) != len(raw):
            errors.append(
                FieldError(
                    "price_question.price_points",
                    "duplicate",
                    "Each price point must be different.",
                )
            )
            return None
        return tuple(sorted(raw))
    low, high, step = value.get("min"), value.get("max"), value.get("step")
    if low is None and high is None and step is None:
        errors.append(
            FieldError(
                "price_question.price_points",
                "required",
                "Give the price points, as a list or as min, max and step.",
            )
        )
        return None
    bad = False
    for name, item in (("min", low), ("max", high), ("step", step)):
        if not _within(item, 1, MAX_PLEDGE):
            errors.append(_amount_error(f"price_question.{name}", 1, MAX_PLEDGE))
            bad = True
    if bad:
        return None
    assert isinstance(low, int) and isinstance(high, int) and isinstance(step, int)
    if high <= low:
        errors.append(
            FieldError(
                "price_question.max",
                "below_minimum",
                "The maximum must be above the minimum.",
                {"min": low},
            )
        )
        return None
    points = tuple(range(low, high + 1, step))
    if len(points) > MAX_POINTS or len(points) < 2:
        errors.append(
            FieldError(
                "price_question.step",
                "out_of_range",
                f"Choose a step that gives 2 to {MAX_POINTS} price points from min to max.",
                {"max_items": MAX_POINTS},
            )
        )
        return None
    return points


def parse_take_up_rates(value: Any, errors: list[FieldError]) -> dict[str, int] | None:
    """`take_up_rates`: {interested, will_switch, deposit}, whole percents; any left out
    take the site's rate. None: the site's rates."""
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) - set(FIRMNESS):
        errors.append(
            FieldError(
                "take_up_rates",
                "not_an_object",
                "Give take-up rates as whole percents by firmness: "
                '{"interested": 30, "will_switch": 60, "deposit": 90}.',
                {"choices": FIRMNESS},
            )
        )
        return None
    rates: dict[str, int] = {}
    for name in FIRMNESS:
        item = value.get(name)
        if item is None:
            continue
        if not _within(item, 0, 100):
            errors.append(
                FieldError(
                    f"take_up_rates.{name}",
                    "out_of_range",
                    "Enter a whole percent from 0 to 100.",
                    {"min": 0, "max": 100},
                )
            )
        else:
            rates[name] = item
    return rates or None


def parse_demand(
    data: Mapping[str, Any], errors: list[FieldError], *, counts: str, target_given: bool
) -> DemandInput:
    """The demand settings of a campaign from what its lead sent: `price_question`,
    `target_price`, `take_up_rates`, `quote` ({total, currency, voucher_per_home, tip}) and
    `equity_floor` ({share, districts}). Problems are added to `errors`, by field."""
    question = parse_price_question(data.get("price_question"), errors)
    asked = data.get("price_question") is not None
    target_price = data.get("target_price")
    if target_price is not None:
        if not asked:
            errors.append(
                FieldError(
                    "target_price",
                    "needs_price_question",
                    "A target price needs a price question to answer it.",
                )
            )
            target_price = None
        elif question is not None and target_price not in question.points:
            errors.append(
                FieldError(
                    "target_price",
                    "not_in_choices",
                    "The target price must be one of the price points.",
                    {"choices": list(question.points)},
                )
            )
            target_price = None
    rates = parse_take_up_rates(data.get("take_up_rates"), errors)
    quote_total, voucher, tip = parse_quote(data.get("quote"), question, asked, errors)
    if tip and target_given:
        errors.append(
            FieldError(
                "quote.tip",
                "target_or_cost",
                "A campaign tips either on a target or on sharing the quote, not both: "
                "leave out target (or coverage_target).",
            )
        )
    share, districts = _parse_equity(data.get("equity_floor"), errors)
    return DemandInput(
        question=question,
        target_price=target_price if question is not None else None,
        take_up_rates=rates,
        quote_total=quote_total,
        quote_voucher=voucher,
        tip_on_cost=tip,
        equity_share=share,
        equity_districts=districts,
    )


def parse_quote(
    value: Any, question: PriceQuestion | None, asked: bool, errors: list[FieldError]
) -> tuple[int | None, int, bool]:
    if value is None:
        return None, 0, False
    if not isinstance(value, dict):
        errors.append(
            FieldError(
                "quote",
                "not_an_object",
                'Give the quote as {"total": 11180000, "currency": "gbp", '
                '"voucher_per_home": 0, "tip": false}.',
            )
        )
        return None, 0, False
    if not asked:
        errors.append(
            FieldError(
                "quote",
                "needs_price_question",
                "Sharing a quoted cost needs a price question: what each home would pay.",
            )
        )
        return None, 0, False
    before = len(errors)
    total = value.get("total")
    if not _within(total, 1, MAX_QUOTE):
        errors.append(_amount_error("quote.total", 1, MAX_QUOTE))
    voucher = value.get("voucher_per_home", 0)
    if not _within(voucher, 0, MAX_QUOTE):
        errors.append(_amount_error("quote.voucher_per_home", 0, MAX_QUOTE))
    currency = value.get("currency")
    if question is not None and currency is not None and currency != question.currency:
        errors.append(
            FieldError(
                "quote.currency",
                "not_in_choices",
                "The quote must be in the price question's currency.",
                {"choices": [question.currency]},
            )
        )
    tip = value.get("tip", False)
    if not isinstance(tip, bool):
        errors.append(FieldError("quote.tip", "not_a_boolean", "Must be true or false."))
    elif tip and question is not None and question.period != "once":
        errors.append(
            FieldError(
                "quote.tip",
                "period_once_only",
                "Tipping on a shared build cost compares it with a one-off price: ask the "
                'price question with "period": "once".',
            )
        )
    if len(errors) > before:
        return None, 0, False
    assert isinstance(total, int) and isinstance(voucher, int)
    return total, voucher, bool(tip)


def _parse_equity(value: Any, errors: list[FieldError]) -> tuple[int | None, tuple[str, ...]]:
    if value is None:
        return None, ()
    if not isinstance(value, dict):
        errors.append(
            FieldError(
                "equity_floor",
                "not_an_object",
                'Give the equity floor as {"share": 30, "districts": ["LS11"]}.',
            )
        )
        return None, ()
    share = value.get("share")
    if not _within(share, 1, 100):
        errors.append(
            FieldError(
                "equity_floor.share",
                "out_of_range",
                "Enter the share of counted pledges from priority places, a whole percent "
                "from 1 to 100.",
                {"min": 1, "max": 100},
            )
        )
        share = None
    raw = value.get("districts", [])
    districts: list[str] = []
    if not isinstance(raw, list) or len(raw) > 200:
        errors.append(
            FieldError(
                "equity_floor.districts",
                "not_a_list",
                "List up to 200 postcode districts.",
                {"max": 200},
            )
        )
    else:
        districts = read_districts(raw, "equity_floor.districts", errors)
    return share, tuple(sorted(districts))


# ----- a campaign's settings, as counting reads them ------------------------------------------

SETTINGS_COLUMNS = (
    campaigns.c.counts,
    campaigns.c.require_letter,
    campaigns.c.price_points,
    campaigns.c.target_price,
    campaigns.c.quote_total,
    campaigns.c.quote_voucher,
    campaigns.c.tip_on_cost,
    campaigns.c.equity_share,
    campaigns.c.equity_districts,
)


@dataclass(frozen=True)
class DemandSettings:
    """What counting needs to know of a campaign. Fixed once it is published (the price
    question, target price and equity floor are edited in drafts only), except the quote,
    whose change is itself made under the campaign's lock."""

    counts: str = "people"
    require_letter: bool = False
    points: tuple[int, ...] = ()
    target_price: int | None = None
    quote_total: int | None = None
    quote_voucher: int = 0
    tip_on_cost: bool = False
    equity_share: int | None = None
    priority_districts: frozenset[str] = frozenset()

    @property
    def households(self) -> bool:
        return self.counts == "households"

    @property
    def asks_price(self) -> bool:
        return bool(self.points)

    @property
    def needs_lock(self) -> bool:
        """Counting must take the campaign's row lock first: households are settled, or
        price buckets move (everyone locks the campaign before any bucket: no deadlock)."""
        return self.households or self.asks_price


PLAIN = DemandSettings()


def settings_from_row(row: Any) -> DemandSettings:
    return DemandSettings(
        counts=row["counts"],
        require_letter=bool(row["require_letter"]),
        points=tuple(json.loads(row["price_points"])) if row["price_points"] else (),
        target_price=row["target_price"],
        quote_total=row["quote_total"],
        quote_voucher=row["quote_voucher"] or 0,
        tip_on_cost=bool(row["tip_on_cost"]),
        equity_share=row["equity_share"],
        priority_districts=frozenset(
            json.loads(row["equity_districts"]) if row["equity_districts"] else ()
        ),
    )


async def demand_settings(db: Database, campaign_id: int, *, lock: bool = True) -> DemandSettings:
    """The campaign's settings; `lock`: under its row lock (FOR NO KEY UPDATE on
    PostgreSQL, which lets others insert rows referring to it; SQLite has one writer)."""
    query = sa.select(*SETTINGS_COLUMNS).where(campaigns.c.id == campaign_id)
    row = await db.fetch_one(query.with_for_update(key_share=True) if lock else query)
    assert row is not None
    return settings_from_row(row)


# ----- units and the deltas they make ----------------------------------------------------------


@dataclass(frozen=True)
class Unit:
    """What one counted unit contributes: its answer and firmness (the pledge that counts),
    its verification level, and for a household whether it is on the premises list and
    marked priority there."""

    firmness: str
    price: int | None
    level: str
    district: str
    listed: bool = False
    marked_priority: bool = False

    def priority(self, settings: DemandSettings) -> bool:
        return self.marked_priority or self.district in settings.priority_districts

    def priced(self, settings: DemandSettings) -> bool:
        return (
            settings.target_price is not None
            and self.price is not None
            and self.price >= settings.target_price
        )


def pledge_level(source: str, vouched_by: Any) -> str:
    """A person's verification level: recorded by the lead (paper, or on their word), or a
    confirmed email."""
    return "vouched" if source == "paper" or vouched_by is not None else "email"


UNIT_COLUMNS = (
    pledges.c.id,
    pledges.c.firmness,
    pledges.c.max_price,
    pledges.c.district,
    pledges.c.source,
    pledges.c.vouched_by,
)


def person_unit(row: Any) -> Unit:
    """A pledge as a unit of a campaign that counts people."""
    return Unit(
        firmness=row["firmness"],
        price=row["max_price"],
        level=pledge_level(row["source"], row["vouched_by"]),
        district=row["district"],
    )


async def person_units(db: Database, pledge_ids: Sequence[int]) -> list[Unit]:
    rows = await db.fetch_all(sa.select(*UNIT_COLUMNS).where(pledges.c.id.in_(pledge_ids)))
    return [person_unit(r) for r in rows]


@dataclass
class Deltas:
    """How a campaign's counters move for units that started (+1) or stopped (-1) counting."""

    households: int = 0
    covered: int = 0
    firm: Counter[str] = field(default_factory=Counter)
    priced: int = 0
    priced_covered: int = 0
    priority: int = 0
    buckets: Counter[tuple[int, str, str, bool, str]] = field(default_factory=Counter)

    def add(self, unit: Unit | None, sign: int, settings: DemandSettings) -> None:
        if unit is None:
            return
        if settings.households:
            self.households += sign
            self.covered += sign if unit.listed else 0
        self.firm[unit.firmness] += sign
        if unit.priced(settings):
            self.priced += sign
            self.priced_covered += sign if unit.listed else 0
        if unit.priority(settings):
            self.priority += sign
        if settings.asks_price:
            price = unit.price if unit.price is not None else NOT_SURE
            self.buckets[(price, unit.firmness, unit.level, unit.listed, unit.district)] += sign

    def campaign_values(self) -> dict[str, Any]:
        """The SET clause of move_count's UPDATE (`x = x + d`), only what moves."""
        c = campaigns.c
        moves = {
            "household_count": (c.household_count, self.households),
            "covered_count": (c.covered_count, self.covered),
            "firm_interested": (c.firm_interested, self.firm["interested"]),
            "firm_will_switch": (c.firm_will_switch, self.firm["will_switch"]),
            "firm_deposit": (c.firm_deposit, self.firm["deposit"]),
            "priced_count": (c.priced_count, self.priced),
            "priced_covered": (c.priced_covered, self.priced_covered),
            "priority_count": (c.priority_count, self.priority),
        }
        return {name: column + d for name, (column, d) in moves.items() if d}

    @property
    def rose(self) -> bool:
        return self.households > 0 or self.covered > 0 or self.priced > 0 or self.priority > 0


def changes_of(settings: DemandSettings, changes: Iterable[tuple[Unit | None, int]]) -> Deltas:
    deltas = Deltas()
    for unit, sign in changes:
        deltas.add(unit, sign, settings)
    return deltas


async def move_buckets(db: Database, campaign_id: int, deltas: Deltas) -> None:
    """Move the demand curve's counters, in the caller's transaction, after the campaign's
    row lock: `n = n + d`, inserting a bucket on first use."""
    dialect_insert = sqlite.insert if db.url.dialect == "sqlite" else postgresql.insert
    for (price, firmness, level, listed, district), d in sorted(deltas.buckets.items()):
        if not d:
            continue
        statement = dialect_insert(demand_counts).values(
            campaign_id=campaign_id,
            price=price,
            firmness=firmness,
            level=level,
            listed=listed,
            district=district,
            n=d,
        )
        await db.execute(
            statement.on_conflict_do_update(
                index_elements=["campaign_id", "price", "firmness", "level", "listed", "district"],
                set_={"n": demand_counts.c.n + statement.excluded.n},
            )
        )


async def bucket_rows(db: Database, campaign_id: int) -> list[Any]:
    return list(
        await db.fetch_all(
            sa.select(
                demand_counts.c.price,
                demand_counts.c.firmness,
                demand_counts.c.level,
                demand_counts.c.listed,
                demand_counts.c.district,
                demand_counts.c.n,
            ).where(demand_counts.c.campaign_id == campaign_id, demand_counts.c.n != 0)
        )
    )


def cost_cover(points: Sequence[int], buckets: Iterable[Any], voucher: int) -> int:
    """The most the units at any one price point would pay towards a quote, with the
    voucher per home: max over p of D(p) x (p + voucher). The campaign can share the quote
    once this reaches it. Exact integers."""
    at_least = curve_totals(points, buckets)
    return max((d * (p + voucher) for p, d in at_least.items() if d), default=0)


def curve_totals(points: Sequence[int], buckets: Iterable[Any]) -> dict[int, int]:
    """D(p) for each point: units whose answer is at least p."""
    by_price: Counter[int] = Counter()
    for b in buckets:
        if b["price"] != NOT_SURE:
            by_price[b["price"]] += b["n"]
    return {p: sum(n for price, n in by_price.items() if price >= p) for p in points}


async def rebuild(db: Database, campaign_id: int) -> None:
    """Set every demand counter of a campaign afresh from its counted units, under the
    campaign's row lock (the premises list was replaced: which households are listed or
    marked priority changed). Absolute, not `x + d`: nothing else moves them meanwhile."""
    settings = await demand_settings(db, campaign_id)
    units = await counted_units(db, campaign_id, settings)
    deltas = changes_of(settings, ((u, +1) for u in units))
    await db.execute(
        sa.update(campaigns)
        .where(campaigns.c.id == campaign_id)
        .values(
            firm_interested=deltas.firm["interested"],
            firm_will_switch=deltas.firm["will_switch"],
            firm_deposit=deltas.firm["deposit"],
            priced_count=deltas.priced,
            priced_covered=deltas.priced_covered,
            priority_count=deltas.priority,
        )
    )
    await db.execute(sa.delete(demand_counts).where(demand_counts.c.campaign_id == campaign_id))
    await move_buckets(db, campaign_id, deltas)
    if settings.quote_total:
        buckets = await bucket_rows(db, campaign_id)
        cover = cost_cover(settings.points, buckets, settings.quote_voucher)
        await db.execute(
            sa.update(campaigns).where(campaigns.c.id == campaign_id).values(cost_covered=cover)
        )


async def counted_units(db: Database, campaign_id: int, settings: DemandSettings) -> list[Unit]:
    """Every unit counted now, read from the pledges (and households): what the counters
    must equal. Tests compare the two; `rebuild` sets the counters from it."""
    if not settings.households:
        rows = await db.fetch_all(
            sa.select(*UNIT_COLUMNS).where(
                pledges.c.campaign_id == campaign_id, pledges.c.status == "confirmed"
            )
        )
        return [person_unit(r) for r in rows]
    rows = await db.fetch_all(
        sa.select(
            pledges.c.firmness,
            pledges.c.max_price,
            households.c.level,
            households.c.district,
            households.c.listed,
            households.c.priority,
        )
        .select_from(households.join(pledges, pledges.c.id == households.c.counting_pledge_id))
        .where(households.c.campaign_id == campaign_id)
    )
    return [household_unit(r) for r in rows]


def household_unit(row: Any) -> Unit:
    return Unit(
        firmness=row["firmness"],
        price=row["max_price"],
        level=row["level"],
        district=row["district"],
        listed=bool(row["listed"]),
        marked_priority=bool(row["priority"]),
    )
