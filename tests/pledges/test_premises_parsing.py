"""A lead's list of premises, from CSV or JSON: the rows it gives, and every problem named
by row (CSV, as a spreadsheet numbers them) or index (JSON), in a short answer."""

from __future__ import annotations

import pytest

from pledges.errors import ValidationFailed
from pledges.premises import (
    MAX_PREMISES,
    MAX_REPORTED_ERRORS,
    PremiseRow,
    parse_premises_csv,
    parse_premises_json,
)


def refused_csv(text: str) -> ValidationFailed:
    with pytest.raises(ValidationFailed) as exc:
        parse_premises_csv(text)
    return exc.value


def refused_json(data: object) -> ValidationFailed:
    with pytest.raises(ValidationFailed) as exc:
        parse_premises_json(data)
    return exc.value


def coded(error: ValidationFailed) -> list[tuple[str, str]]:
    return [(e.field, e.code) for e in error.errors]


BRUDENELL_12A = PremiseRow(
    address_line="12a Brudenell Rd",
    postcode="LS6 1AB",
    district="LS6",
    street="Brudenell Road",
    address_key="12A BRUDENELL ROAD",
    uprn="72045678",
)
MANOR_FLAT_2 = PremiseRow(
    address_line="Flat 2, 14 Manor Drive",
    postcode="LS6 1AD",
    district="LS6",
    street="Manor Drive",
    address_key="2 14 MANOR DRIVE",
    uprn=None,
)


def test_a_csv_list_gives_one_row_per_premises() -> None:
    text = (
        "address_line,postcode,uprn\n"
        "12a Brudenell Rd,ls61ab,72045678\n"
        '"Flat 2, 14 Manor Drive",LS6 1AD,\n'
    )
    assert parse_premises_csv(text) == [BRUDENELL_12A, MANOR_FLAT_2]


def test_a_spreadsheets_csv_is_read_as_it_saves_it() -> None:
    # A byte-order mark, headings in any case and spacing, columns in any order, extra
    # columns, no uprn column, blank rows, CRLF line ends.
    text = (
        "\ufeffNotes, Post Code ,Address Line\r\n"
        "corner house,LS6 1AB,12a Brudenell Rd\r\n"
        ",,\r\n"
        "\r\n"
        'blue door,ls6 1ad,"Flat 2, 14 Manor Drive"\r\n'
    )
    rows = parse_premises_csv(text)
    assert [(r.address_key, r.postcode, r.uprn) for r in rows] == [
        ("12A BRUDENELL ROAD", "LS6 1AB", None),
        ("2 14 MANOR DRIVE", "LS6 1AD", None),
    ]
    # Some spreadsheets save with semicolons.
    assert parse_premises_csv("address_line;postcode\n12a Brudenell Rd;LS6 1AB\n")[0].street == (
        "Brudenell Road"
    )


def test_a_json_list_gives_one_row_per_premises() -> None:
    items: list[dict[str, object]] = [
        {"address_line": "12a Brudenell Rd", "postcode": "ls61ab", "uprn": 72045678},
        {"address_line": "Flat 2, 14 Manor Drive", "postcode": "LS6 1AD", "note": "ignored"},
    ]
    assert parse_premises_json(items) == [BRUDENELL_12A, MANOR_FLAT_2]
    assert parse_premises_json({"premises": items}) == [BRUDENELL_12A, MANOR_FLAT_2]
    assert parse_premises_json([{**items[0], "uprn": "0072045678"}])[0].uprn == "72045678"


def test_missing_columns_are_named_in_one_error() -> None:
    error = refused_csv("address,post code\n12 Brudenell Road,LS6 1AB\n")
    assert coded(error) == [("file", "missing_columns")]
    assert error.errors[0].params == {"columns": ["address_line"]}
    assert "no address_line column" in error.errors[0].message
    # A file without a header row at all.
    error = refused_csv("12 Brudenell Road,LS6 1AB\n14 Brudenell Road,LS6 1AB\n")
    assert coded(error) == [("file", "missing_columns")]
    assert error.errors[0].params == {"columns": ["address_line", "postcode"]}


