"""Webhook delivery against real receivers on 127.0.0.1: retries and what each attempt
leaves on record, timeouts, refused connections, 410, Retry-After, redirects, disabling,
per-endpoint concurrency, filters, exactly-once fan-out, secret rotation, test messages,
manual retry, recovery and catching up after an outage.

Most tests drive a Worker with a short retry schedule; those that go through the API run
the app with its worker in the same event loop.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from app.bootstrap import Services
from app.main import create_app, services_of
from notifications.endpoints import Endpoint, create_endpoint, parse_endpoint
from notifications.mail import DevMailbox, Mailer, SmtpMailer
from notifications.messages import MessageRenderer
from notifications.tables import emails, webhook_attempts, webhook_deliveries, webhook_endpoints
from notifications.webhooks import RESPONSE_KEEP_BYTES, DeliveryPolicy
from notifications.worker import Worker
from pledges.accounts import Organisation, create_organisation_api_key
from pledges.campaigns import Campaign
from pledges.pledging import confirm_pledge, parse_pledge, record_pledge
from pledges.store import Store, aware, utcnow
from pledges.tables import events
from pledges.tokens import Signer
from tests.conftest import TEST_SECRET, make_settings, wait_for
from tests.factories import make_campaign, pledge_data
from tests.notifications.conftest import SmtpServer, free_port
from tests.receiver import Receiver, run_receiver

FAST = (0, 0.05, 0.05, 0.05)  # four attempts in all


# --- helpers ---------------------------------------------------------------------------


def make_worker(store: Store, mailer: Mailer | None = None, **policy: Any) -> Worker:
    values: dict[str, Any] = {
        "schedule": FAST,
        "jitter": 0.0,
        "allow_private_networks": True,
        "total_timeout": 3.0,
        "connect_timeout": 1.0,
    }
    values.update(policy)
    renderer = MessageRenderer(
        Signer(TEST_SECRET), "http://testserver", "Groundswell <noreply@groundswell.localhost>"
    )
    worker = Worker(
        store, mailer or DevMailbox(), renderer, poll_seconds=0.05, policy=DeliveryPolicy(**values)
    )
    store.after_commit(worker.wake)
    return worker


@asynccontextmanager
async def running(worker: Worker) -> AsyncIterator[Worker]:
    """The worker's loops in the background, stopped (in-flight attempts finished) after."""
    task = asyncio.create_task(worker.run())
    try:
        yield worker
    finally:
        worker.stop()
        await asyncio.wait_for(task, timeout=15)


async def make_org(
    store: Store, name: str = "FibreCo", members: tuple[str, ...] = ("ops@fibreco.example",)
) -> Organisation:
    org = None
    for email in members:
        org, _ = await create_organisation_api_key(store, email, name, "provider")
    assert org is not None
    return org


async def add_endpoint(store: Store, org: Organisation, url: str, **data: Any) -> Endpoint:
    return await create_endpoint(
        store, org.id, await parse_endpoint({"url": url, **data}, partial=False, allow_private=True)
    )


async def deliveries_of(store: Store, endpoint_id: int) -> list[Any]:
    return list(
        await store.database.fetch_all(
            sa.select(webhook_deliveries)
            .where(webhook_deliveries.c.endpoint_id == endpoint_id)
            .order_by(webhook_deliveries.c.id)
        )
    )


async def attempts_of(store: Store, delivery_id: int) -> list[Any]:
    return list(
        await store.database.fetch_all(
            sa.select(webhook_attempts)
            .where(webhook_attempts.c.delivery_id == delivery_id)
            .order_by(webhook_attempts.c.id)
        )
    )


async def endpoint_row(store: Store, endpoint_id: int) -> Any:
    return await store.database.fetch_one(
        sa.select(webhook_endpoints).where(webhook_endpoints.c.id == endpoint_id)
    )


def statuses_are(
    store: Store, endpoint_id: int, *expected: str
) -> Callable[[], Awaitable[list[Any] | None]]:
    """A wait_for condition: the endpoint's deliveries, once their statuses are `expected`."""

    async def check() -> list[Any] | None:
        rows = await deliveries_of(store, endpoint_id)
        return rows if [r["status"] for r in rows] == list(expected) else None

    return check


