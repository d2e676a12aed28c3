"""Webhook messages: fan-out from the journal, delivery with retries, and the records
organisations read (deliveries and every attempt)."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import sqlalchemy as sa
from databases import Database

from notifications.endpoints import (
    Endpoint,
    EndpointNotFound,
    active_endpoints,
    endpoint_from_row,
    public_id,
)
from notifications.signing import webhook_headers
from notifications.ssrf import UnsafeURL, vet_webhook_url
from notifications.tables import emails, webhook_attempts, webhook_deliveries, webhook_endpoints
from pledges.accounts import organisation_member_emails
from pledges.errors import DomainError
from pledges.journal import EVENT_EXTRAS, PUBLIC_EVENT_TYPES, TARGET_ORGANISATION, Event
from pledges.pagination import DEFAULT_LIMIT, Page, decode_cursor, page_of
from pledges.store import Store, aware, mark_journal_written, utcnow
from pledges.tables import pledges

log = logging.getLogger("groundswell.webhooks")

# Svix's schedule: the first attempt at once, then retries after these delays.
DEFAULT_SCHEDULE = (0, 5, 300, 1800, 7200, 18000, 36000, 36000)
RESPONSE_KEEP_BYTES = 4096
# What pledges.payments.payment_totals adds to a campaign.funded event's campaign payload.
FUNDED_TOTALS = ("currency", "pledged", "collected", "refunded", "failed", "pledges")


class DeliveryNotFound(DomainError):
    pass


class DeliveryInFlight(DomainError):
    """An attempt is being made right now; retry once it has finished."""


@dataclass(frozen=True)
class DeliveryPolicy:
    schedule: tuple[float, ...] = DEFAULT_SCHEDULE
    jitter: float = 0.2
    connect_timeout: float = 5.0
    total_timeout: float = 15.0
    retry_after_cap: float = 3600.0
    disable_after: timedelta = timedelta(days=5)
    allow_private_networks: bool = False
    per_endpoint_concurrency: int = 4
    concurrency: int = 32
    # How long a claimed delivery stays claimed; None: total_timeout + 15 s. A worker that
    # dies mid-delivery delays that message by this much; it must exceed total_timeout.
    lease_seconds: float | None = None

    @property
    def lease(self) -> timedelta:
        if self.lease_seconds is not None:
            return timedelta(seconds=self.lease_seconds)
        return timedelta(seconds=self.total_timeout + 15)

    def delay_after(self, attempts: int, retry_after: float | None) -> float | None:
        """Seconds until the next attempt after `attempts` failures; None when spent."""
        if attempts >= len(self.schedule):
            return None
        delay = self.schedule[attempts] * random.uniform(1 - self.jitter, 1 + self.jitter)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.retry_after_cap))
        return delay


def parse_schedule(value: str) -> tuple[float, ...]:
    steps = tuple(float(v) for v in value.split(",") if v.strip())
    if not steps or any(s < 0 for s in steps):
        raise ValueError("WEBHOOK_RETRY_SCHEDULE is a comma-separated list of seconds >= 0")
    return steps


# --- fan-out ---------------------------------------------------------------------------


async def _district_counts(db: Database, campaign_id: int) -> dict[str, int]:
    rows = await db.fetch_all(
        sa.select(pledges.c.district, sa.func.count().label("n"))
        .where(pledges.c.campaign_id == campaign_id, pledges.c.status == "confirmed")
        .group_by(pledges.c.district)
        .order_by(pledges.c.district)
    )
    return {r["district"]: int(r["n"]) for r in rows}


async def message_body(db: Database, event: Event, base_url: str) -> str:
    """The JSON body: {type, timestamp, data}. Public campaign facts only, no personal data."""
    totals = FUNDED_TOTALS if event.type == "campaign.funded" else ()
    left_out = {"percent", TARGET_ORGANISATION, *totals, *EVENT_EXTRAS}
    campaign = {k: v for k, v in event.payload.items() if k not in left_out}
    campaign["url"] = f"{base_url}/c/{campaign['slug']}"
    data: dict[str, Any] = {"campaign": campaign}
    data.update({k: event.payload[k] for k in EVENT_EXTRAS if k in event.payload})
    if event.type == "campaign.milestone":
        data["percent"] = event.payload["percent"]
    if totals:
        # Amounts in minor units; "pledges" counts the counted pledges by payment state.
        data["totals"] = {k: event.payload[k] for k in totals if k in event.payload}
    if event.type == "campaign.tipped" and event.campaign_id is not None:
        data["pledges_by_district"] = await _district_counts(db, event.campaign_id)
        data["contacts_url"] = f"{base_url}/api/v1/campaigns/{campaign['slug']}/contacts"
    body = {"type": event.type, "timestamp": event.created_at.isoformat(), "data": data}
    return json.dumps(body, separators=(",", ":"), sort_keys=True)


async def queue_webhooks_for(store: Store, db: Database, event: Event, base_url: str) -> int:
    """One delivery per matching active endpoint, once (unique event x endpoint)."""
    if event.type not in PUBLIC_EVENT_TYPES:
        return 0
    targets = [e for e in await active_endpoints(db) if e.wants(event.type, event.payload)]
    if TARGET_ORGANISATION in event.payload:  # one organisation's own figures: to it alone
        targets = [e for e in targets if e.organisation_id == event.payload[TARGET_ORGANISATION]]
    if not targets:
        return 0
    body = await message_body(db, event, base_url)
    now = utcnow()
    for endpoint in targets:
        await db.execute(
            store.insert_or_ignore(webhook_deliveries).values(
                public_id=public_id("dlv"),
                endpoint_id=endpoint.id,
                event_id=event.id,
                message_id=public_id("msg"),
                event_type=event.type,
                body=body,
                status="pending",
                attempts=0,
                next_attempt_at=now,
                created_at=now,
            )
        )
    return len(targets)


async def queue_test_message(store: Store, endpoint: Endpoint) -> str:
    """A webhook.test message to one endpoint; returns the delivery's id."""
    now = utcnow()
    body = json.dumps(
        {
            "type": "webhook.test",
            "timestamp": now.isoformat(),
            "data": {"endpoint": endpoint.public_id, "message": "A test from Groundswell."},
        },
        separators=(",", ":"),
        sort_keys=True,
    )
    delivery_id = public_id("dlv")
    async with store.write() as db:
        await db.execute(
            sa.insert(webhook_deliveries).values(
                public_id=delivery_id,
                endpoint_id=endpoint.id,
                event_id=None,
                message_id=public_id("msg"),
                event_type="webhook.test",
                body=body,
                status="pending",
                attempts=0,
                next_attempt_at=now,
                created_at=now,
            )
        )
        mark_journal_written()  # wakes workers, as an event would
    return delivery_id


