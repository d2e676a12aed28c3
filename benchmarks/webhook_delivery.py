"""Webhook delivery: throughput against raw httpx, tip-to-receipt latency, and a hanging
endpoint's effect on healthy ones, with exactly-once checks.

A local receiver runs as a separate process (this script with --receiver: uvicorn serving
a small Starlette app that answers 200, verifies every signature with standardwebhooks and
counts distinct webhook-ids per route; a /hang/ route sleeps past the delivery timeout).

1. THROUGHPUT (SQLite, and PostgreSQL when reachable): real campaigns tip in-process
   (create_campaign + one paper pledge each), the worker's own dispatch fans them out to
   --endpoints endpoints of one organisation (queue_webhooks_for), then Groundswell's
   Deliverer drains them, timed until every delivery has succeeded in the database. The
   RAW rate is plain httpx POSTs of the same bodies (pre-signed, so the receiver does the
   same work) at DeliveryPolicy.concurrency, to the same receiver, in the same run.
2. LATENCY: `groundswell serve` (web + worker in one process, SQLite) as a subprocess; a
   provider registers an endpoint through the API; then, one after another, a campaign
   with target 1 is created and one paper pledge tips it. Measured from the pledge's API
   response (time.time()) to the receiver's receipt of that campaign's campaign.tipped
   (time.time() in the receiver, same machine). On PostgreSQL: `groundswell serve
   --no-worker` and a separate `groundswell worker` (woken by LISTEN/NOTIFY).
3. HANGING ENDPOINT: as 1, with one more endpoint whose receiver sleeps past the timeout
   (DeliveryPolicy.total_timeout = --timeout); healthy deliveries/s with it vs without it.

Exit status: 1 if a correctness check failed (a message lost or duplicated, a bad
signature), 2 if the benchmark itself could not run; never on a speed target.
See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import io
import json
import math
import os
import pstats
import secrets
import shutil
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from common import (
    DEFAULT_POSTGRES_URL,
    ROOT,
    BenchmarkError,
    Check,
    ServerProcess,
    campaign_body,
    database_kinds,
    free_port,
    groundswell_command,
    percentile,
    postgres_cpu_seconds,
    print_checks,
    print_profile,
    proc_cpu_seconds,
    production_env,
    run_benchmark,
    run_cli,
    scratch_postgres_databases,
)

THROUGHPUT_TARGET = 0.3  # Groundswell deliveries/s over raw httpx POSTs/s
LATENCY_TARGET_P99 = 1.0  # seconds, tip to receipt
HANG_TARGET = 0.8  # healthy deliveries/s with a hanging endpoint over without


# --------------------------------------------------------------------------- the receiver


def receiver_app(hang_seconds: float, verify: bool) -> Any:
    """The provider's side: answers 200 (or hangs on /hang/...), records everything."""
    from standardwebhooks import Webhook
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    routes: dict[str, dict[str, Any]] = {}
    verifiers: dict[str, Webhook] = {}
    tipped: dict[str, list[float]] = {}
    tipped_events: dict[str, asyncio.Event] = {}

    def route_stats(name: str) -> dict[str, Any]:
        if name not in routes:
            routes[name] = {"requests": 0, "ids": {}, "duplicates": 0, "bad": 0, "checked": 0}
        return routes[name]

    async def receive(request: Request, hang: bool) -> Response:
        received_at = time.time()
        name = request.path_params["route"]
        body = await request.body()
        st = route_stats(name)
        st["requests"] += 1
        message_id = request.headers.get("webhook-id", "")
        if message_id in st["ids"]:
            st["duplicates"] += 1
        st["ids"][message_id] = st["ids"].get(message_id, 0) + 1
        payload: Any = None
        verifier = verifiers.get(name)
        if verify and verifier is not None:
            st["checked"] += 1
            try:
                payload = verifier.verify(body, dict(request.headers))
            except Exception:
                st["bad"] += 1
        if name.startswith("latency"):
            if payload is None:
                payload = json.loads(body)
            if payload.get("type") == "campaign.tipped":
                slug = payload["data"]["campaign"]["slug"]
                tipped.setdefault(slug, []).append(received_at)
                tipped_events.setdefault(slug, asyncio.Event()).set()
        if hang:
            await asyncio.sleep(hang_seconds)
            return Response("late", status_code=200)
        return Response("ok", status_code=200)

    async def hook(request: Request) -> Response:
        return await receive(request, hang=False)

    async def hang(request: Request) -> Response:
        return await receive(request, hang=True)

    async def set_secret(request: Request) -> Response:
        data = await request.json()
        verifiers[data["route"]] = Webhook(data["secret"])
        return JSONResponse({"ok": True})

    async def stats(request: Request) -> Response:
        prefix = request.query_params.get("prefix", "")
        chosen = [v for k, v in routes.items() if k.startswith(prefix)]
        ids: dict[str, int] = {}
        for v in chosen:
            for message_id, n in v["ids"].items():
                ids[message_id] = ids.get(message_id, 0) + n
        return JSONResponse(
            {
                "requests": sum(v["requests"] for v in chosen),
                "distinct": len(ids),
                "duplicates": sum(v["duplicates"] for v in chosen),
                "bad_signatures": sum(v["bad"] for v in chosen),
                "checked": sum(v["checked"] for v in chosen),
                "ids": sorted(ids) if request.query_params.get("ids") else [],
                "repeated": {k: n for k, n in ids.items() if n > 1},
                "tipped": {s: len(t) for s, t in tipped.items()}
                if request.query_params.get("tipped")
                else {},
            }
        )

    async def wait_tipped(request: Request) -> Response:
        slug = request.query_params["slug"]
        timeout = float(request.query_params.get("timeout", "5"))
        event = tipped_events.setdefault(slug, asyncio.Event())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout)
        if slug not in tipped:
            return JSONResponse({"received": None}, status_code=404)
        return JSONResponse({"received": tipped[slug][0], "count": len(tipped[slug])})

    return Starlette(
        routes=[
            Route("/hook/{route}", hook, methods=["POST"]),
            Route("/hang/{route}", hang, methods=["POST"]),
            Route("/control/secret", set_secret, methods=["POST"]),
            Route("/control/stats", stats, methods=["GET"]),
            Route("/control/wait", wait_tipped, methods=["GET"]),
        ]
    )