async def write(store: Store, statement: Any) -> None:
    async with store.write() as db:
        await db.execute(statement)


def closed_port_url() -> str:
    return f"http://127.0.0.1:{free_port()}/hook"


def signatures(received: Any) -> list[str]:
    return received.headers["webhook-signature"].split()


class LongAnswers(Receiver):
    """Answers as scripted, each with a body that streams on for longer than an attempt may
    take: a sender that reads whole answers would time out on every one."""

    async def handle(self, request: Request) -> Response:
        scripted = await super().handle(request)

        async def endless() -> AsyncIterator[bytes]:
            yield f"status {scripted.status_code} ".encode()
            for _ in range(400):
                if await request.is_disconnected():
                    return
                yield b"x" * 65536
                await asyncio.sleep(0.01)

        return StreamingResponse(endless(), status_code=scripted.status_code)


# --- retries and what is kept ----------------------------------------------------------


async def test_5xx_is_retried_until_a_2xx_and_every_attempt_is_kept(store: Store) -> None:
    async with run_receiver(Receiver(script=[500, 502, 500])) as receiver:
        org = await make_org(store)
        endpoint = await add_endpoint(store, org, receiver.url)
        receiver.secrets.append(endpoint.secret)
        async with running(make_worker(store)):
            campaign = await make_campaign(store)
            [delivery] = await wait_for(statuses_are(store, endpoint.id, "succeeded"))

    assert len(receiver.requests) == 4
    assert len(receiver.verified()) == 4
    assert {r.headers["webhook-id"] for r in receiver.requests} == {delivery["message_id"]}
    assert receiver.requests[-1].verified["type"] == "campaign.opened"
    assert receiver.requests[-1].verified["data"]["campaign"]["slug"] == campaign.slug
    assert delivery["attempts"] == 4
    assert delivery["last_status_code"] == 200
    assert delivery["completed_at"] is not None

    attempts = await attempts_of(store, delivery["id"])
    assert [a["status_code"] for a in attempts] == [500, 502, 500, 200]
    assert [a["response_body"] for a in attempts] == [
        "answer 500",
        "answer 502",
        "answer 500",
        "answer 200",
    ]
    assert all(isinstance(a["duration_ms"], int) and a["duration_ms"] >= 0 for a in attempts)
    assert all(a["error"] is None for a in attempts)

    ep = await endpoint_row(store, endpoint.id)
    assert ep["status"] == "active"
    assert ep["failing_since"] is None  # cleared by the success
    assert ep["last_success_at"] is not None


async def test_only_the_first_4_kb_of_an_answer_is_read_and_kept(store: Store) -> None:
    async with run_receiver(LongAnswers(script=[500])) as receiver:
        org = await make_org(store)
        endpoint = await add_endpoint(store, org, receiver.url)
        async with running(make_worker(store, total_timeout=1.5)):
            await make_campaign(store)
            [delivery] = await wait_for(statuses_are(store, endpoint.id, "succeeded"))

    attempts = await attempts_of(store, delivery["id"])
    assert [a["status_code"] for a in attempts] == [500, 200]
    assert [a["error"] for a in attempts] == [None, None]
    for attempt in attempts:
        body = attempt["response_body"]
        assert len(body.encode()) == RESPONSE_KEEP_BYTES == 4096
        assert body.startswith(f"status {attempt['status_code']} xxx")


async def test_timeouts_are_recorded_as_errors_and_retried(store: Store) -> None:
    async with run_receiver(Receiver(script=[("hang", 5), ("hang", 5)])) as receiver:
        org = await make_org(store)
        endpoint = await add_endpoint(store, org, receiver.url)
        async with running(make_worker(store, total_timeout=0.5)):
            await make_campaign(store)
            [delivery] = await wait_for(statuses_are(store, endpoint.id, "succeeded"))

    attempts = await attempts_of(store, delivery["id"])
    assert [a["status_code"] for a in attempts] == [None, None, 200]
    for attempt in attempts[:2]:
        assert "time" in attempt["error"].lower()
        assert attempt["response_body"] is None
        assert attempt["duration_ms"] >= 450  # it waited for the receiver that long
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == 1
    assert len(receiver.requests) == 3


