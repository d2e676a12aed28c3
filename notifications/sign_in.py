"""Emailing a sign-in link: for a campaign's lead, or for a resident's "my pledges".

The answer to asking is the same whether or not a link is sent, so nobody learns which
addresses are known: a resident gets a link only with a pledge (or a report giving their
address) on record. Every request counts towards the limits (pledges.magic_links), known
address or not, and a limited one raises SignInLinksLimited, which the page answers with
when to try again.
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
    *,
    ip: str | None = None,
) -> None:
    """Queue a single-use sign-in link to `email` (valid as an address) when it may have
    one; the link opens `confirm_url` with its token. Sends nothing, silently, otherwise;
    raises SignInLinksLimited when this mailbox or client (`ip`) asked too often."""
    async with store.write() as db:
        token = await issue_link(store, db, signer, purpose, email, ip=ip)
        if purpose == "resident" and not (
            await resident_has_pledges(db, email) or await reporter_known(db, email)
        ):
            return  # the request still counted, as a known address's would
        key = hashlib.sha256(token.encode()).hexdigest()[:40]
        await queue_prepared(
            store,
            db,
            SIGN_IN_KINDS[purpose],
            f"sign-in:{purpose}:{key}",
            email,
            renderer.render_sign_in(purpose, f"{confirm_url}?token={token}"),
        )
