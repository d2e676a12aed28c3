"""A title as residents read it in an email subject or a heading: one line of text."""

from __future__ import annotations

from typing import Any

from pledges.errors import FieldError


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
    elif any(ord(c) < 32 or ord(c) == 127 for c in title):
        errors.append(FieldError("title", "not_one_line", "The title must be one line of text."))
    return title
