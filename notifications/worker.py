"""The worker: expires campaigns, opens and closes choice rounds when due, marks missed
delivery dates, dispatches the journal, sends email and delivers webhooks, each in its own
loop so a slow mail server never delays a webhook.

Runs beside the web app in one process (`groundswell serve`) or on its own
(`groundswell worker`). A commit that writes events wakes it at once: in-process through
the Store, between processes on PostgreSQL through LISTEN/NOTIFY; polling is the fallback.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import httpx
from databases import Database

from gateways.stripe_gateway import StripeGateway
from notifications.mail import Mailer
from notifications.messages import MessageRenderer
from notifications.outbox import dispatch_events, scrub_pledge_mail, send_due_emails
from notifications.webhooks import Deliverer, DeliveryPolicy, queue_webhooks_for
from pledges.campaigns import expire_due_campaigns
from pledges.choices import close_due_rounds, open_due_rounds
from pledges.delivery import mark_missed_milestones
from pledges.journal import Event
from pledges.payments import run_payments
from pledges.reports import forget_reporters
from pledges.retention import (
    anonymise_closed_campaigns,
    forget_letter_attempts,
    forget_sign_in_records,
)
from pledges.store import NOTIFY_CHANNEL, Store

log = logging.getLogger("groundswell.worker")

# Anonymising old pledges runs at most once an hour, this many per pass (a large backlog
# goes over the next passes, so the journal is never held up for long).
RETENTION_INTERVAL_SECONDS = 3600.0
RETENTION_PER_PASS = 5000
# Stripe customers of erased or anonymised pledges are deleted at most once a minute.
FORGET_INTERVAL_SECONDS = 60.0


def webhook_client(policy: DeliveryPolicy) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        timeout=httpx.Timeout(policy.total_timeout, connect=policy.connect_timeout),
        follow_redirects=False,  # a 3xx is a failed delivery, never followed
        trust_env=False,
        limits=httpx.Limits(max_connections=policy.concurrency * 2, max_keepalive_connections=64),
    )


class Worker:
    def __init__(
        self,
        store: Store,
        mailer: Mailer,
        renderer: MessageRenderer,
        *,
        poll_seconds: float = 1.0,
        policy: DeliveryPolicy | None = None,
        pledge_retention_days: int | None = None,
        payments: StripeGateway | None = None,
    ) -> None:
        self.store = store
        # Charging, releasing cards, reminders: only where Stripe is configured.
        self.payments = payments
        self._payments_wake = asyncio.Event()
        self._forget_due = 0.0  # time.monotonic() of the next deletion of Stripe customers
        # None: this worker does not anonymise (tests that build a Worker by hand).
        self.pledge_retention_days = pledge_retention_days
        self._retention_due = 0.0  # time.monotonic() of the next run
        self.mailer = mailer
        self.renderer = renderer
        self.poll_seconds = poll_seconds
        self.policy = policy or DeliveryPolicy()
        self._journal_wake = asyncio.Event()
        self._email_wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._deliverer: Deliverer | None = None

    @property
    def deliverer(self) -> Deliverer:
        if self._deliverer is None:
            # Endpoints spread over small pools, as many as fill the concurrency at the
            # per-endpoint limit (8 by default).
            pools = max(1, self.policy.concurrency // self.policy.per_endpoint_concurrency)
            self._deliverer = Deliverer(
                self.store,
                self.policy,
                webhook_client(self.policy),
                [webhook_client(self.policy) for _ in range(pools - 1)],
            )
        return self._deliverer

    def wake(self) -> None:
        self._journal_wake.set()
        self._email_wake.set()
        self._payments_wake.set()
        self.deliverer.wake()

    def stop(self) -> None:
        self._stopping.set()
        self.wake()

    async def _queue_webhooks(self, store: Store, db: Database, event: Event) -> Any:
        return await queue_webhooks_for(store, db, event, self.renderer.base_url)

    async def anonymise_if_due(self) -> int:
        """The retention job, at most once an hour; a failure waits for the next hour."""
        if self.pledge_retention_days is None or time.monotonic() < self._retention_due:
            return 0
        self._retention_due = time.monotonic() + RETENTION_INTERVAL_SECONDS
        try:
            done = await anonymise_closed_campaigns(
                self.store,
                self.pledge_retention_days,
                scrub_mail=scrub_pledge_mail,
                limit=RETENTION_PER_PASS,
            )
            await forget_letter_attempts(self.store)
            await forget_sign_in_records(self.store)
            await forget_reporters(self.store)
        except Exception:
            log.exception("anonymising closed campaigns failed")
            return 0
        if done:
            log.info("anonymised %s pledges of closed campaigns", done)
        if done >= RETENTION_PER_PASS:
            self._retention_due = 0.0  # more to do: the next pass goes on
        return done

    async def dispatch(self, now: datetime | None = None) -> int:
        """One pass of the journal loop; `now` stands in for the clock (tests)."""
        anonymised = await self.anonymise_if_due()
        expired = len(await expire_due_campaigns(self.store))
        # Rounds open 14 days after a campaign's first offer unless the lead opened them,
        # and close at their closing date, recording the results the journal then sends.
        rounds = len(await open_due_rounds(self.store, now))
        rounds += len(await close_due_rounds(self.store, now))
        missed = await mark_missed_milestones(self.store, now)
        dispatched = await dispatch_events(self.store, also=[self._queue_webhooks])
        if dispatched:
            self._email_wake.set()
            self.deliverer.wake()
        return anonymised + expired + rounds + missed + dispatched

    async def send_email(self) -> int:
        return await send_due_emails(self.store, self.mailer, self.renderer)

    async def take_payments(self) -> int:
        """Charge tipped campaigns' saved cards, release unused ones, remind, fund."""
        if self.payments is None:
            return 0
        forget = time.monotonic() >= self._forget_due
        if forget:
            self._forget_due = time.monotonic() + FORGET_INTERVAL_SECONDS
        done = await run_payments(self.store, self.payments, forget=forget)
        if done:
            self._journal_wake.set()
        return done

    async def run_once(self) -> int:
        """One pass over every kind of work, waiting for webhook attempts to finish."""
        done = await self.take_payments()
        done += await self.dispatch()
        done += await self.send_email()
        done += await self.deliverer.run_once()
        await self.deliverer.drain()
        return done

    async def aclose(self) -> None:
        if self._deliverer is not None:
            await self._deliverer.drain()
            await self._deliverer.aclose()
        if self.payments is not None:
            await self.payments.aclose()

    async def _loop(
        self, name: str, work: Callable[[], Awaitable[int]], wake: asyncio.Event
    ) -> None:
        failures = 0
        while not self._stopping.is_set():
            wake.clear()
            try:
                done = await work()
                failures = 0
            except Exception:
                failures += 1
                log.exception("%s pass failed", name)
                done = 0
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), min(30.0, 0.5 * 2**failures))
            if done:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=self.poll_seconds)

    async def _listen(self) -> None:
        """PostgreSQL: wake on NOTIFY from commits in other processes."""
        import asyncpg

        while not self._stopping.is_set():
            try:
                conn = await asyncpg.connect(self.store.url)
            except Exception as exc:
                log.warning("LISTEN connection failed (%s); polling only", type(exc).__name__)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), 5.0)
                continue
            try:
                await conn.add_listener(NOTIFY_CHANNEL, lambda *_: self.wake())
                while not self._stopping.is_set() and not conn.is_closed():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._stopping.wait(), 5.0)
            finally:
                with contextlib.suppress(Exception):
                    await conn.close()

    async def run(self) -> None:
        log.info("worker started")
        loops = [
            self._loop("journal", self.dispatch, self._journal_wake),
            self._loop("email", self.send_email, self._email_wake),
            self._loop("payments", self.take_payments, self._payments_wake),
            self.deliverer.run(self._stopping, self.poll_seconds),
        ]
        if not self.store.is_sqlite:
            loops.append(self._listen())
        try:
            await asyncio.gather(*loops)
        finally:
            await self.aclose()
            log.info("worker stopped")
