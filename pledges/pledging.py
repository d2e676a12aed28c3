"""Pledges: recording, confirming and withdrawing them. Each change moves the campaign's
count in its own transaction through pledges/counting.py, the one place counts move.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from databases import Database

from pledges import fused as fused_writes
from pledges.addresses import address_key, parse_address_line
from pledges.campaigns import Campaign, get_campaign_by_id
from pledges.counting import (
    Progress,
    count_if_complete,
    count_pledge,
    lock_households,
    progress_of,
    withdraw_in_transaction,
)
from pledges.demand import (
    DEFAULT_FIRMNESS,
    FIRMNESS,
    PLAIN,
    SETTINGS_COLUMNS,
    DemandSettings,
    Unit,
    person_unit,
    pledge_level,
    settings_from_row,
)
from pledges.errors import (
    CampaignHidden,
    CampaignNotFound,
    CampaignNotOpen,
    DomainError,
    ErrorCode,
    FieldError,
    MoneyUnavailable,
    NotCampaignLead,
    PledgeInvalid,
    PledgeNotFound,
    PledgeWithdrawn,
    StruckOutEmail,
    ValidationFailed,
)
from pledges.group_commit import confirmation_queue
from pledges.households import household_for
from pledges.identity import canonical_email, is_valid_email, normalise_postcode, postcode_district
from pledges.journal import record_event
from pledges.money import format_money
from pledges.phones import parse_phone
from pledges.rate_limits import DEFAULT_PLEDGE_RATE_LIMIT, RateLimit, check_pledge_rate
from pledges.store import Store, aware, utcnow
from pledges.tables import campaigns, pledges
from pledges.text import text_error, whole_number

SOURCES = ("web", "api", "paper")


@dataclass(frozen=True)
class PledgeInput:
    """A pledge as parse_pledge checked it, read once at the edge."""

    name: str
    email: str
    postcode: str
    show_name: bool
    share_contact: bool
    # The amount the resident chose (minor units), if they sent a whole number; only a
    # campaign where each resident chooses reads it, and checks it against its range.
    amount: int | None = None
    # The first line of the address: required by a campaign that counts households.
    address_line: str | None = None
    # A phone number, checked on every pledge and kept only on one the lead records (a
    # resident pledging online is reached by email).
    phone: str | None = None
    # The most they would pay (minor units; None: not sure or not answered), checked
    # against the campaign's price points when recorded; and how firm the pledge is.
    max_price: int | None = None
    firmness: str = DEFAULT_FIRMNESS
    answered_price: bool = False


@dataclass(frozen=True)
class PledgeOutcome:
    """What happened; the public answer is the same for new and repeated pledges."""

    pledge_id: int
    status: str
    repeated: bool
    # The count as of this pledge's commit, when it changed it (paper pledges).
    progress: Progress | None = None
    # Money pledges: "awaiting_card" means the pledge waits for its card.
    payment_status: str | None = None
    amount: int | None = None
    # This email had a pledge on the campaign already, in any state (pending, counted,
    # withdrawn, struck out): `repeated` is False for a withdrawn one pledged afresh.
    had_pledged: bool = False

    @property
    def to_checkout(self) -> bool:
        """Send the sender to Checkout now: only a new money pledge waiting for its card.
        A repeat is answered alike whatever the earlier pledge's state, and its link to
        save a card goes by email, to that address only (the confirmation or "already
        pledged" email): the answer tells the sender nothing about someone's pledge."""
        return self.payment_status == "awaiting_card" and not self.had_pledged


@dataclass(frozen=True)
class ConfirmOutcome:
    progress: Progress
    newly_confirmed: bool
    # A money pledge whose email is now confirmed but whose card is not saved yet.
    awaiting_card: bool = False


def _flag(data: dict[str, Any], name: str, errors: list[FieldError]) -> bool:
    value = data.get(name, False)
    if isinstance(value, str) and value.lower() in {"on", "true", "1", "yes"}:
        return True  # an HTML checkbox
    if value in ("", None):
        return False
    if not isinstance(value, bool):
        errors.append(FieldError(name, "not_a_boolean", "Must be true or false."))
        return False
    return value


MAX_NAME = 200


def _read_name(data: dict[str, Any], errors: list[FieldError]) -> str:
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        errors.append(FieldError("name", "required", "Enter your name."))
        return ""
    if len(name.strip()) > MAX_NAME:
        errors.append(
            FieldError(
                "name",
                "too_long",
                f"Name must be {MAX_NAME} characters or fewer.",
                {"max": MAX_NAME},
            )
        )
    elif error := text_error("name", name.strip(), one_line=True, what="Your name"):
        errors.append(error)
    return name.strip()


def _read_email(data: dict[str, Any], errors: list[FieldError]) -> str:
    email = data.get("email")
    if not isinstance(email, str) or not email.strip():
        errors.append(FieldError("email", "required", "Enter your email address."))
        return ""
    if not is_valid_email(email.strip()):
        errors.append(
            FieldError(
                "email",
                "not_an_email",
                "Enter an email address in the right format, like name@example.com.",
            )
        )
    return email.strip()


def _read_postcode(data: dict[str, Any], errors: list[FieldError]) -> str:
    raw_postcode = data.get("postcode")
    postcode = normalise_postcode(raw_postcode) if isinstance(raw_postcode, str) else None
    if not isinstance(raw_postcode, str) or not raw_postcode.strip():
        errors.append(FieldError("postcode", "required", "Enter your postcode."))
    elif postcode is None:
        errors.append(
            FieldError("postcode", "not_a_postcode", "Enter a real UK postcode, like LS6 1AB.")
        )
    return postcode or ""


NOT_SURE_ANSWERS = frozenset({"not_sure", "not sure", "unsure"})


def _read_answers(data: dict[str, Any], errors: list[FieldError]) -> tuple[int | None, bool, str]:
    """`max_price` (a whole number of minor units, or "not_sure") and `firmness`. Returns
    (max_price, whether a price was given at all, firmness); which prices a campaign takes
    is checked when the pledge is recorded."""
    raw = data.get("max_price")
    price: int | None = None
    answered = False
    if isinstance(raw, str) and (number := whole_number(raw, max_digits=12)) is not None:
        raw = number  # a form's radio button
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        pass
    elif isinstance(raw, str) and raw.strip().lower() in NOT_SURE_ANSWERS:
        answered = True
    elif isinstance(raw, int) and not isinstance(raw, bool) and raw > 0:
        price, answered = raw, True
    else:
        errors.append(
            FieldError(
                "max_price",
                "not_in_choices",
                'Choose the most you would pay from the prices given, or "not sure".',
            )
        )
    firmness = data.get("firmness")
    if firmness is None or firmness == "":
        firmness = DEFAULT_FIRMNESS
    elif firmness not in FIRMNESS:
        errors.append(
            FieldError(
                "firmness",
                "not_in_choices",
                f"Choose one of: {', '.join(FIRMNESS)}.",
                {"choices": FIRMNESS},
            )
        )
        firmness = DEFAULT_FIRMNESS
    return price, answered, str(firmness)


def parse_pledge(data: Any) -> PledgeInput:
    """A resident's pledge from what they sent (a JSON object or a form's fields): every
    problem at once, by field, or the typed input the commands below take."""
    if not isinstance(data, dict):
        raise ValidationFailed([FieldError("body", "not_an_object", "Send a JSON object.")])
    errors: list[FieldError] = []
    name = _read_name(data, errors)
    email = _read_email(data, errors)
    postcode = _read_postcode(data, errors)
    address_line, address_errors = parse_address_line(data.get("address_line"), required=False)
    errors.extend(address_errors)
    phone, phone_errors = parse_phone(data.get("phone"))
    errors.extend(phone_errors)
    show_name = _flag(data, "show_name", errors)
    share_contact = _flag(data, "share_contact", errors)
    max_price, answered, firmness = _read_answers(data, errors)
    if errors:
        raise ValidationFailed(errors)
    amount = data.get("amount")
    return PledgeInput(
        name=name,
        email=email,
        postcode=postcode,
        show_name=show_name,
        share_contact=share_contact,
        # Checked against the campaign's range in the transaction, after the fields above.
        amount=amount if isinstance(amount, int) and not isinstance(amount, bool) else None,
        address_line=address_line,
        phone=phone,
        max_price=max_price,
        firmness=firmness,
        answered_price=answered,
    )


@dataclass(frozen=True)
class VouchedPledgeInput:
    """A pledge a campaign's lead records for a neighbour who has no email address (door
    to door, a phone call, a library session), on the lead's word: they attested that they
    met or spoke to this person, who asked them to record it. It counts at once."""

    name: str
    postcode: str
    show_name: bool
    share_contact: bool
    # Required by a campaign that counts households, as for any pledge.
    address_line: str | None = None
    # A number the lead may call to pass on news; never shown beyond the lead.
    phone: str | None = None
    max_price: int | None = None
    firmness: str = DEFAULT_FIRMNESS
    answered_price: bool = False


ATTESTATION_NEEDED = FieldError(
    "attested",
    "required",
    "Without an email address, confirm that you met or spoke to this person and that they "
    "asked you to record their pledge.",
)


def parse_vouched_pledge(data: Any) -> VouchedPledgeInput:
    """A pledge without email, from what the lead sent: the resident's name, postcode,
    address line (checked against the campaign when recorded), an optional phone number,
    their consent choices, and the lead's attestation (`attested` true). Every problem at
    once, by field."""
    if not isinstance(data, dict):
        raise ValidationFailed([FieldError("body", "not_an_object", "Send a JSON object.")])
    errors: list[FieldError] = []
    name = _read_name(data, errors)
    postcode = _read_postcode(data, errors)
    address_line, address_errors = parse_address_line(data.get("address_line"), required=False)
    errors.extend(address_errors)
    phone, phone_errors = parse_phone(data.get("phone"))
    errors.extend(phone_errors)
    show_name = _flag(data, "show_name", errors)
    share_contact = _flag(data, "share_contact", errors)
    attested = _flag(data, "attested", errors)
    if not attested and not any(e.field == "attested" for e in errors):
        errors.append(ATTESTATION_NEEDED)
    max_price, answered, firmness = _read_answers(data, errors)
    if errors:
        raise ValidationFailed(errors)
    return VouchedPledgeInput(
        name=name,
        postcode=postcode,
        show_name=show_name,
        share_contact=share_contact,
        address_line=address_line,
        phone=phone,
        max_price=max_price,
        firmness=firmness,
        answered_price=answered,
    )


def has_email(data: Any) -> bool:
    """Whether a paper pledge gives an email address (anything but nothing or blank): with
    one it is a paper pledge as ever, without one it rests on the lead's attestation."""
    if not isinstance(data, dict):
        return True  # parse_pledge says what is wrong with it
    email = data.get("email")
    return not (email is None or (isinstance(email, str) and not email.strip()))


def parse_paper_pledge(data: Any) -> PledgeInput | VouchedPledgeInput:
    """A pledge the lead enters (signed on paper, or told to them): with an email address,
    as a resident's pledge (parse_pledge); without one, a pledge on the lead's word
    (parse_vouched_pledge)."""
    if not has_email(data):
        return parse_vouched_pledge(data)
    return parse_pledge(data)


ADDRESS_NEEDED = FieldError(
    "address_line",
    "required",
    "This campaign counts homes: enter the first line of your address, like 12 Brudenell Road.",
)


@dataclass(frozen=True)
class _PledgeTarget:
    id: int
    lead_id: int
    status: str
    currency: str | None = None
    deposit_amount: int | None = None
    min_amount: int | None = None
    max_amount: int | None = None
    counts: str = "people"
    settings: DemandSettings = PLAIN
    price_required: bool = False

    def answers_of(self, spec: PledgeInput | VouchedPledgeInput) -> tuple[int | None, str]:
        """The pledge's price and firmness as this campaign takes them: a price one of its
        points (or "not sure" unless an answer is required; no price without a question);
        a money pledge is a deposit, whatever it said."""
        points = self.settings.points
        if points:
            if spec.max_price is not None and spec.max_price not in points:
                raise ValidationFailed([price_error("not_in_choices", points)])
            if spec.max_price is None and self.price_required:
                raise ValidationFailed([price_error("required", points)])
        price = spec.max_price if points else None
        return price, "deposit" if self.currency is not None else spec.firmness

    def unit(self, spec: PledgeInput | VouchedPledgeInput, source: str, vouched: bool) -> Unit:
        price, firmness = self.answers_of(spec)
        return Unit(
            firmness=firmness,
            price=price,
            level=pledge_level(source, vouched or None),
            district=postcode_district(spec.postcode),
        )

    async def household_of(
        self, store: Store, db: Database, spec: PledgeInput | VouchedPledgeInput
    ) -> int | None:
        """The household a pledge joins on a campaign that counts them (the address is
        then required: ValidationFailed), else None."""
        if self.counts != "households":
            return None
        if spec.address_line is None:
            raise ValidationFailed([ADDRESS_NEEDED])
        return await household_for(store, db, self.id, spec.postcode, spec.address_line)

    def amount_of(self, chosen: int | None) -> int | None:
        """The amount a resident pledges: the fixed deposit, or theirs (`chosen`) within the
        range (minor units); None on a campaign of names only."""
        if self.currency is None:
            return None
        if self.deposit_amount is not None:
            return self.deposit_amount
        low, high = self.min_amount or 0, self.max_amount or 0
        if chosen is None or not low <= chosen <= high:
            code: ErrorCode = "required" if chosen is None else "out_of_range"
            raise ValidationFailed([amount_error(code, low, high, self.currency)])
        return chosen


def price_error(code: ErrorCode, points: tuple[int, ...]) -> FieldError:
    """What is wrong with a resident's answer on a campaign asking about these prices."""
    return FieldError(
        "max_price",
        code,
        "Choose the most you would pay from the prices given"
        + ("." if code == "required" else ', or "not sure".'),
        {"choices": list(points)},
    )


def amount_error(code: ErrorCode, low: int, high: int, currency: str) -> FieldError:
    """What is wrong with a resident's amount on a campaign whose range is low to high."""
    return FieldError(
        "amount",
        code,
        f"Choose an amount from {format_money(low, currency)} to {format_money(high, currency)}.",
        {"min": low, "max": high, "currency": currency},
    )


async def _open_campaign_for_pledging(db: Database, slug: str) -> _PledgeTarget:
    # One query for what pledging needs, inside the write transaction (no districts etc.).
    if "\x00" in slug:  # as get_campaign: no slug has one, and PostgreSQL refuses it
        raise CampaignNotFound(slug)
    row = await db.fetch_one(
        sa.select(
            campaigns.c.id,
            campaigns.c.lead_id,
            campaigns.c.status,
            campaigns.c.hidden_at,
            campaigns.c.currency,
            campaigns.c.deposit_amount,
            campaigns.c.min_amount,
            campaigns.c.max_amount,
            campaigns.c.price_required,
            *SETTINGS_COLUMNS,
        ).where(campaigns.c.slug == slug)
    )
    if row is None or row["hidden_at"] is not None:  # hidden: answered as if it did not exist
        raise CampaignNotFound(slug)
    if row["status"] not in ("open", "tipped"):
        raise CampaignNotOpen(row["status"])
    return _PledgeTarget(
        row["id"],
        row["lead_id"],
        row["status"],
        row["currency"],
        row["deposit_amount"],
        row["min_amount"],
        row["max_amount"],
        row["counts"],
        settings_from_row(row),
        bool(row["price_required"]),
    )


async def _record_pending_in_one_statement(
    store: Store,
    db: Database,
    slug: str,
    spec: PledgeInput,
    canonical: str,
    source: str,
    ip: str | None,
    rate_limit: RateLimit,
) -> int | None:
    """PostgreSQL, a campaign that counts people and asks nothing else (pledges.fused): the
    pending pledge and its event in one statement, after the rate limit's count. None:
    nothing written, the general path decides."""
    if "\x00" in slug:  # PostgreSQL refuses it in text; the general path answers not found
        return None
    now = utcnow()
    if ip is not None and rate_limit:  # the subquery is built only when a limit applies
        await check_pledge_rate(
            store, db, slug, ip, rate_limit, now, campaign_id=fused_writes.plain_campaign_id(slug)
        )
    return await fused_writes.record_pending_pledge(
        db,
        {
            "slug": slug,
            "name": spec.name,
            "email": spec.email,
            "email_canonical": canonical,
            "postcode": spec.postcode,
            "district": postcode_district(spec.postcode),
            "address_line": spec.address_line,
            "show_name": spec.show_name,
            "share_contact": spec.share_contact,
            "source": source,
            "ip": ip,
            "firmness": spec.firmness,
            "now": now,
        },
    )


async def record_pledge(
    store: Store,
    slug: str,
    spec: PledgeInput,
    *,
    source: str = "web",
    ip: str | None = None,
    rate_limit: RateLimit = DEFAULT_PLEDGE_RATE_LIMIT,
    money_enabled: bool = True,
) -> PledgeOutcome:
    """A resident's pledge, pending until they confirm by email (and, on a money
    campaign, save a card; `money_enabled` False refuses those: MoneyUnavailable).

    `ip` is the client's address for an anonymous pledge: stored, and limited per campaign
    by `rate_limit` (RateLimited, nothing stored). Without an address nothing is limited."""
    canonical = canonical_email(spec.email)
    async with store.write() as db:
        if not store.is_sqlite:
            pledge_id = await _record_pending_in_one_statement(
                store, db, slug, spec, canonical, source, ip, rate_limit
            )
            if pledge_id is not None:
                return PledgeOutcome(pledge_id, "pending", False, None, None, None)
        campaign = await _open_campaign_for_pledging(db, slug)
        if campaign.currency is not None and not money_enabled:
            raise MoneyUnavailable()
        amount = campaign.amount_of(spec.amount)
        max_price, firmness = campaign.answers_of(spec)
        payment_status = "awaiting_card" if amount is not None else None
        now = utcnow()
        if ip is not None:
            await check_pledge_rate(store, db, slug, ip, rate_limit, now, campaign_id=campaign.id)
        household_id = await campaign.household_of(store, db, spec)
        pledge_id = await db.fetch_val(
            store.insert_or_ignore(pledges)
            .values(
                campaign_id=campaign.id,
                name=spec.name,
                email=spec.email,
                email_canonical=canonical,
                postcode=spec.postcode,
                district=postcode_district(spec.postcode),
                address_line=spec.address_line,
                household_id=household_id,
                show_name=spec.show_name,
                share_contact=spec.share_contact,
                source=source,
                status="pending",
                created_at=now,
                ip=ip,
                amount=amount,
                payment_status=payment_status,
                max_price=max_price,
                firmness=firmness,
            )
            .returning(pledges.c.id)
        )
        if pledge_id is not None:
            await record_event(db, "pledge.created", campaign.id, {"pledge_id": pledge_id})
            return PledgeOutcome(int(pledge_id), "pending", False, None, payment_status, amount)

        existing = await db.fetch_one(
            sa.select(pledges.c.id, pledges.c.status, pledges.c.payment_status).where(
                pledges.c.campaign_id == campaign.id, pledges.c.email_canonical == canonical
            )
        )
        assert existing is not None
        if existing["status"] == "withdrawn":
            # Pledging again after withdrawing starts afresh with the new details. A card
            # still saved (not yet released) is kept; otherwise a new one is asked for.
            kept_card = existing["payment_status"] == "card_saved"
            money: dict[str, Any] = {}
            if amount is not None:
                money = {"amount": amount, "email_confirmed_at": None}
                if not kept_card:
                    money.update(
                        payment_status="awaiting_card",
                        card_saved_at=None,
                        stripe_payment_method_id=None,
                        released_at=None,
                    )
            await db.execute(
                sa.update(pledges)
                .where(pledges.c.id == existing["id"], pledges.c.status == "withdrawn")
                .values(
                    **money,
                    name=spec.name,
                    email=spec.email,
                    postcode=spec.postcode,
                    district=postcode_district(spec.postcode),
                    address_line=spec.address_line,
                    household_id=household_id,
                    show_name=spec.show_name,
                    share_contact=spec.share_contact,
                    source=source,
                    status="pending",
                    created_at=now,
                    ip=ip,
                    confirmed_at=None,
                    withdrawn_at=None,
                    max_price=max_price,
                    firmness=firmness,
                )
            )
            await record_event(db, "pledge.created", campaign.id, {"pledge_id": existing["id"]})
            status = ("card_saved" if kept_card else "awaiting_card") if amount else None
            return PledgeOutcome(
                existing["id"], "pending", False, None, status, amount, had_pledged=True
            )
        if existing["status"] == "invalid":
            # Struck out by the moderators: it stays so, and the answer is a repeat's.
            # No "already pledged" email, which would call it counted.
            # On a money campaign it answers with the amount asked, as a new pledge would.
            return PledgeOutcome(
                existing["id"],
                "invalid",
                True,
                None,
                existing["payment_status"],
                amount,
                had_pledged=True,
            )
        await record_event(db, "pledge.repeated", campaign.id, {"pledge_id": existing["id"]})
        return PledgeOutcome(
            existing["id"],
            "pending",
            True,
            None,
            existing["payment_status"],
            amount,
            had_pledged=True,
        )


MONEY_ONLINE_ONLY = FieldError(
    "email",
    "money_online_only",
    "Money pledges are made online, where the resident saves a card: "
    "give them the campaign's link or flyer instead.",
)


async def record_paper_pledge(
    store: Store, slug: str, lead_id: int, spec: PledgeInput
) -> PledgeOutcome:
    """A pledge signed on paper, entered by the campaign's lead: confirmed at once."""
    canonical = canonical_email(spec.email)
    async with store.write() as db:
        if not store.is_sqlite and "\x00" not in slug:
            fused = await fused_writes.record_paper_pledge(
                db,
                {
                    "slug": slug,
                    "lead_id": lead_id,
                    "now": utcnow(),
                    "name": spec.name,
                    "email": spec.email,
                    "email_canonical": canonical,
                    "postcode": spec.postcode,
                    "district": postcode_district(spec.postcode),
                    "address_line": spec.address_line,
                    "phone": spec.phone,
                    "show_name": spec.show_name,
                    "share_contact": spec.share_contact,
                    "firmness": spec.firmness,
                },
            )
            if fused is not None:
                return PledgeOutcome(fused.pledge_id, "confirmed", False, fused.progress)
        campaign = await _open_campaign_for_pledging(db, slug)
        if campaign.lead_id != lead_id:
            raise NotCampaignLead(slug)
        if campaign.currency is not None:
            # A money pledge counts once its card is saved, which only the resident can do.
            raise ValidationFailed([MONEY_ONLINE_ONLY])
        unit = campaign.unit(spec, "paper", vouched=False)
        now = utcnow()
        household_id = await campaign.household_of(store, db, spec)
        pledge_id = await db.fetch_val(
            store.insert_or_ignore(pledges)
            .values(
                campaign_id=campaign.id,
                name=spec.name,
                email=spec.email,
                email_canonical=canonical,
                postcode=spec.postcode,
                district=postcode_district(spec.postcode),
                address_line=spec.address_line,
                household_id=household_id,
                show_name=spec.show_name,
                share_contact=spec.share_contact,
                phone=spec.phone,
                source="paper",
                status="confirmed",
                created_at=now,
                confirmed_at=now,
                max_price=unit.price,
                firmness=unit.firmness,
            )
            .returning(pledges.c.id)
        )
        counted_unit: Unit | None = unit
        if pledge_id is None:
            # Already pledged online: a signature on paper confirms a pending pledge.
            row = await db.fetch_one(
                sa.update(pledges)
                .where(
                    pledges.c.campaign_id == campaign.id,
                    pledges.c.email_canonical == canonical,
                    pledges.c.status.in_(("pending", "withdrawn")),
                )
                .values(
                    status="confirmed",
                    confirmed_at=now,
                    withdrawn_at=None,
                    **({"phone": spec.phone} if spec.phone else {}),
                )
                .returning(pledges.c.id)
            )
            if row is None:
                existing = await db.fetch_one(
                    sa.select(pledges.c.id, pledges.c.status).where(
                        pledges.c.campaign_id == campaign.id,
                        pledges.c.email_canonical == canonical,
                    )
                )
                assert existing is not None  # the insert met it
                if existing["status"] == "invalid":
                    raise StruckOutEmail(int(existing["id"]))
                return PledgeOutcome(int(existing["id"]), "confirmed", repeated=True)
            pledge_id = row["id"]
            counted_unit = None  # its answers as given online: read back by counting
        await record_event(
            db, "pledge.confirmed", campaign.id, {"pledge_id": pledge_id, "source": "paper"}
        )
        progress = await count_pledge(
            db, int(pledge_id), campaign.id, settings=campaign.settings, unit=counted_unit
        )
        return PledgeOutcome(int(pledge_id), "confirmed", repeated=False, progress=progress)


class AlreadyRecorded(DomainError):
    """A pledge without email with the same name at the same address is on the campaign
    already: the lead entered it twice (there is no email to tell two people apart)."""

    def __init__(self, pledge_id: int) -> None:
        super().__init__(
            "A pledge without email from someone of this name at this address is recorded "
            "on this campaign already, so it was not added again."
        )
        self.pledge_id = pledge_id
        self.errors = [
            FieldError(
                "name",
                "taken",
                "Someone of this name at this postcode and address has pledged already: it "
                "counts once.",
            )
        ]


async def _same_pledge_without_email(
    db: Database, campaign_id: int, spec: VouchedPledgeInput
) -> int | None:
    """A pledge without email on this campaign by the same name at the same address (the
    name in any case, the address in any spelling of it), not withdrawn."""
    rows = await db.fetch_all(
        sa.select(pledges.c.id, pledges.c.name, pledges.c.address_line).where(
            pledges.c.campaign_id == campaign_id,
            pledges.c.postcode == spec.postcode,
            pledges.c.email_canonical.is_(None),
            pledges.c.status != "withdrawn",
        )
    )
    key = address_key(spec.address_line) if spec.address_line else ""
    for row in rows:
        line = row["address_line"]
        if (
            row["name"].casefold() == spec.name.casefold()
            and (address_key(line) if line else "") == key
        ):
            return int(row["id"])
    return None


async def record_vouched_pledge(
    store: Store, slug: str, lead_id: int, spec: VouchedPledgeInput
) -> PledgeOutcome:
    """A pledge without email, recorded by the campaign's lead on their word: confirmed at
    once and counted as vouched for. What Groundswell would email the resident reaches the
    lead's "to tell by hand" list instead (notifications). Money campaigns take pledges
    online only; the same name at the same address twice is AlreadyRecorded."""
    async with store.write() as db:
        campaign = await _open_campaign_for_pledging(db, slug)
        if campaign.lead_id != lead_id:
            raise NotCampaignLead(slug)
        if campaign.currency is not None:
            raise ValidationFailed([MONEY_ONLINE_ONLY])
        unit = campaign.unit(spec, "paper", vouched=True)
        household_id = await campaign.household_of(store, db, spec)
        # The campaign's row lock (PostgreSQL; SQLite has one writer), which counting takes
        # anyway, taken before looking for the same pledge: two entries of one pledge at
        # once cannot both find none.
        await lock_households(db, campaign.id)
        repeat = await _same_pledge_without_email(db, campaign.id, spec)
        if repeat is not None:
            raise AlreadyRecorded(repeat)
        now = utcnow()
        pledge_id = await db.fetch_val(
            sa.insert(pledges)
            .values(
                campaign_id=campaign.id,
                name=spec.name,
                email=None,
                email_canonical=None,
                postcode=spec.postcode,
                district=postcode_district(spec.postcode),
                address_line=spec.address_line,
                household_id=household_id,
                phone=spec.phone,
                vouched_by=lead_id,
                show_name=spec.show_name,
                share_contact=spec.share_contact,
                source="paper",
                status="confirmed",
                created_at=now,
                confirmed_at=now,
                max_price=unit.price,
                firmness=unit.firmness,
            )
            .returning(pledges.c.id)
        )
        await record_event(
            db, "pledge.confirmed", campaign.id, {"pledge_id": pledge_id, "source": "paper"}
        )
        progress = await count_pledge(
            db, int(pledge_id), campaign.id, settings=campaign.settings, unit=unit
        )
        return PledgeOutcome(int(pledge_id), "confirmed", repeated=False, progress=progress)


async def record_lead_pledge(
    store: Store, slug: str, lead_id: int, spec: PledgeInput | VouchedPledgeInput
) -> PledgeOutcome:
    """A pledge the campaign's lead enters (parse_paper_pledge): on paper with an email
    address, or on their word without one."""
    if isinstance(spec, VouchedPledgeInput):
        return await record_vouched_pledge(store, slug, lead_id, spec)
    return await record_paper_pledge(store, slug, lead_id, spec)


async def confirm_pledge(store: Store, pledge_id: int) -> ConfirmOutcome:
    """The resident clicked their link: the pledge counts, and may tip the campaign.

    A money pledge counts only once its card is saved too: until then its email is
    recorded as confirmed and the outcome says `awaiting_card`."""
    if store.group_commit:
        batched = await confirmation_queue(store).confirm(pledge_id)
        if batched is not None:
            return ConfirmOutcome(batched.progress, newly_confirmed=True)
    async with store.write() as db:
        if not store.is_sqlite and not store.group_commit:
            fused = await fused_writes.confirm_pledge(db, pledge_id, utcnow())
            if fused is not None:
                return ConfirmOutcome(fused.progress, newly_confirmed=True)
        await db.execute(
            sa.update(pledges)
            .where(
                pledges.c.id == pledge_id,
                pledges.c.status == "pending",
                pledges.c.amount.is_not(None),
                pledges.c.email_confirmed_at.is_(None),
            )
            .values(email_confirmed_at=utcnow())
        )
        row = await count_if_complete(db, pledge_id)
        if row is None:
            current = await db.fetch_one(
                sa.select(pledges.c.status, pledges.c.campaign_id).where(pledges.c.id == pledge_id)
            )
            if current is None:
                raise PledgeNotFound(str(pledge_id))
            if current["status"] == "withdrawn":
                raise PledgeWithdrawn(str(pledge_id))
            if current["status"] == "invalid":
                raise PledgeInvalid(str(pledge_id))
            campaign = await get_campaign_by_id(db, current["campaign_id"])
            if campaign.hidden_at is not None:
                raise CampaignHidden(campaign.slug)
            if current["status"] == "pending" and campaign.status not in ("open", "tipped"):
                raise CampaignNotOpen(campaign.status)  # rolls the email confirmation back
            return ConfirmOutcome(
                progress_of(campaign),
                newly_confirmed=False,
                awaiting_card=current["status"] == "pending",
            )
        campaign_id = row["campaign_id"]
        found = await db.fetch_one(
            sa.select(campaigns.c.status, campaigns.c.hidden_at, *SETTINGS_COLUMNS).where(
                campaigns.c.id == campaign_id
            )
        )
        assert found is not None
        if found["hidden_at"] is not None:
            raise CampaignHidden(str(campaign_id))  # rolls the confirmation back
        if found["status"] not in ("open", "tipped"):
            raise CampaignNotOpen(found["status"])  # rolls the confirmation back
        await record_event(db, "pledge.confirmed", campaign_id, {"pledge_id": pledge_id})
        progress = await count_pledge(
            db,
            pledge_id,
            campaign_id,
            row["amount"] or 0,
            settings=settings_from_row(found),
            unit=person_unit(row),
        )
    return ConfirmOutcome(progress, newly_confirmed=True)


async def confirmable(db: Database, pledge_id: int) -> tuple[Pledge, Campaign]:
    """The pledge a confirmation link names and its campaign, read only: what the page
    before the button shows. Raises as confirm_pledge would for a pledge that cannot be
    confirmed (not found, withdrawn, struck out, campaign hidden, or closed while pending)."""
    pledge = await get_pledge(db, pledge_id)
    if pledge.status == "withdrawn":
        raise PledgeWithdrawn(str(pledge_id))
    if pledge.status == "invalid":
        raise PledgeInvalid(str(pledge_id))
    campaign = await get_campaign_by_id(db, pledge.campaign_id)
    if campaign.hidden_at is not None:
        raise CampaignHidden(campaign.slug)
    if pledge.status == "pending" and campaign.status not in ("open", "tipped"):
        raise CampaignNotOpen(campaign.status)
    return pledge, campaign


async def withdraw_pledge(store: Store, pledge_id: int) -> Progress:
    """Withdraw a pledge; before tipping it lowers the count, after it the tip stands."""
    async with store.write() as db:
        return await withdraw_in_transaction(db, pledge_id)


@dataclass(frozen=True)
class Pledge:
    id: int
    campaign_id: int
    name: str
    # None: recorded by the lead for someone without an email address (never emailed).
    email: str | None
    postcode: str
    district: str
    show_name: bool
    share_contact: bool
    source: str
    status: str
    created_at: Any
    confirmed_at: Any
    withdrawn_at: Any
    # Money pledges only (None otherwise): minor units, and where the payment stands.
    amount: int | None = None
    payment_status: str | None = None
    email_confirmed_at: Any = None


def pledge_from_row(row: Any) -> Pledge:
    return Pledge(
        id=row["id"],
        campaign_id=row["campaign_id"],
        name=row["name"],
        email=row["email"],
        postcode=row["postcode"],
        district=row["district"],
        show_name=bool(row["show_name"]),
        share_contact=bool(row["share_contact"]),
        source=row["source"],
        status=row["status"],
        created_at=aware(row["created_at"]),
        confirmed_at=aware(row["confirmed_at"]),
        withdrawn_at=aware(row["withdrawn_at"]),
        amount=row["amount"],
        payment_status=row["payment_status"],
        email_confirmed_at=aware(row["email_confirmed_at"]),
    )


async def get_pledge(db: Database, pledge_id: int) -> Pledge:
    row = await db.fetch_one(sa.select(pledges).where(pledges.c.id == pledge_id))
    if row is None:
        raise PledgeNotFound(str(pledge_id))
    return pledge_from_row(row)


async def pledges_for_campaign(
    db: Database, campaign_id: int, *, status: str | None = None
) -> list[Pledge]:
    query = sa.select(pledges).where(pledges.c.campaign_id == campaign_id).order_by(pledges.c.id)
    if status:
        query = query.where(pledges.c.status == status)
    return [pledge_from_row(r) for r in await db.fetch_all(query)]


async def public_names(db: Database, campaign_id: int, limit: int = 50) -> list[str]:
    """Names of confirmed pledgers who chose to show them, newest first."""
    rows = await db.fetch_all(
        sa.select(pledges.c.name)
        .where(
            pledges.c.campaign_id == campaign_id,
            pledges.c.status == "confirmed",
            pledges.c.show_name.is_(True),
        )
        .order_by(pledges.c.confirmed_at.desc())
        .limit(limit)
    )
    return [r["name"] for r in rows]


async def pending_count(db: Database, campaign_id: int) -> int:
    return int(
        await db.fetch_val(
            sa.select(sa.func.count())
            .select_from(pledges)
            .where(pledges.c.campaign_id == campaign_id, pledges.c.status == "pending")
        )
    )


async def unsubscribe_pledge(store: Store, pledge_id: int) -> None:
    """No more campaign news by email for this pledge; the pledge itself still counts."""
    async with store.write() as db:
        await db.execute(
            sa.update(pledges)
            .where(pledges.c.id == pledge_id, pledges.c.unsubscribed_at.is_(None))
            .values(unsubscribed_at=utcnow())
        )