def test_the_same_premises_twice_is_named_with_both_rows() -> None:
    text = (
        "address_line,postcode\n"
        "12a Brudenell Rd,LS6 1AB\n"  # row 2
        "14 Brudenell Road,LS6 1AB\n"  # row 3
        "12A Brudenell Road,LS6 1AB\n"  # row 4: row 2 spelled another way
        "14 Brudenell Road,LS6 1AD\n"  # row 5: another postcode, another home
        '"Flat 12A, Brudenell Road",ls61ab\n'  # row 6: row 2 again
    )
    error = refused_csv(text)
    assert coded(error) == [("rows[4]", "duplicate"), ("rows[6]", "duplicate")]
    assert [e.params for e in error.errors] == [{"same_as": 2}, {"same_as": 2}]
    assert error.errors[0].message.startswith("Row 4 is the same premises as row 2")

    error = refused_json(
        [
            {"address_line": "12a Brudenell Rd", "postcode": "LS6 1AB"},
            {"address_line": "12 A, Brudenell Road", "postcode": "LS6 1AB"},
        ]
    )
    assert coded(error) == [("premises[1]", "duplicate")]
    assert error.errors[0].params == {"same_as": 0}


def test_one_uprn_on_two_rows_is_named() -> None:
    text = (
        "address_line,postcode,uprn\n"
        "12 Brudenell Road,LS6 1AB,72045678\n"
        "14 Brudenell Road,LS6 1AB,72045678\n"
    )
    error = refused_csv(text)
    assert coded(error) == [("rows[3].uprn", "duplicate")]
    assert error.errors[0].message == "Row 3 has the same UPRN as row 2 (72045678)."


def test_a_list_over_the_limit_is_refused_before_its_rows_are_read() -> None:
    # Every row is bad too: the answer is still one error, not 100,000.
    text = "address_line,postcode\n" + "x\x00,nope\n" * 100_000
    error = refused_csv(text)
    assert coded(error) == [("file", "too_many")]
    assert error.errors[0].params == {"max": MAX_PREMISES}
    assert "at most 20,000 premises" in error.errors[0].message

    error = refused_json([{"address_line": "x"}] * 100_000)
    assert coded(error) == [("premises", "too_many")]


def test_a_list_of_exactly_the_limit_is_taken() -> None:
    text = "address_line,postcode\n" + "".join(
        f"{n} Brudenell Road,LS6 1AB\n" for n in range(1, MAX_PREMISES + 1)
    )
    assert len(parse_premises_csv(text)) == MAX_PREMISES


def test_many_bad_rows_give_a_short_answer() -> None:
    text = "address_line,postcode\n" + "".join(f"{n} Brudenell Road,nope\n" for n in range(500))
    error = refused_csv(text)
    assert len(error.errors) == MAX_REPORTED_ERRORS + 1
    assert error.errors[0].field == "rows[2].postcode"
    assert error.errors[-1].field == "file"
    assert error.errors[-1].code == "too_many_errors"
    assert error.errors[-1].params == {"more": 500 - MAX_REPORTED_ERRORS}


