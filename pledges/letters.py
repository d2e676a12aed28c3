"""Letters to the premises on a campaign's list, each with a one-time code that verifies
the household at that address when a resident enters it.

A code is 8 characters from an alphabet without look-alikes (no 0/O, 1/I/L) and without
vowels (so no words), shown as XXXX-XXXX and read back ignoring case, spaces and hyphens.
Only its HMAC-SHA256 under the site's secret key is stored (premises.code_hash), so a
copy of the database alone cannot be searched for codes; the plain code exists once, on
the printed letter (and a new SECRET_KEY retires the codes printed before it). Printing
again gives every premise whose code is not yet used a new code, so the unused codes of
an earlier printout stop working. A code verifies once.

Guessing is limited before any code is looked at, counting the wrong codes recorded in
letter_attempts: WRONG_CODES_PER_ADDRESS for one claimed address within ADDRESS_WINDOW,
and WRONG_CODES_PER_CAMPAIGN for the whole campaign within CAMPAIGN_WINDOW. Over either,
LetterGuessesLimited is raised and nothing is recorded or counted. With 27**8 (about 2.8
* 10**11) codes, 50 wrong a hour gives a guesser no useful chance.
"""

from __future__ import annotations

import math
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from databases import Database

from pledges.addresses import address_key, parse_address_line
from pledges.campaigns import Campaign, get_campaign
from pledges.counting import Progress, lock_households, move_count, settle_household
from pledges.demand import changes_of
from pledges.errors import (
    CampaignNotFound,
    CampaignNotOpen,
    DomainError,
    FieldError,
    NotCampaignLead,
    ValidationFailed,
)
from pledges.households import household_for
from pledges.identity import normalise_postcode
from pledges.journal import record_event
from pledges.store import Store, aware, utcnow
from pledges.tables import households, letter_attempts, pledges, premises
from pledges.tokens import Signer

ALPHABET = "BCDFGHJKMNPQRSTVWXZ23456789"
CODE_LENGTH = 8
# Wrong codes allowed before entering codes is refused for a while (documented above).
WRONG_CODES_PER_ADDRESS = 5
ADDRESS_WINDOW = timedelta(hours=24)
WRONG_CODES_PER_CAMPAIGN = 50
CAMPAIGN_WINDOW = timedelta(hours=1)
# Letters may be printed until the campaign closes.
PRINTABLE = ("draft", "open", "tipped")
# Pledges that are still live: pending or confirmed.
LIVE = ("pending", "confirmed")
# Rows per UPDATE when codes are issued: well inside SQLite's limit on bound parameters.
BATCH = 500

WRONG_CODE = (
    "That code does not match this address. Check the letter, or ask the campaign's lead "
    "for a new one."
)
USED_CODE = (
    "That code has been used already: the code on a letter works once. If it was not you "
    "who entered it, ask the campaign's lead for a new letter."
)
CODE_FORMAT = "Enter the 8 letters and numbers from your letter, like BCDF-2345."
_SEPARATORS = re.compile(r"[\s-]+")


class LettersRefused(DomainError):
    """Letters cannot be printed, or codes entered, on this campaign; the message says why."""


class LetterGuessesLimited(DomainError):
    """Too many wrong codes lately, for this address or this campaign: the code was not
    looked at and nothing was recorded."""

    def __init__(self, retry_after_seconds: int, per_address: bool) -> None:
        wait = _wait_text(retry_after_seconds)
        if per_address:
            text = (
                f"Too many wrong codes have been entered for this address. To keep codes "
                f"from being guessed, try again in {wait}."
            )
        else:
            text = (
                f"Too many wrong codes have been entered on this campaign in the last hour. "
                f"To keep codes from being guessed, try again in {wait}."
            )
        super().__init__(text)
        self.retry_after_seconds = retry_after_seconds
        self.per_address = per_address


def _wait_text(seconds: int) -> str:
    if seconds < 90:
        return f"{seconds} seconds"
    minutes = math.ceil(seconds / 60)
    if minutes < 90:
        return f"{minutes} minutes"
    return f"{math.ceil(minutes / 60)} hours"


# ----- codes -------------------------------------------------------------------------------


def new_code() -> str:
    """A fresh code, plain (not formatted)."""
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def format_code(code: str) -> str:
    """As printed: BCDF-2345."""
    half = CODE_LENGTH // 2
    return f"{code[:half]}-{code[half:]}"


