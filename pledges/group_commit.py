"""Group commit of confirmations: the confirmations that arrive while one transaction is
writing wait, and are then written together in the next, one transaction for all of them.

A viral campaign's confirmations all move one counter. Written one transaction each,
they queue on that campaign's row lock (PostgreSQL) or on the single writer (SQLite), and
every one pays its own BEGIN, statements, COMMIT and wait for the lock. Here, when the
Store's `group_commit` is on (GROUP_COMMIT; by default with SQLite only, see the README's
Measurements), a process keeps one queue per Store: a confirmation joins it, and a task
writes whatever has queued since its last transaction in one write transaction, at once
when no task was writing (no added wait for a lone confirmation), at most LIMIT at a
time; SQLite has one such task, PostgreSQL up to WRITERS.

In that transaction, on a campaign that counts people and asks nothing else (the kind
pledges.fused writes in one statement):
- one UPDATE confirms every pending pledge of the batch (RETURNING which), its rows
  locked in id order;
- then each campaign in id order, under its row lock (FOR UPDATE on PostgreSQL; SQLite's
  one writer): the `pledge.confirmed` events and the count move in steps that end where
  a milestone or the target is crossed, so each of those is recorded once, by
  counting.after_count, with the count at the pledge that crossed it, and each pledge's
  outcome carries the count as it stood at that pledge, as if they had come one by one.
Everything else (a money pledge, a price question, a pledge not pending, a closed or
hidden campaign, the same pledge twice in one batch) is left to the caller's own
transaction, which decides what to answer. If the batch's transaction fails (a
deadlock, a lost connection), nothing of it is written and every caller takes its own.
"""

from __future__ import annotations

import asyncio
import json
import logging
import weakref
from collections import Counter
from typing import Any

import sqlalchemy as sa
from databases import Database
from sqlalchemy.dialects import postgresql

from pledges.campaigns import reached
from pledges.counting import PROGRESS_COLUMNS, Progress, move_count
from pledges.demand import PLAIN, Deltas
from pledges.fused import Fused, plain_open
from pledges.fused import confirm_pledge as confirm_in_one_statement
from pledges.store import (
    Prepared,
    Store,
    mark_campaign_changed,
    mark_journal_written,
    utcnow,
)
from pledges.tables import campaigns, events, pledges

log = logging.getLogger("groundswell.group_commit")

# The most confirmations one transaction writes: enough to drain a spike's queue in a few
# transactions, few enough that no transaction holds a campaign's lock for long.
LIMIT = 64
# How many batches one process writes at once on PostgreSQL: a lone confirmation never waits
# for another's transaction, and a spike's queue drains in overlapping transactions.
WRITERS = 4


def _ids_of_batch(is_sqlite: bool) -> Any:
    """The batch's pledge ids, one parameter whatever their number (one compiled statement):
    a JSON array on SQLite, a bigint[] on PostgreSQL."""
    if is_sqlite:
        return sa.select(sa.literal_column("value")).select_from(
            sa.func.json_each(sa.bindparam("ids"))
        )
    ids = sa.cast(sa.bindparam("ids"), postgresql.ARRAY(sa.BigInteger))
    # Locked in id order, so two processes' batches never wait on each other in a cycle.
    return (
        sa.select(pledges.c.id)
        .where(pledges.c.id == sa.any_(ids))
        .order_by(pledges.c.id)
        .with_for_update()
    )


def _confirmation_of_batch(is_sqlite: bool) -> Prepared:
    return Prepared(
        sa.update(pledges)
        .where(
            pledges.c.id.in_(_ids_of_batch(is_sqlite)),
            pledges.c.status == "pending",
            pledges.c.amount.is_(None),
            sa.exists().where(campaigns.c.id == pledges.c.campaign_id, *plain_open()),
        )
        .values(status="confirmed", confirmed_at=sa.bindparam("now"))
        .returning(pledges.c.id, pledges.c.campaign_id, pledges.c.firmness),
        name="UPDATE pledges (a batch)",
    )


CONFIRM_BATCH = {True: _confirmation_of_batch(True), False: _confirmation_of_batch(False)}
LOCK_CAMPAIGN = {
    True: Prepared(
        sa.select(*PROGRESS_COLUMNS).where(campaigns.c.id == sa.bindparam("campaign_id")),
        name="SELECT campaigns",
    ),
    False: Prepared(
        sa.select(*PROGRESS_COLUMNS)
        .where(campaigns.c.id == sa.bindparam("campaign_id"))
        .with_for_update(),
        name="SELECT campaigns FOR UPDATE",
    ),
}


def _reached(values: dict[str, Any], confirmed: int) -> frozenset[int]:
    """The milestones (and 100: the target) a campaign's row is at with `confirmed`."""
    progress = Progress.of({**values, "confirmed_count": confirmed})
    tally = progress.tally
    return frozenset(
        percent
        for percent in (*json.loads(values["milestones"]), 100)
        if reached(percent, tally.units, tally.goal, progress.pledged_amount, progress.money_target)
    )


def _steps(values: dict[str, Any], count: int) -> list[int]:
    """How many of `count` confirmations each step counts: a step ends at each
    confirmation that crosses a milestone or the target, so after_count sees it at the
    count that crossed it. A campaign open at its target already (a lowered target)
    tips at its first."""
    confirmed = values["confirmed_count"]
    steps: list[int] = []
    start = 0
    before = _reached(values, confirmed)
    if values["status"] == "open" and 100 in before:
        steps.append(1)
        start = 1
    for n in range(start + 1, count + 1):
        now = _reached(values, confirmed + n)
        if now != before:
            steps.append(n - start)
            start = n
        before = now
    if start < count:
        steps.append(count - start)
    return steps


