"""Webhook endpoints of provider and council organisations: validation, storage,
secret rotation and which events each one receives."""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from databases import Database

from notifications.signing import new_secret
from notifications.ssrf import UnsafeURL, vet_webhook_url
from notifications.tables import webhook_deliveries, webhook_endpoints
from pledges.errors import DomainError, ErrorCode, FieldError, ValidationFailed
from pledges.identity import normalise_district
from pledges.journal import PUBLIC_EVENT_TYPES
from pledges.store import Store, aware, utcnow
from pledges.text import text_error

EVENT_TYPES = (*PUBLIC_EVENT_TYPES, "webhook.test")
ROTATION_OVERLAP = timedelta(hours=24)
_AREA = re.compile(r"^[A-Z]{1,2}$")
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{1,78}[a-z0-9]$")
FILTER_KEYS = ("categories", "postcode_prefixes", "campaigns")


class EndpointNotFound(DomainError):
    pass


def public_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_urlsafe(12)}"


@dataclass(frozen=True)
class Endpoint:
    id: int
    public_id: str
    organisation_id: int
    url: str
    description: str
    event_types: tuple[str, ...]
    filters: dict[str, list[str]] = field(hash=False)
    secret: str
    previous_secret: str | None
    previous_secret_expires_at: datetime | None
    status: str
    disabled_reason: str | None
    failing_since: datetime | None
    last_success_at: datetime | None
    created_at: datetime

    def signing_secrets(self, now: datetime) -> list[str]:
        keys = [self.secret]
        if (
            self.previous_secret
            and self.previous_secret_expires_at
            and self.previous_secret_expires_at > now
        ):
            keys.append(self.previous_secret)
        return keys

    def wants(self, event_type: str, campaign: dict[str, Any]) -> bool:
        """Whether an event about `campaign` (its public payload) goes to this endpoint."""
        if self.status != "active":
            return False
        if self.event_types and event_type not in self.event_types:
            return False
        categories = self.filters.get("categories") or []
        if categories and campaign.get("category") not in categories:
            return False
        slugs = self.filters.get("campaigns") or []
        if slugs and campaign.get("slug") not in slugs:
            return False
        prefixes = self.filters.get("postcode_prefixes") or []
        if prefixes:
            districts = campaign.get("area", {}).get("postcode_districts", [])
            return any(prefix_covers(p, d) for p in prefixes for d in districts)
        return True


def prefix_covers(prefix: str, district: str) -> bool:
    """'LS' covers every LS district; 'LS6' covers LS6 alone (not LS60)."""
    if _AREA.match(prefix):
        return district.startswith(prefix) and district[len(prefix) : len(prefix) + 1].isdigit()
    return district == prefix


def endpoint_from_row(row: Any) -> Endpoint:
    return Endpoint(
        id=row["id"],
        public_id=row["public_id"],
        organisation_id=row["organisation_id"],
        url=row["url"],
        description=row["description"],
        event_types=tuple(json.loads(row["event_types"])),
        filters=json.loads(row["filters"]),
        secret=row["secret"],
        previous_secret=row["previous_secret"],
        previous_secret_expires_at=aware(row["previous_secret_expires_at"]),
        status=row["status"],
        disabled_reason=row["disabled_reason"],
        failing_since=aware(row["failing_since"]),
        last_success_at=aware(row["last_success_at"]),
        created_at=aware(row["created_at"]),  # type: ignore[arg-type]
    )


def _string_list(
    value: Any, name: str, errors: list[FieldError], limit: int = 100
) -> list[str] | None:
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > limit:
        errors.append(
            FieldError(
                name, "not_a_list", f"Give a list of at most {limit} strings.", {"max": limit}
            )
        )
        return None
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item.strip():
            code: ErrorCode = "required" if isinstance(item, str) else "not_text"
            errors.append(FieldError(f"{name}[{i}]", code, "Must be a non-empty string."))
            return None
    return [v.strip() for v in value]


