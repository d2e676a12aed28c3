"""TEMPORARY stand-in until the addresses branch lands: the premises list's parsing."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any

from pledges.addresses import address_key, parse_address_line, street_of
from pledges.errors import FieldError, ValidationFailed
from pledges.identity import normalise_postcode, postcode_district

MAX_PREMISES = 20_000


@dataclass(frozen=True)
class PremiseRow:
    address_line: str
    postcode: str
    district: str
    street: str
    address_key: str
    uprn: str | None


def _row(value: Any, where: str, errors: list[FieldError]) -> PremiseRow | None:
    if not isinstance(value, dict):
        errors.append(FieldError(where, "not_an_object", "Send a JSON object."))
        return None
    line, found = parse_address_line(
        value.get("address_line"), f"{where}.address_line", required=True
    )
    errors.extend(found)
    raw = value.get("postcode")
    postcode = normalise_postcode(raw) if isinstance(raw, str) else None
    if postcode is None:
        errors.append(FieldError(f"{where}.postcode", "not_a_postcode", "Not a UK postcode."))
    uprn = value.get("uprn") or None
    if uprn is not None and not (isinstance(uprn, str) and uprn.isdigit() and len(uprn) <= 12):
        errors.append(FieldError(f"{where}.uprn", "not_a_uprn", "A UPRN is up to 12 digits."))
    if line is None or postcode is None or errors:
        return None
    return PremiseRow(
        line, postcode, postcode_district(postcode), street_of(line), address_key(line), uprn
    )


def parse_premises_json(data: Any) -> list[PremiseRow]:
    if isinstance(data, dict):
        data = data.get("premises")
    if not isinstance(data, list):
        raise ValidationFailed([FieldError("premises", "not_a_list", "Send a list.")])
    if len(data) > MAX_PREMISES:
        raise ValidationFailed(
            [FieldError("premises", "too_many", "Too many.", {"max": MAX_PREMISES})]
        )
    return _rows([(f"premises[{i}]", value) for i, value in enumerate(data)])


def parse_premises_csv(text: str) -> list[PremiseRow]:
    reader = csv.DictReader(io.StringIO(text))
    names = reader.fieldnames or []
    missing = [n for n in ("address_line", "postcode") if n not in names]
    if missing:
        raise ValidationFailed(
            [FieldError(f"header.{n}", "missing_columns", f"No {n} column.") for n in missing]
        )
    rows = list(reader)
    if len(rows) > MAX_PREMISES:
        raise ValidationFailed(
            [FieldError("premises", "too_many", "Too many.", {"max": MAX_PREMISES})]
        )
    return _rows([(f"row {i}", dict(r)) for i, r in enumerate(rows, start=2)])


def _rows(values: list[tuple[str, Any]]) -> list[PremiseRow]:
    errors: list[FieldError] = []
    found: list[PremiseRow] = []
    seen: set[tuple[str, str]] = set()
    for where, value in values:
        mine: list[FieldError] = []
        row = _row(value, where, mine)
        errors.extend(mine)
        if row is not None:
            if (row.postcode, row.address_key) in seen:
                errors.append(FieldError(where, "duplicate", "A duplicate."))
            seen.add((row.postcode, row.address_key))
            found.append(row)
    if errors:
        raise ValidationFailed(errors[:50])
    return found
