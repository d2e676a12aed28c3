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
from pledges.errors import DomainError, FieldError, ValidationFailed
from pledges.identity import normalise_district
from pledges.journal import PUBLIC_EVENT_TYPES
from pledges.store import Store, aware, utcnow

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
        errors.append(FieldError(name, f"Give a list of at most {limit} strings."))
        return None
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item.strip():
            errors.append(FieldError(f"{name}[{i}]", "Must be a non-empty string."))
            return None
    return [v.strip() for v in value]


def _validate_filters(value: Any, errors: list[FieldError]) -> dict[str, list[str]]:
    from pledges.campaigns import CATEGORIES

    if value is None:
        return {k: [] for k in FILTER_KEYS}
    if not isinstance(value, dict):
        errors.append(
            FieldError("filters", "Give filters as {categories, postcode_prefixes, campaigns}.")
        )
        return {}
    unknown = set(value) - set(FILTER_KEYS)
    for key in sorted(unknown):
        errors.append(FieldError(f"filters.{key}", "Unknown filter."))
    result: dict[str, list[str]] = {}
    categories = _string_list(value.get("categories"), "filters.categories", errors) or []
    for i, c in enumerate(categories):
        if c not in CATEGORIES:
            errors.append(
                FieldError(f"filters.categories[{i}]", f"Choose from: {', '.join(CATEGORIES)}.")
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
                    "Use a postcode area (LS) or district (LS6).",
                )
            )
    result["postcode_prefixes"] = prefixes
    slugs = _string_list(value.get("campaigns"), "filters.campaigns", errors) or []
    for i, s in enumerate(slugs):
        if not _SLUG.match(s):
            errors.append(FieldError(f"filters.campaigns[{i}]", "Not a campaign slug."))
    result["campaigns"] = slugs
    return result


async def validate_endpoint(data: Any, *, partial: bool, allow_private: bool) -> dict[str, Any]:
    """The columns to store from what an organisation sent; every problem at once."""
    if not isinstance(data, dict):
        raise ValidationFailed([FieldError("body", "Send a JSON object.")])
    errors: list[FieldError] = []
    values: dict[str, Any] = {}
    allowed = {"url", "description", "event_types", "filters", "status"}
    for key in sorted(set(data) - allowed):
        errors.append(FieldError(key, "Unknown field."))
    if "url" in data or not partial:
        url = data.get("url")
        if not isinstance(url, str) or not url.strip():
            errors.append(FieldError("url", "Enter the https URL to deliver to."))
        else:
            try:
                await vet_webhook_url(url.strip(), allow_private)
                values["url"] = url.strip()
            except UnsafeURL as exc:
                errors.append(FieldError("url", str(exc)))
    if "description" in data:
        description = data["description"]
        if not isinstance(description, str) or len(description) > 500:
            errors.append(FieldError("description", "At most 500 characters of text."))
        else:
            values["description"] = description.strip()
    if "event_types" in data or not partial:
        types = _string_list(data.get("event_types"), "event_types", errors, limit=len(EVENT_TYPES))
        if types is not None:
            for i, t in enumerate(types):
                if t not in EVENT_TYPES:
                    errors.append(
                        FieldError(f"event_types[{i}]", f"Choose from: {', '.join(EVENT_TYPES)}.")
                    )
            values["event_types"] = json.dumps(sorted(set(types)))
    if "filters" in data or not partial:
        values["filters"] = json.dumps(_validate_filters(data.get("filters"), errors))
    if "status" in data:
        if data["status"] not in ("active", "disabled"):
            errors.append(FieldError("status", "Use 'active' or 'disabled'."))
        else:
            values["status"] = data["status"]
    if errors:
        raise ValidationFailed(errors)
    return values


async def create_endpoint(
    store: Store, organisation_id: int, data: Any, *, allow_private: bool
) -> Endpoint:
    values = await validate_endpoint(data, partial=False, allow_private=allow_private)
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
    store: Store, organisation_id: int, endpoint_public_id: str, data: Any, *, allow_private: bool
) -> Endpoint:
    values = await validate_endpoint(data, partial=True, allow_private=allow_private)
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