async def test_a_refused_connection_is_retried_then_the_delivery_fails(store: Store) -> None:
    org = await make_org(store)
    endpoint = await add_endpoint(store, org, closed_port_url())
    async with running(make_worker(store)):
        await make_campaign(store)
        [delivery] = await wait_for(statuses_are(store, endpoint.id, "failed"))

    attempts = await attempts_of(store, delivery["id"])
    assert len(attempts) == len(FAST) == delivery["attempts"]
    assert all(a["status_code"] is None for a in attempts)
    assert all(a["error"].startswith("ConnectError") for a in attempts)
    assert delivery["completed_at"] is not None
    ep = await endpoint_row(store, endpoint.id)
    assert ep["status"] == "active"  # five days of failure, not four attempts, disable it
    assert ep["failing_since"] is not None


async def test_410_disables_the_endpoint_and_nothing_more_is_sent(store: Store) -> None:
    async with run_receiver(Receiver(script=[410])) as receiver:
        org = await make_org(store, members=("a@fibreco.example", "b@fibreco.example"))
        endpoint = await add_endpoint(store, org, receiver.url)
        # Two messages queued at once; one request at a time, so the 410 comes first.
        await make_campaign(store)
        await make_campaign(store)
        async with running(make_worker(store, per_endpoint_concurrency=1)) as worker:

            async def disabled() -> bool:
                return (await endpoint_row(store, endpoint.id))["status"] == "disabled"

            await wait_for(disabled)
            later = await make_campaign(store)

            async def dispatched() -> bool:
                undispatched = await store.database.fetch_val(
                    sa.select(sa.func.count()).where(events.c.dispatched_at.is_(None))
                )
                return undispatched == 0

            await wait_for(dispatched)
            await worker.deliverer.run_once()  # one more pass: still nothing to claim
            await worker.deliverer.drain()

    assert len(receiver.requests) == 1
    rows = await deliveries_of(store, endpoint.id)
    assert [r["status"] for r in rows] == ["failed", "pending"]  # the second is kept
    assert rows[0]["last_status_code"] == 410
    assert later.slug not in "".join(r["body"] for r in rows)
    ep = await endpoint_row(store, endpoint.id)
    assert "410" in ep["disabled_reason"]
    told = await store.database.fetch_all(
        sa.select(emails.c.to_address).where(emails.c.kind == "endpoint_disabled")
    )
    assert sorted(r["to_address"] for r in told) == ["a@fibreco.example", "b@fibreco.example"]


def http_date_in(seconds: int) -> str:
    return format_datetime(utcnow() + timedelta(seconds=seconds), usegmt=True)


@pytest.mark.parametrize(
    ("status", "retry_after", "cap", "expected"),
    [
        pytest.param(429, lambda: "30", 3600.0, 30, id="429-seconds"),
        pytest.param(503, lambda: http_date_in(20), 3600.0, 20, id="503-http-date"),
        pytest.param(429, lambda: "86400", 60.0, 60, id="429-capped"),
    ],
)
async def test_retry_after_pushes_the_next_attempt_out(
    store: Store, status: int, retry_after: Callable[[], str], cap: float, expected: float
) -> None:
    receiver = Receiver()
    header = retry_after()
    async with run_receiver(receiver):
        receiver.script.append((status, {"retry-after": header}))
        org = await make_org(store)
        endpoint = await add_endpoint(store, org, receiver.url)
        async with running(make_worker(store, retry_after_cap=cap)):
            await make_campaign(store)

            async def attempted() -> Any:
                rows = await deliveries_of(store, endpoint.id)
                if rows and rows[0]["status"] == "pending" and rows[0]["attempts"] == 1:
                    return rows[0] if await attempts_of(store, rows[0]["id"]) else None
                return None

            delivery = await wait_for(attempted)

    [attempt] = await attempts_of(store, delivery["id"])
    assert attempt["status_code"] == status
    next_at = aware(delivery["next_attempt_at"])
    assert next_at is not None
    if header.isdigit():
        wait = next_at - aware(attempt["attempted_at"])  # type: ignore[operator]
        # The schedule alone would retry after 0.05 s.
        assert expected - 1.5 <= wait.total_seconds() <= expected + 0.5
    else:
        # An HTTP date names the moment itself (in whole seconds), however long the
        # delivery took to be attempted after the date was written.
        assert abs((next_at - parsedate_to_datetime(header)).total_seconds()) <= 0.5
    assert len(receiver.requests) == 1