def receiver_main(port: int, hang_seconds: float, verify: bool) -> int:
    import uvicorn

    uvicorn.run(
        receiver_app(hang_seconds, verify),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="off",
    )
    return 0


# --------------------------------------------------------------------------- processes


class Process(ServerProcess):
    """A Groundswell or receiver process, run from the repository root."""

    stop_timeout = 20

    def __init__(self, name: str, argv: list[str], env: dict[str, str], workdir: Path) -> None:
        super().__init__(name, argv, env, workdir, cwd=ROOT)

    async def wait_log(self, text: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running():
                raise BenchmarkError(f"{self.name} exited early:\n{self.log_tail()}")
            if text in self.log_path.read_text(errors="replace"):
                return
            await asyncio.sleep(0.1)
        raise BenchmarkError(f"{self.name}: no {text!r} within {timeout} s:\n{self.log_tail()}")


class Receiver:
    def __init__(self, port: int, proc: Process) -> None:
        self.port = port
        self.proc = proc
        self.base = f"http://127.0.0.1:{port}"

    def url(self, route: str, hang: bool = False) -> str:
        return f"{self.base}/{'hang' if hang else 'hook'}/{route}"

    async def set_secret(self, route: str, secret: str) -> None:
        import httpx

        async with httpx.AsyncClient(base_url=self.base, timeout=10) as c:
            response = await c.post("/control/secret", json={"route": route, "secret": secret})
            response.raise_for_status()

    async def stats(self, prefix: str, ids: bool = False, tipped: bool = False) -> dict[str, Any]:
        import httpx

        params = {"prefix": prefix, "ids": "1" if ids else "", "tipped": "1" if tipped else ""}
        async with httpx.AsyncClient(base_url=self.base, timeout=30) as c:
            response = await c.get("/control/stats", params=params)
            response.raise_for_status()
            return dict(response.json())


def app_cli(args: list[str], env: dict[str, str]) -> str:
    return run_cli([sys.executable, "-m", "app.cli", *args], env, ROOT)


def last_line(output: str) -> str:
    return output.strip().splitlines()[-1].strip()


# --------------------------------------------------------------------------- results


@dataclass
class Throughput:
    label: str
    deliveries: int
    seconds: float
    cpu: dict[str, float | None] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.deliveries / self.seconds if self.seconds > 0 else 0.0


@dataclass
class KindResult:
    kind: str
    checks: list[Check] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    raw: Throughput | None = None
    raw_one_client: Throughput | None = None
    groundswell: Throughput | None = None
    healthy_with_hang: Throughput | None = None
    hang_attempts: int = 0
    fanout: Throughput | None = None
    tips: Throughput | None = None
    latencies: list[float] = field(default_factory=list)
    latency_mode: str = ""
    latency_missing: int = 0
    profile: str = ""


def webhook_campaign(slug: str) -> dict[str, Any]:
    """A campaign with target 1: one pledge tips it."""
    return campaign_body(slug, 1, title="Webhook benchmark", script=Path(__file__).name)


def pledge_body(slug: str) -> dict[str, Any]:
    return {"name": "Resident", "email": f"{slug}@bench.example.org", "postcode": "LS6 1AB"}


class CpuMeter:
    """CPU used by this process, the receiver and PostgreSQL over a span, as % of one core."""

    def __init__(self, receiver_pid: int, postgres: bool, others: dict[str, int] | None = None):
        self.pids = {"receiver": receiver_pid, **(others or {})}
        self.postgres = postgres

    def sample(self) -> dict[str, float | None]:
        values: dict[str, float | None] = {"bench": time.process_time()}
        for name, pid in self.pids.items():
            values[name] = proc_cpu_seconds(pid)
        values["postgres"] = postgres_cpu_seconds() if self.postgres else None
        return values

    @staticmethod
    def share(before: dict[str, float | None], after: dict[str, float | None], wall: float):
        out: dict[str, float | None] = {}
        for k, v in before.items():
            w = after.get(k)
            # None where unknown, or where processes ended between the samples (PostgreSQL
            # backends that closed take their CPU with them).
            share = None if v is None or w is None or wall <= 0 else (w - v) / wall * 100
            out[k] = share if share is None or share >= 0 else None
        return out


# --------------------------------------------------------------------------- 1 + 3: throughput


async def raw_posts(
    receiver: Receiver, route: str, bodies: list[str], policy: Any, pools: int = 1
) -> tuple[float, list[str]]:
    """Plain httpx POSTs of `bodies`, pre-signed, policy.concurrency at a time, over `pools`
    clients with the worker's client settings; returns (seconds, errors of retried POSTs)."""
    import httpx
    from standardwebhooks import Webhook

    from notifications.signing import new_secret

    secret = new_secret()
    await receiver.set_secret(route, secret)
    signer = Webhook(secret)
    now = datetime.now(UTC)
    requests = []
    for i, body in enumerate(bodies):
        msg_id = f"msg_raw{i:06d}_{uuid.uuid4().hex[:8]}"
        requests.append(
            (
                body.encode(),
                {
                    "webhook-id": msg_id,
                    "webhook-timestamp": str(int(now.timestamp())),
                    "webhook-signature": signer.sign(msg_id, now, body),
                    "content-type": "application/json",
                    "user-agent": "bench-raw/1",
                },
            )
        )
    url = receiver.url(route)
    queue = list(range(len(requests)))
    errors: list[str] = []
    failed: list[int] = []

    async def sender(client: httpx.AsyncClient) -> None:
        # Bounded: each request is sent once, and a failed one once more at the end.
        while queue:
            i = queue.pop(0)
            content, headers = requests[i]
            try:
                response = await client.post(url, content=content, headers=headers)
                if response.status_code != 200:
                    errors.append(f"HTTP {response.status_code}")
                    failed.append(i)
            except httpx.HTTPError as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
                failed.append(i)

    async with contextlib.AsyncExitStack() as stack:
        clients = [
            # The settings of notifications.worker.webhook_client.
            await stack.enter_async_context(
                httpx.AsyncClient(
                    timeout=httpx.Timeout(policy.total_timeout, connect=policy.connect_timeout),
                    follow_redirects=False,
                    trust_env=False,
                    limits=httpx.Limits(
                        max_connections=policy.concurrency * 2, max_keepalive_connections=64
                    ),
                )
            )
            for _ in range(pools)
        ]
        tasks = policy.concurrency
        started = time.perf_counter()
        await asyncio.gather(*(sender(clients[k % pools]) for k in range(tasks)))
        if failed:
            queue, failed[:] = list(failed), []
            await asyncio.gather(*(sender(clients[k % pools]) for k in range(tasks)))
        seconds = time.perf_counter() - started
    if failed:
        raise BenchmarkError(f"raw httpx: {len(failed)} POSTs failed twice: {errors[:3]}")
    return seconds, errors


async def tip_campaigns(store: Any, lead_id: int, tag: str, count: int) -> float:
    """`count` real tips: a campaign with target 1 and one paper pledge each."""
    from pledges.campaigns import create_campaign, parse_campaign
    from pledges.pledging import parse_pledge, record_paper_pledge

    todo = list(range(count))

    async def tipper() -> None:
        while todo:
            slug = f"wh-{tag}-{todo.pop()}"
            await create_campaign(store, lead_id, parse_campaign(webhook_campaign(slug)))
            await record_paper_pledge(store, slug, lead_id, parse_pledge(pledge_body(slug)))

    started = time.perf_counter()
    await asyncio.gather(*(tipper() for _ in range(4)))
    return time.perf_counter() - started


async def fan_out(worker: Any) -> float:
    """The worker's own journal dispatch (emails + webhook fan-out) until nothing is left."""
    started = time.perf_counter()
    for _ in range(10_000):  # bounded: 200 events a pass
        if not await worker.dispatch():
            break
    return time.perf_counter() - started


async def count_deliveries(store: Any, endpoint_ids: list[int], status: str | None) -> int:
    import sqlalchemy as sa

    from notifications.tables import webhook_deliveries as wd

    query = sa.select(sa.func.count()).where(wd.c.endpoint_id.in_(endpoint_ids))
    if status:
        query = query.where(wd.c.status == status)
    return int(await store.database.fetch_val(query))


async def timed_drain(
    worker: Any,
    endpoint_ids: list[int],
    expected: int,
    max_seconds: float,
    meter: CpuMeter,
    profiler: cProfile.Profile | None,
) -> tuple[float, dict[str, float | None], int]:
    """Run the Deliverer until `expected` deliveries to `endpoint_ids` have succeeded."""
    deliverer = worker.deliverer
    stopping = asyncio.Event()
    before = meter.sample()
    if profiler:
        profiler.enable()
    started = time.perf_counter()
    task = asyncio.create_task(deliverer.run(stopping, worker.poll_seconds))
    done = 0
    try:
        # One held connection, polled every 50 ms: the look must not load what it measures
        # (on SQLite each standalone query would open a connection and a thread).
        async with worker.store.read():
            while time.perf_counter() - started < max_seconds:
                await asyncio.sleep(0.05)
                if task.done():
                    break
                done = await count_deliveries(worker.store, endpoint_ids, "succeeded")
                if done >= expected:
                    break
        seconds = time.perf_counter() - started
    finally:
        if profiler:
            profiler.disable()
        after = meter.sample()
        stopping.set()
        deliverer.wake()
        await asyncio.wait_for(task, timeout=worker.policy.total_timeout + 30)
    return seconds, CpuMeter.share(before, after, seconds), done


async def delivery_checks(
    label: str,
    store: Any,
    receiver: Receiver,
    endpoint_ids: list[int],
    prefix: str,
    tips: int,
    result: KindResult,
) -> None:
    """Exactly once: one row per (event, endpoint), every message received once, signed.
    A delivery still queued when a drain hit its time limit is late, not lost: it is
    counted and shown, and only a failed one, or one marked succeeded that the receiver
    never got, counts as lost."""
    import sqlalchemy as sa

    from notifications.tables import webhook_attempts as wa
    from notifications.tables import webhook_deliveries as wd

    rows = await store.database.fetch_all(
        sa.select(wd.c.event_id, wd.c.endpoint_id, wd.c.message_id, wd.c.status).where(
            wd.c.endpoint_id.in_(endpoint_ids)
        )
    )
    expected = tips * len(endpoint_ids)
    pairs = {(r["event_id"], r["endpoint_id"]) for r in rows}
    db_ids = {r["message_id"] for r in rows}
    succeeded = {r["message_id"] for r in rows if r["status"] == "succeeded"}
    queued = sum(1 for r in rows if r["status"] in ("pending", "sending"))
    gave_up = sum(1 for r in rows if r["status"] not in ("pending", "sending", "succeeded"))
    got = await receiver.stats(prefix, ids=True)
    received = set(got["ids"])
    failed_attempts = await store.database.fetch_all(
        sa.select(wa.c.error, wa.c.status_code, sa.func.count().label("n"))
        .join(wd, wd.c.id == wa.c.delivery_id)
        .where(
            wd.c.endpoint_id.in_(endpoint_ids),
            sa.or_(wa.c.status_code.is_(None), wa.c.status_code >= 300),
        )
        .group_by(wa.c.error, wa.c.status_code)
    )
    if failed_attempts:
        result.notes.append(
            f"{label}: healthy endpoints had failed attempts (retried): "
            + "; ".join(f"{r['n']} x {r['error'] or r['status_code']}" for r in failed_attempts[:3])
        )
    if queued:
        result.notes.append(
            f"{label}: {queued} deliveries still queued when the drain stopped (late, not lost)"
        )
    # A message received more than once is a duplicate unless the worker recorded a failed
    # attempt before each repeat (e.g. a timeout after the receiver had it): that is the
    # at-least-once contract, with the same webhook-id for the receiver to drop it.
    unexplained = 0
    repeated: dict[str, int] = got["repeated"]
    if repeated:
        attempts = await store.database.fetch_all(
            sa.select(
                wd.c.message_id,
                sa.func.count().label("n"),
                sa.func.sum(
                    sa.case(
                        (sa.or_(wa.c.status_code.is_(None), wa.c.status_code >= 300), 1), else_=0
                    )
                ).label("failed"),
            )
            .join(wd, wd.c.id == wa.c.delivery_id)
            .where(wd.c.message_id.in_(list(repeated)))
            .group_by(wd.c.message_id)
        )
        recorded = {r["message_id"]: (r["n"], r["failed"] or 0) for r in attempts}
        for message_id, times in repeated.items():
            n, failed = recorded.get(message_id, (0, 0))
            if times > n or times - 1 > failed:
                unexplained += 1
    result.checks += [
        Check(
            f"{label}: one delivery per tip and endpoint",
            len(rows) == len(pairs) == len(db_ids) == expected,
            f"rows={len(rows)} distinct (event, endpoint)={len(pairs)} "
            f"distinct webhook-ids={len(db_ids)} expected={expected}",
        ),
        Check(
            f"{label}: nothing lost",
            succeeded <= received and gave_up == 0,
            f"succeeded={len(succeeded)} of {len(db_ids)}, still queued={queued}, "
            f"given up={gave_up}, received distinct={len(received)}, "
            f"succeeded but never received={len(succeeded - received)}",
        ),
        Check(
            f"{label}: nothing duplicated or unknown",
            unexplained == 0 and received <= db_ids,
            f"requests={got['requests']} distinct={got['distinct']} "
            f"repeats={got['duplicates']} (not after a recorded failed attempt: {unexplained}) "
            f"unknown ids={len(received - db_ids)}",
        ),
        Check(
            f"{label}: every signature verifies",
            got["bad_signatures"] == 0,
            f"checked={got['checked']} bad={got['bad_signatures']}",
        ),
    ]


async def run_throughput(
    kind: str, url: str, args: argparse.Namespace, receiver: Receiver, result: KindResult
) -> None:
    import sqlalchemy as sa

    from app.bootstrap import bootstrap
    from app.migrate import migrate
    from app.settings import Settings
    from notifications.endpoints import create_endpoint, parse_endpoint
    from notifications.tables import webhook_deliveries as wd
    from pledges.accounts import create_lead_api_key, create_organisation_api_key

    await asyncio.to_thread(migrate, url)
    settings = Settings.from_environ(
        {
            "DATABASE_URL": url,
            "SECRET_KEY": secrets.token_urlsafe(48),
            "WEBHOOK_ALLOW_PRIVATE_NETWORKS": "1",
            "WEBHOOK_TIMEOUT_SECONDS": f"{args.timeout:g}",
        }
    )
    services = bootstrap(settings)  # the production wiring: Store, policy, Worker
    store, worker = services.store, services.worker
    policy = worker.policy
    meter = CpuMeter(receiver.proc.pid, postgres=kind == "postgres")
    tag = f"{kind}-{uuid.uuid4().hex[:6]}"
    await store.connect()
    try:
        lead, _ = await create_lead_api_key(store, "lead@bench.example.org")
        org, _ = await create_organisation_api_key(
            store, "ops@bench.example.org", "Bench Fibre", "provider"
        )
        healthy = []
        for j in range(args.endpoints):
            route = f"gs-{tag}-{j}"
            endpoint = await create_endpoint(
                store,
                org.id,
                await parse_endpoint(
                    {"url": receiver.url(route), "event_types": ["campaign.tipped"]},
                    partial=False,
                    allow_private=True,
                ),
            )
            await receiver.set_secret(route, endpoint.secret)
            healthy.append(endpoint.id)
        tips = max(1, math.ceil(args.deliveries / args.endpoints))
        n = tips * args.endpoints
        tip_seconds = await tip_campaigns(store, lead.id, f"{tag}-a", tips)
        result.tips = Throughput("tips (campaign + paper pledge)", tips, tip_seconds)
        fan_seconds = await fan_out(worker)
        result.fanout = Throughput("fan-out (dispatch)", n, fan_seconds)
        queued = await count_deliveries(store, healthy, "pending")
        result.checks.append(
            Check(
                "fan-out: one pending delivery per tip and endpoint",
                queued == n,
                f"pending={queued} expected={n}",
            )
        )

        bodies = [
            r["body"]
            for r in await store.database.fetch_all(
                sa.select(wd.c.body).where(wd.c.endpoint_id.in_(healthy)).order_by(wd.c.id)
            )
        ]
        # Raw httpx: same bodies, same concurrency limit, same receiver, and the worker's
        # client settings and arrangement: its endpoints spread over small pools.
        pools = max(1, policy.concurrency // policy.per_endpoint_concurrency)
        before = meter.sample()
        raw_seconds, raw_errors = await raw_posts(
            receiver, f"raw-{tag}", bodies, policy, pools=pools
        )
        result.raw = Throughput(
            f"raw httpx, {pools} clients x {policy.concurrency // pools} tasks",
            len(bodies),
            raw_seconds,
            CpuMeter.share(before, meter.sample(), raw_seconds),
        )
        # For reference: all tasks on one client (httpcore's pool checks every one of its
        # connections on every request, so one big pool costs CPU per connection).
        some = bodies[: max(1, len(bodies) // 4)]
        before = meter.sample()
        one_seconds, one_errors = await raw_posts(receiver, f"rawone-{tag}", some, policy)
        result.raw_one_client = Throughput(
            f"raw httpx, 1 client x {policy.concurrency} tasks",
            len(some),
            one_seconds,
            CpuMeter.share(before, meter.sample(), one_seconds),
        )
        raw_errors += one_errors
        if raw_errors:
            result.notes.append(
                f"raw httpx: {len(raw_errors)} POST(s) failed and were sent again "
                f"(e.g. {raw_errors[0]}); the machine may be overloaded"
            )
        raw_stats = await receiver.stats(f"raw-{tag}")
        result.checks.append(
            Check(
                "raw httpx (the receiver's own count): every POST received",
                raw_stats["distinct"] == len(bodies),
                f"requests={raw_stats['requests']} distinct={raw_stats['distinct']} "
                f"(a POST that failed on the client side may have arrived: "
                f"duplicates={raw_stats['duplicates']})",
            )
        )

        profiler = cProfile.Profile() if args.profile else None
        seconds, cpu, done = await timed_drain(
            worker, healthy, n, args.drain_seconds, meter, profiler
        )
        result.groundswell = Throughput("Groundswell (Deliverer)", done, seconds, cpu)
        if done < n:
            result.notes.append(f"drain stopped after {seconds:.0f} s with {done}/{n} succeeded")
        await delivery_checks("throughput", store, receiver, healthy, f"gs-{tag}-", tips, result)
        if profiler:
            out = io.StringIO()
            stats = pstats.Stats(profiler, stream=out)
            stats.strip_dirs().sort_stats("tottime").print_stats(20)
            stats.sort_stats("cumulative").print_stats(40)
            result.profile = out.getvalue()

        if args.skip_hang:
            return
        route = f"hang-{tag}"
        hanging = await create_endpoint(
            store,
            org.id,
            await parse_endpoint(
                {"url": receiver.url(route, hang=True), "event_types": ["campaign.tipped"]},
                partial=False,
                allow_private=True,
            ),
        )
        await receiver.set_secret(route, hanging.secret)
        await tip_campaigns(store, lead.id, f"{tag}-b", tips)
        await fan_out(worker)
        seconds, cpu, done = await timed_drain(
            worker, healthy, 2 * n, args.drain_seconds, meter, None
        )
        result.healthy_with_hang = Throughput("healthy, one hanging", done - n, seconds, cpu)
        if done < 2 * n:
            result.notes.append(
                f"hang drain stopped after {seconds:.0f} s with {done - n}/{n} succeeded"
            )
        hang_stats = await receiver.stats(route)
        result.hang_attempts = hang_stats["requests"]
        await delivery_checks(
            "with hanging endpoint", store, receiver, healthy, f"gs-{tag}-", 2 * tips, result
        )
        hang_rows = await store.database.fetch_all(
            sa.select(wd.c.message_id, wd.c.status, wd.c.attempts).where(
                wd.c.endpoint_id == hanging.id
            )
        )
        hang_db_ids = {r["message_id"] for r in hang_rows}
        got = await receiver.stats(route, ids=True)
        result.checks.append(
            Check(
                "hanging endpoint: its messages kept for retry, none unknown",
                len(hang_rows) == len(hang_db_ids) == tips
                and set(got["ids"]) <= hang_db_ids
                and all(r["status"] in ("pending", "sending") for r in hang_rows),
                f"rows={len(hang_rows)} (expected {tips}), "
                f"statuses={sorted({r['status'] for r in hang_rows})}, attempts received="
                f"{got['requests']} for {got['distinct']} messages (timed out, so retried "
                "later with the same webhook-id: at-least-once by design)",
            )
        )
    finally:
        await worker.aclose()
        await store.disconnect()


# --------------------------------------------------------------------------- 2: latency


async def run_latency(
    kind: str,
    url: str,
    args: argparse.Namespace,
    receiver: Receiver,
    workdir: Path,
    result: KindResult,
) -> None:
    import httpx

    # Production settings (the default 15 s timeout), with private addresses allowed.
    env = production_env(url, unset=["WEBHOOK_TIMEOUT_SECONDS"], WEBHOOK_ALLOW_PRIVATE_NETWORKS="1")
    cli = groundswell_command()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    procs: list[Process] = []
    if kind == "sqlite":
        web = Process(f"serve-{kind}", [*cli, "serve", "--port", str(port)], env, workdir)
        procs.append(web)
        result.latency_mode = "groundswell serve (web + worker, one process)"
    else:
        app_cli(["migrate"], env)
        web = Process(
            f"serve-{kind}", [*cli, "serve", "--no-worker", "--port", str(port)], env, workdir
        )
        worker = Process(f"worker-{kind}", [*cli, "worker"], env, workdir)
        procs += [web, worker]
        result.latency_mode = "groundswell serve --no-worker + groundswell worker (LISTEN/NOTIFY)"
    try:
        for p in procs:
            p.start()
        await web.wait_http(f"{base}/api/v1/campaigns")
        if kind != "sqlite":
            await procs[1].wait_log("worker started")
        lead_key = last_line(
            app_cli(["apikey", "create", "--email", "lead@bench.example.org"], env)
        )
        org_key = last_line(
            app_cli(
                [
                    "apikey",
                    "create",
                    "--email",
                    "ops@bench.example.org",
                    "--org",
                    "Bench Fibre",
                    "--kind",
                    "provider",
                ],
                env,
            )
        )
        route = f"latency-{kind}-{uuid.uuid4().hex[:6]}"
        lead = {"Authorization": f"Bearer {lead_key}"}
        async with (
            httpx.AsyncClient(base_url=base, timeout=30) as api,
            httpx.AsyncClient(base_url=receiver.base, timeout=30) as rx,
        ):
            created = await api.post(
                "/api/v1/webhook-endpoints",
                headers={"Authorization": f"Bearer {org_key}"},
                json={"url": receiver.url(route), "event_types": ["campaign.tipped"]},
            )
            if created.status_code != 201:
                raise BenchmarkError(f"endpoint not registered: {created.text}")
            await receiver.set_secret(route, created.json()["secret"])
            tag = uuid.uuid4().hex[:6]
            slugs: list[str] = []
            warmup = args.latency_warmup
            deadline = time.monotonic() + args.latency_max_seconds
            cpu_pids = {p.name: p.pid for p in procs}
            meter = CpuMeter(receiver.proc.pid, kind == "postgres", cpu_pids)
            before, started = meter.sample(), time.perf_counter()
            for i in range(warmup + args.tips):
                if time.monotonic() > deadline:
                    result.notes.append(f"latency loop stopped at its deadline after {i} tips")
                    break
                slug = f"lat-{tag}-{i}"
                response = await api.post(
                    "/api/v1/campaigns", headers=lead, json=webhook_campaign(slug)
                )
                if response.status_code != 201:
                    raise BenchmarkError(f"campaign not created: {response.text}")
                response = await api.post(
                    f"/api/v1/campaigns/{slug}/pledges",
                    headers=lead,
                    json={**pledge_body(slug), "source": "paper"},
                )
                answered = time.time()
                if response.status_code // 100 != 2:
                    raise BenchmarkError(f"paper pledge refused: {response.text}")
                slugs.append(slug)
                waited = await rx.get("/control/wait", params={"slug": slug, "timeout": "5"})
                if waited.status_code != 200:
                    if i >= warmup:
                        result.latency_missing += 1
                    continue
                if i >= warmup:
                    result.latencies.append(waited.json()["received"] - answered)
            wall = time.perf_counter() - started
            result.notes.append(
                "latency loop CPU (% of one core): "
                + ", ".join(
                    f"{k} {v:.0f}%"
                    for k, v in CpuMeter.share(before, meter.sample(), wall).items()
                    if v is not None
                )
            )
            await asyncio.sleep(1.0)  # anything late or duplicated arrives in this time
            got = await receiver.stats(route, tipped=True)
            counts = got["tipped"]
            once = [s for s in slugs if counts.get(s) == 1]
            result.checks += [
                Check(
                    "latency: one campaign.tipped per tip, none lost",
                    len(once) == len(slugs) and got["requests"] == len(slugs),
                    f"tips={len(slugs)} received once={len(once)} "
                    f"missing={sum(1 for s in slugs if s not in counts)} "
                    f"requests={got['requests']} duplicates={got['duplicates']}",
                ),
                Check(
                    "latency: every signature verifies",
                    got["bad_signatures"] == 0 and got["checked"] == got["requests"],
                    f"checked={got['checked']} bad={got['bad_signatures']}",
                ),
            ]
    finally:
        for p in reversed(procs):
            code = p.stop()
            if code not in (0, None) or (code is None and p.proc is not None):
                result.notes.append(f"{p.name} stopped with {code}; log tail:\n{p.log_tail(10)}")


# --------------------------------------------------------------------------- orchestration


async def run_kind(
    kind: str, args: argparse.Namespace, receiver: Receiver, workdir: Path
) -> KindResult:
    result = KindResult(kind)
    async with contextlib.AsyncExitStack() as databases:
        if kind == "sqlite":
            throughput_url = f"sqlite:///{workdir / 'throughput.db'}"
            latency_url = f"sqlite:///{workdir / 'latency.db'}"
        else:
            throughput_url, latency_url = await databases.enter_async_context(
                scratch_postgres_databases(args.postgres_url, ["bench_wh_tp", "bench_wh_lat"])
            )
        print(f"--- {kind}: throughput ...", flush=True)
        await run_throughput(kind, throughput_url, args, receiver, result)
        if not args.skip_latency:
            print(f"--- {kind}: latency ...", flush=True)
            await run_latency(kind, latency_url, args, receiver, workdir, result)
    return result


def cpu_text(cpu: dict[str, float | None]) -> str:
    return ", ".join(f"{k} {v:.0f}%" for k, v in cpu.items() if v is not None)


def report(results: list[KindResult], args: argparse.Namespace) -> bool:
    ok = True
    print()
    print(
        f"Webhook delivery: {args.deliveries} deliveries over {args.endpoints} endpoint(s) of "
        f"one organisation, timeout {args.timeout:g} s, {os.cpu_count()} cores; receiver "
        f"{'verifies every signature' if not args.no_verify else 'does not verify'}."
    )
    print(
        "CPU: share of ONE core over the timed span (bench = this process: Deliverer or raw "
        "client, with its SQLite threads)."
    )
    for res in results:
        print()
        print(f"=== {res.kind} ===")
        if res.tips and res.fanout:
            print(
                f"  setup: {res.tips.deliveries} tips in {res.tips.seconds:.2f} s "
                f"({res.tips.rate:.0f}/s); fan-out to {res.fanout.deliveries} deliveries in "
                f"{res.fanout.seconds:.2f} s ({res.fanout.rate:.0f}/s)"
            )
        if res.raw and res.groundswell:
            raw, gs = res.raw, res.groundswell
            ratio = gs.rate / raw.rate if raw.rate else 0.0
            verdict = "meets" if ratio >= THROUGHPUT_TARGET else "BELOW"
            print(f"  1. throughput (concurrency {args.concurrency_label})")
            for t in (raw, res.raw_one_client, gs):
                if t is not None:
                    print(
                        f"     {t.label + ':':<37}{t.deliveries:>5} in {t.seconds:6.2f} s = "
                        f"{t.rate:6.1f}/s  [{cpu_text(t.cpu)}]"
                    )
            print(
                f"     ratio Groundswell / raw: {ratio:.2f}x "
                f"({verdict} target >= {THROUGHPUT_TARGET}x)"
            )
        if res.healthy_with_hang and res.groundswell:
            h, gs = res.healthy_with_hang, res.groundswell
            ratio = h.rate / gs.rate if gs.rate else 0.0
            verdict = "meets" if ratio >= HANG_TARGET else "BELOW"
            print("  3. one hanging endpoint (sleeps past the timeout)")
            print(
                f"     healthy with it: {h.deliveries} in {h.seconds:.2f} s = {h.rate:7.1f}/s "
                f"  [{cpu_text(h.cpu)}]; hanging endpoint got {res.hang_attempts} attempt(s)"
            )
            print(f"     without it:      {gs.rate:7.1f}/s (the run above)")
            print(f"     ratio {ratio:.2f}x ({verdict} target >= {HANG_TARGET}x)")
        if res.latency_mode:
            lat = res.latencies
            p50, p99 = percentile(lat, 50) * 1000, percentile(lat, 99) * 1000
            verdict = "meets" if lat and p99 / 1000 < LATENCY_TARGET_P99 else "BELOW"
            print(f"  2. tip-to-receipt latency, {res.latency_mode}")
            print(
                f"     {len(lat)} tips (after {args.latency_warmup} warm-up): p50 {p50:.1f} ms, "
                f"p99 {p99:.1f} ms, max {max(lat, default=float('nan')) * 1000:.1f} ms "
                f"({verdict} target p99 < {LATENCY_TARGET_P99 * 1000:.0f} ms)"
                + (f"; {res.latency_missing} not received in 5 s" if res.latency_missing else "")
            )
        ok = print_checks(res.checks, res.notes) and ok
        print_profile(
            "cProfile of the Deliverer during the throughput drain (main thread)", res.profile
        )
    print()
    print("CORRECTNESS: " + ("all checks passed" if ok else "FAILED"))
    return ok


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--deliveries",
        type=int,
        default=2000,
        help="deliveries per throughput run (tips x endpoints, rounded up)",
    )
    parser.add_argument(
        "--endpoints",
        type=int,
        default=8,
        help="healthy endpoints; each tip fans out to all of them "
        "(8 x per-endpoint limit 4 = the worker's concurrency of 32)",
    )
    parser.add_argument("--tips", type=int, default=100, help="tips timed for latency")
    parser.add_argument(
        "--latency-warmup",
        type=int,
        default=3,
        help="tips before the timed ones (connection set-up, LISTEN)",
    )
    parser.add_argument("--latency-max-seconds", type=float, default=40)
    parser.add_argument(
        "--timeout",
        type=float,
        default=3.0,
        help="DeliveryPolicy.total_timeout (WEBHOOK_TIMEOUT_SECONDS) of the in-process "
        "throughput and hanging-endpoint runs; the latency servers keep the default 15 s",
    )
    parser.add_argument(
        "--drain-seconds", type=float, default=45, help="longest a timed drain may run"
    )
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--skip-hang", action="store_true")
    parser.add_argument(
        "--no-verify", action="store_true", help="the receiver does not verify signatures"
    )
    parser.add_argument(
        "--profile", action="store_true", help="cProfile the Deliverer in the throughput drain"
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL),
        help="an admin connection; the benchmark creates and drops its own databases there",
    )
    parser.add_argument("--keep-logs", action="store_true")
    parser.add_argument("--receiver", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--hang-seconds", type=float, default=6.0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.deliveries < 1 or args.endpoints < 1 or args.tips < 1 or args.timeout <= 0:
        parser.error("sizes and --timeout must be positive")
    return args


async def amain(args: argparse.Namespace) -> int:
    from notifications.webhooks import DeliveryPolicy

    policy = DeliveryPolicy()
    args.concurrency_label = (
        f"{policy.concurrency} in all, {policy.per_endpoint_concurrency} per endpoint"
    )
    kinds = await database_kinds(args.skip_sqlite, args.skip_postgres, args.postgres_url)
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="groundswell-webhook-bench-"))
    port = free_port()
    argv = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--receiver",
        "--port",
        str(port),
        "--hang-seconds",
        f"{args.timeout * 2:g}",
    ]
    if args.no_verify:
        argv.append("--no-verify")
    receiver_proc = Process("receiver", argv, dict(os.environ), workdir)
    results: list[KindResult] = []
    try:
        receiver_proc.start()
        await receiver_proc.wait_http(f"http://127.0.0.1:{port}/control/stats")
        receiver = Receiver(port, receiver_proc)
        for kind in kinds:
            results.append(await run_kind(kind, args, receiver, workdir))
    finally:
        receiver_proc.stop(timeout=10)
        if args.keep_logs:
            print(f"(logs and SQLite files kept in {workdir})")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    ok = report(results, args)
    print(f"Whole run: {time.monotonic() - started:.0f} s")
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.receiver:
        return receiver_main(args.port, args.hang_seconds, verify=not args.no_verify)
    return run_benchmark(amain(args))


if __name__ == "__main__":
    sys.exit(main())
