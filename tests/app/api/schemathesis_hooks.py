"""Schemathesis hooks: the domain rules that a JSON Schema cannot state, applied to
generated requests so that a request valid by the document is valid by the domain too.

Each rule maps only a value of the right type (a string, an integer), so a request
generated to break the document still breaks it; nothing here loosens a check.

- a campaign's deadline is in the future and within two years;
- a campaign without a slug has a title the domain can make one from;
- postcode districts, postcodes (of pledges and letter codes) and webhook postcode filters
  are real UK ones;
- a pledge's (or a letter code's) address line is a real one (the document says no control
  characters and at least one letter or digit, which JSON Schema's patterns cannot say of
  all of Unicode);
- a money campaign's range has its minimum at most its maximum;
- a price question's range (min, max, step) gives 2 to 40 points, the maximum above the
  minimum; a target price is one of the points; a quote is in the price question's
  currency, and the price question in the money's; an equity floor's districts are real;
- an edit of a live campaign's quote keeps whether it tips on it, and takes a quote away
  from a campaign that asks no price (the quote needs one); both read from the API;
- a pledge's price is one of its campaign's points, and given where the campaign requires
  one (read from the API);
- a pledge's amount lies within its campaign's range, a paper pledge is on a campaign
  that asks for no money (one made online instead has an email), and a pledge to a
  campaign that counts households gives the first line of its address (all read from the
  API);
- a campaign is created open, not as a draft: a draft is not public, so the links from its
  creation (get it, pledge to it) would lead nowhere; a draft's coverage target gets the
  number of premises that publishing needs;
- an edit of a campaign moves its deadline later, as a published campaign's must;
- a page cursor is one the site gave (the shape of a real one: they are opaque);
- a demand query's postcode is a real area or district, and one at a price names the
  currency and period of that price;
- confirmation, withdrawal and choice tokens are signed by the site (made by live_api.py);
- an offer's dates are from now to within three years, the day it stands until not before
  the day it is available from, and its social tariff costs no more than its price;
- a choice round closes 3 to 60 days from now;
- `since` of a recovery is in the past;
- a whole number is written without a fraction (JSON Schema counts 5.0 as an integer; the
  API reads only 5 as one, and its tests say so);
- a webhook URL is one the site may deliver to (a local receiver; private networks allowed);
- a premises list's rows are distinct real addresses (a line, a real postcode, a UPRN of
  digits), and a CSV list is one with its header row.

Loaded by `schemathesis run` through SCHEMATHESIS_HOOKS (see live_api.hook_environment).
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import schemathesis
from jsonschema import FormatChecker
from pydantic import BaseModel, ValidationError

from app.api.demand_inputs import CURRENCY_ANY_CASE, QuoteInput
from app.api.models import SLUG_PATTERN, trimmed_pattern
from pledges.addresses import MAX_ADDRESS_LINE
from pledges.campaigns import slugify
from pledges.demand import MAX_POINTS
from pledges.money import MAX_MONEY_TARGET, MAX_PLEDGE
from pledges.pagination import encode_cursor

FORMATS = FormatChecker()

DISTRICTS = ("LS6", "LS16", "M1", "SW1A", "EH1", "CF10", "BT7", "B33")
POSTCODES = ("LS6 1AB", "M1 1AE", "SW1A 1AA", "EH1 1YZ", "CF10 1EP")
ADDRESS_LINES = ("12a Brudenell Road", "Flat 2, 14 Manor Drive", "Rose Cottage, Mill Lane")
# What the document's pattern for an address line accepts: 0 to 200 characters once trimmed.
ADDRESS_PATTERN = re.compile(trimmed_pattern(0, MAX_ADDRESS_LINE))


def _pick(choices: tuple[str, ...], seed: str) -> str:
    return choices[sum(map(ord, seed)) % len(choices)]


def _is_date_time(value: Any) -> bool:
    """A value the document's `format: date-time` accepts (so not one generated to break it)."""
    return isinstance(value, str) and FORMATS.conforms(value, "date-time")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_valid(model: type[BaseModel], value: Any) -> bool:
    """Whether the document's schema for `model` accepts `value` (the model reads as it)."""
    try:
        model.model_validate(value)
    except ValidationError:
        return False
    return True


def _is_price(value: Any) -> bool:
    """A price the document accepts: a whole number of minor units up to MAX_PLEDGE."""
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_PLEDGE


