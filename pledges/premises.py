"""A lead's list of the premises in a campaign's area, parsed from CSV or JSON.

Each premises is an address line, a postcode and optionally its UPRN (Unique Property
Reference Number). Every problem is reported at once, naming where it is:

- CSV: `rows[N].column`, N the row number a spreadsheet shows (the header is row 1, so the
  first premises is `rows[2]`); problems with the whole file are on `file`.
- JSON: `premises[I].key`, I the zero-based index in the list (the first is `premises[0]`);
  problems with the whole list are on `premises`.

At most MAX_REPORTED_ERRORS problems are listed, then one `too_many_errors`, so a bad file
of any size gets a short answer; a list over MAX_PREMISES is refused before its rows are read.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from pledges.addresses import MAX_ADDRESS_LINE, address_key, parse_address_line, street_of
from pledges.errors import ErrorCode, FieldError, ValidationFailed
from pledges.identity import normalise_postcode, postcode_district

# A fiberhood is 250 to 1,500 homes; a whole town's list still fits.
MAX_PREMISES = 20_000
MAX_REPORTED_ERRORS = 50
MAX_UPRN_DIGITS = 12

REQUIRED_COLUMNS = ("address_line", "postcode")
OPTIONAL_COLUMNS = ("uprn", "priority")
# A priority place (social housing, say), for a campaign's equity floor.
_YES = frozenset({"yes", "y", "true", "1", "priority"})
_NO = frozenset({"", "no", "n", "false", "0"})

_UPRN = re.compile(rf"[0-9]{{1,{MAX_UPRN_DIGITS}}}")
# Unicode categories Cc and Cs, as pledges.addresses refuses them in an address line.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_EMPTY_FILE = (
    "The file is empty: its first row must name the columns address_line and postcode, "
    "then one row per premises."
)
_SHOWN_VALUE = 24  # characters of a bad value quoted back in a message


@dataclass(frozen=True)
class PremiseRow:
    address_line: str
    postcode: str  # normalised: "LS6 1AB"
    district: str  # "LS6"
    street: str
    address_key: str
    uprn: str | None
    priority: bool = False


class _Problems:
    """The problems found so far: the first MAX_REPORTED_ERRORS kept, the rest counted."""

    def __init__(self, whole: str) -> None:
        self.whole = whole  # the field for problems with the whole list
        self.kept: list[FieldError] = []
        self.more = 0

    def add(self, field: str, code: ErrorCode, message: str, **params: object) -> None:
        if len(self.kept) < MAX_REPORTED_ERRORS:
            self.kept.append(FieldError(field, code, message, params))
        else:
            self.more += 1

    def failure(self) -> ValidationFailed:
        errors = list(self.kept)
        if self.more:
            errors.append(
                FieldError(
                    self.whole,
                    "too_many_errors",
                    f"... and {self.more:,} more problems not listed here: fix these and "
                    "send the list again.",
                    {"more": self.more},
                )
            )
        return ValidationFailed(errors)


def _refuse(field: str, code: ErrorCode, message: str, **params: object) -> ValidationFailed:
    return ValidationFailed([FieldError(field, code, message, params)])


def _too_many(field: str) -> ValidationFailed:
    return _refuse(
        field,
        "too_many",
        f"A list may have at most {MAX_PREMISES:,} premises, and this one has more. Send the "
        "premises of the campaign's area only (a neighbourhood is usually a few hundred).",
        max=MAX_PREMISES,
    )


def _shown(value: str) -> str:
    value = value.strip()
    return value if len(value) <= _SHOWN_VALUE else value[: _SHOWN_VALUE - 3] + "..."


_ADDRESS_MESSAGES: Mapping[str, str] = {
    "required": "{at} has no address line: give the house number or name and the street, "
    "like 12 Brudenell Road.",
    "not_text": "{at}: the address line must be text, like 12 Brudenell Road.",
    "too_long": "{at}: the address line is longer than "
    f"{MAX_ADDRESS_LINE} characters; give only the first line of the address.",
    "contains_control": "{at}: the address line contains a control character (such as a "
    "line break or NUL); give the first line of the address on its own.",
    "not_an_address": "{at}: the address line has no letters or digits; give the house "
    "number or name and the street.",
}


def _premises(
    cells: Callable[[str], object], at: str, prefix: str, problems: _Problems
) -> PremiseRow | None:
    """One premises from its cells, or None with its problems added. `at` names it in a
    message ("Row 7"), `prefix` in a field ("rows[7]")."""
    line, line_errors = parse_address_line(
        cells("address_line"), f"{prefix}.address_line", required=True
    )
    for error in line_errors:
        wording = _ADDRESS_MESSAGES.get(error.code, "{at}: " + error.message)
        problems.add(error.field, error.code, wording.replace("{at}", at), **error.params)
    postcode = _postcode(cells("postcode"), at, f"{prefix}.postcode", problems)
    uprn_ok, uprn = _uprn(cells("uprn"), at, f"{prefix}.uprn", problems)
    priority = _priority(cells("priority"), at, f"{prefix}.priority", problems)
    if line is None or postcode is None or not uprn_ok or priority is None:
        return None
    return PremiseRow(
        address_line=line,
        postcode=postcode,
        district=postcode_district(postcode),
        street=street_of(line),
        address_key=address_key(line),
        uprn=uprn,
        priority=priority,
    )


def _priority(value: object, at: str, field: str, problems: _Problems) -> bool | None:
    """The optional priority column: yes/no (true/false, 1/0) or, in JSON, a boolean."""
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _YES | _NO:
        return value.strip().lower() in _YES
    problems.add(
        field,
        "not_a_boolean",
        f"{at}: priority must be yes or no (a priority place, such as social housing).",
    )
    return None


def _postcode(value: object, at: str, field: str, problems: _Problems) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        problems.add(field, "required", f"{at} has no postcode: give one like LS6 1AB.")
    elif not isinstance(value, str):
        problems.add(field, "not_text", f"{at}: the postcode must be text, like LS6 1AB.")
    elif _CONTROL.search(value):
        problems.add(
            field,
            "contains_control",
            f"{at}: the postcode contains a control character (such as a line break or NUL).",
        )
    else:
        postcode = normalise_postcode(value)
        if postcode is None:
            problems.add(
                field,
                "not_a_postcode",
                f'{at}: "{_shown(value)}" is not a UK postcode; give one like LS6 1AB.',
            )
        return postcode
    return None


def _uprn(value: object, at: str, field: str, problems: _Problems) -> tuple[bool, str | None]:
    """(whether it is usable, the UPRN or None when none was given)."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        value = str(value)
    if value is None or (isinstance(value, str) and not value.strip()):
        return True, None
    if not isinstance(value, str):
        problems.add(
            field, "not_text", f"{at}: the UPRN must be text or a whole number, like 100023336956."
        )
        return False, None
    if _CONTROL.search(value):
        problems.add(
            field,
            "contains_control",
            f"{at}: the UPRN contains a control character (such as a line break or NUL).",
        )
        return False, None
    digits = value.strip()
    if not _UPRN.fullmatch(digits) or int(digits) == 0:
        problems.add(
            field,
            "not_a_uprn",
            f'{at}: "{_shown(value)}" is not a UPRN, which is 1 to {MAX_UPRN_DIGITS} digits '
            "like 100023336956. (A spreadsheet may show a long number as 1.00023E+11: format "
            "the column as text.)",
            max=MAX_UPRN_DIGITS,
        )
        return False, None
    return True, str(int(digits))  # "000123" and "123" are one UPRN