# --- records ---------------------------------------------------------------------------


def delivery_json(row: Any, attempts: list[Any]) -> dict[str, Any]:
    def iso(value: Any) -> str | None:
        value = aware(value)
        return value.isoformat() if value else None

    return {
        "id": row["public_id"],
        "message_id": row["message_id"],
        "event_type": row["event_type"],
        "status": row["status"],
        "attempt_count": row["attempts"],
        "next_attempt_at": iso(row["next_attempt_at"]) if row["status"] == "pending" else None,
        "created_at": iso(row["created_at"]),
        "completed_at": iso(row["completed_at"]),
        "payload": json.loads(row["body"]),
        "attempts": [
            {
                "attempted_at": iso(a["attempted_at"]),
                "status_code": a["status_code"],
                "duration_ms": a["duration_ms"],
                "error": a["error"],
                "response_body": a["response_body"],
            }
            for a in attempts
        ],
    }


async def deliveries_page(
    db: Database, endpoint: Endpoint, *, limit: int = DEFAULT_LIMIT, cursor: str | None = None
) -> Page[dict[str, Any]]:
    """The endpoint's deliveries, newest first, a page at a time; deliveries made meanwhile
    come before the first page, so they never shift a later one."""
    before_id = decode_cursor(cursor, (int,))[0] if cursor is not None else None
    rows = await _delivery_rows(db, endpoint, limit + 1, before_id)
    page = page_of(rows, limit, lambda row: (row["id"],))
    return Page(await _with_attempts(db, page.items), page.next)


async def deliveries_for_endpoint(
    db: Database, endpoint: Endpoint, limit: int = 100
) -> list[dict[str, Any]]:
    return await _with_attempts(db, await _delivery_rows(db, endpoint, limit, None))


async def _delivery_rows(
    db: Database, endpoint: Endpoint, limit: int, before_id: int | None
) -> list[Any]:
    query = (
        sa.select(webhook_deliveries)
        .where(webhook_deliveries.c.endpoint_id == endpoint.id)
        .order_by(webhook_deliveries.c.id.desc())
        .limit(limit)
    )
    if before_id is not None:
        query = query.where(webhook_deliveries.c.id < before_id)
    return list(await db.fetch_all(query))