@pytest.mark.parametrize("status", [302, 308])
async def test_a_redirect_is_a_failure_and_is_not_followed(store: Store, status: int) -> None:
    receiver = Receiver()
    async with run_receiver(receiver):
        receiver.script.append((status, {"location": f"http://127.0.0.1:{receiver.port}/moved"}))
        org = await make_org(store)
        endpoint = await add_endpoint(store, org, receiver.url)
        async with running(make_worker(store)):
            await make_campaign(store)
            [delivery] = await wait_for(statuses_are(store, endpoint.id, "succeeded"))

    assert [r.path for r in receiver.requests] == ["/hook", "/hook"]  # never /moved
    attempts = await attempts_of(store, delivery["id"])
    assert [a["status_code"] for a in attempts] == [status, 200]


@pytest.mark.parametrize("how", ["failing-for-days", "tiny-disable-after"])
async def test_an_endpoint_failing_too_long_is_disabled_and_its_members_told(
    store: Store, smtp_server: SmtpServer, how: str
) -> None:
    async with run_receiver(Receiver(default=500)) as receiver:
        members = ("ops@fibreco.example", "cto@fibreco.example")
        org = await make_org(store, members=members)
        endpoint = await add_endpoint(store, org, receiver.url)
        policy: dict[str, Any] = {"schedule": (0, 0.05, 0.05, 0.05, 0.05, 0.05)}
        if how == "failing-for-days":
            await write(
                store,
                sa.update(webhook_endpoints)
                .where(webhook_endpoints.c.id == endpoint.id)
                .values(failing_since=utcnow() - timedelta(days=5, minutes=1)),
            )
        else:
            policy["disable_after"] = timedelta(0)
        worker = make_worker(store, SmtpMailer(smtp_server.url), **policy)
        async with running(worker):
            await make_campaign(store)

            async def told() -> bool:
                return {m["To"] for m in smtp_server.messages} == set(members)

            await wait_for(told)

    ep = await endpoint_row(store, endpoint.id)
    assert ep["status"] == "disabled"
    assert ep["disabled_reason"].startswith("No successful delivery for")
    # Disabled before the schedule ran out: the rest of the message's attempts wait.
    assert len(receiver.requests) == (1 if how == "failing-for-days" else 2)
    [delivery] = await deliveries_of(store, endpoint.id)
    assert delivery["status"] == "pending"
    for message in smtp_server.messages:
        assert message["Subject"] == "A Groundswell webhook endpoint was disabled"
        assert endpoint.public_id in message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert len(smtp_server.messages) == 2
    rows = await store.database.fetch_all(
        sa.select(emails.c.status).where(emails.c.kind == "endpoint_disabled")
    )
    assert [r["status"] for r in rows] == ["sent", "sent"]


async def test_a_hanging_endpoint_does_not_hold_up_a_healthy_one(store: Store) -> None:
    slow = Receiver(script=[("hang", 10)] * 10)
    healthy = Receiver()
    async with run_receiver(slow), run_receiver(healthy):
        org = await make_org(store)
        slow_ep = await add_endpoint(store, org, slow.url)
        healthy_ep = await add_endpoint(
            store, org, healthy.url, filters={"campaigns": ["the-healthy-one"]}
        )
        # The slow endpoint's messages are older, so they come first in the queue.
        for _ in range(4):
            await make_campaign(store)
        await make_campaign(store, slug="the-healthy-one")
        worker = make_worker(store, concurrency=3, per_endpoint_concurrency=2, total_timeout=1.5)
        async with running(worker):

            async def healthy_done() -> bool:
                return len(healthy.requests) == 1 and len(slow.requests) >= 2

            await wait_for(healthy_done)
            slow_attempts = await store.database.fetch_val(
                sa.select(sa.func.count())
                .select_from(webhook_attempts.join(webhook_deliveries))
                .where(webhook_deliveries.c.endpoint_id == slow_ep.id)
            )
            slow_in_flight = len(slow.requests)

    # The healthy message went out while the slow receiver still held every request it had
    # been sent, and it was never sent more than its share at once.
    assert slow_attempts == 0
    assert slow_in_flight == 2
    [delivery] = await deliveries_of(store, healthy_ep.id)
    [attempt] = await attempts_of(store, delivery["id"])
    assert attempt["status_code"] == 200


