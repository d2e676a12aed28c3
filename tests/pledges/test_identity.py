"""Canonical emails and UK postcodes: one form for what residents type many ways."""

from __future__ import annotations

import pytest

from pledges.identity import (
    canonical_email,
    district_of,
    is_valid_email,
    normalise_district,
    normalise_postcode,
    postcode_district,
)


@pytest.mark.parametrize(
    ("typed", "canonical"),
    [
        ("Resident@Example.ORG", "resident@example.org"),
        ("  resident@example.org  ", "resident@example.org"),
        # Gmail ignores dots and +tags, and googlemail.com is the same mailbox.
        ("Jo.Bloggs@gmail.com", "jobloggs@gmail.com"),
        ("jo.bloggs+campaigns@gmail.com", "jobloggs@gmail.com"),
        ("J.O.Bloggs+a+b@GoogleMail.com", "jobloggs@gmail.com"),
        ("jobloggs@googlemail.com", "jobloggs@gmail.com"),
        # Elsewhere a dot is part of the address.
        ("jo.bloggs@example.org", "jo.bloggs@example.org"),
        ("jo.bloggs@outlook.com", "jo.bloggs@outlook.com"),
        # Plus-tags collapse only on providers known to treat them as aliases.
        ("jo.bloggs+news@outlook.com", "jo.bloggs@outlook.com"),
        ("Jo+News@Hotmail.co.uk", "jo@hotmail.co.uk"),
        ("jo+x@icloud.com", "jo@icloud.com"),
        ("jo+x@proton.me", "jo@proton.me"),
        ("jo+x@fastmail.com", "jo@fastmail.com"),
        ("jo+x@example.org", "jo+x@example.org"),
        ("jo+x@gmail.co.uk", "jo+x@gmail.co.uk"),
    ],
)
def test_canonical_email(typed: str, canonical: str) -> None:
    assert canonical_email(typed) == canonical


def test_canonical_email_is_idempotent() -> None:
    for typed in ("Jo.Bloggs+x@googlemail.com", "Jo.Bloggs+x@example.org", "a+b@outlook.com"):
        once = canonical_email(typed)
        assert canonical_email(once) == once


@pytest.mark.parametrize(
    "value",
    ["resident@example.org", "jo.bloggs+tag@gmail.com", "a@b.co.uk", "o'neill@example.ie"],
)
def test_valid_emails(value: str) -> None:
    assert is_valid_email(value)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "resident",
        "resident@",
        "@example.org",
        "resident@example",
        "two words@example.org",
        "resident@exa mple.org",
        "resident@-example.org",
        "<resident@example.org>",
        "a@b@example.org",
        "x" * 310 + "@example.org",
    ],
)
def test_invalid_emails(value: str) -> None:
    assert not is_valid_email(value)


@pytest.mark.parametrize(
    ("typed", "normalised"),
    [
        ("ls61ab", "LS6 1AB"),
        ("LS6 1AB", "LS6 1AB"),
        ("  ls6   1ab ", "LS6 1AB"),
        ("ls16 5ab", "LS16 5AB"),
        ("SW1A 1AA", "SW1A 1AA"),
        ("sw1a1aa", "SW1A 1AA"),
        ("EC1A 1BB", "EC1A 1BB"),
        ("W1A 0AX", "W1A 0AX"),
        ("GIR 0AA", "GIR 0AA"),
        ("gir0aa", "GIR 0AA"),
        ("M1 1AE", "M1 1AE"),
        ("B33 8TH", "B33 8TH"),
        ("CR2 6XH", "CR2 6XH"),
        ("DN55 1PT", "DN55 1PT"),
    ],
)
def test_postcodes_are_normalised(typed: str, normalised: str) -> None:
    assert normalise_postcode(typed) == normalised


@pytest.mark.parametrize(
    "value",
    [
        "",
        "   ",
        "ZZ1 1ZZ",  # Z is never a second letter
        "QA1 1AA",  # Q is never a first letter
        "VA1 1AA",  # nor is V
        "LS6 1CI",  # C and I are never in the inward code
        "LS6 1A",
        "LS6 1ABC",
        "LS6",
        "123 456",
        "LS6-1AB",
        "hello world",
        "SW1A1AAA",
        "<script>",
    ],
)
def test_invalid_postcodes_are_rejected(value: str) -> None:
    assert normalise_postcode(value) is None


@pytest.mark.parametrize(
    ("postcode", "district"),
    [
        ("LS6 1AB", "LS6"),
        ("LS16 5AB", "LS16"),
        ("SW1A 1AA", "SW1A"),
        ("EC1A 1BB", "EC1A"),
        ("M1 1AE", "M1"),
        ("GIR 0AA", "GIR"),
    ],
)
def test_district_of_a_normalised_postcode(postcode: str, district: str) -> None:
    assert postcode_district(postcode) == district


@pytest.mark.parametrize(
    ("typed", "district"),
    [
        ("ls61ab", "LS6"),
        ("LS16 5AB", "LS16"),
        ("sw1a 1aa", "SW1A"),
        ("M1 1AE", "M1"),
        ("gir 0aa", "GIR"),
        # A district alone.
        ("LS6", "LS6"),
        (" ls16 ", "LS16"),
        ("sw1a", "SW1A"),
        ("ec1a", "EC1A"),
        ("M1", "M1"),
        ("B33", "B33"),
    ],
)
def test_district_of_a_postcode_or_a_district(typed: str, district: str) -> None:
    assert district_of(typed) == district


@pytest.mark.parametrize(
    "value", ["", "ZZ1", "Q1", "LS", "1AB", "LS6 1A", "LS666", "nowhere", "ZZ1 1ZZ"]
)
def test_district_of_garbage_is_none(value: str) -> None:
    assert district_of(value) is None


def test_normalise_district() -> None:
    assert normalise_district(" ls6 ") == "LS6"
    assert normalise_district("W1A") == "W1A"
    assert normalise_district("LS6 1AB") is None