async def _with_attempts(db: Database, rows: list[Any]) -> list[dict[str, Any]]:
    attempts: dict[int, list[Any]] = {r["id"]: [] for r in rows}
    if rows:
        for a in await db.fetch_all(
            sa.select(webhook_attempts)
            .where(webhook_attempts.c.delivery_id.in_(list(attempts)))
            .order_by(webhook_attempts.c.id)
        ):
            attempts[a["delivery_id"]].append(a)
    return [delivery_json(r, attempts[r["id"]]) for r in rows]


async def retry_delivery(store: Store, organisation_id: int, delivery_public_id: str) -> None:
    """Send again now (a replay when it had succeeded), with the same webhook-id."""
    async with store.write() as db:
        row = await db.fetch_one(
            sa.select(webhook_deliveries.c.id)
            .join(webhook_endpoints, webhook_endpoints.c.id == webhook_deliveries.c.endpoint_id)
            .where(
                webhook_deliveries.c.public_id == delivery_public_id,
                webhook_endpoints.c.organisation_id == organisation_id,
                webhook_endpoints.c.status != "deleted",
            )
        )
        if row is None:
            raise DeliveryNotFound(delivery_public_id)
        queued = await db.fetch_one(
            sa.update(webhook_deliveries)
            .where(webhook_deliveries.c.id == row["id"], webhook_deliveries.c.status != "sending")
            .values(status="pending", next_attempt_at=utcnow(), completed_at=None, attempts=0)
            .returning(webhook_deliveries.c.id)
        )
        if queued is None:
            raise DeliveryInFlight(delivery_public_id)
        mark_journal_written()


async def recover_failed(store: Store, endpoint: Endpoint, since: datetime) -> int:
    """Re-queue this endpoint's failed deliveries created since `since`."""
    # Stored times are UTC; SQLite compares them as text, so the bound must be UTC too.
    since = since.astimezone(UTC)
    async with store.write() as db:
        rows = await db.fetch_all(
            sa.update(webhook_deliveries)
            .where(
                webhook_deliveries.c.endpoint_id == endpoint.id,
                webhook_deliveries.c.status == "failed",
                webhook_deliveries.c.created_at >= since,
            )
            .values(status="pending", next_attempt_at=utcnow(), completed_at=None, attempts=0)
            .returning(webhook_deliveries.c.id)
        )
        if rows:
            mark_journal_written()
    return len(rows)


# --- delivery --------------------------------------------------------------------------


@dataclass
class AttemptResult:
    status_code: int | None
    duration_ms: int
    error: str | None = None
    response_body: str | None = None
    retry_after: float | None = None

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            return max(0.0, (parsedate_to_datetime(value) - utcnow()).total_seconds())
        except (TypeError, ValueError):
            return None


@dataclass
class _Unrecorded:
    endpoint: Endpoint
    row: Any
    result: AttemptResult
    done: asyncio.Future[None]