def normalise_code(value: str) -> str | None:
    """A code as typed ("bcdf 2345", "BCDF-2345"), or None when it cannot be one."""
    compact = _SEPARATORS.sub("", value)
    if not compact.isascii():  # some letters upper-case to ASCII ones: only printed ones count
        return None
    compact = compact.upper()
    if len(compact) != CODE_LENGTH or any(c not in ALPHABET for c in compact):
        return None
    return compact


def parse_letter_code(value: Any, field: str = "letter_code") -> str | None:
    """An optional code typed beside other fields (the pledge form's): None when left
    empty, the normalised code, or ValidationFailed when it cannot be a code."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    found = normalise_code(value) if isinstance(value, str) else None
    if found is None:
        raise ValidationFailed([FieldError(field, "not_valid", CODE_FORMAT)])
    return found


def code_hash(code: str, signer: Signer) -> str:
    """What is stored of a (normalised) code: keyed with the site's secret."""
    return signer.digest(code, "letter-code")


# ----- printing ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Letter:
    """One letter to print: the premise's address and its code, formatted. The code is
    shown this once; only its hash is kept."""

    address_line: str
    postcode: str
    street: str
    code: str


def letters_refusal(campaign: Campaign) -> str | None:
    """Why letters cannot be printed for this campaign now, or None when they can."""
    if not campaign.counts_households:
        return (
            "This campaign counts people, so it has no premises list to write to. Letters "
            "are for a campaign that counts households and has a list of the premises."
        )
    if not campaign.premises_listed:
        return (
            "Letters go to the premises on the campaign's list, and it has none yet: upload "
            "the list of premises first."
        )
    if campaign.status not in PRINTABLE:
        return f"This campaign is {campaign.status}: letters are printed only until it closes."
    return None


def _house_order(letter: Letter) -> tuple[Any, ...]:
    """Street by street, houses in number order (12 before 102), as a walk delivers them."""
    number = re.search(r"\d+", letter.address_line)
    return (
        letter.street.lower(),
        letter.postcode,
        int(number.group()) if number else math.inf,
        letter.address_line.lower(),
    )


async def issue_letters(
    store: Store, slug: str, lead_id: int, signer: Signer, *, now: datetime | None = None
) -> list[Letter]:
    """New codes for every premise on the list whose code is not used yet (replacing any
    earlier unused code), in one transaction; the letters to print, in walking order. Only
    the campaign's lead, on a households campaign with a list that has not closed."""
    now = now or utcnow()
    async with store.write() as db:
        campaign = await get_campaign(db, slug)
        if campaign.lead_id != lead_id:
            raise NotCampaignLead(slug)
        refusal = letters_refusal(campaign)
        if refusal:
            raise LettersRefused(refusal)
        # One issuing or verifying at a time per campaign: a code is never checked while
        # it is being replaced.
        await store.lock_until_commit(db, f"letters:{campaign.id}")
        rows = await db.fetch_all(
            sa.select(
                premises.c.id,
                premises.c.address_line,
                premises.c.postcode,
                premises.c.street,
                premises.c.code_hash,
                premises.c.code_used_at,
            ).where(premises.c.campaign_id == campaign.id)
        )
        # Codes of a campaign are distinct, so a code finds one premise.
        taken = {r["code_hash"] for r in rows if r["code_used_at"] is not None}
        letters: list[Letter] = []
        hashes: dict[int, str] = {}
        for row in rows:
            if row["code_used_at"] is not None:
                continue
            code = new_code()
            while code_hash(code, signer) in taken:
                code = new_code()
            taken.add(code_hash(code, signer))
            hashes[row["id"]] = code_hash(code, signer)
            letters.append(
                Letter(row["address_line"], row["postcode"], row["street"], format_code(code))
            )
        ids = list(hashes)
        for start in range(0, len(ids), BATCH):
            batch = ids[start : start + BATCH]
            await db.execute(
                sa.update(premises)
                .where(premises.c.id.in_(batch))
                .values(
                    code_hash=sa.case({i: hashes[i] for i in batch}, value=premises.c.id),
                    code_issued_at=now,
                )
            )
        await record_event(db, "campaign.letters_issued", campaign.id, {"letters": len(letters)})
    return sorted(letters, key=_house_order)