class _Repeats:
    """Premises listed twice: the same postcode and address key (however spelled), or the
    same UPRN. Each is reported where it is repeated, naming where it was first."""

    def __init__(self, name: Callable[[int], str]) -> None:
        self.name = name  # "Row 7", "premises[6]"
        self.homes: dict[tuple[str, str], int] = {}
        self.uprns: dict[str, int] = {}

    def check(self, place: int, prefix: str, row: PremiseRow, problems: _Problems) -> None:
        first = self.homes.setdefault((row.postcode, row.address_key), place)
        if first != place:
            problems.add(
                prefix,
                "duplicate",
                f"{self.name(place)} is the same premises as {self.name(first).lower()} "
                f"({row.address_line}, {row.postcode}).",
                same_as=first,
            )
            return
        if row.uprn is not None:
            first = self.uprns.setdefault(row.uprn, place)
            if first != place:
                problems.add(
                    f"{prefix}.uprn",
                    "duplicate",
                    f"{self.name(place)} has the same UPRN as {self.name(first).lower()} "
                    f"({row.uprn}).",
                    same_as=first,
                )


def _column_name(heading: str) -> str:
    """'Address Line ', 'address-line' and 'ADDRESS_LINE' name the column address_line;
    'Post code' names postcode."""
    compact = re.sub(r"[\s_-]+", "", heading.lower())
    return next(
        (c for c in (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS) if c.replace("_", "") == compact),
        compact,
    )


