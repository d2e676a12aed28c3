"""The worker: expires campaigns, dispatches the journal and sends email.

Runs beside the web app in one process (`groundswell serve`) or on its own
(`groundswell worker`). A commit that writes events wakes it at once; polling is the
fallback for events written by other processes.
"""

from __future__ import annotations

import asyncio
import logging

from notifications.mail import Mailer
from notifications.messages import MessageRenderer
from notifications.outbox import dispatch_events, send_due_emails
from pledges.campaigns import expire_due_campaigns
from pledges.store import Store

log = logging.getLogger("groundswell.worker")


class Worker:
    def __init__(
        self,
        store: Store,
        mailer: Mailer,
        renderer: MessageRenderer,
        *,
        poll_seconds: float = 1.0,
    ) -> None:
        self.store = store
        self.mailer = mailer
        self.renderer = renderer
        self.poll_seconds = poll_seconds
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    async def run_once(self) -> int:
        """One pass over every kind of work; returns how much was done."""
        done = len(await expire_due_campaigns(self.store))
        done += await dispatch_events(self.store)
        done += await send_due_emails(self.store, self.mailer, self.renderer)
        return done

    async def run(self) -> None:
        log.info("worker started")
        failures = 0
        while not self._stopping.is_set():
            self._wake.clear()
            try:
                done = await self.run_once()
                failures = 0
            except Exception:
                failures += 1
                log.exception("worker pass failed")
                done = 0
                await asyncio.sleep(min(30.0, 0.5 * 2**failures))
            if done:
                continue
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_seconds)
            except TimeoutError:
                pass
        log.info("worker stopped")
