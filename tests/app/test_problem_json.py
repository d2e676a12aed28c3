"""problem+json shows outside clients a field's name and words only."""

from __future__ import annotations

from starlette.requests import Request

from app.errors import Problem, problem_body
from pledges.errors import FieldError


def test_problem_json_shows_only_the_field_and_the_words_not_the_code() -> None:
    request = Request(
        {"type": "http", "method": "POST", "path": "/api/v1/campaigns", "headers": []}
    )
    error = FieldError("target", "out_of_range", "Enter a whole number.", {"min": 1, "max": 9})
    body = problem_body(Problem(422, "Invalid.", [error]), request)
    assert body["errors"] == [{"field": "target", "message": "Enter a whole number."}]