async def _count_campaign(
    db: Database, is_sqlite: bool, campaign_id: int, rows: list[Any]
) -> list[Fused]:
    """Record the events of `rows` (pledges of one campaign just confirmed, in the order
    they came) and move the campaign's count by them, step by step (see _steps)."""
    locked = await db.fetch_one(LOCK_CAMPAIGN[is_sqlite](campaign_id=campaign_id))  # type: ignore[arg-type]
    assert locked is not None
    values = dict(locked._mapping) if hasattr(locked, "_mapping") else dict(locked)
    mark_journal_written()
    mark_campaign_changed(campaign_id)
    now = utcnow()
    confirmed: list[Fused] = []
    start = 0
    for step in _steps(values, len(rows)):
        taken = rows[start : start + step]
        await db.execute(
            sa.insert(events).values(
                [
                    {
                        "type": "pledge.confirmed",
                        "campaign_id": campaign_id,
                        "payload": json.dumps({"pledge_id": row["id"]}, sort_keys=True),
                        "created_at": now,
                    }
                    for row in taken
                ]
            )
        )
        firm = Counter(row["firmness"] for row in taken)
        progress = await move_count(db, campaign_id, step, deltas=Deltas(firm=firm), settings=PLAIN)
        # Those before the step's last saw the count, and the state, before it moved on.
        for n, row in enumerate(taken[:-1], start=1):
            state = {**values, "confirmed_count": values["confirmed_count"] + n}
            confirmed.append(Fused(row["id"], Progress.of(state)))
        confirmed.append(Fused(taken[-1]["id"], progress))
        values = {**values, "status": progress.status, "confirmed_count": progress.confirmed}
        start += step
    return confirmed


async def _write_batch(store: Store, pledge_ids: list[int]) -> dict[int, Fused]:
    """One transaction for the batch; what it confirmed, by pledge id."""
    is_sqlite = store.is_sqlite
    async with store.write() as db:
        if len(pledge_ids) == 1 and not is_sqlite:
            fused = await confirm_in_one_statement(db, pledge_ids[0], utcnow())
            return {} if fused is None else {fused.pledge_id: fused}
        ids: Any = json.dumps(pledge_ids) if is_sqlite else pledge_ids
        rows = await db.fetch_all(CONFIRM_BATCH[is_sqlite](ids=ids, now=utcnow()))  # type: ignore[arg-type]
        order = {pledge_id: n for n, pledge_id in enumerate(pledge_ids)}
        by_campaign: dict[int, list[Any]] = {}
        for row in sorted(rows, key=lambda r: order[r["id"]]):
            by_campaign.setdefault(row["campaign_id"], []).append(row)
        done: dict[int, Fused] = {}
        for campaign_id in sorted(by_campaign):
            for confirmed in await _count_campaign(
                db, is_sqlite, campaign_id, by_campaign[campaign_id]
            ):
                done[confirmed.pledge_id] = confirmed
    return done


class ConfirmationQueue:
    """One Store's queue of confirmations waiting for the next batch."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._waiting: list[tuple[int, asyncio.Future[Fused | None]]] = []
        # SQLite has one writer; PostgreSQL overlaps a few transactions (their round trips
        # and commits) and locks only the campaign's row for each batch's count.
        self._most_writers = 1 if store.is_sqlite else WRITERS
        self._writers = 0
        # How many confirmations each batch took, for tests and benchmarks.
        self.batch_sizes: Counter[int] = Counter()

    async def confirm(self, pledge_id: int) -> Fused | None:
        """Confirm and count the pledge in the next batch. None: the batch left it to the
        caller (another kind of campaign or pledge, or the batch failed)."""
        loop = asyncio.get_running_loop()
        waiting: asyncio.Future[Fused | None] = loop.create_future()
        self._waiting.append((pledge_id, waiting))
        if self._writers < self._most_writers:
            self._writers += 1
            self._store.spawn(self._write_waiting())
        return await waiting

    async def _write_waiting(self) -> None:
        try:
            while self._waiting:
                await self._write_next()
        finally:
            self._writers -= 1
            if self._writers == 0:  # cancelled (the process stopping): callers write their own
                for _, waiting in self._waiting:
                    if not waiting.done():
                        waiting.set_result(None)
                self._waiting.clear()

    async def _write_next(self) -> None:
        batch = self._waiting[:LIMIT]
        del self._waiting[:LIMIT]
        # The same pledge twice: the first is the batch's, the others are the caller's.
        first: dict[int, int] = {}
        for n, (pledge_id, _) in enumerate(batch):
            first.setdefault(pledge_id, n)
        done: dict[int, Fused] = {}
        try:
            done = await _write_batch(self._store, list(first))
            self.batch_sizes[len(first)] += 1
        except Exception as exc:
            log.warning("a batch of %d confirmations failed: %s", len(first), type(exc).__name__)
        finally:
            for n, (pledge_id, waiting) in enumerate(batch):
                if not waiting.done():
                    waiting.set_result(done.get(pledge_id) if first[pledge_id] == n else None)


_queues: weakref.WeakKeyDictionary[Store, ConfirmationQueue] = weakref.WeakKeyDictionary()


def confirmation_queue(store: Store) -> ConfirmationQueue:
    queue = _queues.get(store)
    if queue is None:
        queue = _queues[store] = ConfirmationQueue(store)
    return queue