# --- who receives what -----------------------------------------------------------------


async def make_area_campaign(store: Store, slug: str, category: str, district: str) -> Campaign:
    return await make_campaign(
        store,
        slug=slug,
        category=category,
        area={"name": slug, "postcode_districts": [district]},
        milestones=[],
        target=1,
    )


async def test_filters_decide_who_receives_what(store: Store) -> None:
    org = await make_org(store)
    url = closed_port_url()  # only fan-out is under test here
    endpoint_filters: dict[str, dict[str, Any]] = {
        "everything": {},
        "all-listed": {"event_types": [], "filters": {"categories": [], "postcode_prefixes": []}},
        "ls-area": {"filters": {"postcode_prefixes": ["LS"]}},
        "ls6-only": {"filters": {"postcode_prefixes": ["LS6"]}},
        "l-area": {"filters": {"postcode_prefixes": ["L"]}},
        "waste": {"filters": {"categories": ["waste"]}},
        "waste-in-ls": {"filters": {"categories": ["waste"], "postcode_prefixes": ["LS"]}},
        "waste-in-m": {"filters": {"categories": ["waste"], "postcode_prefixes": ["M"]}},
        "one-campaign": {"filters": {"campaigns": ["ls60-broadband"]}},
        "tipped-only": {"event_types": ["campaign.tipped"]},
        "tipped-in-ls6": {
            "event_types": ["campaign.tipped", "campaign.cancelled"],
            "filters": {"postcode_prefixes": ["ls 6"]},
        },
    }
    endpoints = {
        name: await add_endpoint(store, org, url, **data) for name, data in endpoint_filters.items()
    }
    await make_area_campaign(store, "ls6-broadband", "broadband", "LS6")
    await make_area_campaign(store, "ls60-broadband", "broadband", "LS60")
    await make_area_campaign(store, "m1-waste", "waste", "M1")
    await make_area_campaign(store, "l1-broadband", "broadband", "L1")
    await confirm_pledge(
        store, (await record_pledge(store, "ls6-broadband", parse_pledge(pledge_data(1)))).pledge_id
    )

    worker = make_worker(store)
    await worker.dispatch()

    received: dict[str, set[tuple[str, str]]] = {}
    for name, endpoint in endpoints.items():
        rows = await store.database.fetch_all(
            sa.select(webhook_deliveries.c.event_type, events.c.payload)
            .join(events, events.c.id == webhook_deliveries.c.event_id)
            .where(webhook_deliveries.c.endpoint_id == endpoint.id)
        )
        received[name] = {
            (r["event_type"].removeprefix("campaign."), json.loads(r["payload"])["slug"])
            for r in rows
        }

    opened = {
        ("opened", s) for s in ("ls6-broadband", "ls60-broadband", "m1-waste", "l1-broadband")
    }
    tipped = {("tipped", "ls6-broadband")}
    assert received == {
        "everything": opened | tipped,
        "all-listed": opened | tipped,
        "ls-area": {("opened", "ls6-broadband"), ("opened", "ls60-broadband")} | tipped,
        "ls6-only": {("opened", "ls6-broadband")} | tipped,  # LS6 does not cover LS60
        "l-area": {("opened", "l1-broadband")},  # L is Liverpool, not Leeds
        "waste": {("opened", "m1-waste")},
        "waste-in-ls": set(),  # every filter must match
        "waste-in-m": {("opened", "m1-waste")},
        "one-campaign": {("opened", "ls60-broadband")},
        "tipped-only": tipped,
        "tipped-in-ls6": tipped,
    }