@dataclass(frozen=True)
class LettersSummary:
    """What the lead sees of the letters: premises listed, codes printed and not used yet,
    codes used (households verified by letter)."""

    listed: int
    waiting: int
    used: int


async def letters_summary(db: Database, campaign: Campaign) -> LettersSummary:
    rows = await db.fetch_all(
        sa.select(
            premises.c.code_hash.is_not(None).label("issued"),
            premises.c.code_used_at.is_not(None).label("used"),
            sa.func.count().label("n"),
        )
        .where(premises.c.campaign_id == campaign.id)
        .group_by(premises.c.code_hash.is_not(None), premises.c.code_used_at.is_not(None))
    )
    listed = waiting = used = 0
    for r in rows:
        listed += int(r["n"])
        if r["used"]:
            used += int(r["n"])
        elif r["issued"]:
            waiting += int(r["n"])
    return LettersSummary(listed, waiting, used)


# ----- verifying ---------------------------------------------------------------------------


@dataclass(frozen=True)
class LetterClaim:
    """What a resident entered, checked: the address they claim and the code."""

    postcode: str
    address_line: str
    code: str

    @property
    def address(self) -> str:
        """How letter_attempts names the claimed address."""
        return f"{self.postcode} {address_key(self.address_line)}"


def parse_claim(postcode: Any, address_line: Any, code: Any) -> LetterClaim:
    """The three fields of the verify form (or API body), every problem at once."""
    errors: list[FieldError] = []
    found_postcode = normalise_postcode(postcode) if isinstance(postcode, str) else None
    if not isinstance(postcode, str) or not postcode.strip():
        errors.append(FieldError("postcode", "required", "Enter the postcode on the letter."))
    elif found_postcode is None:
        errors.append(
            FieldError("postcode", "not_a_postcode", "Enter a real UK postcode, like LS6 1AB.")
        )
    line, line_errors = parse_address_line(address_line, "address_line", required=True)
    errors.extend(line_errors)
    found_code = normalise_code(code) if isinstance(code, str) else None
    if not isinstance(code, str) or not code.strip():
        errors.append(FieldError("code", "required", "Enter the code from your letter."))
    elif found_code is None:
        errors.append(FieldError("code", "not_valid", CODE_FORMAT))
    if errors:
        raise ValidationFailed(errors)
    assert found_postcode is not None and line is not None and found_code is not None
    return LetterClaim(found_postcode, line, found_code)


@dataclass(frozen=True)
class VerifyOutcome:
    """The household verified by letter: whether it counts now (it needs a confirmed
    pledge), and the campaign's counts after."""

    household_id: int
    level: str
    counted: bool
    progress: Progress
    # Somebody at this address has pledged (pending or confirmed).
    pledged: bool = False


async def verifiable_campaign(db: Database, slug: str) -> Campaign:
    """The campaign whose letters' codes a resident may enter now: public, open or tipped,
    counting households with a premises list."""
    campaign = await get_campaign(db, slug)
    if not campaign.is_public:  # a draft, or hidden: as if there were no campaign
        raise CampaignNotFound(slug)
    if campaign.status not in ("open", "tipped"):
        raise CampaignNotOpen(campaign.status)
    if not campaign.counts_households or not campaign.premises_listed:
        raise LettersRefused(
            "This campaign sends no letters with codes, so there is nothing to enter here."
        )
    return campaign


async def _check_guesses(db: Database, campaign_id: int, address: str, now: datetime) -> None:
    """Raise LetterGuessesLimited when one more wrong code would pass either limit."""
    for per_address, limit, window in (
        (True, WRONG_CODES_PER_ADDRESS, ADDRESS_WINDOW),
        (False, WRONG_CODES_PER_CAMPAIGN, CAMPAIGN_WINDOW),
    ):
        query = (
            sa.select(letter_attempts.c.created_at)
            .where(
                letter_attempts.c.campaign_id == campaign_id,
                letter_attempts.c.ok.is_(False),
                letter_attempts.c.created_at > now - window,
            )
            .order_by(letter_attempts.c.created_at.desc())
            .limit(limit)
        )
        if per_address:
            query = query.where(letter_attempts.c.address == address)
        recent = [aware(r["created_at"]) for r in await db.fetch_all(query)]
        if len(recent) >= limit:
            # One more is allowed once the oldest of the last `limit` leaves the window.
            oldest = recent[-1]
            assert oldest is not None
            wait = (oldest + window - now).total_seconds()
            raise LetterGuessesLimited(max(1, math.ceil(wait)), per_address)


