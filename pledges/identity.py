"""Canonical forms of what residents type: emails and UK postcodes."""

from __future__ import annotations

import re
from typing import Any

from pledges.errors import FieldError
from pledges.text import text_fault

# Domains where dots in the local part are ignored and "+tag" is an alias.
DOT_BLIND_DOMAINS = {"gmail.com", "googlemail.com"}
PLUS_TAG_DOMAINS = DOT_BLIND_DOMAINS | {
    "outlook.com",
    "hotmail.com",
    "hotmail.co.uk",
    "live.com",
    "live.co.uk",
    "icloud.com",
    "me.com",
    "protonmail.com",
    "proton.me",
    "fastmail.com",
    "yahoo.com",
    "yahoo.co.uk",
}

_EMAIL = re.compile(
    r"^[^@\s<>()\[\],;:\"]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$"
)

_POSTCODE = re.compile(
    r"^(GIR0AA|[A-PR-UWYZ](?:[0-9]{1,2}|[A-HK-Y][0-9]{1,2}|[0-9][A-HJKPS-UW]|[A-HK-Y][0-9][ABEHMNPRV-Y])[0-9][ABD-HJLNP-UW-Z]{2})$"
)
_DISTRICT = re.compile(
    r"^(GIR|[A-PR-UWYZ](?:[0-9]{1,2}|[A-HK-Y][0-9]{1,2}|[0-9][A-HJKPS-UW]|[A-HK-Y][0-9][ABEHMNPRV-Y]))$"
)


def is_valid_email(value: str) -> bool:
    """An address of the usual form, without a character typed text may not hold (a NUL,
    a control, a lone surrogate: the pattern's local part would let them through)."""
    return (
        len(value) <= 320 and bool(_EMAIL.match(value)) and text_fault(value, one_line=True) is None
    )


def canonical_email(value: str) -> str:
    """One form per mailbox: lower-cased; dots and +tags collapsed where the provider does."""
    local, _, domain = value.strip().lower().rpartition("@")
    if domain == "googlemail.com":
        domain = "gmail.com"
    if domain in PLUS_TAG_DOMAINS:
        local = local.split("+", 1)[0]
    if domain in DOT_BLIND_DOMAINS:
        local = local.replace(".", "")
    return f"{local}@{domain}"


def address_domains(email_canonical: str) -> set[str]:
    """Where an address in this canonical form may have been typed: gmail is googlemail."""
    domain = email_canonical.rpartition("@")[2]
    return {domain, "googlemail.com"} if domain == "gmail.com" else {domain}


def normalise_postcode(value: str) -> str | None:
    """'ls61ab' -> 'LS6 1AB'; None when it is not a UK postcode."""
    compact = re.sub(r"\s+", "", value).upper()
    if not _POSTCODE.match(compact):
        return None
    return f"{compact[:-3]} {compact[-3:]}"


def postcode_district(postcode: str) -> str:
    """The outward code of a normalised postcode: 'LS6 1AB' -> 'LS6'."""
    return postcode.split(" ", 1)[0]


def normalise_district(value: str) -> str | None:
    compact = re.sub(r"\s+", "", value).upper()
    return compact if _DISTRICT.match(compact) else None


def district_of(value: str) -> str | None:
    """A district from either a full postcode or a district alone."""
    postcode = normalise_postcode(value)
    if postcode:
        return postcode_district(postcode)
    return normalise_district(value)


def read_districts(raw: list[Any], field: str, errors: list[FieldError]) -> list[str]:
    """Postcode districts from a list, normalised, each once, in the order given; every
    one that is not a district adds an error naming `field[i]`."""
    districts: list[str] = []
    for i, item in enumerate(raw):
        district = normalise_district(item) if isinstance(item, str) else None
        if district is None:
            errors.append(
                FieldError(
                    f"{field}[{i}]",
                    "not_a_postcode_district",
                    "Not a UK postcode district (for example LS6).",
                    {"value": item},
                )
            )
        elif district not in districts:
            districts.append(district)
    return districts
