"""Cursor pagination for every list the API gives: a page of items and an opaque cursor to
the next, keyed on the list's own order (keyset), so rows inserted meanwhile never shift
an item onto two pages or off all of them."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pledges.errors import FieldError, ValidationFailed

T = TypeVar("T")

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
BAD_CURSOR = "This cursor is not one Groundswell gave; start again from the first page."


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next: str | None  # the cursor of the next page; None on the last


def encode_cursor(key: Sequence[Any]) -> str:
    """The position after an item, as an opaque string safe in a URL."""
    raw = json.dumps(list(key), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, shape: Sequence[type]) -> tuple[Any, ...]:
    """The key `encode_cursor` made, checked against the types the list is ordered by;
    anything else is a 422 naming `cursor`."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError, RecursionError):
        key = None
    if (
        not isinstance(key, list)
        or len(key) != len(shape)
        or not all(type(part) is kind for part, kind in zip(key, shape, strict=True))
    ):
        raise ValidationFailed([FieldError("cursor", "not_a_cursor", BAD_CURSOR)])
    return tuple(key)


def page_of(rows: list[T], limit: int, key: Any) -> Page[T]:
    """`rows` fetched with limit + 1: the first `limit` of them, and a cursor after the last
    of those if there was one more."""
    if len(rows) <= limit:
        return Page(rows, None)
    kept = rows[:limit]
    return Page(kept, encode_cursor(key(kept[-1])))