async def verify_letter(
    store: Store,
    slug: str,
    signer: Signer,
    *,
    postcode: Any,
    address_line: Any,
    code: Any,
    now: datetime | None = None,
) -> VerifyOutcome:
    """A resident claims an address and gives the code from its letter. A right code,
    unused, for that address verifies the household (made if nobody there has pledged
    yet): it may start to count, and tip the campaign. A wrong code is recorded, in its
    own committed transaction, then refused (ValidationFailed on `code`) without saying
    whether the code or the address was wrong. Over a limit on wrong codes:
    LetterGuessesLimited, before the code is looked at, and nothing is recorded."""
    claim = parse_claim(postcode, address_line, code)
    now = now or utcnow()
    digest = code_hash(claim.code, signer)
    refusal: str | None = None
    async with store.write() as db:
        campaign = await verifiable_campaign(db, slug)
        # Attempts on one campaign are counted and checked one at a time (see issue_letters).
        await store.lock_until_commit(db, f"letters:{campaign.id}")
        await _check_guesses(db, campaign.id, claim.address, now)
        premise = await db.fetch_one(
            sa.select(
                premises.c.id, premises.c.postcode, premises.c.address_key, premises.c.code_used_at
            ).where(premises.c.campaign_id == campaign.id, premises.c.code_hash == digest)
        )
        here = premise is not None and (premise["postcode"], premise["address_key"]) == (
            claim.postcode,
            address_key(claim.address_line),
        )
        outcome = None
        if premise is None or not here:
            refusal = WRONG_CODE
        elif premise["code_used_at"] is not None:
            refusal = USED_CODE
        else:
            outcome = await _verify(store, db, campaign.id, premise["id"], digest, claim, now)
            if outcome is None:  # the premise left the list meanwhile
                refusal = WRONG_CODE
        await db.execute(
            sa.insert(letter_attempts).values(
                campaign_id=campaign.id,
                address=claim.address,
                ok=outcome is not None,
                created_at=now,
            )
        )
    if outcome is None:
        assert refusal is not None
        raise ValidationFailed([FieldError("code", "not_valid", refusal)])
    return outcome


async def _verify(
    store: Store,
    db: Database,
    campaign_id: int,
    premise_id: int,
    digest: str,
    claim: LetterClaim,
    now: datetime,
) -> VerifyOutcome | None:
    """Use the code and verify its household, in the caller's write transaction; None if
    the code was no longer there to use."""
    settings = await lock_households(db, campaign_id)
    assert settings is not None  # a campaign that counts households
    used = await db.fetch_val(
        sa.update(premises)
        .where(
            premises.c.id == premise_id,
            premises.c.code_hash == digest,
            premises.c.code_used_at.is_(None),
        )
        .values(code_used_at=now)
        .returning(premises.c.id)
    )
    if used is None:
        return None
    household_id = await household_for(store, db, campaign_id, claim.postcode, claim.address_line)
    await db.execute(
        sa.update(households)
        .where(households.c.id == household_id, households.c.letter_verified_at.is_(None))
        .values(letter_verified_at=now)
    )
    before, after = await settle_household(db, household_id, settings)
    progress = await move_count(
        db,
        campaign_id,
        0,
        deltas=changes_of(settings, [(before, -1), (after, +1)]),
        settings=settings,
        recheck=True,
    )
    counted = await db.fetch_val(
        sa.select(households.c.counting_pledge_id.is_not(None)).where(
            households.c.id == household_id
        )
    )
    pledged = await db.fetch_val(
        sa.select(sa.func.count())
        .select_from(pledges)
        .where(pledges.c.household_id == household_id, pledges.c.status.in_(LIVE))
    )
    await record_event(
        db,
        "household.verified",
        campaign_id,
        {
            "level": "letter",
            "counted": bool(counted),
            "households": progress.households,
            "covered": progress.covered_count,
        },
    )
    return VerifyOutcome(household_id, "letter", bool(counted), progress, bool(pledged))
