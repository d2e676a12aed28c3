"""Emailing a sign-in link: for a campaign's lead, or for a resident's "my pledges".

The answer to asking is the same whether or not a link is sent, so nobody learns which
addresses are known: a resident gets a link only with a pledge (or a report giving their
address) on record, and an address sent too many links in the last hour gets none.
"""

from __future__ import annotations

import hashlib

from notifications.messages import MessageRenderer
from notifications.outbox import SIGN_IN_KINDS, queue_prepared
from pledges.erasure import resident_has_pledges
from pledges.magic_links import issue_link
from pledges.reports import reporter_known
from pledges.store import Store
from pledges.tokens import Signer


async def email_sign_in_link(
    store: Store,
    signer: Signer,
    renderer: MessageRenderer,
    purpose: str,
    email: str,
    confirm_url: str,
) -> None:
    """Queue a single-use sign-in link to `email` (valid as an address) when it may have
    one; the link opens `confirm_url` with its token. Sends nothing, silently, otherwise."""
    if purpose == "resident" and not (
        await resident_has_pledges(store.database, email)
        or await reporter_known(store.database, email)
    ):
        return
    async with store.write() as db:
        token = await issue_link(db, signer, purpose, email)
        if token is None:
            return
        key = hashlib.sha256(token.encode()).hexdigest()[:40]
        await queue_prepared(
            store,
            db,
            SIGN_IN_KINDS[purpose],
            f"sign-in:{purpose}:{key}",
            email,
            renderer.render_sign_in(purpose, f"{confirm_url}?token={token}"),
        )
