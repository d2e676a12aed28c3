"""The two answers a pledge form asks besides who is pledging: the most they would pay
(one of the campaign's price points, or "not sure") and how sure they are (firmness).

Residents pledge on the campaign page; a lead records the same answers on the paper and
no-email form. Radios send the price as its minor units in digits and firmness as its
name; the domain checks both. The forms offer only the choices that make sense: a money
campaign's pledges are deposits (no firmness to choose); a resident on a campaign asking a
price chooses interested or will_switch (a deposit is money), while a campaign asking none
keeps the plain form of a petition; a lead recording a pledge may also say it is a
deposit paid to them offline.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pledges.campaigns import Campaign
from pledges.demand import PERIOD_WORDS
from pledges.errors import FieldError
from pledges.money import format_money

NOT_SURE = "not_sure"
ANSWER_FIELDS = ("max_price", "firmness")


@dataclass(frozen=True)
class Choice:
    value: str
    label: str


def price_label(campaign: Campaign, price: int) -> str:
    """ "£25 a month", in the price question's currency and period."""
    period = PERIOD_WORDS.get(campaign.price_period or "", "")
    return f"{format_money(price, campaign.price_currency)} {period}".strip()


def price_choices(campaign: Campaign) -> list[Choice]:
    """The price points as radio choices, cheapest first, then "Not sure" unless the lead
    requires an answer; none without a price question."""
    if not campaign.asks_price:
        return []
    choices = [Choice(str(p), price_label(campaign, p)) for p in campaign.price_points]
    if not campaign.price_required:
        choices.append(Choice(NOT_SURE, "Not sure"))
    return choices


def firmness_choices(campaign: Campaign, *, by_lead: bool = False) -> list[Choice]:
    """How sure the pledger is, as the form offers it: none on a money campaign (a deposit
    each), nor to a resident on a campaign asking no price (the form stays a petition's);
    a lead recording a pledge may say, on any other campaign."""
    if campaign.is_money or not (by_lead or campaign.asks_price):
        return []
    if by_lead:
        priced = " at or below their price" if campaign.asks_price else ""
        return [
            Choice("interested", "Interested: they want to hear when it is offered"),
            Choice("will_switch", f"They will sign up when it is offered{priced}"),
            Choice("deposit", "They paid you a deposit (offline)"),
        ]
    return [
        Choice("interested", "Interested: tell me when it is offered"),
        Choice("will_switch", "I will sign up when it is offered at or below my price"),
    ]


def answers_from(form: Mapping[str, Any]) -> dict[str, str]:
    """What the form sent for the two answers, as text: for the domain and to show again."""
    return {name: str(form.get(name, "")).strip() for name in ANSWER_FIELDS}


def unoffered_firmness(campaign: Campaign, firmness: str) -> bool:
    """A resident's "deposit" (a hand-made request: the form never offers it) on a campaign
    that takes no money. A money campaign ignores firmness: its pledges are deposits."""
    return firmness == "deposit" and not campaign.is_money


def answer_message(error: FieldError, *, by_lead: bool = False) -> str | None:
    """The form's words for an error about an answer, chosen by its field and code; None
    for an error about another field."""
    you = "they" if by_lead else "you"
    if error.field == "max_price":
        if error.code == "required":
            return f"Choose the most {you} would pay."
        return f"Choose the most {you} would pay from the prices given."
    if error.field == "firmness":
        return f"Choose how sure {you} are."
    return None


UNOFFERED_FIRMNESS = FieldError(
    "firmness", "not_in_choices", "Choose one of the firmness choices offered."
)


def answer_errors(errors: Iterable[FieldError], *, by_lead: bool = False) -> dict[str, str]:
    """The answers' errors with the form's words, by field."""
    found: dict[str, str] = {}
    for error in errors:
        message = answer_message(error, by_lead=by_lead)
        if message is not None:
            found.setdefault(error.field, message)
    return found