def _is_currency(value: Any) -> bool:
    return isinstance(value, str) and re.match(CURRENCY_ANY_CASE, value) is not None


def _price_points(question: dict[str, Any]) -> list[int]:
    """The points of a price question (its range made 2 to 40 points first); [] when it
    is not one the document accepts."""
    points = question.get("price_points")
    if isinstance(points, list):
        return sorted(points) if points and all(_is_price(p) for p in points) else []
    low, high, step = question.get("min"), question.get("max"), question.get("step")
    if points is not None or not all(_is_price(v) for v in (low, high, step)):
        return []
    assert isinstance(low, int) and isinstance(high, int) and isinstance(step, int)
    step = min(step, MAX_PLEDGE - 1)
    low = min(low, MAX_PLEDGE - step)
    gaps = min(max(1, (high - low) // step), MAX_POINTS - 1, (MAX_PLEDGE - low) // step)
    question.update(min=low, max=low + gaps * step, step=step)
    return list(range(low, low + gaps * step + 1, step))


def _demand_settings(body: dict[str, Any]) -> None:
    question = body.get("price_question")
    points = _price_points(question) if isinstance(question, dict) else []
    money = body.get("money")
    if isinstance(question, dict) and isinstance(money, dict):
        if _is_currency(money.get("currency")) and _is_currency(question.get("currency")):
            question["currency"] = money["currency"]
    if points and _is_price(body.get("target_price")):
        body["target_price"] = points[body["target_price"] % len(points)]
    quote = body.get("quote")
    if isinstance(quote, dict) and isinstance(question, dict):
        if quote.get("currency") in ("gbp", "eur", "usd") and _is_currency(question["currency"]):
            quote["currency"] = question["currency"].lower()
    floor = body.get("equity_floor")
    if isinstance(floor, dict) and isinstance(floor.get("districts"), list):
        floor["districts"] = [
            _pick(DISTRICTS, d) if isinstance(d, str) else d for d in floor["districts"]
        ]


def _live_quote(body: dict[str, Any], campaign: dict[str, Any]) -> None:
    """A live campaign's quote as the domain takes an edit of it: only on a campaign that
    asks a price, in its currency, and tipping on it as the campaign always has."""
    if not campaign or "quote" not in body:
        return
    question = campaign.get("price_question")
    current = (campaign.get("demand") or {}).get("quote")
    tips = bool(current and current["tip"])
    quote = body["quote"]
    if question is None:
        if isinstance(quote, dict) and _is_valid(QuoteInput, quote):
            body["quote"] = None  # a quote needs a price question: take none away instead
    elif quote is None and tips:
        body["quote"] = {"total": current["total"], "tip": True}
    elif isinstance(quote, dict):
        if isinstance(quote.get("tip", False), bool):
            quote["tip"] = tips
        if quote.get("currency") in ("gbp", "eur", "usd"):
            quote["currency"] = question["currency"]


def _future_deadline() -> str:
    return (datetime.now(UTC) + timedelta(days=60)).isoformat()


def _campaign_body(body: dict[str, Any]) -> None:
    # A draft is not public (GET answers 404), so the stateful phase could not follow a
    # draft's links: campaigns are created open.
    if body.get("draft") is True:
        body["draft"] = False
        # Published, a coverage target needs the premises a draft may leave for later.
        if _is_number(body.get("coverage_target")) and body.get("premises") is None:
            body["premises"] = {"count": 140}
    # Without a slug the domain makes one from the title, which some titles cannot give.
    title = body.get("title")
    if body.get("slug") in (None, "") and isinstance(title, str) and title.strip():
        if not re.match(SLUG_PATTERN, slugify(title.strip())):
            body["slug"] = f"campaign-{sum(map(ord, title)) % 100_000}"
    if _is_date_time(body.get("deadline")):
        body["deadline"] = _future_deadline()
    area = body.get("area")
    if isinstance(area, dict) and isinstance(area.get("postcode_districts"), list):
        area["postcode_districts"] = [
            _pick(DISTRICTS, d) if isinstance(d, str) else d for d in area["postcode_districts"]
        ]
    money = body.get("money")
    if isinstance(money, dict):
        low, high = money.get("min"), money.get("max")
        if _is_number(low) and _is_number(high) and low > high:
            money["min"], money["max"] = high, low
    _demand_settings(body)


def _campaign_of(slug: Any) -> dict[str, Any]:
    """The public campaign at `slug` (read from the API); {} when there is none."""
    if not isinstance(slug, str) or not slug:
        return {}
    url = f"{os.environ['GROUNDSWELL_API_URL']}/api/v1/campaigns/{slug}"
    answer = httpx.get(url, timeout=5)
    found: dict[str, Any] = answer.json() if answer.is_success else {}
    return found


def _pledge_body(body: dict[str, Any], slug: Any) -> None:
    if isinstance(body.get("postcode"), str) and body["postcode"].strip():
        body["postcode"] = _pick(POSTCODES, body["postcode"])
    line = body.get("address_line")
    if isinstance(line, str) and line.strip() and ADDRESS_PATTERN.search(line):
        body["address_line"] = _pick(ADDRESS_LINES, line)
    campaign = _campaign_of(slug)
    # A campaign that counts households needs the address the document leaves optional.
    left_out = line is None or (isinstance(line, str) and not line.strip())
    if campaign.get("counts") == "households" and left_out:
        body["address_line"] = _pick(ADDRESS_LINES, str(body.get("name", "")))
    question = campaign.get("price_question")
    if question is not None:
        points, price = question["price_points"], body.get("max_price")
        if _is_price(price):
            body["max_price"] = points[price % len(points)]
        elif question["required"] and price in (None, "not_sure"):
            body["max_price"] = points[len(str(body.get("name", ""))) % len(points)]
    money: dict[str, Any] | None = campaign.get("money")
    if money is None:
        return
    if body.get("source") == "paper":  # money pledges are made online, never on paper
        body["source"] = "api"
        # A paper pledge may leave its email out (attested); made online, it needs one.
        email = body.get("email")
        if email is None or (isinstance(email, str) and not email.strip()):
            body["email"] = "ada@example.org"
    amount = body.get("amount")
    whole = amount is None or (_is_number(amount) and float(amount).is_integer())
    if money["deposit"] is None and whole:
        low, high = money["min"], money["max"]
        body["amount"] = int(min(max(amount or low, low), high))


def _endpoint_body(body: dict[str, Any]) -> None:
    if isinstance(body.get("url"), str) and body["url"].strip():
        body["url"] = f"{os.environ['GROUNDSWELL_API_URL']}/receiver"
    filters = body.get("filters")
    if isinstance(filters, dict) and isinstance(filters.get("postcode_prefixes"), list):
        filters["postcode_prefixes"] = [
            _pick(DISTRICTS, p) if isinstance(p, str) and p.strip() else p
            for p in filters["postcode_prefixes"]
        ]


def _premises_rows(rows: list[Any]) -> None:
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            continue
        if isinstance(row.get("address_line"), str):
            row["address_line"] = f"{i + 1} Hook Street"
        if isinstance(row.get("postcode"), str):
            row["postcode"] = _pick(POSTCODES, row["postcode"])
        if isinstance(row.get("uprn"), str):
            row["uprn"] = str(1000 + i)


def _premises_body(body: Any) -> Any:
    if isinstance(body, str):  # text/csv: any text becomes a list of that many rows
        return "address_line,postcode\n" + "".join(
            f"{i + 1} Hook Street,LS6 1AB\n" for i in range(len(body) % 20)
        )
    rows = body.get("premises") if isinstance(body, dict) else body
    if isinstance(rows, list):
        _premises_rows(rows)
    return body


def _offer_body(body: dict[str, Any]) -> None:
    now = datetime.now(UTC)
    if _is_date_time(body.get("available_from")):
        body["available_from"] = (now + timedelta(days=10)).isoformat()
    if _is_date_time(body.get("valid_until")):
        body["valid_until"] = (now + timedelta(days=100)).isoformat()
    tariff, price = body.get("social_tariff"), body.get("price")
    if isinstance(tariff, dict) and _is_amount(tariff.get("price")) and _is_amount(price):
        tariff["price"] = min(tariff["price"], price)


def _is_amount(value: Any) -> bool:
    """An amount the document accepts for an offer: 0 to MAX_MONEY_TARGET minor units."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_MONEY_TARGET


def _whole_numbers(data: Any) -> Any:
    if isinstance(data, float) and data.is_integer():
        return int(data)
    if isinstance(data, dict):
        return {key: _whole_numbers(value) for key, value in data.items()}
    if isinstance(data, list):
        return [_whole_numbers(value) for value in data]
    return data


def _cursor(operation_id: Any) -> str:
    if operation_id == "listCampaigns":  # by deadline, then id
        return encode_cursor([(datetime.now(UTC) + timedelta(days=1)).isoformat(), 1])
    return encode_cursor([1])  # by id


def _demand_query(query: dict[str, Any]) -> None:
    if isinstance(query.get("postcode"), str) and query["postcode"]:
        query["postcode"] = _pick((*DISTRICTS, "LS", "M"), query["postcode"])
    if query.get("price") is not None:  # a price the document takes still breaks it alone
        query.setdefault("currency", "gbp")
        query.setdefault("period", "month")


def _map(operation_id: Any, body: Any, query: Any, slug: Any) -> None:
    if isinstance(query, dict) and isinstance(query.get("cursor"), str) and query["cursor"]:
        query["cursor"] = _cursor(operation_id)
    if operation_id == "listCampaigns" and isinstance(query, dict):
        if isinstance(query.get("postcode"), str) and query["postcode"]:
            query["postcode"] = _pick(DISTRICTS, query["postcode"])
    if operation_id == "listDemand" and isinstance(query, dict):
        _demand_query(query)
    if operation_id == "getChoice" and isinstance(query, dict):
        if isinstance(query.get("token"), str) and query["token"]:
            query["token"] = os.environ["GROUNDSWELL_CHOICE_TOKEN"]
    if not isinstance(body, dict):
        return
    body.update(_whole_numbers(body))
    if operation_id == "createCampaign":
        _campaign_body(body)
    elif operation_id == "updateCampaign":
        _campaign_body(body)
        if _is_date_time(body.get("deadline")):  # later than the 60 days it was created with
            body["deadline"] = (datetime.now(UTC) + timedelta(days=90)).isoformat()
        _live_quote(body, _campaign_of(slug))
    elif operation_id == "createPledge":
        _pledge_body(body, slug)
    elif operation_id == "verifyLetter":
        if isinstance(body.get("postcode"), str) and body["postcode"].strip():
            body["postcode"] = _pick(POSTCODES, body["postcode"])
        line = body.get("address_line")
        if isinstance(line, str) and line.strip() and ADDRESS_PATTERN.search(line):
            body["address_line"] = _pick(ADDRESS_LINES, line)
    elif operation_id in ("confirmPledge", "withdrawPledge"):
        if isinstance(body.get("token"), str) and body["token"]:
            kind = "CONFIRM" if operation_id == "confirmPledge" else "WITHDRAW"
            body["token"] = os.environ[f"GROUNDSWELL_{kind}_TOKEN"]
    elif operation_id == "makeChoice":
        if isinstance(body.get("token"), str) and body["token"]:
            body["token"] = os.environ["GROUNDSWELL_CHOICE_TOKEN"]
    elif operation_id in ("createOffer", "updateOffer"):
        _offer_body(body)
    elif operation_id == "openChoiceRound":
        if _is_date_time(body.get("closes_at")):
            body["closes_at"] = (datetime.now(UTC) + timedelta(days=14)).isoformat()
    elif operation_id == "recoverWebhookDeliveries":
        if _is_date_time(body.get("since")):
            body["since"] = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    elif operation_id in ("createWebhookEndpoint", "updateWebhookEndpoint"):
        _endpoint_body(body)


def _operation_id(context: schemathesis.HookContext) -> Any:
    return context.operation.definition.raw.get("operationId") if context.operation else None


# Cases of every phase but the examples pass through map_case; examples through map_body
# and map_query only. Mapping twice is harmless: every rule leaves a valid value as valid.
@schemathesis.hook
def map_case(context: schemathesis.HookContext, case: schemathesis.Case) -> schemathesis.Case:
    slug = (case.path_parameters or {}).get("slug")
    if case.operation.definition.raw.get("operationId") == "replaceCampaignPremises":
        case.body = _premises_body(case.body)
    _map(case.operation.definition.raw.get("operationId"), case.body, case.query, slug)
    return case


@schemathesis.hook
def map_body(context: schemathesis.HookContext, body: Any) -> Any:
    if _operation_id(context) == "replaceCampaignPremises":
        return _premises_body(body)
    _map(_operation_id(context), body, None, None)
    return body


@schemathesis.hook
def map_query(context: schemathesis.HookContext, query: Any) -> Any:
    _map(_operation_id(context), None, query, None)
    return query
