"""A phone number a lead may note for a neighbour who pledged without an email address.

Loosely UK-shaped, as people write them: digits with spaces and brackets between, an
optional leading +, from 7 to 20 digits ("0113 496 0000", "+44 (0)113 496 0000"). It is
kept as typed (trimmed): the lead calls it, nothing dials it.
"""

from __future__ import annotations

import re

from pledges.errors import FieldError

MAX_PHONE = 40
# Spaces that str.strip() removes, as app/api/models.PY_SPACE spells them for JSON Schema.
_SPACE = r"\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
# The whole value before trimming, as the API's document states it too: blank, or a number
# that starts with a digit (after any + and opening bracket) and ends with one (or a
# closing bracket). Each part can match in one way only, so a long value is checked fast.
PHONE_PATTERN = f"^[{_SPACE}]*(?:\\+?\\(?[0-9](?:[ ()]*[0-9]){{6,19}}\\)?)?[{_SPACE}]*$"
_PHONE = re.compile(PHONE_PATTERN)
NOT_A_PHONE = (
    "Enter a phone number of 7 to 20 digits, like 0113 496 0000 or +44 113 496 0000 "
    "(digits, spaces, brackets and a leading + only)."
)


def parse_phone(value: object, field: str = "phone") -> tuple[str | None, list[FieldError]]:
    """A phone number as typed, trimmed; None when left out or blank. The length is that
    of the value as sent, as the API's document says (`maxLength`)."""
    if value is None:
        return None, []
    if not isinstance(value, str):
        return None, [FieldError(field, "not_text", NOT_A_PHONE)]
    if len(value) > MAX_PHONE:
        return None, [
            FieldError(
                field,
                "too_long",
                f"A phone number must be {MAX_PHONE} characters or fewer.",
                {"max": MAX_PHONE},
            )
        ]
    if not _PHONE.match(value):
        return None, [FieldError(field, "not_valid", NOT_A_PHONE)]
    return value.strip() or None, []