async def test_dispatching_again_queues_nothing_twice(store: Store) -> None:
    org = await make_org(store)
    first = await add_endpoint(store, org, closed_port_url())
    second = await add_endpoint(store, org, closed_port_url())
    for _ in range(3):
        await make_campaign(store)
    worker = make_worker(store)
    await worker.dispatch()
    await worker.dispatch()
    before = {
        r["id"]: r["message_id"] for e in (first, second) for r in await deliveries_of(store, e.id)
    }
    assert len(before) == 6
    # Even an event dispatched again (a crash between fan-out and marking) adds nothing.
    await write(store, sa.update(events).values(dispatched_at=None))
    await worker.dispatch()
    after = {
        r["id"]: r["message_id"] for e in (first, second) for r in await deliveries_of(store, e.id)
    }
    assert after == before


async def test_two_workers_dispatching_at_once_queue_each_message_once(
    store: Store, database_url: str
) -> None:
    org = await make_org(store)
    endpoints = [await add_endpoint(store, org, closed_port_url()) for _ in range(3)]
    for _ in range(10):
        await make_campaign(store)
    # PostgreSQL: two connections pools, as two processes would have. SQLite has one writer
    # per process, so its workers share the Store.
    other = store if store.is_sqlite else Store(database_url)
    if other is not store:
        await other.connect()
    try:
        one, two = make_worker(store), make_worker(other)
        for _ in range(5):
            await asyncio.gather(one.dispatch(), two.dispatch(), one.dispatch(), two.dispatch())
    finally:
        if other is not store:
            await other.disconnect()
    rows = await store.database.fetch_all(sa.select(webhook_deliveries))
    assert len(rows) == 30
    assert len({(r["event_id"], r["endpoint_id"]) for r in rows}) == 30
    assert len({r["message_id"] for r in rows}) == 30
    assert {r["endpoint_id"] for r in rows} == {e.id for e in endpoints}


async def test_a_url_that_is_private_at_delivery_time_is_refused(store: Store) -> None:
    async with run_receiver(Receiver()) as receiver:
        org = await make_org(store)
        # Registered where private networks were allowed; the worker does not allow them.
        endpoint = await add_endpoint(store, org, receiver.url)
        async with running(make_worker(store, allow_private_networks=False, schedule=(0, 0.05))):
            await make_campaign(store)
            [delivery] = await wait_for(statuses_are(store, endpoint.id, "failed"))
    assert receiver.requests == []
    attempts = await attempts_of(store, delivery["id"])
    assert [a["status_code"] for a in attempts] == [None, None]
    assert all(a["error"].startswith("refused:") for a in attempts)


# --- through the API, with the app's own worker ----------------------------------------


@dataclass
class Running:
    client: httpx.AsyncClient
    services: Services
    key: str

    @property
    def store(self) -> Store:
        return self.services.store

    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


@asynccontextmanager
async def running_app(database_url: str, **settings: Any) -> AsyncIterator[Running]:
    values: dict[str, Any] = {
        "webhook_retry_schedule": FAST,
        "webhook_allow_private_networks": True,
        "webhook_timeout_seconds": 3.0,
    }
    values.update(settings)
    app = create_app(make_settings(database_url, **values), run_worker=True)
    async with app.router.lifespan_context(app):
        services = services_of(app)
        _, key = await create_organisation_api_key(
            services.store, "ops@fibreco.example", "FibreCo", "provider"
        )
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield Running(client, services, key)


async def register(running: Running, url: str, **data: Any) -> dict[str, Any]:
    answer = await running.client.post(
        "/api/v1/webhook-endpoints", headers=running.auth(), json={"url": url, **data}
    )
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


async def internal_id(store: Store, endpoint_public_id: str) -> int:
    return int(
        await store.database.fetch_val(
            sa.select(webhook_endpoints.c.id).where(
                webhook_endpoints.c.public_id == endpoint_public_id
            )
        )
    )


def arrived(receiver: Receiver, count: int) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return len(receiver.requests) >= count

    return check