@dataclass
class Deliverer:
    """Claims due deliveries under a lease and POSTs them, never more than
    `per_endpoint_concurrency` at once to one endpoint, so a slow one cannot hold up the rest."""

    store: Store
    policy: DeliveryPolicy
    http: httpx.AsyncClient
    # More clients, each endpoint always using the same one: httpcore's pool checks every
    # one of its connections on every request, so one big pool costs CPU per connection.
    more_http: list[httpx.AsyncClient] = field(default_factory=list)
    _in_flight: dict[int, int] = field(default_factory=dict)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    # Endpoints as read in the transaction that claimed their deliveries.
    _endpoints: dict[int, Endpoint] = field(default_factory=dict)
    # Group commit: results waiting to be written, and who is writing.
    _unrecorded: list[_Unrecorded] = field(default_factory=list)
    _record_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def wake(self) -> None:
        self._wake.set()

    @property
    def busy(self) -> int:
        return len(self._tasks)

    async def claim(self, limit: int) -> list[Any]:
        now = utcnow()
        full = [e for e, n in self._in_flight.items() if n >= self.policy.per_endpoint_concurrency]
        due = (
            sa.select(webhook_deliveries.c.id)
            .join(webhook_endpoints, webhook_endpoints.c.id == webhook_deliveries.c.endpoint_id)
            .where(
                webhook_endpoints.c.status == "active",
                sa.or_(
                    sa.and_(
                        webhook_deliveries.c.status == "pending",
                        webhook_deliveries.c.next_attempt_at <= now,
                    ),
                    sa.and_(
                        webhook_deliveries.c.status == "sending",
                        webhook_deliveries.c.lease_until <= now,
                    ),
                ),
            )
            .order_by(webhook_deliveries.c.next_attempt_at, webhook_deliveries.c.id)
            .limit(limit)
        )
        if full:
            due = due.where(webhook_deliveries.c.endpoint_id.not_in(full))
        # One connection for the look and the claim (SQLite opens one per standalone query).
        async with self.store.read():
            return await self._claim(due, now)

    async def _claim(self, due: Any, now: datetime) -> list[Any]:
        return await self.store.claim(
            webhook_deliveries,
            due,
            {
                "status": "sending",
                "lease_until": now + self.policy.lease,
                "attempts": webhook_deliveries.c.attempts + 1,
            },
            of=webhook_deliveries,
            then=self._within_endpoint_shares,
        )

    async def _within_endpoint_shares(self, db: Database, rows: list[Any]) -> list[Any]:
        """In the claim's transaction: hand back what is over an endpoint's share, and
        read the endpoints of the rest (once per claim rather than once per delivery)."""
        keep, extra = [], []
        counts = dict(self._in_flight)
        for row in sorted(rows, key=lambda r: r["id"]):
            n = counts.get(row["endpoint_id"], 0)
            if n >= self.policy.per_endpoint_concurrency:
                extra.append(row["id"])
            else:
                counts[row["endpoint_id"]] = n + 1
                keep.append(row)
        if extra:
            await db.execute(
                sa.update(webhook_deliveries)
                .where(webhook_deliveries.c.id.in_(extra))
                .values(
                    status="pending",
                    lease_until=None,
                    attempts=webhook_deliveries.c.attempts - 1,
                )
            )
        if keep:
            for endpoint_row in await db.fetch_all(
                sa.select(webhook_endpoints).where(
                    webhook_endpoints.c.id.in_({r["endpoint_id"] for r in keep})
                )
            ):
                self._endpoints[endpoint_row["id"]] = endpoint_from_row(endpoint_row)
        return keep

    def client_for(self, endpoint: Endpoint) -> httpx.AsyncClient:
        clients = [self.http, *self.more_http]
        return clients[endpoint.id % len(clients)]

    async def aclose(self) -> None:
        for client in (self.http, *self.more_http):
            await client.aclose()

    async def post(self, endpoint: Endpoint, row: Any) -> AttemptResult:
        started = time.monotonic()

        def elapsed() -> int:
            return int((time.monotonic() - started) * 1000)

        try:
            target = await vet_webhook_url(endpoint.url, self.policy.allow_private_networks)
        except UnsafeURL as exc:
            return AttemptResult(None, elapsed(), error=f"refused: {exc}")
        now = utcnow()
        headers = webhook_headers(
            endpoint.signing_secrets(now), row["message_id"], now, row["body"]
        )
        headers["host"] = target.host_header
        extensions = {"sni_hostname": target.sni_hostname} if target.sni_hostname else {}
        try:
            async with (
                asyncio.timeout(self.policy.total_timeout),
                self.client_for(endpoint).stream(
                    "POST",
                    target.url,
                    content=row["body"].encode(),
                    headers=headers,
                    extensions=extensions,
                ) as response,
            ):
                # Read only what is kept: a receiver's long (or endless) answer must not
                # turn a delivered message into a timeout, nor fill the worker's memory.
                kept = b""
                async for chunk in response.aiter_bytes():
                    kept += chunk
                    if len(kept) >= RESPONSE_KEEP_BYTES:
                        break
                body = kept[:RESPONSE_KEEP_BYTES].decode("utf-8", "replace")
        except TimeoutError:
            return AttemptResult(
                None, elapsed(), error=f"timed out after {self.policy.total_timeout:g} s"
            )
        except httpx.HTTPError as exc:
            return AttemptResult(None, elapsed(), error=f"{type(exc).__name__}: {exc}"[:500])
        return AttemptResult(
            response.status_code,
            elapsed(),
            response_body=body,
            retry_after=_retry_after(response) if response.status_code in (429, 503) else None,
        )

    async def deliver(self, row: Any) -> None:
        endpoint = self._endpoints.get(row["endpoint_id"])
        if endpoint is None:
            endpoint_row = await self.store.database.fetch_one(
                sa.select(webhook_endpoints).where(webhook_endpoints.c.id == row["endpoint_id"])
            )
            endpoint = endpoint_from_row(endpoint_row)
        result = await self.post(endpoint, row)
        await self.record(endpoint, row, result)

    async def record(self, endpoint: Endpoint, row: Any, result: AttemptResult) -> None:
        """Write an attempt's outcome. Group commit: whoever holds the lock writes every
        outcome waiting, in one transaction; each caller returns once its own is written
        (or raises what writing it raised), so a delivery stays leased until then."""
        item = _Unrecorded(endpoint, row, result, asyncio.get_running_loop().create_future())
        self._unrecorded.append(item)
        async with self._record_lock:
            if not item.done.done():
                batch, self._unrecorded = self._unrecorded, []
                try:
                    await self._record_batch(batch)
                except BaseException:
                    # Cancelled mid-write: the next holder of the lock writes what is left.
                    self._unrecorded[:0] = [b for b in batch if not b.done.done()]
                    raise
        await item.done

    async def _record_batch(self, batch: list[_Unrecorded]) -> None:
        try:
            async with self.store.write() as db:
                succeeded = [b for b in batch if b.result.succeeded]
                for b in batch:
                    if not b.result.succeeded:
                        await self._record_in(db, b.endpoint, b.row, b.result)
                if succeeded:
                    await self._record_successes(db, succeeded)
        except Exception as exc:
            if len(batch) == 1:
                batch[0].done.set_exception(exc)
                return
            # One bad outcome must not hold up the rest: write each on its own.
            for b in batch:
                try:
                    async with self.store.write() as db:
                        await self._record_in(db, b.endpoint, b.row, b.result)
                except Exception as exc:
                    b.done.set_exception(exc)
                else:
                    b.done.set_result(None)
            return
        for b in batch:
            b.done.set_result(None)

    async def _record_successes(self, db: Database, batch: list[_Unrecorded]) -> None:
        """What _record_in does for each success, as a few statements for the whole batch
        (building SQL costs more CPU than sending the webhook)."""
        now = utcnow()
        await db.execute(
            sa.insert(webhook_attempts).values(
                [
                    {
                        "delivery_id": b.row["id"],
                        "attempted_at": now,
                        "status_code": b.result.status_code,
                        "duration_ms": b.result.duration_ms,
                        "error": b.result.error,
                        "response_body": b.result.response_body,
                    }
                    for b in batch
                ]
            )
        )
        by_code: dict[int | None, list[int]] = {}
        for b in batch:
            by_code.setdefault(b.result.status_code, []).append(b.row["id"])
        for code, ids in by_code.items():
            await db.execute(
                sa.update(webhook_deliveries)
                .where(webhook_deliveries.c.id.in_(ids))
                .values(
                    status="succeeded", completed_at=now, lease_until=None, last_status_code=code
                )
            )
        await db.execute(
            sa.update(webhook_endpoints)
            .where(webhook_endpoints.c.id.in_({b.endpoint.id for b in batch}))
            .values(last_success_at=now, failing_since=None)
        )

    async def _record_in(
        self, db: Database, endpoint: Endpoint, row: Any, result: AttemptResult
    ) -> None:
        now = utcnow()
        await db.execute(
            sa.insert(webhook_attempts).values(
                delivery_id=row["id"],
                attempted_at=now,
                status_code=result.status_code,
                duration_ms=result.duration_ms,
                error=result.error,
                response_body=result.response_body,
            )
        )
        if result.succeeded:
            await self._finish(db, row, "succeeded", result, now)
            await db.execute(
                sa.update(webhook_endpoints)
                .where(webhook_endpoints.c.id == endpoint.id)
                .values(last_success_at=now, failing_since=None)
            )
            return
        if result.status_code == 410:
            await self._finish(db, row, "failed", result, now)
            await self._disable(db, endpoint, "The receiver answered 410 Gone.", now)
            return
        delay = self.policy.delay_after(row["attempts"], result.retry_after)
        if delay is None:
            await self._finish(db, row, "failed", result, now)
        else:
            await db.execute(
                sa.update(webhook_deliveries)
                .where(
                    webhook_deliveries.c.id == row["id"],
                    webhook_deliveries.c.status == "sending",
                )
                .values(
                    status="pending",
                    next_attempt_at=now + timedelta(seconds=delay),
                    lease_until=None,
                    last_status_code=result.status_code,
                )
            )
        failing_since = endpoint.failing_since
        if failing_since is None:
            await db.execute(
                sa.update(webhook_endpoints)
                .where(
                    webhook_endpoints.c.id == endpoint.id,
                    webhook_endpoints.c.failing_since.is_(None),
                )
                .values(failing_since=now)
            )
        elif now - failing_since >= self.policy.disable_after:
            days = self.policy.disable_after.total_seconds() / 86400
            await self._disable(db, endpoint, f"No successful delivery for {days:g} days.", now)

    async def _finish(
        self, db: Database, row: Any, status: str, result: AttemptResult, now: datetime
    ) -> None:
        await db.execute(
            sa.update(webhook_deliveries)
            .where(webhook_deliveries.c.id == row["id"])
            .values(
                status=status,
                completed_at=now,
                lease_until=None,
                last_status_code=result.status_code,
            )
        )

    async def _disable(self, db: Database, endpoint: Endpoint, reason: str, now: datetime) -> None:
        disabled = await db.fetch_one(
            sa.update(webhook_endpoints)
            .where(webhook_endpoints.c.id == endpoint.id, webhook_endpoints.c.status == "active")
            .values(status="disabled", disabled_reason=reason, disabled_at=now, updated_at=now)
            .returning(webhook_endpoints.c.id)
        )
        if disabled is None:
            return
        log.warning("webhook endpoint %s disabled: %s", endpoint.public_id, reason)
        subject = "A Groundswell webhook endpoint was disabled"
        text = (
            f"Your webhook endpoint {endpoint.public_id} ({endpoint.url}) was disabled.\n\n"
            f"Reason: {reason}\n\nMessages for it are kept. Re-enable it with "
            f'PATCH /api/v1/webhook-endpoints/{endpoint.public_id} {{"status": "active"}} '
            "and recover failed messages with its /recover call.\n"
        )
        for address in await organisation_member_emails(db, endpoint.organisation_id):
            await db.execute(
                self.store.insert_or_ignore(emails).values(
                    dedupe_key=f"endpoint-disabled:{endpoint.id}:{int(now.timestamp())}:{address}"[
                        :120
                    ],
                    kind="endpoint_disabled",
                    to_address=address,
                    status="queued",
                    attempts=0,
                    next_attempt_at=now,
                    created_at=now,
                    subject=subject,
                    text_body=text,
                    html_body="<p>"
                    + text.replace("\n\n", "</p><p>").replace("\n", "<br>")
                    + "</p>",
                )
            )

    async def run_once(self) -> int:
        """Claim what is due and start it; returns how many were started."""
        room = self.policy.concurrency - len(self._tasks)
        if room <= 0:
            return 0
        rows = await self.claim(room)
        for row in rows:
            self._in_flight[row["endpoint_id"]] = self._in_flight.get(row["endpoint_id"], 0) + 1
            task = asyncio.create_task(self._guarded(row))
            self._tasks.add(task)
        return len(rows)

    async def _guarded(self, row: Any) -> None:
        try:
            await self.deliver(row)
        except Exception:
            # The lease runs out and another pass retries it; nothing is lost.
            log.exception("delivery %s failed unexpectedly", row["public_id"])
        finally:
            self._in_flight[row["endpoint_id"]] -= 1
            if not self._in_flight[row["endpoint_id"]]:
                del self._in_flight[row["endpoint_id"]]
            self._tasks.discard(asyncio.current_task())
            self._wake.set()  # a slot is free

    async def drain(self) -> None:
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def run(self, stopping: asyncio.Event, poll_seconds: float) -> None:
        while not stopping.is_set():
            self._wake.clear()
            try:
                started = await self.run_once()
            except Exception:
                log.exception("claiming deliveries failed")
                started = 0
                await asyncio.sleep(1.0)
            if started:
                continue
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=poll_seconds)
            except TimeoutError:
                pass
        await self.drain()


async def endpoint_by_internal_id(db: Database, endpoint_id: int) -> Endpoint:
    row = await db.fetch_one(
        sa.select(webhook_endpoints).where(webhook_endpoints.c.id == endpoint_id)
    )
    if row is None:
        raise EndpointNotFound(str(endpoint_id))
    return endpoint_from_row(row)