def _validate_filters(value: Any, errors: list[FieldError]) -> dict[str, list[str]]:
    from pledges.campaigns import CATEGORIES

    if value is None:
        return {k: [] for k in FILTER_KEYS}
    if not isinstance(value, dict):
        errors.append(
            FieldError(
                "filters",
                "not_an_object",
                "Give filters as {categories, postcode_prefixes, campaigns}.",
            )
        )
        return {}
    unknown = set(value) - set(FILTER_KEYS)
    for key in sorted(unknown):
        errors.append(FieldError(f"filters.{key}", "unknown_field", "Unknown filter."))
    result: dict[str, list[str]] = {}
    categories = _string_list(value.get("categories"), "filters.categories", errors) or []
    for i, c in enumerate(categories):
        if c not in CATEGORIES:
            errors.append(
                FieldError(
                    f"filters.categories[{i}]",
                    "not_in_choices",
                    f"Choose from: {', '.join(CATEGORIES)}.",
                    {"choices": CATEGORIES},
                )
            )
    result["categories"] = categories
    prefixes = []
    for i, p in enumerate(
        _string_list(value.get("postcode_prefixes"), "filters.postcode_prefixes", errors) or []
    ):
        compact = p.replace(" ", "").upper()
        if _AREA.match(compact) or normalise_district(compact):
            prefixes.append(compact)
        else:
            errors.append(
                FieldError(
                    f"filters.postcode_prefixes[{i}]",
                    "not_a_postcode_prefix",
                    "Use a postcode area (LS) or district (LS6).",
                )
            )
    result["postcode_prefixes"] = prefixes
    slugs = _string_list(value.get("campaigns"), "filters.campaigns", errors) or []
    for i, s in enumerate(slugs):
        if not _SLUG.match(s):
            errors.append(
                FieldError(f"filters.campaigns[{i}]", "not_a_slug", "Not a campaign slug.")
            )
    result["campaigns"] = slugs
    return result


ENDPOINT_STATUSES = ("active", "disabled")
MAX_DESCRIPTION = 500


@dataclass(frozen=True)
class EndpointInput:
    """An endpoint as parse_endpoint checked it. None is a field not sent: a change
    leaves it as it is."""

    url: str | None = None
    description: str | None = None
    event_types: tuple[str, ...] | None = None
    filters: dict[str, list[str]] | None = field(default=None, hash=False)
    status: str | None = None

    def columns(self) -> dict[str, Any]:
        """The columns to store: only those sent."""
        values: dict[str, Any] = {}
        if self.url is not None:
            values["url"] = self.url
        if self.description is not None:
            values["description"] = self.description
        if self.event_types is not None:
            values["event_types"] = json.dumps(list(self.event_types))
        if self.filters is not None:
            values["filters"] = json.dumps(self.filters)
        if self.status is not None:
            values["status"] = self.status
        return values


async def parse_endpoint(data: Any, *, partial: bool, allow_private: bool) -> EndpointInput:
    """What an organisation sent, for a new endpoint (`partial` False: url, event types
    and filters are read even when absent) or a change to one; every problem at once."""
    if not isinstance(data, dict):
        raise ValidationFailed([FieldError("body", "not_an_object", "Send a JSON object.")])
    errors: list[FieldError] = []
    url: str | None = None
    description: str | None = None
    event_types: tuple[str, ...] | None = None
    filters: dict[str, list[str]] | None = None
    status: str | None = None
    allowed = {"url", "description", "event_types", "filters", "status"}
    for key in sorted(set(data) - allowed):
        errors.append(FieldError(key, "unknown_field", "Unknown field."))
    if "url" in data or not partial:
        given = data.get("url")
        if not isinstance(given, str) or not given.strip():
            errors.append(FieldError("url", "required", "Enter the https URL to deliver to."))
        else:
            try:
                await vet_webhook_url(given.strip(), allow_private)
                url = given.strip()
            except UnsafeURL as exc:
                errors.append(FieldError("url", "unsafe_url", str(exc)))
    if "description" in data:
        given = data["description"]
        if not isinstance(given, str) or len(given) > MAX_DESCRIPTION:
            errors.append(
                FieldError(
                    "description",
                    "too_long" if isinstance(given, str) else "not_text",
                    f"At most {MAX_DESCRIPTION} characters of text.",
                    {"max": MAX_DESCRIPTION},
                )
            )
        elif error := text_error("description", given.strip(), one_line=False):
            errors.append(error)
        else:
            description = given.strip()
    if "event_types" in data or not partial:
        types = _string_list(data.get("event_types"), "event_types", errors, limit=len(EVENT_TYPES))
        if types is not None:
            for i, t in enumerate(types):
                if t not in EVENT_TYPES:
                    errors.append(
                        FieldError(
                            f"event_types[{i}]",
                            "not_in_choices",
                            f"Choose from: {', '.join(EVENT_TYPES)}.",
                            {"choices": EVENT_TYPES},
                        )
                    )
            event_types = tuple(sorted(set(types)))
    if "filters" in data or not partial:
        filters = _validate_filters(data.get("filters"), errors)
    if "status" in data:
        if data["status"] not in ENDPOINT_STATUSES:
            errors.append(
                FieldError(
                    "status",
                    "not_in_choices",
                    "Use 'active' or 'disabled'.",
                    {"choices": ENDPOINT_STATUSES},
                )
            )
        else:
            status = data["status"]
    if errors:
        raise ValidationFailed(errors)
    return EndpointInput(url, description, event_types, filters, status)


