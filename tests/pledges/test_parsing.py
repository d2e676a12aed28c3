"""Typed inputs built once from what was sent, and the coded errors they raise."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from pledges.campaigns import (
    MAX_TARGET,
    CampaignInput,
    LiveEdit,
    parse_campaign,
    parse_campaign_edit,
)
from pledges.errors import CampaignNotOpen, ValidationFailed
from pledges.pledging import PledgeInput, parse_pledge
from pledges.store import Store
from pledges.updates import UpdateInput, parse_update
from tests.factories import campaign_data, make_campaign, pledge_data


def coded(exc: pytest.ExceptionInfo[ValidationFailed]) -> dict[str, tuple[str, dict[str, object]]]:
    return {e.field: (e.code, dict(e.params)) for e in exc.value.errors}


def test_a_pledge_is_parsed_once_with_its_amount() -> None:
    pledge = parse_pledge(pledge_data(1, postcode="ls61ab", amount=2500, show_name="on"))
    assert pledge == PledgeInput(
        name="Resident 1",
        email="resident1@example.org",
        postcode="LS6 1AB",
        show_name=True,
        share_contact=False,
        amount=2500,
    )
    # Not a whole number: no amount; a campaign that asks for one refuses it then.
    assert parse_pledge(pledge_data(1, amount="25")).amount is None
    assert parse_pledge(pledge_data(1, amount=True)).amount is None


def test_a_pledge_reports_each_problem_by_field_and_code() -> None:
    with pytest.raises(ValidationFailed) as exc:
        parse_pledge({"name": "x" * 201, "email": "nope", "postcode": "", "show_name": 3})
    assert coded(exc) == {
        "name": ("too_long", {"max": 200}),
        "email": ("not_an_email", {}),
        "postcode": ("required", {}),
        "show_name": ("not_a_boolean", {}),
    }
    # The words for API clients are the domain's, as before.
    assert [e.message for e in exc.value.errors][:3] == [
        "Name must be 200 characters or fewer.",
        "Enter an email address in the right format, like name@example.com.",
        "Enter your postcode.",
    ]


def test_a_campaign_reports_codes_and_the_limits_a_form_words_itself() -> None:
    data = campaign_data(
        title="",
        summary="ab",
        target=0,
        deadline="soon",
        area={"name": "Leeds", "postcode_districts": ["LS6", "XX99X"]},
        money={"currency": "gbp", "min": 500, "max": 200},
    )
    with pytest.raises(ValidationFailed) as exc:
        parse_campaign(data)
    assert coded(exc) == {
        "title": ("required", {}),
        "summary": ("wrong_length", {"min": 3, "max": 500}),
        "area.postcode_districts[1]": ("not_a_postcode_district", {"value": "XX99X"}),
        "money.max": ("below_minimum", {"min": 500}),
        "target": ("out_of_range", {"min": 1, "max": MAX_TARGET}),
        "deadline": ("not_a_date", {}),
    }


def test_a_money_amount_that_is_not_a_whole_number_says_so() -> None:
    with pytest.raises(ValidationFailed) as exc:
        parse_campaign(campaign_data(money={"currency": "xyz", "deposit": "20"}))
    assert coded(exc) == {
        "money.currency": ("not_in_choices", {"choices": ("gbp", "eur", "usd")}),
        "money.deposit": ("not_a_whole_number", {"min": 100, "max": 99_999_999}),
    }


async def test_an_edit_is_parsed_as_the_campaign_status_allows(store: Store) -> None:
    draft = await make_campaign(store, draft=True)
    assert isinstance(parse_campaign_edit(campaign_data(), draft), CampaignInput)
    live = await make_campaign(store)
    earlier = (live.deadline - timedelta(days=1)).isoformat()
    with pytest.raises(ValidationFailed) as exc:
        parse_campaign_edit({"title": "Fibre", "summary": "Ok", "deadline": earlier}, live)
    assert coded(exc) == {
        "summary": ("wrong_length", {"min": 3, "max": 500}),
        "deadline": ("not_later", {"current": live.deadline}),
    }
    same_day = live.deadline.date().isoformat()
    edit = parse_campaign_edit({"title": "Fibre", "summary": "Sum", "deadline": same_day}, live)
    assert edit == LiveEdit("Fibre", "Sum", "", live.deadline)
    with pytest.raises(CampaignNotOpen):
        parse_campaign_edit({}, dataclasses.replace(live, status="expired"))


def test_an_update_is_parsed_once() -> None:
    assert parse_update({"title": " News ", "body": "One.\r\nTwo."}) == UpdateInput(
        "News", "One.\nTwo."
    )
    with pytest.raises(ValidationFailed) as exc:
        parse_update({"title": "a\tb", "body": "x" * 5001})
    assert coded(exc) == {"title": ("not_one_line", {}), "body": ("too_long", {"max": 5000})}
