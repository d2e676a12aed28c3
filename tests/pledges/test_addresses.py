"""Which spellings of an address line are one household, the street a line is on, and
what a resident is told about a line that cannot be an address."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from pledges.addresses import (
    MAX_ADDRESS_KEY,
    MAX_ADDRESS_LINE,
    address_key,
    parse_address_line,
    street_of,
)


def full_width(text: str) -> str:
    """The text in the full-width forms some East Asian keyboards type."""
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


ONE_HOUSEHOLD = [
    ("12a Brudenell Rd", "12A, Brudenell Road"),
    ("12a Brudenell Rd", "Flat 12A Brudenell road"),
    ("12 A Brudenell Road", "12A Brudenell Road"),
    ("12 Brudenell Road", "12, Brudenell Road."),
    ("12 Brudenell Road", "  12   BRUDENELL   road  "),
    ("No. 12 Brudenell Road", "12 Brudenell Road"),
    ("Number 12, Brudenell Road", "12 Brudenell Road"),
    ("12Brudenell Road", "12 Brudenell Road"),
    ("Flat 2, 12 Brudenell Road", "Flat 2 12 Brudenell Rd"),
    ("Flat 2, 12 Brudenell Road", "Apartment 2, 12 Brudenell Road"),
    ("Flat 2, 12 Brudenell Road", "Apt. 2, 12 Brudenell Rd."),
    ("Flat 2, 12 Brudenell Road", "2/12 Brudenell Road"),
    ("Flat 2, 12 Brudenell Road", "Flat2, 12 Brudenell Road"),
    ("Flat 2, 12 Brudenell Road", "12 Brudenell Road, Flat 2"),
    ("Flat 2, 12 Brudenell Road", "12 Brudenell Road Flat No. 2"),
    ("3 St. John's Rd", "3 Saint Johns Road"),
    ("3 St John\u2019s Road", "3 ST JOHNS RD"),
    ("5 High St", "5 High Street"),
    ("5 High St, Leeds", "5 High Street Leeds"),
    ("7 Ash Gr", "7 Ash Grove"),
    ("9 Park Ave", "9 Park Avenue"),
    ("1 Cherry Tree Cl", "1 Cherry Tree Close"),
    ("3 Grange Cres", "3 Grange Crescent"),
    ("8 Oak Dr", "8 Oak Drive"),
    ("4 Lime Gdns", "4 Lime Gardens"),
    ("2 Mill Ln", "2 Mill Lane"),
    ("2 Mill La", "2 Mill Lane"),
    ("6 Church Pl", "6 Church Place"),
    ("10 Market Sq", "10 Market Square"),
    ("11 Hope Ter", "11 Hope Terrace"),
    ("11 Hope Tce", "11 Hope Terrace"),
    ("15 Queens Ct", "15 Queens Court"),
    ("20 Victoria Pk", "20 Victoria Park"),
    ("No 4 Mt Pleasant", "4 Mount Pleasant"),
    ("Unit 4, Mill Yard", "Unit 4 Mill Yd"),
    ("Unit 4, Mill Yard", "Mill Yard, Unit 4"),
    ("Flat 3 Mill Ct, 5 Mill Lane", "Flat 3, Mill Court, 5 Mill Ln"),
    ("Rose Cottage, Mill Lane", "ROSE COTTAGE MILL LANE"),
    ("14 Heol-y-Felin", "14 Heol y Felin"),
    ("3 Tŷ Gwyn Road", "3 Ty Gwyn Road"),
    ("12 Brudenell Road", full_width("12 Brudenell Road")),  # as some keyboards type
    ("12 Brude\u200bnell Road", "12 Brudenell Road"),  # a zero-width space pasted in
    ("12 Brudenell Road", "12 Brudenell Road\u00a0"),  # a no-break space
]

DIFFERENT_HOUSEHOLDS = [
    ("12 Brudenell Road", "14 Brudenell Road"),
    ("2 High Street", "12 High Street"),
    ("1 Mill Lane", "11 Mill Lane"),
    ("Flat 2, 12 Brudenell Road", "Flat 3, 12 Brudenell Road"),
    ("Flat 2, 12 Brudenell Road", "12 Brudenell Road"),
    ("Flat 2, 12 Brudenell Road", "212 Brudenell Road"),
    ("Flat 1, 23 Mill Lane", "Flat 12, 3 Mill Lane"),
    ("12A Brudenell Road", "12B Brudenell Road"),
    ("12A Brudenell Road", "12 Brudenell Road"),
    ("Flat A, 12 Brudenell Road", "12A Brudenell Road"),
    ("12 Brudenell Road", "12 Brudenell Avenue"),
    ("12 Brudenell Road", "12 Brudenell Mount"),
    ("12 Church St", "12 Church Rd"),
    ("12 North Street", "12 South Street"),
    ("12-14 Ash Road", "12 Ash Road"),
    ("Rose Cottage, Mill Lane", "Ivy Cottage, Mill Lane"),
    ("Ground Floor Flat, 12 Ash Road", "First Floor Flat, 12 Ash Road"),
    ("Basement Flat, 4 Ash Grove", "4 Ash Grove"),
    ("Apartment 5, The Mill, Mill Lane", "Apartment 6, The Mill, Mill Lane"),
    ("3 St Johns Road", "3 St Johns Street"),
    ("12 La Rue", "12 Lane Rue"),  # "La" is a lane only at the end of a street
]


@pytest.mark.parametrize(("one", "other"), ONE_HOUSEHOLD)
def test_spellings_of_one_home_are_one_household(one: str, other: str) -> None:
    assert address_key(one) == address_key(other)
    assert address_key(other) == address_key(one)
    assert street_of(one) == street_of(other)


@pytest.mark.parametrize(("one", "other"), DIFFERENT_HOUSEHOLDS)
def test_different_homes_are_different_households(one: str, other: str) -> None:
    assert address_key(one) != address_key(other)
    assert address_key(other) != address_key(one)


def test_the_key_reads_as_the_address_in_capitals() -> None:
    assert address_key("12a Brudenell Rd") == "12A BRUDENELL ROAD"
    assert address_key("Flat 2, 12 Brudenell Road") == "2 12 BRUDENELL ROAD"
    assert address_key("Rose Cottage, Mill Lane") == "ROSE COTTAGE MILL LANE"
    # A word that is not labelling a number stays: it may be part of the home's name.
    assert address_key("The Flat, Church Lane") == "THE FLAT CHURCH LANE"


def test_a_key_fits_its_column_and_long_lines_stay_apart() -> None:
    long_one = "Flat 1, " + "Very Long House Name " * 20 + "Road"
    long_two = "Flat 2, " + "Very Long House Name " * 20 + "Road"
    assert len(address_key(long_one)) == MAX_ADDRESS_KEY
    assert address_key(long_one) != address_key(long_two)
    assert len(address_key("St " * MAX_ADDRESS_LINE)) <= MAX_ADDRESS_KEY


@pytest.mark.parametrize(
    ("line", "street"),
    [
        ("12a Brudenell Rd", "Brudenell Road"),
        ("Flat 2, 12 Brudenell Road", "Brudenell Road"),
        ("12 Brudenell Road, Flat 2", "Brudenell Road"),
        ("Rose Cottage, Mill Lane", "Mill Lane"),
        ("Rose Cottage Mill Lane", "Mill Lane"),
        ("Rose Cottage Manor Rd", "Manor Road"),
        ("Ivy House Lane", "Ivy House Lane"),
        ("3 St. John's Rd", "Saint Johns Road"),
        ("12 High St, Headingley", "High Street"),
        ("12 High Street Headingley", "High Street"),
        ("4 Westgate, Headingley", "Westgate"),
        ("Ground Floor Flat, 12 Ash Gr", "Ash Grove"),
        ("Flat 3 Mill Ct, 5 Mill Lane", "Mill Lane"),
        ("The Old Rectory, Church Hill", "Church Hill"),
        ("12 THE GREEN", "The Green"),
        ("Flat B, 7 Hyde Park Terr", "Hyde Park Terrace"),
        ("12", ""),
    ],
)
def test_the_street_of_a_line(line: str, street: str) -> None:
    assert street_of(line) == street


def test_a_line_is_trimmed_and_kept_as_typed() -> None:
    assert parse_address_line("  12a Brudenell Rd ", required=True) == ("12a Brudenell Rd", [])
    assert parse_address_line("Tŷ Gwyn, Heol y Felin", required=True) == (
        "Tŷ Gwyn, Heol y Felin",
        [],
    )
    assert parse_address_line("x" * MAX_ADDRESS_LINE, required=True)[0] == "x" * 200


def test_invisible_format_characters_are_taken_out_not_refused() -> None:
    # Zero-width spaces, byte-order marks and bidirectional overrides (Unicode Cf) cannot be
    # seen, so a resident could not find them to fix them; and an override could make a
    # printed letter show a different address from the one stored.
    typed = "\ufeff12 Brude\u200bnell \u202eRoad\u202c"
    assert parse_address_line(typed, required=True) == ("12 Brudenell Road", [])
    assert parse_address_line("\u200b\u200b", required=True)[1][0].code == "required"


def _one_error(value: object, *, required: bool = True) -> tuple[str, str, dict[str, object]]:
    line, errors = parse_address_line(value, "premises[3].address_line", required=required)
    assert line is None
    assert len(errors) == 1
    return errors[0].field, errors[0].code, dict(errors[0].params)


@pytest.mark.parametrize(
    ("value", "code", "params"),
    [
        ("x" * 5000, "too_long", {"max": 200}),
        ("x" * 201, "too_long", {"max": 200}),
        ("12 Brudenell\x00 Road", "contains_control", {}),
        ("12 Brudenell\x07 Road", "contains_control", {}),
        ("12 Brudenell\tRoad", "contains_control", {}),
        ("12 Brudenell Road\nLeeds", "contains_control", {}),
        ("12 Brudenell \x9b Road", "contains_control", {}),
        ("12 Brudenell \ud800 Road", "contains_control", {}),  # a lone surrogate from JSON
        ("", "required", {}),
        ("   ", "required", {}),
        (None, "required", {}),
        ("---", "not_an_address", {}),
        (12, "not_text", {}),
        (["12 Brudenell Road"], "not_text", {}),
        (True, "not_text", {}),
    ],
)
def test_what_cannot_be_an_address_line_is_named(
    value: object, code: str, params: dict[str, object]
) -> None:
    assert _one_error(value) == ("premises[3].address_line", code, params)


def test_the_messages_are_plain_english() -> None:
    _, errors = parse_address_line("", required=True)
    assert errors[0].message == "Enter the first line of your address, like 12 Brudenell Road."
    _, errors = parse_address_line("12 Brudenell Road\nLeeds LS6 1AB", required=True)
    assert errors[0].message == "Enter only the first line of your address, on one line."
    _, errors = parse_address_line("x" * 5000, required=True)
    assert "200 characters or fewer" in errors[0].message


def test_an_optional_line_may_be_left_out() -> None:
    assert parse_address_line(None, required=False) == (None, [])
    assert parse_address_line("  ", required=False) == (None, [])
    # ...but what is given is checked all the same.
    assert parse_address_line("\x00", required=False)[1][0].code == "contains_control"


# Text as residents and spreadsheets produce it: any character, weighted towards the
# letters, digits and punctuation of addresses.
any_text = st.text(max_size=300)
address_like = st.text(
    alphabet=st.sampled_from("0123456789abcABCflatFLAT rdRDst,.-/'#\u00a0\u200bŷé"),
    max_size=60,
)


@given(st.one_of(any_text, address_like))
def test_the_key_never_fails_and_fits_its_column(line: str) -> None:
    key = address_key(line)
    assert len(key) <= MAX_ADDRESS_KEY
    assert len(street_of(line)) <= MAX_ADDRESS_KEY
    if any(c.isalnum() for c in line):
        assert key


@given(st.one_of(any_text, address_like))
def test_the_key_of_a_key_is_itself(line: str) -> None:
    key = address_key(line)
    assume(len(key) < MAX_ADDRESS_KEY)  # a shortened key ends in a digest, not words
    assert address_key(key) == key


@given(st.one_of(any_text, address_like))
def test_the_key_ignores_case(line: str) -> None:
    assert address_key(line.upper()) == address_key(line.lower()) == address_key(line)


words = st.lists(
    st.one_of(
        st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=8),
        st.sampled_from(["st", "dr", "la", "rd", "flat", "no", "12", "a", "b"]),
    ),
    min_size=1,
    max_size=8,
)
# Extra spacing and punctuation around what separates words; a comma stays a comma, as it
# may end a street ("High St, Leeds" is HIGH STREET LEEDS, "St Leeds" would be SAINT).
SPACE_LIKE = [" ", "  ", " \t ", " . ", "\u00a0", " - "]
COMMA_LIKE = [",", ", ", " , ", ",,", ", ,", ";", "., "]
ENDS = ["", " ", ", ", " ,, ", ". "]


@given(words, st.data())
def test_the_key_ignores_extra_spaces_and_commas(words: list[str], data: st.DataObject) -> None:
    commas = [data.draw(st.booleans()) for _ in words[1:]]
    plain = words[0] + "".join(
        ("," if comma else " ") + word for comma, word in zip(commas, words[1:], strict=True)
    )
    padded = data.draw(st.sampled_from(ENDS)) + words[0]
    for comma, word in zip(commas, words[1:], strict=True):
        padded += data.draw(st.sampled_from(COMMA_LIKE if comma else SPACE_LIKE)) + word
    padded += data.draw(st.sampled_from(ENDS))
    assert address_key(padded) == address_key(plain)


@given(st.one_of(any_text, address_like))
def test_parsing_a_line_never_fails(line: str) -> None:
    parsed, errors = parse_address_line(line, required=True)
    assert (parsed is None) == bool(errors)
    if parsed is not None:
        assert 1 <= len(parsed) <= MAX_ADDRESS_LINE
        assert address_key(parsed)
