"""TEMPORARY stand-in until the addresses branch lands."""

from __future__ import annotations

import re

from pledges.errors import FieldError

MAX_ADDRESS_LINE = 200
_ABBR = {"RD": "ROAD", "ST": "STREET", "AVE": "AVENUE", "LN": "LANE"}


def address_key(line: str) -> str:
    words = re.sub(r"[^0-9A-Za-z]+", " ", line).upper().split()
    words = [_ABBR.get(w, w) for w in words if w not in ("FLAT", "APARTMENT")]
    return " ".join(words)


def street_of(line: str) -> str:
    words = address_key(line).split()
    while words and any(c.isdigit() for c in words[0]):
        words.pop(0)
    return " ".join(words).title()


def parse_address_line(
    value: object, field: str = "address_line", *, required: bool
) -> tuple[str | None, list[FieldError]]:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            return None, [FieldError(field, "required", "Enter the first line of your address.")]
        return None, []
    if not isinstance(value, str):
        return None, [FieldError(field, "not_text", "Enter the first line of your address.")]
    line = value.strip()
    if len(line) > MAX_ADDRESS_LINE:
        return None, [FieldError(field, "too_long", "Too long.", {"max": MAX_ADDRESS_LINE})]
    return line, []