def _delimiter(text: str) -> str:
    """Commas, or the semicolons or tabs some spreadsheets save, judged by the header."""
    header = next((line for line in text[:4096].splitlines() if line.strip()), "")
    counts = {delimiter: header.count(delimiter) for delimiter in (",", ";", "\t")}
    best = max(counts, key=lambda delimiter: counts[delimiter])
    return best if counts[best] > counts[","] else ","


def _records(text: str) -> Iterator[tuple[int, list[str]]]:
    """(row number as a spreadsheet shows it, cells) of each row that is not blank."""
    reader = csv.reader(io.StringIO(text), delimiter=_delimiter(text))
    for number, record in enumerate(reader, start=1):
        if any(cell.strip() for cell in record):
            yield number, record


def parse_premises_csv(text: str) -> list[PremiseRow]:
    """The premises in a CSV file (already decoded): a header row naming the columns
    address_line and postcode, optionally uprn, in any order and case (other columns are
    ignored), then one row per premises. Raises ValidationFailed naming every problem."""
    text = text.removeprefix("\ufeff")
    if not text.strip():
        raise _refuse("file", "empty", _EMPTY_FILE)
    problems = _Problems("file")
    last_read = 0
    try:
        # Rows are never more than lines: only a long file needs counting, up to the limit.
        if text.count("\n") > MAX_PREMISES and any(
            counted > MAX_PREMISES for counted, _ in enumerate(_records(text))
        ):
            raise _too_many("file")
        records = _records(text)
        first = next(records, None)
        if first is None:  # only blank cells, like a lone ""
            raise _refuse("file", "empty", _EMPTY_FILE)
        last_read, header = first
        columns: dict[str, int] = {}
        for index, heading in enumerate(header):
            columns.setdefault(_column_name(heading), index)
        missing = [column for column in REQUIRED_COLUMNS if column not in columns]
        if missing:
            named = " and ".join(missing)
            raise _refuse(
                "file",
                "missing_columns",
                f"The file has no {named} column: its first row must name the columns "
                "address_line and postcode (uprn is optional), then one row per premises.",
                columns=missing,
            )
        rows: list[PremiseRow] = []
        repeats = _Repeats(lambda number: f"Row {number}")
        for number, record in records:
            last_read = number
            at, prefix = f"Row {number}", f"rows[{number}]"
            if len(record) > len(header):  # most often an address with a comma, unquoted
                problems.add(
                    prefix,
                    "not_valid",
                    f"{at} has more cells than the header row: put an address line that "
                    'contains a comma in double quotes, like "Flat 2, 12 Brudenell Road".',
                )
                continue

            def cell(column: str, record: list[str] = record) -> str | None:
                index = columns.get(column)
                return record[index] if index is not None and index < len(record) else None

            row = _premises(cell, at, prefix, problems)
            if row is not None:
                repeats.check(number, prefix, row, problems)
                rows.append(row)
    except csv.Error as error:  # a cell over the csv module's size limit, for one
        where = f" after row {last_read}" if last_read else ""
        problems.add(
            "file",
            "not_valid",
            f"The file could not be read as CSV{where}: {error}.",
        )
        raise problems.failure() from error
    if problems.kept:
        raise problems.failure()
    if not rows:
        raise _refuse(
            "file",
            "empty",
            "The file has no premises: under the header row, add one row "
            "per premises with its address line and postcode.",
        )
    return rows


def parse_premises_json(data: object) -> list[PremiseRow]:
    """The premises in a JSON body: a list of objects with the keys address_line and
    postcode, optionally uprn (other keys are ignored), or an object holding that list
    under "premises". Raises ValidationFailed naming every problem."""
    items = data.get("premises") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise _refuse(
            "premises",
            "not_a_list",
            "Send the premises as a list of objects with address_line and postcode "
            '(and optionally uprn), or an object with that list under "premises".',
            max=MAX_PREMISES,
        )
    if len(items) > MAX_PREMISES:
        raise _too_many("premises")
    if not items:
        raise _refuse("premises", "empty", "The list has no premises: send at least one.")
    problems = _Problems("premises")
    rows: list[PremiseRow] = []
    repeats = _Repeats(lambda index: f"premises[{index}]")
    for index, item in enumerate(items):
        prefix = f"premises[{index}]"
        if not isinstance(item, dict):
            problems.add(
                prefix,
                "not_an_object",
                f"{prefix} must be an object with address_line and postcode.",
            )
            continue
        row = _premises(item.get, prefix, prefix, problems)
        if row is not None:
            repeats.check(index, prefix, row, problems)
            rows.append(row)
    if problems.kept:
        raise problems.failure()
    return rows
