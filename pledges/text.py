"""Text a person typed (a name, a title, a summary, an update), checked character by
character the same way everywhere: one rule for every field, so a form, the API and a
paper pledge refuse the same things with the same codes.

- NUL is refused everywhere: PostgreSQL cannot store it in text (SQLite would, silently).
- A one-line field (a name, a title) refuses line breaks and every other C0 control and
  DEL: they split an email's subject or header and a spreadsheet's row.
- A field of several lines (a description, an update) keeps line feeds and tabs (carriage
  returns are made line feeds first) and refuses the other C0 controls and DEL.
- Every field refuses C1 controls (U+0080 to U+009F, which no keyboard types) and lone
  surrogates (JSON's "\\ud800" escapes give them; UTF-8 cannot encode them, so neither
  database nor email could take them).
"""

from __future__ import annotations

from pledges.errors import ErrorCode, FieldError

# Line breaks besides CR and LF that a one-line field must not hold either.
_OTHER_LINE_BREAKS = frozenset("\x0b\x0c\u2028\u2029")
_KEPT_IN_SEVERAL_LINES = frozenset("\n\r\t\u2028\u2029")


def text_fault(value: str, *, one_line: bool) -> ErrorCode | None:
    """Why `value` holds a character its field may not, as a code; None when it holds none."""
    fault: ErrorCode | None = None
    for c in value:
        o = ord(c)
        if o == 0:
            return "contains_nul"
        if one_line and (o < 32 or o == 127 or c in _OTHER_LINE_BREAKS):
            fault = fault or "not_one_line"
        elif (o < 32 or o == 127) and c not in _KEPT_IN_SEVERAL_LINES:
            fault = "contains_control"
        elif 0x80 <= o <= 0x9F or 0xD800 <= o <= 0xDFFF:
            fault = "contains_control"
    return fault


MESSAGES: dict[ErrorCode, str] = {
    "contains_nul": "must not contain a NUL character.",
    "not_one_line": "must be one line of text, without line breaks or control characters.",
    "contains_control": "must not contain control characters or broken characters; type it again.",
}


def text_error(field: str, value: str, *, one_line: bool, what: str = "") -> FieldError | None:
    """The error for `field` when `value` holds a character it may not, else None. `what`
    starts the message ("The title"); without it the message starts "Must"."""
    fault = text_fault(value, one_line=one_line)
    if fault is None:
        return None
    reason = MESSAGES[fault]
    message = f"{what} {reason}" if what else reason[0].upper() + reason[1:]
    return FieldError(field, fault, message)


def several_lines(value: str) -> str:
    """Line breaks as line feeds (a browser's textarea sends CR LF)."""
    return value.replace("\r\n", "\n").replace("\r", "\n")


def whole_number(text: str, *, max_digits: int) -> int | None:
    """`text` (trimmed) as a whole number when it is 1 to `max_digits` ASCII digits, else
    None. str.isdigit() is true of "²" and of 5,000 nines, which int() refuses."""
    text = text.strip()
    if 0 < len(text) <= max_digits and text.isascii() and text.isdigit():
        return int(text)
    return None
