"""The demand part of the lead's campaign form: the price question (its prices typed in
pounds, euros or dollars as a list "15, 20, 25" or as lowest, highest and step), the
target price, the take-up rates, a provider's quote and the equity floor.

What was typed becomes the API's shape (`price_question`, `target_price`,
`take_up_rates`, `quote`, `equity_floor`) for parse_campaign, and its errors come back as
the form's fields with the form's words, chosen by (field, code). Once the campaign is
published only the quote's amounts and the take-up rates may change (`parse_live_edit`).
"""

from __future__ import annotations

import re
from typing import Any

from pledges.campaigns import Campaign
from pledges.demand import FIRMNESS, MAX_POINTS
from pledges.errors import FieldError
from pledges.money import CURRENCIES, major_text, parse_major

RATE_FIELDS = tuple(f"take_up_{f}" for f in FIRMNESS)
QUOTE_AMOUNTS = ("quote_total", "quote_voucher")
# In the order the form shows them (and its error summary lists them).
DEMAND_FIELDS = (
    "price_currency",
    "price_period",
    "price_points",
    "price_min",
    "price_max",
    "price_step",
    "price_required",
    "target_price",
    *QUOTE_AMOUNTS,
    "quote_tip",
    *RATE_FIELDS,
    "equity_share",
    "equity_districts",
)
# What an open or tipped campaign's lead may still change.
LIVE_DEMAND_FIELDS = (*QUOTE_AMOUNTS, *RATE_FIELDS)
PERIOD_LABELS = {"month": "A month", "year": "A year", "once": "Once"}
CURRENCY_NOUNS = {"gbp": "pounds", "eur": "euros", "usd": "dollars"}
_RANGE = ("price_min", "price_max", "price_step")


def _split(text: str) -> list[str]:
    return [part for part in re.split(r"[\s,;]+", text) if part]


def _amount_or_text(value: str) -> int | str | None:
    """A typed amount as minor units; empty as None; anything else as the text, so the
    domain refuses it and the form says so beside the field."""
    if not value.strip():
        return None
    amount = parse_major(value)
    return value if amount is None else amount


def _whole_or_text(value: str) -> int | str | None:
    text = value.strip().rstrip("%").strip()
    if not text:
        return None
    return int(text) if re.fullmatch(r"\d{1,6}", text) else value


def _checked(value: str) -> bool:
    return value == "on"


def asks_price(form: dict[str, str]) -> bool:
    return any(form[name].strip() for name in ("price_points", *_RANGE))


def demand_data(form: dict[str, str]) -> dict[str, Any]:
    """The demand settings as parse_campaign takes them, from the form's text; keys left
    out for what was left empty."""
    data: dict[str, Any] = {}
    if asks_price(form):
        question: dict[str, Any] = {
            "currency": form["price_currency"] or None,
            "period": form["price_period"] or None,
            "required": _checked(form["price_required"]),
        }
        if form["price_points"].strip():
            question["price_points"] = [_amount_or_text(p) for p in _split(form["price_points"])]
        else:
            for name in _RANGE:
                amount = _amount_or_text(form[name])
                if amount is not None:
                    question[name.removeprefix("price_")] = amount
        data["price_question"] = question
    target_price = _amount_or_text(form["target_price"])
    if target_price is not None:
        data["target_price"] = target_price
    rates = _rates(form)
    if rates:
        data["take_up_rates"] = rates
    if any(form[n].strip() for n in QUOTE_AMOUNTS) or _checked(form["quote_tip"]):
        data["quote"] = _quote(form, form["price_currency"] or None, _checked(form["quote_tip"]))
    if form["equity_share"].strip() or form["equity_districts"].strip():
        data["equity_floor"] = {
            "share": _whole_or_text(form["equity_share"]),
            "districts": _split(form["equity_districts"].upper()),
        }
    return data


def _rates(form: dict[str, str]) -> dict[str, Any]:
    return {
        f: _whole_or_text(form[f"take_up_{f}"]) for f in FIRMNESS if form[f"take_up_{f}"].strip()
    }


def _quote(form: dict[str, str], currency: str | None, tip: bool) -> dict[str, Any]:
    voucher = _amount_or_text(form["quote_voucher"])
    return {
        "total": _amount_or_text(form["quote_total"]),
        "currency": currency,
        "voucher_per_home": 0 if voucher is None else voucher,
        "tip": tip,
    }


def live_demand_data(form: dict[str, str], campaign: Campaign) -> dict[str, Any]:
    """What the live edit form changes: the take-up rates (all empty: the site's), and on a
    campaign asking a price, the quote (both amounts empty: no quote). Whether it tips on
    the quote stays as published."""
    data: dict[str, Any] = {"take_up_rates": _rates(form) or None}
    if campaign.asks_price:
        given = any(form[n].strip() for n in QUOTE_AMOUNTS)
        data["quote"] = (
            _quote(form, campaign.price_currency, campaign.tip_on_cost) if given else None
        )
    return data


def demand_form_values(campaign: Campaign | None) -> dict[str, str]:
    """The form's fields for a campaign (its prices as a list), or blank for a new one."""
    blank = dict.fromkeys(DEMAND_FIELDS, "")
    blank |= {"price_currency": "gbp", "price_period": "month"}
    if campaign is None:
        return blank
    rates = campaign.take_up_rates or {}
    values = blank | {
        "price_currency": campaign.price_currency or campaign.currency or "gbp",
        "price_period": campaign.price_period or "month",
        "price_points": ", ".join(major_text(p) for p in campaign.price_points),
        "price_required": "on" if campaign.price_required else "",
        "target_price": major_text(campaign.target_price),
        "quote_total": major_text(campaign.quote_total),
        "quote_voucher": major_text(campaign.quote_voucher) if campaign.quote_voucher else "",
        "quote_tip": "on" if campaign.tip_on_cost else "",
        "equity_share": str(campaign.equity_share or ""),
        "equity_districts": ", ".join(campaign.equity_districts),
    }
    for f in FIRMNESS:
        values[f"take_up_{f}"] = str(rates[f]) if f in rates else ""
    return values


