"""The one rule for the characters of typed text (pledges/text.py), and the fields that
follow it: names, titles, summaries, area names, descriptions, updates and offers."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pledges.campaigns import parse_campaign
from pledges.errors import ValidationFailed
from pledges.offers import parse_offer
from pledges.pledging import parse_pledge
from pledges.text import text_error, text_fault, whole_number
from pledges.updates import parse_update
from tests.factories import campaign_data, offer_data, pledge_data


@pytest.mark.parametrize(
    ("value", "one_line", "fault"),
    [
        ("Jane Doe", True, None),
        ("Siân O'Brien-Łukasz 🏳️‍🌈", True, None),
        ("e\u0301\u200b\u202e\ufeff", True, None),  # odd, but text a person may paste
        ("Jane\r\nDoe", True, "not_one_line"),
        ("Jane\nDoe", True, "not_one_line"),
        ("Jane\tDoe", True, "not_one_line"),
        ("Jane\x1bDoe", True, "not_one_line"),
        ("Jane\x7fDoe", True, "not_one_line"),
        ("Jane\u2028Doe", True, "not_one_line"),
        ("Jane\x00Doe", True, "contains_nul"),
        ("Jane\x85Doe", True, "contains_control"),
        ("Jane\x9bDoe", True, "contains_control"),
        ("Jane\ud800Doe", True, "contains_control"),
        ("Two\nlines\r\nand\ta tab", False, None),
        ("A bell\x07", False, "contains_control"),
        ("Escape\x1b[31m", False, "contains_control"),
        ("NUL\x00", False, "contains_nul"),
        ("\udfffalone", False, "contains_control"),
        ("C1\x9b", False, "contains_control"),
        ("NUL wins\n\x00\x9b", True, "contains_nul"),
    ],
)
def test_each_character_is_judged_once_for_every_field(
    value: str, one_line: bool, fault: str | None
) -> None:
    assert text_fault(value, one_line=one_line) == fault


def test_the_message_names_what_is_wrong() -> None:
    error = text_error("name", "Jane\r\nDoe", one_line=True, what="Your name")
    assert error is not None
    assert (error.field, error.code) == ("name", "not_one_line")
    assert error.message.startswith("Your name must be one line of text")
    bare = text_error("reason", "\x00", one_line=False)
    assert bare is not None and bare.message == "Must not contain a NUL character."


@given(st.text(st.characters(exclude_categories=())))
def test_text_it_accepts_can_be_stored_as_utf8_without_nul(value: str) -> None:
    for one_line in (True, False):
        if text_fault(value, one_line=one_line) is None:
            value.encode("utf-8")  # no lone surrogate
            assert "\x00" not in value
            if one_line:
                assert not any(c in value for c in "\r\n\t\x0b\x0c\u2028\u2029")


def refused(parse: Any, data: dict[str, Any]) -> set[tuple[str, str]]:
    with pytest.raises(ValidationFailed) as caught:
        parse(data)
    return {(e.field, e.code) for e in caught.value.errors}


@pytest.mark.parametrize("bad", ["Jane\r\nDoe", "Jane\nDoe", "Jane\x1bDoe", "Jane\x85Doe"])
def test_a_pledge_name_with_a_line_break_or_control_is_refused(bad: str) -> None:
    found = refused(parse_pledge, pledge_data(1, name=bad))
    assert {f for f, _ in found} == {"name"}


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("title", "Full fibre\nfor us", "not_one_line"),
        ("summary", "Gigabit\r\nfor every house", "not_one_line"),
        ("description", "Bell \x07 here", "contains_control"),
        ("area.name", "Head\ud800ingley", "contains_control"),
        ("area.name", "Head\ningley", "not_one_line"),
    ],
)
def test_a_campaigns_words_refuse_controls_by_field(field: str, value: str, code: str) -> None:
    data = campaign_data()
    if field == "area.name":
        data["area"] = {**data["area"], "name": value}
    else:
        data[field] = value
    assert refused(parse_campaign, data) == {(field, code)}


def test_a_description_keeps_its_lines_and_tabs() -> None:
    parsed = parse_campaign(campaign_data(description="One.\n\n\tTwo."))
    assert parsed.description == "One.\n\n\tTwo."


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"title": "Ne\x85ws", "body": "Fine."}, {("title", "contains_control")}),
        ({"title": "News", "body": "Esc\x1b[2J"}, {("body", "contains_control")}),
        ({"title": "News", "body": "Half\ud83d"}, {("body", "contains_control")}),
    ],
)
def test_an_update_refuses_controls_by_field(
    data: dict[str, str], expected: set[tuple[str, str]]
) -> None:
    assert refused(parse_update, data) == expected


def test_an_offer_refuses_controls_by_field() -> None:
    assert refused(parse_offer, offer_data(title="Fibre\t900", description="Fast\ud800")) == {
        ("title", "not_one_line"),
        ("description", "contains_control"),
    }


@pytest.mark.parametrize(
    ("text", "number"),
    [("42", 42), (" 7 ", 7), ("0", 0), ("²", None), ("١٢", None), ("9" * 19, None), ("", None)],
)
def test_a_whole_number_is_ascii_digits_within_its_length(text: str, number: int | None) -> None:
    assert whole_number(text, max_digits=18) == number
