"""Single-use sign-in links by email: for campaign leads (15 minutes) and for residents
opening "my pledges" (60 minutes).

The emailed token is an itsdangerous signature over a random nonce, so it expires; the
database keeps only the nonce's sha256, and using a link sets `used_at` in one guarded
UPDATE, so a link works once even when two requests race with it.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

import sqlalchemy as sa
from databases import Database

from pledges.errors import InvalidToken
from pledges.store import Store, utcnow
from pledges.tables import magic_links
from pledges.tokens import Signer

# Purpose -> the token namespace that signs its links (lifetimes are in tokens.MAX_AGE).
PURPOSES = {"lead": "lead-sign-in", "resident": "resident-sign-in"}
# Links one address may be sent per hour and purpose; more requests send nothing.
MAX_LINKS_PER_HOUR = 5


def _hash(nonce: str) -> str:
    return hashlib.sha256(nonce.encode()).hexdigest()


def normalise_email(email: str) -> str:
    return email.strip().lower()


async def issue_link(db: Database, signer: Signer, purpose: str, email: str) -> str | None:
    """A new token for `email`, stored in `db`'s transaction; None when this address has
    been sent too many links in the last hour (the caller sends nothing)."""
    email = normalise_email(email)
    recent = await db.fetch_val(
        sa.select(sa.func.count())
        .select_from(magic_links)
        .where(
            magic_links.c.email == email,
            magic_links.c.purpose == purpose,
            magic_links.c.created_at > utcnow() - timedelta(hours=1),
        )
    )
    if int(recent or 0) >= MAX_LINKS_PER_HOUR:
        return None
    nonce = secrets.token_urlsafe(24)
    await db.execute(
        sa.insert(magic_links).values(
            nonce_hash=_hash(nonce), purpose=purpose, email=email, created_at=utcnow()
        )
    )
    return signer.sign({"n": nonce}, PURPOSES[purpose])


def check_link(signer: Signer, purpose: str, token: str) -> str:
    """The nonce of a well-signed, unexpired token (not yet whether it was used)."""
    value = signer.unsign(token, PURPOSES[purpose])
    if not isinstance(value, dict) or not isinstance(value.get("n"), str):
        raise InvalidToken("This link is not valid.")
    return str(value["n"])


async def use_link(store: Store, signer: Signer, purpose: str, token: str) -> str:
    """Spend a link: returns its email address, or raises InvalidToken if the link is
    forged, expired, or already used."""
    nonce = check_link(signer, purpose, token)
    async with store.write() as db:
        row = await db.fetch_one(
            sa.update(magic_links)
            .where(
                magic_links.c.nonce_hash == _hash(nonce),
                magic_links.c.purpose == purpose,
                magic_links.c.used_at.is_(None),
            )
            .values(used_at=utcnow())
            .returning(magic_links.c.email)
        )
    if row is None:
        raise InvalidToken("This link has already been used. Ask for a new one.")
    return str(row["email"])