# ----- errors, in the form's words ------------------------------------------------------------


def _in_money(form: dict[str, str]) -> str:
    return CURRENCY_NOUNS.get(form["price_currency"], "pounds")


RANGE_NAMES = {
    "price_question.min": ("price_min", "the lowest price", "15"),
    "price_question.max": ("price_max", "the highest price", "35"),
    "price_question.step": ("price_step", "the step between prices", "5"),
}


def _repeated(form: dict[str, str]) -> str:
    seen: set[int | str | None] = set()
    for part in _split(form["price_points"]):
        amount = _amount_or_text(part)
        if amount in seen:
            return part
        seen.add(amount)
    return ""


def _price_error(error: FieldError, form: dict[str, str]) -> tuple[str, str]:
    field, code = error.field, error.code
    money = _in_money(form)
    if field == "price_question.currency":
        if form["price_currency"] in CURRENCIES:  # another than the money the campaign asks
            return "price_currency", (
                "Ask the prices in the currency of the money the campaign asks for."
            )
        return "price_currency", "Choose the currency of the prices."
    if field == "price_question.period":
        return "price_period", "Choose how often people would pay: a month, a year or once."
    if field == "price_question.required":
        return "price_required", "Tick the box or leave it empty."
    if field in RANGE_NAMES:
        name, noun, example = RANGE_NAMES[field]
        if code == "below_minimum":
            return name, "The highest price must be above the lowest."
        if field == "price_question.step" and "max_items" in error.params:
            return name, (
                f"Choose a step that gives 2 to {MAX_POINTS} prices from the lowest to the highest."
            )
        return name, f"Enter {noun} in {money}, like {example}."
    # The list of prices: "price_question.price_points" or the question as a whole.
    if code == "duplicate":
        again = _repeated(form)
        return "price_points", (
            f"Each price must be different: {again} is there twice."
            if again
            else "Each price must be different."
        )
    if code == "required":
        return "price_points", (
            "Enter the prices, or the lowest and highest price and the step between them."
        )
    return "price_points", (
        f"Enter 2 to {MAX_POINTS} prices in {money}, separated by commas, like 15, 20, 25."
    )


def demand_form_error(error: FieldError, form: dict[str, str]) -> tuple[str, str] | None:
    """A demand error of parse_campaign (or parse_live_edit) as the form's field and
    words; None for an error about another field."""
    field, code = error.field, error.code
    money = _in_money(form)
    if field == "price_question" or field.startswith("price_question."):
        return _price_error(error, form)
    if field == "target_price":
        if code == "needs_price_question":
            return "target_price", (
                "A target price needs prices to choose from: enter them above, or leave the "
                "target price empty."
            )
        return "target_price", f"The target price must be one of the prices, in {money}."
    if field == "take_up_rates" or field.startswith("take_up_rates."):
        firmness = field.partition(".")[2] or FIRMNESS[0]
        return f"take_up_{firmness}", "Enter a whole percent from 0 to 100, like 60."
    if field == "quote" or field.startswith("quote."):
        return _quote_error(error, form)
    if field == "equity_floor.share":
        return "equity_share", "Enter the share as a whole percent from 1 to 100, like 30."
    if field == "equity_floor" or field.startswith("equity_floor."):
        return "equity_districts", "List up to 200 postcode districts, like LS11, LS12."
    return None


def _quote_error(error: FieldError, form: dict[str, str]) -> tuple[str, str]:
    field, code = error.field, error.code
    money = _in_money(form)
    if code == "needs_price_question":
        return "quote_total", (
            "A quote is shared by what each home would pay: enter the prices above first."
        )
    if field == "quote.voucher_per_home":
        return "quote_voucher", (
            f"Enter the voucher for each home in {money}, like 1500, or leave it empty."
        )
    if field == "quote.tip":
        if code == "target_or_cost":
            return "quote_tip", (
                "A campaign tips either on its target or on sharing the quote: leave the "
                "target empty to tip on the quote, or untick this."
            )
        if code == "period_once_only":
            return "quote_tip", (
                "Tipping on the quote compares each home's share with a one-off price: "
                "choose Once for how often people would pay."
            )
        if code == "not_valid":  # a live campaign that tips on the quote keeps one
            return "quote_total", (
                "This campaign tips on sharing the quote, so it keeps one: enter the quoted total."
            )
        return "quote_tip", "Tick the box or leave it empty."
    return "quote_total", f"Enter the quoted total in {money}, like 111903."


def demand_form_errors(
    errors: list[FieldError], data: dict[str, Any], form: dict[str, str]
) -> tuple[dict[str, str], list[FieldError]]:
    """The demand errors as the form's messages by field, and the errors about anything
    else, left for the rest of the form."""
    found: dict[str, str] = {}
    rest: list[FieldError] = []
    bad_districts: list[str] = []
    for error in errors:
        if error.field.startswith("equity_floor.districts["):
            index = int(error.field[error.field.index("[") + 1 : -1])
            bad_districts.append(str(data["equity_floor"]["districts"][index]))
            continue
        place = demand_form_error(error, form)
        if place is None:
            rest.append(error)
        else:
            found.setdefault(*place)
    if bad_districts:
        found["equity_districts"] = (
            f"Not a UK postcode district: {', '.join(bad_districts)}. Use the first part of "
            "a postcode, like LS11."
        )
    return found, rest
