"""Campaign leads, provider and council organisations, and their API keys.

Keys are shown once and stored only as sha256 hashes. Who owns a key is remembered for a
few seconds (KeyCache), so a revoked key is refused within that delay, and at once in the
process that revoked it.
"""

from __future__ import annotations

import hashlib
import secrets
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from databases import Database

from pledges.store import Store, utcnow
from pledges.tables import api_keys, leads, organisation_members, organisations

KEY_PREFIX = "gs_"
ORGANISATION_KINDS = ("provider", "council")


@dataclass(frozen=True)
class Lead:
    id: int
    email: str
    name: str


@dataclass(frozen=True)
class Organisation:
    id: int
    name: str
    kind: str


def hash_key(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


DEFAULT_KEY_CACHE_SECONDS = 5.0

# Every KeyCache of this process: a revocation here drops the key from each at once.
_key_caches: weakref.WeakSet[KeyCache] = weakref.WeakSet()


class KeyCache:
    """The owners of recently used API keys, by the key's hash, for `seconds` each: a
    lead's or an organisation's request then costs no query for its key. A key revoked in
    another process is refused within `seconds`; one revoked through revoke_api_key in this
    process, at once. Keys that own nothing are not remembered (a new key works at once)."""

    def __init__(
        self,
        seconds: float = DEFAULT_KEY_CACHE_SECONDS,
        *,
        clock: Callable[[], float] = time.monotonic,
        size: int = 10_000,
    ) -> None:
        self.seconds = seconds
        self.clock = clock
        self.size = size
        self._owners: dict[tuple[str, str], tuple[float, Any]] = {}
        _key_caches.add(self)

    def get(self, key_hash: str, kind: str) -> Any:
        """The owner remembered for this key, or None (unknown, or older than `seconds`)."""
        found = self._owners.get((key_hash, kind))
        if found is None:
            return None
        if self.clock() >= found[0]:
            self._owners.pop((key_hash, kind), None)
            return None
        return found[1]

    def put(self, key_hash: str, kind: str, owner: Any) -> None:
        if self.seconds <= 0:
            return
        if len(self._owners) >= self.size:
            self._owners.clear()
        self._owners[(key_hash, kind)] = (self.clock() + self.seconds, owner)

    def drop(self, key_hash: str) -> None:
        for kind in ("lead", "organisation"):
            self._owners.pop((key_hash, kind), None)


async def ensure_lead(db: Database, email: str, name: str = "") -> Lead:
    email = email.strip().lower()
    row = await db.fetch_one(sa.select(leads).where(leads.c.email == email))
    if row is None:
        lead_id = await db.fetch_val(
            sa.insert(leads)
            .values(email=email, name=name, created_at=utcnow())
            .returning(leads.c.id)
        )
        return Lead(id=int(lead_id), email=email, name=name)
    return Lead(id=row["id"], email=row["email"], name=row["name"])


async def _new_key(db: Database, **owner: int) -> str:
    """Store a new key's hash for its owner (lead_id= or organisation_id=); the raw key
    is returned once and kept nowhere."""
    raw_key = KEY_PREFIX + secrets.token_urlsafe(32)
    await db.execute(
        sa.insert(api_keys).values(
            key_hash=hash_key(raw_key), prefix=raw_key[:10], created_at=utcnow(), **owner
        )
    )
    return raw_key


def _key_owner(table: sa.Table, owner_column: sa.Column[Any], key_hash: str) -> Any:
    """The row of `table` that owns this unrevoked key."""
    return (
        sa.select(table)
        .join(api_keys, owner_column == table.c.id)
        .where(api_keys.c.key_hash == key_hash, api_keys.c.revoked_at.is_(None))
    )


async def revoke_api_key(store: Store, raw_key: str) -> bool:
    """Revoke a key for good; False when it was unknown or revoked already. This process
    forgets it at once; others within their KeyCache's seconds."""
    key_hash = hash_key(raw_key)
    async with store.write() as db:
        revoked = await db.fetch_one(
            sa.update(api_keys)
            .where(api_keys.c.key_hash == key_hash, api_keys.c.revoked_at.is_(None))
            .values(revoked_at=utcnow())
            .returning(api_keys.c.id)
        )
    for cache in list(_key_caches):
        cache.drop(key_hash)
    return revoked is not None


async def create_lead_api_key(store: Store, email: str) -> tuple[Lead, str]:
    """Create the lead if needed and a new key for them; returns the raw key once."""
    async with store.write() as db:
        lead = await ensure_lead(db, email)
        raw_key = await _new_key(db, lead_id=lead.id)
    return lead, raw_key


async def lead_for_key(db: Database, raw_key: str, cache: KeyCache | None = None) -> Lead | None:
    key_hash = hash_key(raw_key)
    if cache is not None and (known := cache.get(key_hash, "lead")) is not None:
        return known
    row = await db.fetch_one(_key_owner(leads, api_keys.c.lead_id, key_hash))
    if row is None:
        return None
    lead = Lead(id=row["id"], email=row["email"], name=row["name"])
    if cache is not None:
        cache.put(key_hash, "lead", lead)
    return lead


async def ensure_organisation(
    db: Database, name: str, kind: str, member_email: str
) -> Organisation:
    name = name.strip()
    row = await db.fetch_one(sa.select(organisations).where(organisations.c.name == name))
    if row is None:
        org_id = await db.fetch_val(
            sa.insert(organisations)
            .values(name=name, kind=kind, created_at=utcnow())
            .returning(organisations.c.id)
        )
        org = Organisation(id=int(org_id), name=name, kind=kind)
    else:
        org = Organisation(id=row["id"], name=row["name"], kind=row["kind"])
    member = member_email.strip().lower()
    exists = await db.fetch_val(
        sa.select(organisation_members.c.email).where(
            organisation_members.c.organisation_id == org.id,
            organisation_members.c.email == member,
        )
    )
    if exists is None:
        await db.execute(
            sa.insert(organisation_members).values(
                organisation_id=org.id, email=member, created_at=utcnow()
            )
        )
    return org


async def create_organisation_api_key(
    store: Store, email: str, org_name: str, kind: str
) -> tuple[Organisation, str]:
    """Create the organisation and membership if needed, and a new key for it."""
    if kind not in ORGANISATION_KINDS:
        raise ValueError(f"kind must be one of {ORGANISATION_KINDS}")
    async with store.write() as db:
        org = await ensure_organisation(db, org_name, kind, email)
        raw_key = await _new_key(db, organisation_id=org.id)
    return org, raw_key


async def organisation_for_key(
    db: Database, raw_key: str, cache: KeyCache | None = None
) -> Organisation | None:
    key_hash = hash_key(raw_key)
    if cache is not None and (known := cache.get(key_hash, "organisation")) is not None:
        return known
    row = await db.fetch_one(_key_owner(organisations, api_keys.c.organisation_id, key_hash))
    organisation = _organisation(row)
    if cache is not None and organisation is not None:
        cache.put(key_hash, "organisation", organisation)
    return organisation


async def organisation_member_emails(db: Database, organisation_id: int) -> list[str]:
    rows = await db.fetch_all(
        sa.select(organisation_members.c.email).where(
            organisation_members.c.organisation_id == organisation_id
        )
    )
    return [r["email"] for r in rows]


async def organisation_by_id(db: Database, organisation_id: int) -> Organisation | None:
    row = await db.fetch_one(sa.select(organisations).where(organisations.c.id == organisation_id))
    return _organisation(row)


def _organisation(row: Any) -> Organisation | None:
    return None if row is None else Organisation(id=row["id"], name=row["name"], kind=row["kind"])


async def lead_by_id(db: Database, lead_id: int) -> Lead | None:
    row = await db.fetch_one(sa.select(leads).where(leads.c.id == lead_id))
    return None if row is None else Lead(id=row["id"], email=row["email"], name=row["name"])
