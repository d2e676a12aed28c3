"""Campaign leads and their API keys (stored as sha256 hashes, shown once)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

import sqlalchemy as sa
from databases import Database

from pledges.store import Store, utcnow
from pledges.tables import api_keys, leads

KEY_PREFIX = "gs_"


@dataclass(frozen=True)
class Lead:
    id: int
    email: str
    name: str


def hash_key(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


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


async def create_lead_api_key(store: Store, email: str) -> tuple[Lead, str]:
    """Create the lead if needed and a new key for them; returns the raw key once."""
    raw_key = KEY_PREFIX + secrets.token_urlsafe(32)
    async with store.write() as db:
        lead = await ensure_lead(db, email)
        await db.execute(
            sa.insert(api_keys).values(
                key_hash=hash_key(raw_key),
                prefix=raw_key[:10],
                lead_id=lead.id,
                created_at=utcnow(),
            )
        )
    return lead, raw_key


async def lead_for_key(db: Database, raw_key: str) -> Lead | None:
    row = await db.fetch_one(
        sa.select(leads)
        .join(api_keys, api_keys.c.lead_id == leads.c.id)
        .where(api_keys.c.key_hash == hash_key(raw_key), api_keys.c.revoked_at.is_(None))
    )
    if row is None:
        return None
    return Lead(id=row["id"], email=row["email"], name=row["name"])