async def test_after_rotation_both_secrets_verify_until_the_old_one_expires(
    database_url: str,
) -> None:
    async with run_receiver(Receiver()) as receiver, running_app(database_url) as app:
        created = await register(app, receiver.url)
        old = created["secret"]
        await make_campaign(app.store)
        await wait_for(arrived(receiver, 1))
        assert len(signatures(receiver.requests[0])) == 1

        rotated = await app.client.post(
            f"/api/v1/webhook-endpoints/{created['id']}/rotate-secret", headers=app.auth()
        )
        assert rotated.status_code == 200
        new = rotated.json()["secret"]
        assert new.startswith("whsec_") and new != old
        expires = datetime.fromisoformat(rotated.json()["previous_secret_expires_at"])
        assert timedelta(hours=23) < expires - utcnow() <= timedelta(hours=24)

        await make_campaign(app.store)
        await wait_for(arrived(receiver, 2))
        during = receiver.requests[1]
        assert len(signatures(during)) == 2
        for secret in (old, new):  # a receiver with either secret accepts it
            assert Webhook(secret).verify(during.body, during.headers)["type"] == "campaign.opened"

        await write(
            app.store,
            sa.update(webhook_endpoints)
            .where(webhook_endpoints.c.public_id == created["id"])
            .values(previous_secret_expires_at=utcnow() - timedelta(minutes=1)),
        )
        await make_campaign(app.store)
        await wait_for(arrived(receiver, 3))
        after = receiver.requests[2]
        assert len(signatures(after)) == 1
        assert Webhook(new).verify(after.body, after.headers)["type"] == "campaign.opened"
        with pytest.raises(WebhookVerificationError):
            Webhook(old).verify(after.body, after.headers)


async def test_a_test_message_arrives_signed(database_url: str) -> None:
    async with run_receiver(Receiver()) as receiver, running_app(database_url) as app:
        created = await register(app, receiver.url, event_types=["campaign.tipped"])
        receiver.secrets.append(created["secret"])
        answer = await app.client.post(
            f"/api/v1/webhook-endpoints/{created['id']}/test", headers=app.auth()
        )
        assert answer.status_code == 202
        await wait_for(arrived(receiver, 1))
    [message] = receiver.verified()
    assert message.verified["type"] == "webhook.test"
    assert message.verified["data"]["endpoint"] == created["id"]
    assert message.headers["webhook-id"].startswith("msg_")


async def test_a_manual_retry_sends_again_with_the_same_webhook_id(database_url: str) -> None:
    async with (
        run_receiver(Receiver(script=[500] * len(FAST))) as receiver,
        running_app(database_url) as app,
    ):
        created = await register(app, receiver.url)
        receiver.secrets.append(created["secret"])
        endpoint_id = await internal_id(app.store, created["id"])
        await make_campaign(app.store)
        [failed] = await wait_for(statuses_are(app.store, endpoint_id, "failed"))

        listed = await app.client.get(
            f"/api/v1/webhook-endpoints/{created['id']}/deliveries", headers=app.auth()
        )
        [delivery] = listed.json()["deliveries"]
        assert delivery["status"] == "failed"
        assert delivery["message_id"] == failed["message_id"]

        answer = await app.client.post(
            f"/api/v1/deliveries/{delivery['id']}/retry", headers=app.auth()
        )
        assert answer.status_code == 202
        await wait_for(statuses_are(app.store, endpoint_id, "succeeded"))
        assert len(receiver.requests) == len(FAST) + 1

        # A replay of a message that had succeeded.
        answer = await app.client.post(
            f"/api/v1/deliveries/{delivery['id']}/retry", headers=app.auth()
        )
        assert answer.status_code == 202
        await wait_for(arrived(receiver, len(FAST) + 2))
        await wait_for(statuses_are(app.store, endpoint_id, "succeeded"))
        codes = [a["status_code"] for a in await attempts_of(app.store, failed["id"])]

    assert {r.headers["webhook-id"] for r in receiver.requests} == {delivery["message_id"]}
    assert len(receiver.verified()) == len(FAST) + 2
    assert codes == [500] * len(FAST) + [200, 200]


