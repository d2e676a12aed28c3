"""Amounts of money: minor units (pence, cents) in whole numbers, never floats."""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from pledges.errors import FieldError

# Currencies a money campaign may use; each has two decimal places, as Stripe expects.
CURRENCIES = {"gbp": "£", "eur": "€", "usd": "$"}
# Stripe's smallest charge is about 0.30 in these currencies; its largest card charge
# 999,999.99. Targets may be larger (many pledges make them).
MIN_PLEDGE = 100
MAX_PLEDGE = 99_999_999
MAX_MONEY_TARGET = 100_000_000_000
_MAJOR = re.compile(r"^\d{1,12}(?:\.\d{1,2})?$")


def format_money(amount: int | None, currency: str | None) -> str:
    """1234567, "gbp" -> "£12,345.67"; whole amounts without pence: "£20"."""
    if amount is None or currency is None:
        return ""
    sign = "-" if amount < 0 else ""
    major, minor = divmod(abs(int(amount)), 100)
    symbol = CURRENCIES.get(currency, currency.upper() + " ")
    return f"{sign}{symbol}{major:,}" + (f".{minor:02d}" if minor else "")


def parse_major(text: str) -> int | None:
    """A form's "20" or "20.50" or "£1,200" -> minor units; None if it is not an amount."""
    cleaned = text.strip().lstrip("£€$").replace(",", "").strip()
    if not _MAJOR.match(cleaned):
        return None
    try:
        return int(Decimal(cleaned) * 100)
    except InvalidOperation:  # pragma: no cover - the pattern admits only decimals
        return None


def major_text(amount: int | None) -> str:
    """Minor units back to the text a form shows: 2050 -> "20.50", 2000 -> "20"."""
    if amount is None:
        return ""
    major, minor = divmod(int(amount), 100)
    return f"{major}.{minor:02d}" if minor else str(major)


def read_currency(data: Mapping[str, Any], field: str, errors: list[FieldError]) -> str | None:
    """`data["currency"]`, one of CURRENCIES in any case, lower-cased; None, with an error
    naming `field`, otherwise."""
    currency = data.get("currency")
    if not isinstance(currency, str) or currency.lower() not in CURRENCIES:
        errors.append(
            FieldError(
                field,
                "not_in_choices",
                f"Choose one of: {', '.join(CURRENCIES)}.",
                {"choices": tuple(CURRENCIES)},
            )
        )
        return None
    return currency.lower()