async def create_endpoint(store: Store, organisation_id: int, endpoint: EndpointInput) -> Endpoint:
    """A new endpoint from parse_endpoint(..., partial=False)."""
    values = endpoint.columns()
    values.setdefault("description", "")
    now = utcnow()
    async with store.write() as db:
        endpoint_id = await db.fetch_val(
            sa.insert(webhook_endpoints)
            .values(
                public_id=public_id("ep"),
                organisation_id=organisation_id,
                secret=new_secret(),
                created_at=now,
                updated_at=now,
                # Active unless registered as disabled (`status` in what was sent).
                **{"status": "active", **values},
            )
            .returning(webhook_endpoints.c.id)
        )
        row = await db.fetch_one(
            sa.select(webhook_endpoints).where(webhook_endpoints.c.id == endpoint_id)
        )
    return endpoint_from_row(row)


async def list_endpoints(db: Database, organisation_id: int) -> list[Endpoint]:
    rows = await db.fetch_all(
        sa.select(webhook_endpoints)
        .where(
            webhook_endpoints.c.organisation_id == organisation_id,
            webhook_endpoints.c.status != "deleted",
        )
        .order_by(webhook_endpoints.c.id)
    )
    return [endpoint_from_row(r) for r in rows]


async def get_endpoint(db: Database, organisation_id: int, endpoint_public_id: str) -> Endpoint:
    row = await db.fetch_one(
        sa.select(webhook_endpoints).where(
            webhook_endpoints.c.public_id == endpoint_public_id,
            webhook_endpoints.c.organisation_id == organisation_id,
            webhook_endpoints.c.status != "deleted",
        )
    )
    if row is None:
        raise EndpointNotFound(endpoint_public_id)
    return endpoint_from_row(row)


async def update_endpoint(
    store: Store, organisation_id: int, endpoint_public_id: str, change: EndpointInput
) -> Endpoint:
    """A change from parse_endpoint(..., partial=True): only the fields sent."""
    values = change.columns()
    async with store.write() as db:
        endpoint = await get_endpoint(db, organisation_id, endpoint_public_id)
        if values.get("status") == "active":
            # Re-enabled by hand: the failure clock starts again.
            values.update(disabled_reason=None, disabled_at=None, failing_since=None)
        elif values.get("status") == "disabled":
            values.update(disabled_reason="Disabled by the organisation.", disabled_at=utcnow())
        if values:
            await db.execute(
                sa.update(webhook_endpoints)
                .where(webhook_endpoints.c.id == endpoint.id)
                .values(updated_at=utcnow(), **values)
            )
        return await get_endpoint(db, organisation_id, endpoint_public_id)


async def delete_endpoint(store: Store, organisation_id: int, endpoint_public_id: str) -> None:
    async with store.write() as db:
        endpoint = await get_endpoint(db, organisation_id, endpoint_public_id)
        await db.execute(
            sa.update(webhook_endpoints)
            .where(webhook_endpoints.c.id == endpoint.id)
            .values(status="deleted", updated_at=utcnow())
        )
        await db.execute(
            sa.update(webhook_deliveries)
            .where(
                webhook_deliveries.c.endpoint_id == endpoint.id,
                webhook_deliveries.c.status.in_(("pending", "sending")),
            )
            .values(status="cancelled", completed_at=utcnow())
        )


async def rotate_secret(store: Store, organisation_id: int, endpoint_public_id: str) -> Endpoint:
    """A new secret; the old one keeps signing beside it for 24 hours."""
    now = utcnow()
    async with store.write() as db:
        endpoint = await get_endpoint(db, organisation_id, endpoint_public_id)
        await db.execute(
            sa.update(webhook_endpoints)
            .where(webhook_endpoints.c.id == endpoint.id)
            .values(
                secret=new_secret(),
                previous_secret=endpoint.secret,
                previous_secret_expires_at=now + ROTATION_OVERLAP,
                updated_at=now,
            )
        )
        return await get_endpoint(db, organisation_id, endpoint_public_id)


async def active_endpoints(db: Database) -> list[Endpoint]:
    rows = await db.fetch_all(
        sa.select(webhook_endpoints).where(webhook_endpoints.c.status == "active")
    )
    return [endpoint_from_row(r) for r in rows]
