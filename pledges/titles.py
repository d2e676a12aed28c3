"""A title as residents read it in an email subject or a heading: one line of text."""

from __future__ import annotations

from typing import Any

from pledges.errors import FieldError
from pledges.text import text_error


def read_title(
    data: dict[str, Any], errors: list[FieldError], *, longest: int, missing: str
) -> str:
    """`data["title"]` stripped; a problem with it appended to `errors` (required, too long,
    or not one line), the empty string then."""
    title = data.get("title")
    title = title.strip() if isinstance(title, str) else ""
    if not title:
        errors.append(FieldError("title", "required", missing))
    elif len(title) > longest:
        errors.append(
            FieldError(
                "title",
                "too_long",
                f"The title must be {longest} characters or fewer.",
                {"max": longest},
            )
        )
    elif error := text_error("title", title, one_line=True, what="The title"):
        errors.append(error)
    return title
