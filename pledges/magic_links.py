"""Single-use sign-in links by email: for campaign leads (15 minutes) and for residents
opening "my pledges" (60 minutes).

The emailed token is an itsdangerous signature over a random nonce, so it expires; the
database keeps only the nonce's sha256, and using a link sets `used_at` in one guarded
UPDATE, so a link works once even when two requests race with it.

Asking is limited per mailbox (the canonical address: eight +tag spellings of one address
count as one) and per client address, counted from the stored links inside the asking
transaction under a lock, so the limits are exact across processes. Every request counts,
whether or not a link is then sent, so being limited tells nobody whether an address is
known. The retention job deletes the rows a day after they were made.
"""

from __future__ import annotations

import hashlib
import math
import secrets
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from databases import Database

from pledges.errors import InvalidToken, SignInLinksLimited
from pledges.identity import canonical_email
from pledges.store import Store, aware, utcnow
from pledges.tables import magic_links
from pledges.tokens import Signer

# Purpose -> the token namespace that signs its links (lifetimes are in tokens.MAX_AGE).
PURPOSES = {"lead": "lead-sign-in", "resident": "resident-sign-in"}
# Links one mailbox (canonical address) may be sent per hour and purpose.
MAX_LINKS_PER_HOUR = 5
# Links one client (IP address) may ask for per hour, whatever the address and purpose.
MAX_LINKS_PER_CLIENT_PER_HOUR = 20
LIMIT_WINDOW = timedelta(hours=1)


def _hash(nonce: str) -> str:
    return hashlib.sha256(nonce.encode()).hexdigest()


def normalise_email(email: str) -> str:
    return email.strip().lower()


async def _wait_after(db: Database, where: list[Any], most: int, now: datetime) -> int | None:
    """Seconds until one more link is allowed under `where`, or None if it is now."""
    rows = await db.fetch_all(
        sa.select(magic_links.c.created_at)
        .where(*where, magic_links.c.created_at > now - LIMIT_WINDOW)
        .order_by(magic_links.c.created_at.desc())
        .limit(most)
    )
    if len(rows) < most:
        return None
    oldest = aware(rows[-1]["created_at"])
    assert oldest is not None
    return max(1, math.ceil((oldest + LIMIT_WINDOW - now).total_seconds()))


async def issue_link(
    store: Store,
    db: Database,
    signer: Signer,
    purpose: str,
    email: str,
    *,
    ip: str | None = None,
) -> str:
    """A new token for `email`, stored in `db`'s transaction (store.write()); raises
    SignInLinksLimited when this mailbox, or this client, has asked too often."""
    email = normalise_email(email)
    canonical = canonical_email(email)
    now = utcnow()
    await store.lock_until_commit(db, f"sign-in:{purpose}:{canonical}")
    waits = [
        await _wait_after(
            db,
            [magic_links.c.email_canonical == canonical, magic_links.c.purpose == purpose],
            MAX_LINKS_PER_HOUR,
            now,
        )
    ]
    if ip:
        await store.lock_until_commit(db, f"sign-in-ip:{ip}")
        waits.append(
            await _wait_after(db, [magic_links.c.ip == ip], MAX_LINKS_PER_CLIENT_PER_HOUR, now)
        )
    found = [w for w in waits if w is not None]
    if found:
        raise SignInLinksLimited(max(found), by_client=waits[0] is None)
    nonce = secrets.token_urlsafe(24)
    await db.execute(
        sa.insert(magic_links).values(
            nonce_hash=_hash(nonce),
            purpose=purpose,
            email=email,
            email_canonical=canonical,
            ip=ip,
            created_at=now,
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
