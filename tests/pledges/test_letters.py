"""Letters with one-time codes: printed for the premises on a campaign's list, entered by
residents to verify their household, limited against guessing, exact under concurrency,
on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
import sqlalchemy as sa

from pledges.campaigns import Campaign, get_campaign
from pledges.errors import CampaignNotOpen, NotCampaignLead, ValidationFailed
from pledges.journal import events_for_campaign
from pledges.letters import (
    ALPHABET,
    USED_CODE,
    WRONG_CODE,
    WRONG_CODES_PER_ADDRESS,
    WRONG_CODES_PER_CAMPAIGN,
    Letter,
    LetterGuessesLimited,
    LettersRefused,
    code_hash,
    issue_letters,
    normalise_code,
    verify_letter,
)
from pledges.pledging import confirm_pledge, parse_pledge, record_pledge
from pledges.store import Store, utcnow
from pledges.tables import households, letter_attempts, premises
from pledges.tokens import Signer
from tests.conftest import TEST_SECRET
from tests.factories import add_premises, make_campaign, make_lead, pledge_data

HOMES = [
    ("12 Brudenell Road", "LS6 1AB"),
    ("14 Brudenell Road", "LS6 1AB"),
    ("3 Manor Drive", "LS6 2DE"),
]

SIGNER = Signer(TEST_SECRET)


async def _letters_campaign(
    store: Store, homes: list[tuple[str, str]] = HOMES, **overrides: object
) -> tuple[Campaign, int]:
    lead, _ = await make_lead(store)
    overrides.setdefault("target", 5)
    campaign = await make_campaign(store, lead, counts="households", **overrides)
    await add_premises(store, campaign.id, homes)
    return await get_campaign(store.database, campaign.slug), lead.id


def _code_for(letters: list[Letter], line: str) -> str:
    return next(letter.code for letter in letters if letter.address_line == line)


def _other_code(*codes: str) -> str:
    """A well-formed code that is none of `codes`."""
    taken = {normalise_code(c) for c in codes}
    for candidate in ("BCDF2345", "ZZZZ9999", "GHJK6789"):
        if candidate not in taken:
            return candidate
    raise AssertionError("no spare code")


async def _attempts(store: Store) -> list[bool]:
    rows = await store.database.fetch_all(
        sa.select(letter_attempts.c.ok).order_by(letter_attempts.c.id)
    )
    return [bool(r["ok"]) for r in rows]


async def _verified(store: Store) -> int:
    return int(
        await store.database.fetch_val(
            sa.select(sa.func.count())
            .select_from(households)
            .where(households.c.letter_verified_at.is_not(None))
        )
    )


async def test_letters_carry_readable_codes_stored_only_as_hashes(store: Store) -> None:
    campaign, lead_id = await _letters_campaign(store)
    letters = await issue_letters(store, campaign.slug, lead_id, SIGNER)

    assert [(x.address_line, x.postcode, x.street) for x in letters] == [
        ("12 Brudenell Road", "LS6 1AB", "Brudenell Road"),
        ("14 Brudenell Road", "LS6 1AB", "Brudenell Road"),
        ("3 Manor Drive", "LS6 2DE", "Manor Drive"),
    ]
    for letter in letters:
        first, dash, second = letter.code.partition("-")
        assert (len(first), dash, len(second)) == (4, "-", 4), letter.code
        assert set(first + second) <= set(ALPHABET)
    assert len({x.code for x in letters}) == 3
    rows = await store.database.fetch_all(sa.select(premises))
    stored = " ".join(str(v) for r in rows for v in r._mapping.values())
    for letter in letters:
        plain = letter.code.replace("-", "")
        assert plain not in stored and letter.code not in stored
    assert {r["code_hash"] for r in rows} == {
        code_hash(x.code.replace("-", ""), SIGNER) for x in letters
    }
    assert all(r["code_issued_at"] is not None and r["code_used_at"] is None for r in rows)


def test_a_code_is_read_back_ignoring_case_spaces_and_hyphens() -> None:
    assert normalise_code("bcdf-2345") == "BCDF2345"
    assert normalise_code(" BCDF 2345 ") == "BCDF2345"
    assert normalise_code("b c d f - 2 3 4 5") == "BCDF2345"
    assert normalise_code("BCDF-234") is None  # too short
    assert normalise_code("BCDF-2340") is None  # 0 is not in the alphabet
    assert normalise_code("OIL1-2345") is None  # nor O, I, L or 1


async def test_the_right_code_verifies_the_household_once(store: Store) -> None:
    campaign, lead_id = await _letters_campaign(store)
    letters = await issue_letters(store, campaign.slug, lead_id, SIGNER)
    code = _code_for(letters, "14 Brudenell Road")

    outcome = await verify_letter(
        store,
        campaign.slug,
        SIGNER,
        postcode="ls61ab",
        address_line="14, Brudenell Rd",
        code=code.lower().replace("-", " "),
    )
    assert (outcome.level, outcome.counted) == ("letter", False)  # nobody there pledged yet
    home = await store.database.fetch_one(sa.select(households))
    assert home is not None and home["letter_verified_at"] is not None and home["listed"]

    with pytest.raises(ValidationFailed) as again:
        await verify_letter(
            store,
            campaign.slug,
            SIGNER,
            postcode="LS6 1AB",
            address_line="14 Brudenell Road",
            code=code,
        )
    assert [(e.field, e.message) for e in again.value.errors] == [("code", USED_CODE)]
    assert await _attempts(store) == [True, False]
    assert await _verified(store) == 1
    types = [e.type for e in await events_for_campaign(store.database, campaign.id)]
    assert types.count("household.verified") == 1


async def test_a_wrong_code_is_recorded_and_refused(store: Store) -> None:
    campaign, lead_id = await _letters_campaign(store)
    letters = await issue_letters(store, campaign.slug, lead_id, SIGNER)

    with pytest.raises(ValidationFailed) as refused:
        await verify_letter(
            store,
            campaign.slug,
            SIGNER,
            postcode="LS6 1AB",
            address_line="12 Brudenell Road",
            code=_other_code(*(x.code for x in letters)),
        )
    assert [(e.field, e.message) for e in refused.value.errors] == [("code", WRONG_CODE)]
    assert await _attempts(store) == [False]  # committed although the call failed
    assert await _verified(store) == 0


async def test_a_code_for_another_address_is_refused_the_same_way(store: Store) -> None:
    campaign, lead_id = await _letters_campaign(store)
    letters = await issue_letters(store, campaign.slug, lead_id, SIGNER)
    code_of_12 = _code_for(letters, "12 Brudenell Road")

    with pytest.raises(ValidationFailed) as refused:
        await verify_letter(
            store,
            campaign.slug,
            SIGNER,
            postcode="LS6 1AB",
            address_line="14 Brudenell Road",
            code=code_of_12,
        )
    assert [(e.field, e.message) for e in refused.value.errors] == [("code", WRONG_CODE)]
    assert await _verified(store) == 0
    # The code was not spent: at its own address it still works.
    await verify_letter(
        store,
        campaign.slug,
        SIGNER,
        postcode="LS6 1AB",
        address_line="12 Brudenell Road",
        code=code_of_12,
    )
    assert await _attempts(store) == [False, True]


async def test_printing_again_replaces_unused_codes_and_keeps_used_ones(store: Store) -> None:
    campaign, lead_id = await _letters_campaign(store)
    first = await issue_letters(store, campaign.slug, lead_id, SIGNER)
    await verify_letter(
        store,
        campaign.slug,
        SIGNER,
        postcode="LS6 2DE",
        address_line="3 Manor Drive",
        code=_code_for(first, "3 Manor Drive"),
    )

    second = await issue_letters(store, campaign.slug, lead_id, SIGNER)
    assert [x.address_line for x in second] == ["12 Brudenell Road", "14 Brudenell Road"]
    with pytest.raises(ValidationFailed):  # the earlier printout's unused code is dead
        await verify_letter(
            store,
            campaign.slug,
            SIGNER,
            postcode="LS6 1AB",
            address_line="12 Brudenell Road",
            code=_code_for(first, "12 Brudenell Road"),
        )
    await verify_letter(
        store,
        campaign.slug,
        SIGNER,
        postcode="LS6 1AB",
        address_line="12 Brudenell Road",
        code=_code_for(second, "12 Brudenell Road"),
    )
    assert await _verified(store) == 2


async def test_only_the_lead_of_a_households_campaign_with_a_list_prints_letters(
    store: Store,
) -> None:
    campaign, _ = await _letters_campaign(store)
    other, _ = await make_lead(store, "other@example.org")
    with pytest.raises(NotCampaignLead):
        await issue_letters(store, campaign.slug, other.id, SIGNER)

    lead, _ = await make_lead(store, "people@example.org")
    people = await make_campaign(store, lead)
    with pytest.raises(LettersRefused, match="counts people"):
        await issue_letters(store, people.slug, lead.id, SIGNER)
    unlisted = await make_campaign(store, lead, counts="households", target=5)
    with pytest.raises(LettersRefused, match="upload the list"):
        await issue_letters(store, unlisted.slug, lead.id, SIGNER)
    with pytest.raises(LettersRefused):  # and nobody enters codes there
        await verify_letter(
            store,
            unlisted.slug,
            SIGNER,
            postcode="LS6 1AB",
            address_line="1 A Road",
            code="BCDF2345",
        )
    assert not await store.database.fetch_val(
        sa.select(sa.func.count()).select_from(premises).where(premises.c.code_hash.is_not(None))
    )


async def test_codes_are_not_entered_on_a_closed_campaign(store: Store) -> None:
    campaign, lead_id = await _letters_campaign(store)
    letters = await issue_letters(store, campaign.slug, lead_id, SIGNER)
    from pledges.campaigns import cancel_campaign

    await cancel_campaign(store, campaign.slug, lead_id)
    with pytest.raises(CampaignNotOpen):
        await verify_letter(
            store,
            campaign.slug,
            SIGNER,
            postcode="LS6 1AB",
            address_line="12 Brudenell Road",
            code=_code_for(letters, "12 Brudenell Road"),
        )
    with pytest.raises(LettersRefused, match="cancelled"):
        await issue_letters(store, campaign.slug, lead_id, SIGNER)
    assert await _attempts(store) == []


async def test_fields_that_cannot_be_a_claim_are_refused_by_field_and_not_counted(
    store: Store,
) -> None:
    campaign, _ = await _letters_campaign(store)
    with pytest.raises(ValidationFailed) as refused:
        await verify_letter(
            store, campaign.slug, SIGNER, postcode="nowhere", address_line=" ", code="0"
        )
    assert [(e.field, e.code) for e in refused.value.errors] == [
        ("postcode", "not_a_postcode"),
        ("address_line", "required"),
        ("code", "not_valid"),
    ]
    assert await _attempts(store) == []


async def test_wrong_codes_for_one_address_are_limited_and_then_nothing_counts(
    store: Store,
) -> None:
    campaign, lead_id = await _letters_campaign(store)
    letters = await issue_letters(store, campaign.slug, lead_id, SIGNER)
    right = _code_for(letters, "12 Brudenell Road")
    wrong = _other_code(*(x.code for x in letters))
    start = utcnow()
    claim = {"postcode": "LS6 1AB", "address_line": "12 Brudenell Road"}
    for i in range(WRONG_CODES_PER_ADDRESS):
        with pytest.raises(ValidationFailed):
            await verify_letter(
                store, campaign.slug, SIGNER, **claim, code=wrong, now=start + timedelta(minutes=i)
            )

    later = start + timedelta(hours=1)
    with pytest.raises(LetterGuessesLimited) as limited:  # even the right code
        await verify_letter(store, campaign.slug, SIGNER, **claim, code=right, now=later)
    assert limited.value.per_address
    # The first wrong code leaves the 24-hour window 23 hours later.
    assert limited.value.retry_after_seconds == 23 * 3600
    assert "try again in 23 hours" in str(limited.value)
    assert await _attempts(store) == [False] * WRONG_CODES_PER_ADDRESS  # nothing recorded
    assert await _verified(store) == 0
    # Another spelling of the same address is the same address.
    with pytest.raises(LetterGuessesLimited):
        await verify_letter(
            store,
            campaign.slug,
            SIGNER,
            postcode="ls6 1ab",
            address_line="12, Brudenell Rd",
            code=right,
            now=later,
        )

    # Other homes are not held up; this one may try again once the window has passed.
    await verify_letter(
        store,
        campaign.slug,
        SIGNER,
        postcode="LS6 2DE",
        address_line="3 Manor Drive",
        code=_code_for(letters, "3 Manor Drive"),
        now=later,
    )
    await verify_letter(
        store,
        campaign.slug,
        SIGNER,
        **claim,
        code=right,
        now=start + timedelta(hours=24, seconds=1),
    )
    assert await _verified(store) == 2


async def test_wrong_codes_on_one_campaign_are_limited_per_hour(store: Store) -> None:
    homes = [(f"{n} Brudenell Road", "LS6 1AB") for n in range(1, 13)]
    campaign, lead_id = await _letters_campaign(store, homes)
    letters = await issue_letters(store, campaign.slug, lead_id, SIGNER)
    wrong = _other_code(*(x.code for x in letters))
    start = utcnow()
    for i in range(WRONG_CODES_PER_CAMPAIGN):  # spread over addresses, under their limit
        line = f"{1 + i // WRONG_CODES_PER_ADDRESS} Brudenell Road"
        with pytest.raises(ValidationFailed):
            await verify_letter(
                store,
                campaign.slug,
                SIGNER,
                postcode="LS6 1AB",
                address_line=line,
                code=wrong,
                now=start + timedelta(seconds=i),
            )

    right = _code_for(letters, "12 Brudenell Road")
    claim = {"postcode": "LS6 1AB", "address_line": "12 Brudenell Road", "code": right}
    with pytest.raises(LetterGuessesLimited) as limited:
        await verify_letter(
            store, campaign.slug, SIGNER, **claim, now=start + timedelta(minutes=10)
        )
    assert not limited.value.per_address
    assert limited.value.retry_after_seconds == 50 * 60
    assert await _attempts(store) == [False] * WRONG_CODES_PER_CAMPAIGN
    assert await _verified(store) == 0

    await verify_letter(
        store, campaign.slug, SIGNER, **claim, now=start + timedelta(hours=1, seconds=1)
    )
    assert await _verified(store) == 1


async def test_on_a_campaign_requiring_letters_a_household_counts_after_its_code(
    store: Store,
) -> None:
    campaign, lead_id = await _letters_campaign(store, require_letter=True, target=2)
    letters = await issue_letters(store, campaign.slug, lead_id, SIGNER)

    async def pledge(i: int, line: str, postcode: str) -> None:
        data = pledge_data(i, address_line=line, postcode=postcode)
        outcome = await record_pledge(store, campaign.slug, parse_pledge(data))
        await confirm_pledge(store, outcome.pledge_id)

    await pledge(1, "12 Brudenell Road", "LS6 1AB")
    await pledge(2, "12 Brudenell Rd", "LS6 1AB")  # the same home
    await pledge(3, "3 Manor Drive", "LS6 2DE")
    now = await get_campaign(store.database, campaign.slug)
    assert (now.confirmed, now.household_count, now.status) == (3, 0, "open")

    first = await verify_letter(
        store,
        campaign.slug,
        SIGNER,
        postcode="LS6 1AB",
        address_line="12 Brudenell Road",
        code=_code_for(letters, "12 Brudenell Road"),
    )
    assert (first.counted, first.progress.households, first.progress.status) == (
        True,
        1,
        "open",
    )
    second = await verify_letter(
        store,
        campaign.slug,
        SIGNER,
        postcode="LS6 2DE",
        address_line="3 Manor Drive",
        code=_code_for(letters, "3 Manor Drive"),
    )
    assert (second.progress.households, second.progress.status) == (2, "tipped")
    after = await get_campaign(store.database, campaign.slug)
    assert (after.household_count, after.covered_count, after.status) == (2, 2, "tipped")
    events = await events_for_campaign(store.database, campaign.id)
    tipped = [e for e in events if e.type == "campaign.tipped"]
    assert len(tipped) == 1
    assert tipped[0].payload["households"]["by_level"] == {"letter": 2, "vouched": 0, "email": 0}
    verified = [e.payload for e in events if e.type == "household.verified"]
    assert verified == [
        {"level": "letter", "counted": True, "households": 1, "covered": 1},
        {"level": "letter", "counted": True, "households": 2, "covered": 2},
    ]


async def test_a_verified_home_counts_at_letter_level_once_its_pledge_is_confirmed(
    store: Store,
) -> None:
    campaign, lead_id = await _letters_campaign(store, target=1)
    letters = await issue_letters(store, campaign.slug, lead_id, SIGNER)
    await verify_letter(
        store,
        campaign.slug,
        SIGNER,
        postcode="LS6 1AB",
        address_line="14 Brudenell Road",
        code=_code_for(letters, "14 Brudenell Road"),
    )
    data = pledge_data(1, address_line="14 Brudenell Road", postcode="LS6 1AB")
    outcome = await record_pledge(store, campaign.slug, parse_pledge(data))
    await confirm_pledge(store, outcome.pledge_id)
    home = await store.database.fetch_one(sa.select(households))
    assert home is not None and home["level"] == "letter"
    after = await get_campaign(store.database, campaign.slug)
    assert (after.household_count, after.status) == (1, "tipped")


async def test_the_same_code_entered_ten_times_at_once_verifies_once(store: Store) -> None:
    campaign, lead_id = await _letters_campaign(store)
    letters = await issue_letters(store, campaign.slug, lead_id, SIGNER)
    code = _code_for(letters, "12 Brudenell Road")
    data = pledge_data(1, address_line="12 Brudenell Road", postcode="LS6 1AB")
    outcome = await record_pledge(store, campaign.slug, parse_pledge(data))
    await confirm_pledge(store, outcome.pledge_id)

    results = await asyncio.gather(
        *(
            verify_letter(
                store,
                campaign.slug,
                SIGNER,
                postcode="LS6 1AB",
                address_line="12 Brudenell Road",
                code=code,
            )
            for _ in range(10)
        ),
        return_exceptions=True,
    )
    verified = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, BaseException)]
    assert len(verified) == 1, results
    assert all(isinstance(r, ValidationFailed | LetterGuessesLimited) for r in refused), refused
    assert (await _attempts(store)).count(True) == 1
    events = await events_for_campaign(store.database, campaign.id)
    assert [e.type for e in events].count("household.verified") == 1
    after = await get_campaign(store.database, campaign.slug)
    assert after.household_count == 1
    home = await store.database.fetch_one(sa.select(households))
    assert home is not None and home["level"] == "letter"