def test_each_bad_cell_is_named_by_its_row() -> None:
    text = (
        "address_line,postcode,uprn\n"
        "12 Brudenell Road,LS6 1AB,\n"  # row 2: fine
        f"{'x' * 5000},LS6 1AB,\n"  # row 3
        "12 Brudenell\x00 Road,LS6 1AB,\n"  # row 4
        "14 Brudenell\x07 Road,LS6 1AB,\n"  # row 5
        '"16 Brudenell Road\nLeeds",LS6 1AB,\n'  # row 6: one row in a spreadsheet
        "18 Brudenell Road,LS6 IAB,\n"  # row 7: a letter I for a one
        "20 Brudenell Road,,\n"  # row 8
        ",LS6 1AB,\n"  # row 9
        "22 Brudenell Road,LS6 1AB,1.00023E+11\n"  # row 10
        "24 Brudenell Road,LS6 1AB,1234567890123\n"  # row 11: 13 digits
        "26 Brudenell Road,LS6\x001AB,12\x00\n"  # row 12
        "---,LS6 1AB,\n"  # row 13
        "Flat 2, 28 Brudenell Road,LS6 1AB,\n"  # row 14: a comma, unquoted
    )
    error = refused_csv(text)
    assert coded(error) == [
        ("rows[3].address_line", "too_long"),
        ("rows[4].address_line", "contains_control"),
        ("rows[5].address_line", "contains_control"),
        ("rows[6].address_line", "contains_control"),
        ("rows[7].postcode", "not_a_postcode"),
        ("rows[8].postcode", "required"),
        ("rows[9].address_line", "required"),
        ("rows[10].uprn", "not_a_uprn"),
        ("rows[11].uprn", "not_a_uprn"),
        ("rows[12].postcode", "contains_control"),
        ("rows[12].uprn", "contains_control"),
        ("rows[13].address_line", "not_an_address"),
        ("rows[14]", "not_valid"),
    ]
    assert error.errors[0].params == {"max": 200}
    messages = {e.field: e.message for e in error.errors}
    assert messages["rows[3].address_line"].startswith("Row 3: the address line is longer")
    assert messages["rows[7].postcode"] == (
        'Row 7: "LS6 IAB" is not a UK postcode; give one like LS6 1AB.'
    )
    assert "format the column as text" in messages["rows[10].uprn"]
    assert "in double quotes" in messages["rows[14]"]


def test_each_bad_item_is_named_by_its_index() -> None:
    error = refused_json(
        {
            "premises": [
                {"address_line": "12 Brudenell Road", "postcode": "LS6 1AB"},
                "14 Brudenell Road",
                {"address_line": 14, "postcode": "LS6 1AB"},
                {"address_line": "x" * 5000, "postcode": 61},
                {"address_line": "16 Brudenell Road", "postcode": "LS6 1AB", "uprn": True},
                {"address_line": "18 Brudenell Road", "postcode": "LS6 1AB", "uprn": "12a"},
                {"postcode": "LS6 1AB"},
            ]
        }
    )
    assert coded(error) == [
        ("premises[1]", "not_an_object"),
        ("premises[2].address_line", "not_text"),
        ("premises[3].address_line", "too_long"),
        ("premises[3].postcode", "not_text"),
        ("premises[4].uprn", "not_text"),
        ("premises[5].uprn", "not_a_uprn"),
        ("premises[6].address_line", "required"),
    ]


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("", "file"),
        ("\ufeff", "file"),
        ("  \n\n", "file"),
        ('""\n', "file"),
        ("address_line,postcode\n", "file"),
        ("address_line,postcode\n,\n\n", "file"),
    ],
)
def test_an_empty_file_is_refused(text: str, field: str) -> None:
    assert coded(refused_csv(text)) == [(field, "empty")]


@pytest.mark.parametrize("data", [[], {"premises": []}])
def test_an_empty_list_is_refused(data: object) -> None:
    assert coded(refused_json(data)) == [("premises", "empty")]


@pytest.mark.parametrize("data", [None, "12 Brudenell Road", {"rows": []}, 12, {"premises": {}}])
def test_what_is_not_a_list_is_refused(data: object) -> None:
    assert coded(refused_json(data)) == [("premises", "not_a_list")]


def test_a_cell_too_big_for_csv_is_an_error_not_a_crash() -> None:
    text = 'address_line,postcode\n12 Brudenell Road,LS6 1AB\n"' + "x" * 200_000 + '",LS6 1AB\n'
    error = refused_csv(text)
    assert coded(error) == [("file", "not_valid")]
    assert "after row 2" in error.errors[0].message