async def test_retrying_a_delivery_mid_attempt_is_refused(database_url: str) -> None:
    async with (
        run_receiver(Receiver(script=[500] * len(FAST))) as receiver,
        running_app(database_url) as app,
    ):
        created = await register(app, receiver.url)
        endpoint_id = await internal_id(app.store, created["id"])
        await make_campaign(app.store)
        [failed] = await wait_for(statuses_are(app.store, endpoint_id, "failed"))
        # As if a worker had just claimed it for another attempt.
        await write(
            app.store,
            sa.update(webhook_deliveries)
            .where(webhook_deliveries.c.id == failed["id"])
            .values(status="sending"),
        )
        answer = await app.client.post(
            f"/api/v1/deliveries/{failed['public_id']}/retry", headers=app.auth()
        )
        assert answer.status_code == 409
        assert answer.headers["content-type"] == "application/problem+json"
        [after] = await deliveries_of(app.store, endpoint_id)
        assert (after["status"], after["attempts"]) == ("sending", failed["attempts"])


@pytest.mark.parametrize("zone", ["Z", "+05:00", "-08:00"])
async def test_recover_requeues_failed_deliveries_since_a_time_only(
    database_url: str, zone: str
) -> None:
    async with (
        run_receiver(Receiver(default=500)) as receiver,
        running_app(database_url, webhook_retry_schedule=(0,)) as app,
    ):
        created = await register(app, receiver.url)
        endpoint_id = await internal_id(app.store, created["id"])
        for _ in range(3):
            await make_campaign(app.store)
        rows = await wait_for(statuses_are(app.store, endpoint_id, "failed", "failed", "failed"))
        await write(
            app.store,
            sa.update(webhook_deliveries)
            .where(webhook_deliveries.c.id == rows[0]["id"])
            .values(created_at=utcnow() - timedelta(hours=2)),
        )
        receiver.default = 200
        since = (utcnow() - timedelta(hours=1)).astimezone(
            UTC if zone == "Z" else timezone(timedelta(hours=int(zone[:3])))
        )
        since_text = since.isoformat().replace("+00:00", "Z")
        answer = await app.client.post(
            f"/api/v1/webhook-endpoints/{created['id']}/recover",
            headers=app.auth(),
            json={"since": since_text},
        )
        assert answer.status_code == 202, answer.text
        assert answer.json() == {"requeued": 2}
        await wait_for(statuses_are(app.store, endpoint_id, "failed", "succeeded", "succeeded"))

    assert len(receiver.requests) == 5
    recovered = {r.headers["webhook-id"] for r in receiver.requests[3:]}
    assert recovered == {rows[1]["message_id"], rows[2]["message_id"]}


async def test_a_receiver_back_after_a_long_outage_gets_everything_once(store: Store) -> None:
    port = free_port()
    org = await make_org(store)
    endpoint = await add_endpoint(store, org, f"http://127.0.0.1:{port}/hook")
    receiver = Receiver(secrets=[endpoint.secret])
    async with running(make_worker(store, schedule=(0, 3600, 3600))):
        for _ in range(3):
            await make_campaign(store)

        async def each_tried_once() -> list[Any] | None:
            rows = await deliveries_of(store, endpoint.id)
            tried = [r for r in rows if r["status"] == "pending" and r["last_status_code"] is None]
            counts = [len(await attempts_of(store, r["id"])) for r in rows]
            return rows if len(rows) == 3 and counts == [1, 1, 1] and len(tried) == 3 else None

        waiting = await wait_for(each_tried_once)
        for row in waiting:
            assert aware(row["next_attempt_at"]) > utcnow() + timedelta(minutes=30)  # type: ignore[operator]

        async with run_receiver(receiver, port):
            # The outage lasted hours: the next retries are due now.
            await write(
                store,
                sa.update(webhook_deliveries)
                .where(webhook_deliveries.c.endpoint_id == endpoint.id)
                .values(next_attempt_at=utcnow()),
            )
            await wait_for(statuses_are(store, endpoint.id, "succeeded", "succeeded", "succeeded"))

    assert len(receiver.requests) == 3
    assert len(receiver.verified()) == 3
    assert {r.headers["webhook-id"] for r in receiver.requests} == {
        r["message_id"] for r in waiting
    }
    ep = await endpoint_row(store, endpoint.id)
    assert ep["status"] == "active"
    assert ep["failing_since"] is None
