"""Cursor pagination of /api/v1 lists: `?limit=` (default 50, at most 200) and `?cursor=`
from the previous page's `next`, which is also sent as `Link: <...>; rel="next"`."""

from __future__ import annotations

from typing import Any, TypeVar
from urllib.parse import urlencode

from pydantic import ConfigDict, Field
from starlette.requests import Request

from app.api.models import Input, Shape
from app.bootstrap import services
from pledges.errors import FieldError, ValidationFailed
from pledges.pagination import DEFAULT_LIMIT, MAX_LIMIT

ShapeT = TypeVar("ShapeT", bound=Shape)
LIMIT_WORDS = f"A whole number from 1 to {MAX_LIMIT}."


class PageQuery(Input):
    """The query of a paginated list; a list's own filters add to it."""

    model_config = ConfigDict(strict=False)

    limit: int = Field(
        default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="How many on this page."
    )
    cursor: str | None = Field(
        default=None,
        min_length=1,
        description="The previous page's `next`, to read on from there.",
    )


# Absent on the last page, so a list that fits one page reads as it always did.
NEXT = Field(
    default=None,
    description="The cursor of the next page (pass it as `cursor`); absent on the last page.",
)


def with_next(listed: ShapeT, cursor: str | None) -> ShapeT:
    """`listed` with `next` set when there is a next page (left unset, it is not sent)."""
    if cursor is not None:
        listed.next = cursor  # type: ignore[attr-defined]
    return listed


def check_limit(data: dict[str, Any]) -> None:
    """The limit in the words the API has always used for it."""
    limit = data.get("limit", str(DEFAULT_LIMIT))
    # ASCII digits, and few of them: int() refuses "²" and numbers of thousands of digits.
    whole = isinstance(limit, str) and limit.isascii() and limit.isdigit() and len(limit) <= 9
    if not whole or not 1 <= int(limit) <= MAX_LIMIT:
        raise ValidationFailed([FieldError("limit", "out_of_range", LIMIT_WORDS)])


def next_link(request: Request, cursor: str | None) -> dict[str, str]:
    """The `Link` header to the next page, with the same filters; none on the last page."""
    if cursor is None:
        return {}
    params = dict(request.query_params) | {"cursor": cursor}
    url = f"{services(request).settings.base_url}{request.url.path}?{urlencode(params)}"
    return {"Link": f'<{url}>; rel="next"'}
