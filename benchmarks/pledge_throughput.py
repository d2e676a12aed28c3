"""Pledge throughput of the real Groundswell server against a bare baseline, with exactness.

For each database (a fresh SQLite file; a fresh PostgreSQL database when one answers):

1. BASELINE: benchmarks/baseline_app.py (bare Starlette + encode/databases, one INSERT per
   request) under uvicorn in one process, driven by the load generator.
2. GROUNDSWELL: `groundswell serve` (one uvicorn process: web and worker), a lead's key from
   `groundswell apikey create`, and per path a campaign whose target is half the requests,
   so it tips mid-run:
   (a) paper: POST /api/v1/campaigns/{slug}/pledges with the lead's key, "source": "paper";
   (b) web + confirm: POST the pledge (202), then POST /api/v1/pledges/confirm with a token;
   (c) households: paper pledges on a campaign that counts households, four people at each
       home (spelled four ways), so one in four adds a household; its target is half the
       homes;
   (d) price: paper pledges on a campaign with a price question (points 1500..3500) and a
       target price of 2500, each with a `max_price` spread over the points and a
       firmness; its target is half the pledges at 2500 or more.
   (e) choice: set up through the API (untimed) a campaign tipped by half as many paper
       pledges as requests, two providers with an endpoint covering it and an offer each,
       and the round opened by the lead; once the worker sent the offers emails, residents
       POST /api/v1/choices with their signed tokens, three in four changing their mind
       once or twice (to the other offer or "none").
3. After each path: wait for the worker to drain, then check exactness in the database
   (stored confirmations == accepted requests, no duplicates, exactly one campaign.tipped;
   on the price path the demand counters against a count of the confirmed pledges; on the
   choice path the round's and each offer's counters against a recount of the choices,
   and each resident's last choice stored).
4. With --statements N: N more paper pledges per path (on the choice path N first choices,
   then N changes of mind), one at a time, to an in-process app, counting the SQL
   statements and transactions each takes.

The load generator runs in separate processes (this script with --loadgen) and reports
its own CPU next to the server's. Exit status: 1 if any exactness check failed, 2 if the
benchmark itself could not run; never on speed. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common import (
    BENCHMARKS,
    DEFAULT_POSTGRES_URL,
    BenchmarkError,
    Check,
    Groundswell,
    ServerProcess,
    campaign_body,
    database_kinds,
    free_port,
    groundswell_command,
    machine_busy_seconds,
    percentile,
    postgres_cpu_seconds,
    process_tree,
    production_env,
    run_benchmark,
    run_cli,
    scratch_postgres_databases,
    tree_cpu_seconds,
)

TARGET_RATIO = 0.5
PATHS = ("paper", "web", "households", "price", "choice")

# --------------------------------------------------------------------------- load generator


async def _loadgen(spec: dict[str, Any]) -> dict[str, Any]:
    """Send spec["items"] as POSTs from `concurrency` tasks over pooled httpx clients."""
    # httpcore asks `import sniffio` on every request; with anyio 4.16 sniffio is not
    # installed, so each failed import searched sys.path (~0.4 ms CPU a request). A None
    # entry makes that import fail at once; httpcore then assumes asyncio, which this is.
    sys.modules.setdefault("sniffio", None)  # type: ignore[arg-type]
    import httpx

    items: list[list[Any]] = spec["items"]
    concurrency = max(1, min(spec["concurrency"], len(items) or 1))
    flag_key: str | None = spec.get("flag_key")
    # httpcore's pool looks at every pooled connection (a getpeername and a poll each) for
    # every request it assigns, so one pool shared by N tasks costs O(N) CPU per request in
    # the load generator. Groups of `pool_size` tasks share one client (one pool) instead.
    pool_size = max(1, min(spec["pool_size"], concurrency))
    n_clients = math.ceil(concurrency / pool_size)
    clients = [
        httpx.AsyncClient(
            base_url=spec["base_url"],
            limits=httpx.Limits(max_connections=pool_size, max_keepalive_connections=pool_size),
            timeout=spec["timeout"],
            headers=spec["headers"],
        )
        for _ in range(n_clients)
    ]
    statuses = [0] * len(items)
    latencies = [0.0] * len(items)
    # When each request began and its answer came (time.monotonic(), one clock for every
    # process on the machine): the choice path checks that the last of a resident's changes
    # of mind is the one stored, where one began after the others were answered.
    spans = [[0.0, 0.0] for _ in items]
    flags = [False] * len(items)
    errors: list[str] = []
    try:
        # Open every connection before the clock starts.
        await asyncio.gather(
            *(clients[k // pool_size].get(spec["warmup_path"]) for k in range(concurrency))
        )
        print("ready", flush=True)
        sys.stdin.readline()  # "go": every load process starts together

        next_index = 0
        started = time.monotonic()
        deadline = started + spec["max_seconds"]
        cpu_before = time.process_time()

        async def worker(client: httpx.AsyncClient) -> None:
            nonlocal next_index
            # Bounded: each item is sent once, and none is started after the deadline.
            while next_index < len(items) and time.monotonic() < deadline:
                i = next_index
                next_index += 1
                path, body = items[i]
                t0 = time.perf_counter()
                spans[i][0] = time.monotonic()
                try:
                    response = await client.post(path, json=body)
                    statuses[i] = response.status_code
                    if flag_key and response.is_success:
                        flags[i] = bool(response.json().get(flag_key))
                    elif not response.is_success and len(errors) < 5:
                        errors.append(f"{response.status_code} {response.text[:300]}")
                except httpx.HTTPError as exc:
                    statuses[i] = -1
                    if len(errors) < 5:
                        errors.append(f"{type(exc).__name__}: {exc}")
                latencies[i] = time.perf_counter() - t0
                spans[i][1] = time.monotonic()

        await asyncio.gather(*(worker(clients[k // pool_size]) for k in range(concurrency)))
        finished = time.monotonic()
        cpu = time.process_time() - cpu_before
    finally:
        for client in clients:
            await client.aclose()
    sent = next_index
    return {
        "started": started,
        "finished": finished,
        "cpu": cpu,
        "sent": sent,
        "statuses": statuses[:sent],
        "latencies": latencies[:sent],
        "spans": spans[:sent],
        "flags": flags[:sent],
        "errors": errors,
    }


def loadgen_main(spec_path: str) -> int:
    spec = json.loads(Path(spec_path).read_text())
    result = asyncio.run(_loadgen(spec))
    Path(spec["result_path"]).write_text(json.dumps(result))
    return 0


# --------------------------------------------------------------------------- measurement


def run_queue_wait_seconds(pid: int) -> float | None:
    """Time the process's threads were runnable but waited for a core (/proc schedstat)."""
    total, found = 0.0, False
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return None
    for task in tasks:
        try:
            total += int((task / "schedstat").read_text().split()[1]) / 1e9
            found = True
        except (OSError, IndexError, ValueError):
            continue
    return total if found else None


def tree_cpu_sum(pids: Sequence[int]) -> float | None:
    """CPU of the servers, each with its threads and child processes (uvicorn --workers)."""
    values = [tree_cpu_seconds(pid) for pid in pids]
    return None if any(v is None for v in values) else sum(v or 0.0 for v in values)


def tree_queue_wait(pids: Sequence[int]) -> float | None:
    """run_queue_wait_seconds over the servers and their child processes."""
    values = [run_queue_wait_seconds(pid) for top in pids for pid in process_tree(top)]
    return None if not values or any(v is None for v in values) else sum(v or 0.0 for v in values)


@dataclass
class Phase:
    """One timed burst of requests of one kind."""

    name: str
    requests: int
    sent: int
    statuses: list[int]
    latencies: list[float]
    flags: list[bool]
    wall: float
    loadgen_cpu: float
    loadgen_procs: int
    server_cpu: float | None
    db_cpu: float | None
    machine_cpu: float
    server_wait: float | None
    errors: list[str]
    # Per request sent, in the order of the lists above: its index in the items given to
    # run_phase (the load processes each take every n-th item), and its [start, answer]
    # times on time.monotonic().
    indices: list[int] = field(default_factory=list)
    spans: list[list[float]] = field(default_factory=list)

    @property
    def other_cpu(self) -> float:
        """CPU used meanwhile by processes that are not part of this measurement."""
        ours = self.loadgen_cpu + (self.server_cpu or 0) + (self.db_cpu or 0)
        return max(0.0, self.machine_cpu - ours)

    @property
    def accepted(self) -> int:
        return sum(1 for s in self.statuses if 200 <= s < 300)

    @property
    def flagged(self) -> int:
        return sum(1 for f in self.flags if f)

    @property
    def failed(self) -> int:
        return self.sent - self.accepted

    @property
    def rate(self) -> float:
        return self.accepted / self.wall if self.wall > 0 else 0.0

    def p(self, q: float) -> float:
        return percentile(self.latencies, q) * 1000


def run_phase(
    name: str,
    base_url: str,
    items: list[list[Any]],
    *,
    args: argparse.Namespace,
    workdir: Path,
    server_pids: Sequence[int],
    postgres: bool,
    warmup_path: str,
    headers: dict[str, str] | None = None,
    flag_key: str | None = None,
) -> Phase:
    """Run the load generator in args.load_procs processes, all started on one signal."""
    procs_n = max(1, min(args.load_procs, len(items)))
    per_proc_concurrency = max(1, args.concurrency // procs_n)
    procs: list[tuple[subprocess.Popen[str], Path]] = []
    try:
        for k in range(procs_n):
            spec_path = workdir / f"loadgen-{name}-{k}.json"
            result_path = workdir / f"loadgen-{name}-{k}.result.json"
            spec_path.write_text(
                json.dumps(
                    {
                        "base_url": base_url,
                        "items": items[k::procs_n],
                        "concurrency": per_proc_concurrency,
                        "timeout": args.request_timeout,
                        "max_seconds": args.max_seconds,
                        "headers": headers or {},
                        "flag_key": flag_key,
                        "warmup_path": warmup_path,
                        "pool_size": args.pool_size,
                        "result_path": str(result_path),
                    }
                )
            )
            proc = subprocess.Popen(
                [sys.executable, str(Path(__file__).resolve()), "--loadgen", str(spec_path)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            procs.append((proc, result_path))
        deadline = time.monotonic() + 60
        for proc, _ in procs:
            assert proc.stdout is not None
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or proc.poll() is not None:
                    raise BenchmarkError(f"load generator for {name} did not get ready")
                ready, _, _ = select.select([proc.stdout], [], [], remaining)
                if ready and proc.stdout.readline().strip() == "ready":
                    break
        server_cpu0 = tree_cpu_sum(server_pids)
        db_cpu0 = postgres_cpu_seconds() if postgres else None
        machine0 = machine_busy_seconds()
        wait0 = tree_queue_wait(server_pids)
        for proc, _ in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        for proc, _ in procs:
            try:
                code = proc.wait(timeout=args.max_seconds + args.request_timeout + 30)
            except subprocess.TimeoutExpired as exc:
                raise BenchmarkError(f"load generator for {name} did not finish") from exc
            if code != 0:
                raise BenchmarkError(f"load generator for {name} exited with {code}")
        machine1 = machine_busy_seconds()
        wait1 = tree_queue_wait(server_pids)
        server_cpu1 = tree_cpu_sum(server_pids)
        db_cpu1 = postgres_cpu_seconds() if postgres else None
    finally:
        for proc, _ in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    results = [json.loads(path.read_text()) for _, path in procs]
    wall = max(r["finished"] for r in results) - min(r["started"] for r in results)
    return Phase(
        name=name,
        requests=len(items),
        sent=sum(r["sent"] for r in results),
        statuses=[s for r in results for s in r["statuses"]],
        latencies=[x for r in results for x in r["latencies"]],
        flags=[f for r in results for f in r["flags"]],
        wall=wall,
        loadgen_cpu=sum(r["cpu"] for r in results),
        loadgen_procs=procs_n,
        server_cpu=None
        if server_cpu0 is None or server_cpu1 is None
        else server_cpu1 - server_cpu0,
        db_cpu=None if db_cpu0 is None or db_cpu1 is None else db_cpu1 - db_cpu0,
        machine_cpu=machine1 - machine0,
        server_wait=None if wait0 is None or wait1 is None else max(0.0, wait1 - wait0),
        errors=[e for r in results for e in r["errors"]],
        indices=[
            i
            for k, r in enumerate(results)
            for i in list(range(k, len(items), procs_n))[: r["sent"]]
        ],
        spans=[span for r in results for span in r["spans"]],
    )


# --------------------------------------------------------------------------- servers


class Server(ServerProcess):
    """A server on 127.0.0.1:`port`, run in `workdir`."""

    def __init__(
        self, name: str, argv: list[str], env: dict[str, str], workdir: Path, port: int
    ) -> None:
        super().__init__(name, argv, env, workdir)
        self.port = port
        self.base_url = f"http://127.0.0.1:{port}"

    async def serve(self, ready_path: str, timeout: float = 60) -> None:
        """Start it and wait until `ready_path` answers 200."""
        self.start()
        await self.wait_http(f"{self.base_url}{ready_path}", timeout)


# --------------------------------------------------------------------------- database access


class Db:
    """The benchmark's own look into a database: token minting, draining, exactness."""

    def __init__(self, url: str) -> None:
        from databases import Database

        self.database = Database(url)

    async def __aenter__(self) -> Db:
        await self.database.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.database.disconnect()

    async def val(self, sql: str, **values: Any) -> Any:
        return await self.database.fetch_val(sql, values)

    async def rows(self, sql: str, **values: Any) -> list[Any]:
        return list(await self.database.fetch_all(sql, values))


async def wait_for_worker(
    db: Db, seconds: float, *, deliveries: bool = False
) -> tuple[bool, float]:
    """Until every event is dispatched and every email rendered (and with `deliveries`,
    every webhook delivered or given up); (drained, seconds taken)."""
    started = time.monotonic()
    while True:
        pending_events = await db.val("SELECT count(*) FROM events WHERE dispatched_at IS NULL")
        pending_emails = await db.val(
            "SELECT count(*) FROM emails WHERE status IN ('queued', 'sending')"
        )
        pending_hooks = (
            await db.val(
                "SELECT count(*) FROM webhook_deliveries WHERE status IN ('pending', 'sending')"
            )
            if deliveries
            else 0
        )
        waited = time.monotonic() - started
        if pending_events == 0 and pending_emails == 0 and pending_hooks == 0:
            return True, waited
        if waited > seconds:
            return False, waited
        await asyncio.sleep(0.1)


async def groundswell_checks(
    db: Db,
    slug: str,
    accepted_confirms: int,
    accepted_pledges: int,
    repeats: int,
    drained: bool,
    web: bool,
) -> list[Check]:
    campaign = (
        await db.rows(
            "SELECT id, status, target, confirmed_count FROM campaigns WHERE slug = :slug",
            slug=slug,
        )
    )[0]
    cid = campaign["id"]
    confirmed_rows = await db.val(
        "SELECT count(*) FROM pledges WHERE campaign_id = :cid AND status = 'confirmed'", cid=cid
    )
    pledge_rows = await db.val("SELECT count(*) FROM pledges WHERE campaign_id = :cid", cid=cid)
    distinct_emails = await db.val(
        "SELECT count(DISTINCT email_canonical) FROM pledges WHERE campaign_id = :cid", cid=cid
    )
    confirmed_events = await db.val(
        "SELECT count(*) FROM events WHERE campaign_id = :cid AND type = 'pledge.confirmed'",
        cid=cid,
    )
    confirmed_event_ids = await db.val(
        "SELECT count(DISTINCT payload) FROM events "
        "WHERE campaign_id = :cid AND type = 'pledge.confirmed'",
        cid=cid,
    )
    tipped_events = await db.val(
        "SELECT count(*) FROM events WHERE campaign_id = :cid AND type = 'campaign.tipped'",
        cid=cid,
    )
    should_tip = accepted_confirms >= campaign["target"]
    checks = [
        Check(
            "stored count == accepted",
            campaign["confirmed_count"] == accepted_confirms == confirmed_rows,
            f"campaign.confirmed_count={campaign['confirmed_count']} "
            f"confirmed pledge rows={confirmed_rows} accepted 2xx={accepted_confirms}",
        ),
        Check(
            "no duplicates",
            pledge_rows == distinct_emails == accepted_pledges
            and confirmed_events == confirmed_event_ids == accepted_confirms
            and repeats == 0,
            f"pledge rows={pledge_rows} distinct emails={distinct_emails} "
            f"accepted pledges={accepted_pledges}; pledge.confirmed events={confirmed_events} "
            f"(distinct {confirmed_event_ids}); 2xx answered as repeat={repeats}",
        ),
        Check(
            "exactly one campaign.tipped",
            tipped_events == (1 if should_tip else 0)
            and (campaign["status"] == "tipped") == should_tip,
            f"tipped events={tipped_events} status={campaign['status']} "
            f"target={campaign['target']} confirmed={accepted_confirms}",
        ),
    ]
    if web:
        if drained:
            confirm_emails = await db.val(
                "SELECT count(*) FROM emails WHERE campaign_id = :cid AND kind = 'confirm'",
                cid=cid,
            )
            checks.append(
                Check(
                    "one confirm email per pledge",
                    confirm_emails == pledge_rows,
                    f"confirm emails={confirm_emails} pledges={pledge_rows}",
                )
            )
        else:
            checks.append(Check("one confirm email per pledge", None, "worker not drained"))
    return checks


# --------------------------------------------------------------------------- the run


@dataclass
class PathResult:
    label: str
    phases: list[Phase]
    confirmed: int  # what the path counts: confirmed pledges, or choices made
    checks: list[Check] = field(default_factory=list)
    drain_seconds: float = 0.0
    drained: bool = True
    counted: str = "confirmed"  # as in "400 confirmed in 1.2 s"
    unit: str = "confirmed pledges"  # as in "330 confirmed pledges/s"
    notes: list[str] = field(default_factory=list)

    @property
    def wall(self) -> float:
        return sum(p.wall for p in self.phases)

    @property
    def rate(self) -> float:
        """Confirmed pledges per second over the timed phases."""
        return self.confirmed / self.wall if self.wall > 0 else 0.0

    @property
    def rate_with_drain(self) -> float:
        total = self.wall + self.drain_seconds
        return self.confirmed / total if total > 0 else 0.0


@dataclass
class StatementCount:
    """SQL statements and transactions per pledge on one path, and what one pledge ran."""

    label: str
    pledges: int
    statements: int
    transactions: int
    one_pledge: list[str]
    cpu: float  # seconds of this process's CPU (the app, and aiosqlite's threads)
    db_cpu: float | None  # seconds of PostgreSQL's CPU, when it runs here
    unit: str = "pledge"  # what one request makes: a pledge, a choice

    @property
    def per_pledge(self) -> float:
        return self.statements / self.pledges if self.pledges else 0.0


@dataclass
class DatabaseResult:
    kind: str
    baseline: PathResult | None = None
    paths: list[PathResult] = field(default_factory=list)
    # The same paths against uvicorn --workers N + one groundswell worker (--processes).
    processes: list[PathResult] = field(default_factory=list)
    server_exit_codes: dict[str, int | None] = field(default_factory=dict)
    profile: Path | None = None
    statements: list[StatementCount] = field(default_factory=list)


PEOPLE_PER_HOME = 4


def homes(args: argparse.Namespace) -> int:
    return max(1, math.ceil(args.requests / PEOPLE_PER_HOME))


def home_line(i: int) -> str:
    """The address of pledge i: homes 0, 1, 2... get four people each, spelled four ways."""
    number = i // PEOPLE_PER_HOME + 1
    spellings = (
        "{} Brudenell Road",
        "{}, Brudenell Rd",
        "Flat {} Brudenell road",
        "{} BRUDENELL RD",
    )
    return spellings[i % PEOPLE_PER_HOME].format(number)


async def household_checks(db: Db, slug: str, accepted: int) -> list[Check]:
    """Households counted == distinct homes among the accepted pledges; one tipping, when
    half the homes have pledged."""
    campaign = (
        await db.rows(
            "SELECT id, status, target, household_count FROM campaigns WHERE slug = :slug",
            slug=slug,
        )
    )[0]
    cid = campaign["id"]
    counted = await db.val(
        "SELECT count(*) FROM households WHERE campaign_id = :cid "
        "AND counting_pledge_id IS NOT NULL",
        cid=cid,
    )
    homes_pledged = await db.val(
        "SELECT count(DISTINCT household_id) FROM pledges "
        "WHERE campaign_id = :cid AND status = 'confirmed'",
        cid=cid,
    )
    tipped_events = await db.val(
        "SELECT count(*) FROM events WHERE campaign_id = :cid AND type = 'campaign.tipped'",
        cid=cid,
    )
    should_tip = homes_pledged >= campaign["target"]
    return [
        Check(
            "households == distinct homes",
            campaign["household_count"] == counted == homes_pledged and homes_pledged <= accepted,
            f"campaign.household_count={campaign['household_count']} counted rows={counted} "
            f"homes with a confirmed pledge={homes_pledged} accepted={accepted}",
        ),
        Check(
            "exactly one campaign.tipped",
            tipped_events == (1 if should_tip else 0)
            and (campaign["status"] == "tipped") == should_tip,
            f"tipped events={tipped_events} status={campaign['status']} "
            f"target={campaign['target']} households={homes_pledged}",
        ),
    ]


PRICE_POINTS = [1500, 2000, 2500, 3000, 3500]
TARGET_PRICE = 2500
FIRMNESS = ("interested", "will_switch", "deposit")


def price_answer(i: int) -> tuple[int, str]:
    """The answer of pledge i on the price path: its price cycles over the points and its
    firmness over the three, so every pair is sent."""
    return PRICE_POINTS[i % len(PRICE_POINTS)], FIRMNESS[(i // len(PRICE_POINTS)) % 3]


def price_target(args: argparse.Namespace) -> int:
    """Half the pledges at the target price or more: it tips mid-run."""
    priced = sum(1 for i in range(args.requests) if price_answer(i)[0] >= TARGET_PRICE)
    return max(1, priced // 2)


def price_campaign(body: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    return {
        **body,
        "target": price_target(args),
        "price_question": {"currency": "gbp", "period": "month", "price_points": PRICE_POINTS},
        "target_price": TARGET_PRICE,
    }


async def price_checks(db: Db, slug: str, accepted: int) -> list[Check]:
    """The campaign's demand counters (priced_count, firm_*) and its demand_counts buckets
    against a count of the confirmed pledges; every stored answer the one sent; one
    campaign.tipped, when the target-th pledge at the target price or more confirmed."""
    campaign = (
        await db.rows(
            "SELECT id, status, target, priced_count, firm_interested, firm_will_switch, "
            "firm_deposit FROM campaigns WHERE slug = :slug",
            slug=slug,
        )
    )[0]
    cid = campaign["id"]
    confirmed = await db.rows(
        "SELECT email, max_price, firmness, district FROM pledges "
        "WHERE campaign_id = :cid AND status = 'confirmed'",
        cid=cid,
    )
    # Each pledge's email carries its number i, so the answer it was sent with is known.
    wrong = [
        r["email"]
        for r in confirmed
        if (r["max_price"], r["firmness"])
        != price_answer(int(r["email"].split("@")[0].split(".")[-1]))
    ]
    priced = sum(1 for r in confirmed if (r["max_price"] or 0) >= TARGET_PRICE)
    by_firmness = {f: sum(1 for r in confirmed if r["firmness"] == f) for f in FIRMNESS}
    counters = {
        "priced_count": campaign["priced_count"],
        **{f: campaign[f"firm_{f}"] for f in FIRMNESS},
    }
    expected = {"priced_count": priced, **by_firmness}
    # Paper pledges of people: level "vouched", never on a premises list.
    pledged: dict[tuple[Any, ...], int] = {}
    for r in confirmed:
        key = (r["max_price"] or 0, r["firmness"], "vouched", False, r["district"])
        pledged[key] = pledged.get(key, 0) + 1
    buckets = {
        (b["price"], b["firmness"], b["level"], bool(b["listed"]), b["district"]): b["n"]
        for b in await db.rows(
            "SELECT price, firmness, level, listed, district, n FROM demand_counts "
            "WHERE campaign_id = :cid AND n <> 0",
            cid=cid,
        )
    }
    at_target = sum(n for key, n in buckets.items() if key[0] >= TARGET_PRICE)
    tipped = await db.rows(
        "SELECT payload FROM events WHERE campaign_id = :cid AND type = 'campaign.tipped'",
        cid=cid,
    )
    should_tip = priced >= campaign["target"]
    at_tip: list[Any] = []
    for event in tipped:
        demand = json.loads(event["payload"]).get("demand") or {}
        points = {p["price"]: p["households"] for p in demand.get("points", [])}
        at_tip.append(points.get(TARGET_PRICE))
    return [
        Check(
            "answers stored == answers sent",
            not wrong and len(confirmed) == accepted,
            f"confirmed pledges={len(confirmed)} accepted={accepted} "
            f"with another answer={len(wrong)}",
        ),
        Check(
            "demand counters == count of pledges",
            counters == expected,
            f"campaign {counters}; pledges {expected}",
        ),
        Check(
            "demand_counts == count of pledges",
            buckets == pledged and at_target == priced,
            f"{len(buckets)} buckets, {sum(buckets.values())} counted, {at_target} at "
            f"{TARGET_PRICE} or more; pledges: {len(pledged)} groups, "
            f"{sum(pledged.values())} confirmed, {priced} at {TARGET_PRICE} or more",
        ),
        Check(
            "exactly one campaign.tipped, at the target",
            len(tipped) == (1 if should_tip else 0)
            and (campaign["status"] == "tipped") == should_tip
            and all(n == campaign["target"] for n in at_tip),
            f"tipped events={len(tipped)} status={campaign['status']} "
            f"target={campaign['target']} at {TARGET_PRICE} or more={priced}; "
            f"the tipping event's count at {TARGET_PRICE}: {at_tip}",
        ),
    ]


def pledge_body(tag: str, i: int, **extra: Any) -> dict[str, Any]:
    return {
        "name": f"Resident {i}",
        "email": f"{tag}.{i}@bench.example.org",
        "postcode": "LS6 1AB",
        **extra,
    }


PAPER_LABELS = {
    "paper": "paper pledge",
    "households": "households (paper)",
    "price": "price question (paper)",
}


def paper_extra(path: str, i: int) -> dict[str, Any]:
    """What a paper pledge of `path` sends beyond the paper path's fields."""
    if path == "households":
        return {"address_line": home_line(i)}
    if path == "price":
        price, firmness = price_answer(i)
        return {"max_price": price, "firmness": firmness}
    return {}


def _single_phase(label: str, phase: Phase) -> PathResult:
    return PathResult(label, [phase], confirmed=phase.accepted)


# --------------------------------------------------------------------------- the choice path

# Two providers, each with an endpoint covering the campaign, each posting one offer.
CHOICE_PROVIDERS = (("Aire Fibre", 2500), ("Kirkstall Cable", 2200))
# Requests a resident sends, by their number mod 4: two on average, so three in four change
# their mind once or twice.
CHOICE_SENDS = (1, 2, 2, 3)
NONE_OF_THESE = "none"


def choice_residents(args: argparse.Namespace) -> int:
    """Confirmed pledgers who choose: half the requests, as each sends two on average."""
    return max(1, args.requests // 2)


def choice_step(j: int, k: int, offers: list[str]) -> dict[str, Any]:
    """Resident j's k-th choice (0: the first): the offers and "none of these" in turn, so
    each change of mind is to another; one answer in five says the household would need a
    social tariff."""
    options = [*offers, NONE_OF_THESE]
    return {"offer": options[(j + k) % len(options)], "needs_social_tariff": (j + k) % 5 == 0}


def choice_plan(j: int, offers: list[str]) -> list[dict[str, Any]]:
    """What resident j sends: a first choice and maybe one or two changes of mind."""
    return [choice_step(j, k, offers) for k in range(CHOICE_SENDS[j % len(CHOICE_SENDS)])]


def choice_items(
    tokens: list[str], offers: list[str]
) -> tuple[list[list[Any]], list[int], list[dict[str, Any]]]:
    """The requests (every resident's first choice, then the second ones, then the third),
    and for each the resident's number and what it sent."""
    plans = [choice_plan(j, offers) for j in range(len(tokens))]
    items: list[list[Any]] = []
    owners: list[int] = []
    sent: list[dict[str, Any]] = []
    for k in range(max(CHOICE_SENDS)):
        for j, plan in enumerate(plans):
            if k < len(plan):
                items.append(["/api/v1/choices", {"token": tokens[j], **plan[k]}])
                owners.append(j)
                sent.append(plan[k])
    return items, owners, sent


def offer_body(title: str, price: int) -> dict[str, Any]:
    return {
        "title": title,
        "description": "Fibre to every home on the street.\n\nInstalled within six weeks.",
        "price": price,
        "period": "month",
        "minimum_term_months": 12,
        "social_tariff": {"price": 1200, "who_qualifies": "Households on Universal Credit."},
    }


def provider_keys(cli: list[str], env: dict[str, str], workdir: Path, tag: str) -> list[str]:
    """A provider organisation's API key for each of CHOICE_PROVIDERS (new names per run)."""
    keys = []
    for name, _ in CHOICE_PROVIDERS:
        email = f"ops-{tag}@{name.split()[0].lower()}.bench.example.org"
        argv = [*cli, "apikey", "create", "--email", email]
        out = run_cli([*argv, "--org", f"{name} {tag}", "--kind", "provider"], env, workdir)
        keys.append(out.strip().splitlines()[-1])
    return keys


@dataclass
class ChoiceRoundSetup:
    slug: str
    pledge_ids: list[int]  # the confirmed pledgers, in the order of choice_plan's j
    offers: list[str]  # the offers' public ids, one per provider


async def set_up_choice_round(
    http: Any,
    db: Db,
    *,
    slug: str,
    residents: int,
    lead_key: str,
    provider_keys: list[str],
    hook_url: str,
    tag: str,
) -> ChoiceRoundSetup:
    """Through the API (`http`: an httpx.AsyncClient): a campaign that tips on `residents`
    paper pledges, each provider's webhook endpoint covering it, one offer each, and the
    round opened by the lead. Anything refused is a BenchmarkError."""

    async def post(path: str, key: str, body: dict[str, Any], expect: int) -> Any:
        answer = await http.post(path, json=body, headers={"Authorization": f"Bearer {key}"})
        if answer.status_code != expect:
            raise BenchmarkError(f"POST {path}: {answer.status_code} {answer.text[:500]}")
        return answer.json()

    body = campaign_body(slug, residents, title="Benchmark campaign", script="choice path")
    await post("/api/v1/campaigns", lead_key, body, 201)
    for key in provider_keys:
        endpoint = {"url": hook_url, "filters": {"campaigns": [slug]}}
        await post("/api/v1/webhook-endpoints", key, endpoint, 201)
    gate = asyncio.Semaphore(8)

    async def pledge(i: int) -> None:
        async with gate:
            body = pledge_body(f"choice-{tag}", i, source="paper")
            await post(f"/api/v1/campaigns/{slug}/pledges", lead_key, body, 201)

    await asyncio.gather(*(pledge(i) for i in range(residents)))
    offers = []
    for key, (name, price) in zip(provider_keys, CHOICE_PROVIDERS, strict=True):
        made = await post(
            f"/api/v1/campaigns/{slug}/offers", key, offer_body(f"{name}, 900 Mb", price), 201
        )
        offers.append(str(made["id"]))
    await post(f"/api/v1/campaigns/{slug}/choice-round", lead_key, {}, 201)
    rows = await db.rows(
        "SELECT p.id FROM pledges p JOIN campaigns c ON c.id = p.campaign_id "
        "WHERE c.slug = :slug AND p.status = 'confirmed' ORDER BY p.id",
        slug=slug,
    )
    if len(rows) != residents:
        raise BenchmarkError(f"{len(rows)} confirmed pledges on {slug}, not {residents}")
    return ChoiceRoundSetup(slug, [int(r["id"]) for r in rows], offers)


class HookReceiver:
    """Answers 204 to every POST on 127.0.0.1 (a thread in this process): the providers'
    endpoints point here, so their deliveries succeed and none is retried during the timed
    phase. Delivery is not measured."""

    def __init__(self) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        class Accept(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Accept)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def __enter__(self) -> HookReceiver:
        import threading

        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


async def choice_checks(
    db: Db, setup: ChoiceRoundSetup, phase: Phase, owners: list[int], sent: list[dict[str, Any]]
) -> list[Check]:
    """Every choice answered 200; one row per resident who chose; the round's and each
    offer's counters equal a recount of the choices table; each resident's stored choice is
    the last they sent (or, where their requests overlapped, one of those in flight)."""
    from collections import Counter

    statuses = Counter(phase.statuses)
    server_errors = sum(n for s, n in statuses.items() if s >= 500 or s < 0)
    cid = await db.val("SELECT id FROM campaigns WHERE slug = :slug", slug=setup.slug)
    round_row = (
        await db.rows(
            "SELECT chose_count, none_count, social_tariff_count, closed_at FROM choice_rounds "
            "WHERE campaign_id = :cid",
            cid=cid,
        )
    )[0]
    stored = await db.rows(
        "SELECT ch.pledge_id, ch.unit_key, o.public_id, ch.needs_social_tariff FROM choices ch "
        "LEFT JOIN offers o ON o.id = ch.offer_id WHERE ch.campaign_id = :cid",
        cid=cid,
    )
    offer_rows = await db.rows(
        "SELECT public_id, chosen_count, social_tariff_count FROM offers WHERE campaign_id = :cid",
        cid=cid,
    )
    stored_by_pledge = {
        int(r["pledge_id"]): (r["public_id"] or NONE_OF_THESE, bool(r["needs_social_tariff"]))
        for r in stored
    }
    round_counters = {
        "chose": round_row["chose_count"],
        "none": round_row["none_count"],
        "social tariff": round_row["social_tariff_count"],
    }
    recount = {
        "chose": sum(1 for r in stored if r["public_id"] is not None),
        "none": sum(1 for r in stored if r["public_id"] is None),
        "social tariff": sum(1 for r in stored if r["needs_social_tariff"]),
    }
    offer_counters = {
        r["public_id"]: (r["chosen_count"], r["social_tariff_count"]) for r in offer_rows
    }
    offer_recount = {
        o: (
            sum(1 for r in stored if r["public_id"] == o),
            sum(1 for r in stored if r["public_id"] == o and r["needs_social_tariff"]),
        )
        for o in setup.offers
    }
    # Each resident's accepted requests: [start, answer] and what it sent.
    answered: dict[int, list[tuple[float, float, tuple[str, bool]]]] = {}
    for status, index, (start, end) in zip(phase.statuses, phase.indices, phase.spans, strict=True):
        if status == 200:
            body = sent[index]
            answered.setdefault(owners[index], []).append(
                (start, end, (body["offer"], body["needs_social_tariff"]))
            )
    wrong, overlapping = 0, 0
    for j, requests in answered.items():
        # A request answered before another of the same resident began was committed before
        # it: superseded. The stored choice is one of those that were not.
        latest_start = max(start for start, _, _ in requests)
        standing = {what for start, end, what in requests if end >= latest_start}
        overlapping += len(standing) > 1
        if stored_by_pledge.get(setup.pledge_ids[j]) not in standing:
            wrong += 1
    chose_ids = {setup.pledge_ids[j] for j in answered}
    unit_keys = {r["unit_key"] for r in stored}
    errors = "; ".join(phase.errors[:3])
    return [
        Check(
            "every choice answered 200, none 5xx",
            all(s == 200 for s in phase.statuses),
            f"sent {phase.sent} of {phase.requests}; answers {dict(sorted(statuses.items()))}"
            f" (5xx or no answer: {server_errors})" + (f"; e.g. {errors}" if errors else ""),
        ),
        Check(
            "one choice row per resident who chose",
            len(stored) == len(stored_by_pledge) == len(unit_keys)
            and set(stored_by_pledge) == chose_ids
            and unit_keys == {f"p{p}" for p in chose_ids},
            f"choice rows={len(stored)} distinct pledges={len(stored_by_pledge)} "
            f"residents with an accepted choice={len(chose_ids)}",
        ),
        Check(
            "round counters == recount of choices",
            round_counters == recount and round_row["closed_at"] is None,
            f"choice_rounds {round_counters}; choices {recount}",
        ),
        Check(
            "offer counters == recount of choices",
            offer_counters == offer_recount,
            "; ".join(
                f"offer {o}: chosen {offer_counters.get(o, ('-', '-'))[0]} / recount "
                f"{n}, social tariff {offer_counters.get(o, ('-', '-'))[1]} / recount {t}"
                for o, (n, t) in offer_recount.items()
            ),
        ),
        Check(
            "the last change of mind is the one stored",
            wrong == 0,
            f"{len(answered)} residents, {sum(len(r) for r in answered.values())} accepted "
            f"choices; stored choice not the last sent={wrong} (residents whose last two "
            f"requests overlapped, so either may be last: {overlapping})",
        ),
    ]


async def run_baseline(
    kind: str, url: str, args: argparse.Namespace, workdir: Path
) -> tuple[PathResult, int | None]:
    port = free_port()
    server = Server(
        f"baseline-{kind}",
        [
            sys.executable,
            str(BENCHMARKS / "baseline_app.py"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        production_env(url),
        workdir,
        port,
    )
    await server.serve("/health")
    try:
        items = [["/pledges", pledge_body("base", i)] for i in range(args.requests)]
        phase = run_phase(
            "baseline",
            server.base_url,
            items,
            args=args,
            workdir=workdir,
            server_pids=[server.pid],
            postgres=kind == "postgres",
            warmup_path="/health",
        )
    finally:
        code = server.stop()
    result = _single_phase("baseline insert", phase)
    async with Db(url) as db:
        rows = await db.val("SELECT count(*) FROM baseline_pledges")
        distinct = await db.val("SELECT count(DISTINCT email) FROM baseline_pledges")
    result.checks = [
        Check(
            "baseline rows == accepted",
            rows == distinct == phase.accepted,
            f"rows={rows} distinct={distinct} accepted 2xx={phase.accepted}",
        )
    ]
    return result, code


async def run_choice_path(
    db: Db,
    server: Groundswell,
    env: dict[str, str],
    args: argparse.Namespace,
    workdir: Path,
    *,
    lead_key: str,
    hook_url: str,
    tag: str,
    postgres: bool,
) -> PathResult:
    """Set up an open choice round through the API (untimed), let the worker send the
    offers emails, then time residents choosing: POST /api/v1/choices with their tokens."""
    import httpx

    from pledges.tokens import Signer

    residents = choice_residents(args)
    keys = provider_keys(groundswell_command(), env, workdir, tag)
    started = time.monotonic()
    async with httpx.AsyncClient(base_url=server.base_url, timeout=60) as http:
        setup = await set_up_choice_round(
            http,
            db,
            slug=f"bench-choice-{tag}",
            residents=residents,
            lead_key=lead_key,
            provider_keys=keys,
            hook_url=hook_url,
            tag=tag,
        )
    set_up = time.monotonic() - started
    # The offers emails (one per resident) and the webhooks go out before residents choose.
    drained, drain = await wait_for_worker(db, args.drain_seconds, deliveries=True)
    signer = Signer(env["SECRET_KEY"])
    tokens = [signer.sign(pledge_id, "offer-choice") for pledge_id in setup.pledge_ids]
    items, owners, sent = choice_items(tokens, setup.offers)
    phase = run_phase(
        "choice",
        server.base_url,
        items,
        args=args,
        workdir=workdir,
        server_pids=list(server.pids.values()),
        postgres=postgres,
        warmup_path=f"/api/v1/campaigns/{setup.slug}",
    )
    outcome = PathResult(
        "choice", [phase], confirmed=phase.accepted, counted="choices", unit="choices"
    )
    outcome.notes.append(
        f"set up through the API in {set_up:.1f} s: {residents} paper pledges (it tipped), "
        f"2 providers' endpoints and offers, the round opened; worker "
        + (f"drained {drain:.1f} s later" if drained else f"NOT drained after {drain:.0f} s")
        + f" (offers emails, webhooks); {len(set(owners))} residents sent {len(items)} choices"
    )
    outcome.drained, outcome.drain_seconds = await wait_for_worker(db, args.drain_seconds)
    outcome.checks = await choice_checks(db, setup, phase, owners, sent)
    return outcome


async def run_groundswell(
    kind: str,
    url: str,
    args: argparse.Namespace,
    workdir: Path,
    result: DatabaseResult,
    layout: str = "one",
) -> None:
    """Each of args.paths against Groundswell in `layout` (common.LAYOUTS); the results go
    to result.paths (one process) or result.processes."""
    import httpx

    from pledges.tokens import Signer

    # The choice path's providers register endpoints on 127.0.0.1 (HookReceiver).
    hooks = {"WEBHOOK_ALLOW_PRIVATE_NETWORKS": "1"} if "choice" in args.paths else {}
    env = production_env(url, **hooks)
    cli = groundswell_command()
    if kind == "postgres":
        run_cli([*cli, "migrate"], env, workdir)  # serve migrates SQLite by itself
    profile = None
    if args.profile and layout == "one":
        profile = result.profile = Path(args.profile).resolve() / f"groundswell-{kind}.prof"
        profile.parent.mkdir(parents=True, exist_ok=True)
    server = Groundswell(layout, kind, env, workdir, profile, web_workers=args.web_workers)
    await server.start()
    # The multi-process layout's phases and paths are named apart from the one process's.
    suffix = "" if layout == "one" else "-procs"
    into = result.paths if layout == "one" else result.processes
    postgres = kind == "postgres"
    try:
        key = (
            run_cli([*cli, "apikey", "create", "--email", "lead@bench.example.org"], env, workdir)
            .strip()
            .splitlines()[-1]
        )
        auth = {"Authorization": f"Bearer {key}"}
        target = max(1, args.requests // 2)
        run_tag = uuid.uuid4().hex[:8]
        async with Db(url) as db:
            with (
                httpx.Client(base_url=server.base_url, timeout=30, headers=auth) as http,
                HookReceiver() as receiver,
            ):
                for path in args.paths:
                    if path == "choice":
                        outcome = await run_choice_path(
                            db,
                            server,
                            env,
                            args,
                            workdir,
                            lead_key=key,
                            hook_url=receiver.url,
                            tag=run_tag,
                            postgres=postgres,
                        )
                        into.append(outcome)
                        continue
                    slug = f"bench-{path}-{run_tag}"
                    body = campaign_body(
                        slug, target, title="Benchmark campaign", script=Path(__file__).name
                    )
                    if path == "households":
                        body.update(counts="households", target=max(1, homes(args) // 2))
                    elif path == "price":
                        body = price_campaign(body, args)
                    created = http.post("/api/v1/campaigns", json=body)
                    if created.status_code != 201:
                        raise BenchmarkError(f"campaign not created: {created.text}")
                    if path == "price" and not await db.val(
                        "SELECT price_points FROM campaigns WHERE slug = :slug", slug=slug
                    ):
                        raise BenchmarkError(
                            "POST /api/v1/campaigns did not keep price_question: this "
                            "server's API does not ask a price"
                        )
                    common: dict[str, Any] = {
                        "args": args,
                        "workdir": workdir,
                        "server_pids": list(server.pids.values()),
                        "postgres": postgres,
                        "warmup_path": f"/api/v1/campaigns/{slug}",
                    }
                    pledge_url = f"/api/v1/campaigns/{slug}/pledges"
                    if path in ("paper", "households", "price"):
                        items = [
                            [
                                pledge_url,
                                pledge_body(
                                    f"{path}-{run_tag}",
                                    i,
                                    source="paper",
                                    **paper_extra(path, i),
                                ),
                            ]
                            for i in range(args.requests)
                        ]
                        phase = run_phase(
                            path + suffix,
                            server.base_url,
                            items,
                            headers=auth,
                            flag_key="repeated",
                            **common,
                        )
                        label = PAPER_LABELS[path]
                        outcome = PathResult(label, [phase], confirmed=phase.accepted)
                        pledges_accepted, repeats = phase.accepted, phase.flagged
                    else:
                        items = [
                            [pledge_url, pledge_body(f"web-{run_tag}", i)]
                            for i in range(args.requests)
                        ]
                        pledged = run_phase("web-pledge" + suffix, server.base_url, items, **common)
                        # The token is emailed. We mint it here with the server's Signer from
                        # the pledge ids in the database, rather than scraping it from the
                        # emails table: the confirm phase then does not wait for (or race)
                        # the worker's rendering, so it times the confirm path alone; the
                        # worker's cost still lands in the server's CPU and drain time, and
                        # "one confirm email per pledge" is checked after the drain.
                        signer = Signer(env["SECRET_KEY"])
                        rows = await db.rows(
                            "SELECT p.id, p.email FROM pledges p JOIN campaigns c "
                            "ON c.id = p.campaign_id WHERE c.slug = :slug ORDER BY p.id",
                            slug=slug,
                        )
                        tokens = [
                            [
                                "/api/v1/pledges/confirm",
                                {"token": signer.sign(int(r["id"]), "pledge-confirm")},
                            ]
                            for r in rows
                        ]
                        confirmed = run_phase(
                            "web-confirm" + suffix,
                            server.base_url,
                            tokens,
                            flag_key="already_confirmed",
                            **common,
                        )
                        outcome = PathResult(
                            "web pledge + confirm",
                            [pledged, confirmed],
                            confirmed=confirmed.accepted,
                        )
                        pledges_accepted, repeats = pledged.accepted, confirmed.flagged
                    outcome.drained, outcome.drain_seconds = await wait_for_worker(
                        db, args.drain_seconds
                    )
                    outcome.checks = await groundswell_checks(
                        db,
                        slug,
                        outcome.confirmed,
                        pledges_accepted,
                        repeats,
                        outcome.drained,
                        web=path == "web",
                    )
                    if path in ("households", "price"):
                        own = (
                            await household_checks(db, slug, outcome.confirmed)
                            if path == "households"
                            else await price_checks(db, slug, outcome.confirmed)
                        )
                        outcome.checks = [
                            c for c in outcome.checks if c.name != "exactly one campaign.tipped"
                        ] + own
                    if layout != "one":
                        outcome.label += f" [{server.label}]"
                    into.append(outcome)
    finally:
        result.server_exit_codes.update(server.stop())


# --------------------------------------------------------------------------- statements


class StatementCounter:
    """Counts what encode/databases is asked to run in this process while `on`: every
    query (fetch_all, fetch_one, fetch_val, execute, execute_many), described by its verb
    and tables, and every transaction begun. Installed once, on databases' own classes."""

    def __init__(self) -> None:
        self.on = False
        self.statements: list[str] = []
        self.transactions = 0

    def install(self) -> None:
        from databases import core

        counter = self
        for name in ("fetch_all", "fetch_one", "fetch_val", "execute", "execute_many"):
            original = getattr(core.Connection, name)

            def counted(
                self: Any, query: Any, *rest: Any, _original: Any = original, **kw: Any
            ) -> Any:
                if counter.on:
                    counter.statements.append(describe_statement(query))
                return _original(self, query, *rest, **kw)

            setattr(core.Connection, name, counted)
        start = core.Transaction.start

        def begun(self: Any) -> Any:
            if counter.on:
                counter.transactions += 1
            return start(self)

        core.Transaction.start = begun  # type: ignore[method-assign]


def describe_statement(query: Any) -> str:
    """ "INSERT pledges", "UPDATE campaigns", "SELECT api_keys, leads": verb and tables."""
    from sqlalchemy.sql.util import find_tables

    kind = getattr(query, "__visit_name__", "")
    if kind in ("insert", "update", "delete"):
        return f"{kind.upper()} {query.table.name}"
    if kind == "select":
        tables = sorted({t.name for t in find_tables(query, include_joins=True)})
        if tables:
            return "SELECT " + ", ".join(tables)
        return "SELECT " + ", ".join(c.name for c in query.selected_columns)
    text = query if isinstance(query, str) else str(getattr(query, "text", query))
    return " ".join(text.split())[:60]


async def count_statements(
    kind: str, url: str, args: argparse.Namespace, workdir: Path
) -> list[StatementCount]:
    """args.statements paper pledges per path, one at a time, to the app in this process
    (no worker), after three not counted: the statements and transactions they took."""
    import httpx

    from app.main import create_app
    from app.settings import Settings

    hooks = {"WEBHOOK_ALLOW_PRIVATE_NETWORKS": "1"} if "choice" in args.paths else {}
    env = production_env(url, **hooks)
    cli = groundswell_command()
    run_cli([*cli, "migrate"], env, workdir)
    key = (
        run_cli([*cli, "apikey", "create", "--email", "lead@bench.example.org"], env, workdir)
        .strip()
        .splitlines()[-1]
    )
    counter = StatementCounter()
    counter.install()
    app = create_app(Settings.from_environ(env), run_worker=False)
    counts: list[StatementCount] = []
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://127.0.0.1",
            headers={"Authorization": f"Bearer {key}"},
        ) as http,
    ):
        for path in (p for p in args.paths if p in PAPER_LABELS):
            slug = f"statements-{path}-{uuid.uuid4().hex[:8]}"
            body = campaign_body(slug, 10_000, title="Benchmark campaign", script="statements")
            if path == "households":
                body["counts"] = "households"
            elif path == "price":
                body = {**price_campaign(body, args), "target": 10_000}
            created = await http.post("/api/v1/campaigns", json=body)
            if created.status_code != 201:
                raise BenchmarkError(f"campaign not created: {created.text}")
            one: list[str] = []
            for i in range(3 + args.statements):
                if i == 3:
                    cpu0, db0 = time.process_time(), postgres_cpu_seconds()
                counter.on = i >= 3
                before = len(counter.statements)
                body = pledge_body(f"statements-{path}", i, source="paper", **paper_extra(path, i))
                answer = await http.post(f"/api/v1/campaigns/{slug}/pledges", json=body)
                if answer.status_code != 201:
                    raise BenchmarkError(f"paper pledge refused: {answer.text}")
                await asyncio.sleep(0.05)  # a NOTIFY sent after the commit lands meanwhile
                one = counter.statements[before:]
            counter.on = False
            cpu, db1 = time.process_time() - cpu0, postgres_cpu_seconds()
            counts.append(
                StatementCount(
                    PAPER_LABELS[path],
                    args.statements,
                    len(counter.statements),
                    counter.transactions,
                    one,
                    cpu,
                    None if kind == "sqlite" or db0 is None or db1 is None else db1 - db0,
                )
            )
            counter.statements.clear()
            counter.transactions = 0
        if "choice" in args.paths:
            counts += await count_choice_statements(app, counter, env, url, key, args, workdir)
    return counts


async def count_choice_statements(
    app: Any,
    counter: StatementCounter,
    env: dict[str, str],
    url: str,
    lead_key: str,
    args: argparse.Namespace,
    workdir: Path,
) -> list[StatementCount]:
    """An open choice round set up through the in-process app's API, with 3 +
    args.statements confirmed pledgers; each chooses once, then each changes their mind
    once, one at a time: the statements of the last args.statements of each."""
    import httpx

    from pledges.tokens import Signer

    tag = uuid.uuid4().hex[:8]
    keys = provider_keys(groundswell_command(), env, workdir, tag)
    async with (
        Db(url) as db,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1"
        ) as http,
    ):
        setup = await set_up_choice_round(
            http,
            db,
            slug=f"statements-choice-{tag}",
            residents=3 + args.statements,
            lead_key=lead_key,
            provider_keys=keys,
            hook_url="http://127.0.0.1:9/hook",  # never delivered: no worker here
            tag=tag,
        )
        signer = Signer(env["SECRET_KEY"])
        tokens = [signer.sign(pledge_id, "offer-choice") for pledge_id in setup.pledge_ids]
        counts = []
        for k, label in enumerate(("choice (first)", "choice (change of mind)")):
            one: list[str] = []
            for j, token in enumerate(tokens):
                if j == 3:
                    cpu0, db0 = time.process_time(), postgres_cpu_seconds()
                counter.on = j >= 3
                before = len(counter.statements)
                body = {"token": token, **choice_step(j, k, setup.offers)}
                answer = await http.post("/api/v1/choices", json=body)
                if answer.status_code != 200:
                    raise BenchmarkError(f"choice refused: {answer.status_code} {answer.text}")
                one = counter.statements[before:]
            counter.on = False
            cpu, db1 = time.process_time() - cpu0, postgres_cpu_seconds()
            counts.append(
                StatementCount(
                    label,
                    args.statements,
                    len(counter.statements),
                    counter.transactions,
                    one,
                    cpu,
                    None if db0 is None or db1 is None or url.startswith("sqlite") else db1 - db0,
                    unit="choice",
                )
            )
            counter.statements.clear()
            counter.transactions = 0
    return counts


async def run_database(kind: str, args: argparse.Namespace) -> DatabaseResult:
    result = DatabaseResult(kind)
    workdir = Path(tempfile.mkdtemp(prefix=f"groundswell-bench-{kind}-"))
    try:
        async with contextlib.AsyncExitStack() as databases:
            if kind == "sqlite":
                base_url = f"sqlite:///{workdir / 'baseline.db'}"
                gs_url = f"sqlite:///{workdir / 'groundswell.db'}"
                statements_url = f"sqlite:///{workdir / 'statements.db'}"
                procs_url = ""  # SQLite is for one process
            else:
                names = ["bench_baseline", "bench_groundswell", "bench_statements"]
                urls = await databases.enter_async_context(
                    scratch_postgres_databases(
                        args.postgres_url, names + (["bench_procs"] if args.processes else [])
                    )
                )
                base_url, gs_url, statements_url = urls[:3]
                procs_url = urls[3] if args.processes else ""
            if not args.skip_baseline and not args.only_statements:
                result.baseline, code = await run_baseline(kind, base_url, args, workdir)
                result.server_exit_codes[f"baseline-{kind}"] = code
            if not args.only_statements:
                await run_groundswell(kind, gs_url, args, workdir, result)
                if args.processes and kind == "postgres":
                    print(f"--- {kind}: the same paths as separate processes ...", flush=True)
                    await run_groundswell(kind, procs_url, args, workdir, result, "processes")
                elif args.processes:
                    print("  (--processes: SQLite is for one process; not run on SQLite)")
            if args.statements:
                result.statements = await count_statements(kind, statements_url, args, workdir)
    finally:
        if args.keep_logs:
            print(f"(logs and databases kept in {workdir})")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return result


# --------------------------------------------------------------------------- report


def pct(cpu: float | None, wall: float) -> str:
    return "n/a" if cpu is None or wall <= 0 else f"{cpu / wall * 100:.0f}%"


def phase_line(label: str, ph: Phase) -> str:
    return (
        f"  {label:<22}{ph.sent:>6}/{ph.requests:<6}{ph.accepted:>7}{ph.failed:>6}"
        f"{ph.wall:>8.2f}{ph.rate:>9.1f}{ph.p(50):>9.1f}{ph.p(99):>9.1f}"
        f"{pct(ph.loadgen_cpu, ph.wall):>9}{pct(ph.server_cpu, ph.wall):>9}"
        f"{pct(ph.db_cpu, ph.wall):>8}{pct(ph.other_cpu, ph.wall):>8}"
    )


def cpu_per(path: PathResult) -> str:
    """CPU milliseconds per thing counted (a confirmed pledge, a choice), over the timed
    phases: the server's (web and worker, with aiosqlite's threads), PostgreSQL's and the
    load generator's."""
    n = max(path.confirmed, 1)

    def ms(values: list[float | None]) -> str:
        if any(v is None for v in values):
            return "n/a"
        return f"{sum(v or 0.0 for v in values) / n * 1000:.2f}"

    server = ms([ph.server_cpu for ph in path.phases])
    pg = ms([ph.db_cpu for ph in path.phases])
    loadgen = ms([ph.loadgen_cpu for ph in path.phases])
    single = path.unit.removesuffix("s")
    return f"CPU ms per {single}: server {server}, PostgreSQL {pg}, load generator {loadgen}"


def report(results: list[DatabaseResult], args: argparse.Namespace) -> bool:
    """Print everything; returns True when every exactness check passed."""
    all_ok = True
    print()
    print(
        f"Pledge throughput: {args.requests} requests per path, concurrency {args.concurrency},"
        f" {args.load_procs} load process(es), {os.cpu_count()} cores"
    )
    print(
        "CPU columns: share of ONE core over the phase's wall time (the machine has "
        f"{os.cpu_count()} cores, i.e. {100 * (os.cpu_count() or 1)}% in all)."
    )
    header = (
        f"  {'phase':<22}{'sent/of':>13}{'2xx':>7}{'fail':>6}{'wall s':>8}{'req/s':>9}"
        f"{'p50 ms':>9}{'p99 ms':>9}{'loadgen':>9}{'server':>9}{'pg':>8}{'other':>8}"
    )
    for res in results:
        print()
        print(f"=== {res.kind} ===")
        print(header)
        phases = ([("baseline INSERT", res.baseline.phases[0])] if res.baseline else []) + [
            (ph.name, ph) for path in [*res.paths, *res.processes] for ph in path.phases
        ]
        for label, ph in phases:
            print(phase_line(label, ph))
            for err in ph.errors[:3]:
                print(f"      e.g. {err}")
        print()
        base_rate = res.baseline.rate if res.baseline else None
        for path in [*res.paths, *res.processes]:
            lat = ", ".join(
                f"{ph.name} p50 {ph.p(50):.1f} ms / p99 {ph.p(99):.1f} ms" for ph in path.phases
            )
            print(
                f"  {path.label}: {path.confirmed} {path.counted} in {path.wall:.2f} s = "
                f"{path.rate:.1f} {path.unit}/s ({lat})"
            )
            for note in path.notes:
                print(f"      {note}")
            drain = (
                f"worker drained in {path.drain_seconds:.2f} s after the last request"
                if path.drained
                else f"worker NOT drained after {path.drain_seconds:.0f} s"
            )
            print(f"      {drain}; including that: {path.rate_with_drain:.1f} {path.counted}/s")
            print(f"      {cpu_per(path)}")
            if res.baseline and base_rate:
                b = res.baseline.phases[0]
                ratio = path.rate / base_rate
                verdict = "meets" if ratio >= TARGET_RATIO else "BELOW"
                print(
                    f"      baseline {base_rate:.1f} req/s (p50 {b.p(50):.1f} ms / p99 "
                    f"{b.p(99):.1f} ms) -> ratio {ratio:.2f} ({verdict} target "
                    f"{TARGET_RATIO}); with drain {path.rate_with_drain / base_rate:.2f}"
                )
            if len(path.phases) > 1 and base_rate:
                req_rate = sum(p.accepted for p in path.phases) / path.wall
                print(
                    f"      (HTTP requests/s over both phases: {req_rate:.1f}, "
                    f"ratio {req_rate / base_rate:.2f})"
                )
        if res.processes:
            print_layouts(res)
        print()
        print("  CPU during each phase (share of one core; 'other' is everything else on the")
        print("  machine, e.g. other people's test runs, which slows both sides):")
        for label, ph in phases:
            lg = ph.loadgen_cpu / ph.wall if ph.wall > 0 else 0
            share = ph.loadgen_cpu / max(ph.machine_cpu, 1e-9)
            warn = (
                "  <- load generator near a full core: it may be the bottleneck"
                if lg / ph.loadgen_procs > 0.85
                else ""
            )
            print(
                f"    {label:<16} loadgen {lg * 100:4.0f}% ({share * 100:.0f}% of all busy CPU,"
                f" {ph.loadgen_cpu / max(ph.sent, 1) * 1000:.2f} ms/request), server "
                f"{pct(ph.server_cpu, ph.wall)}, postgres {pct(ph.db_cpu, ph.wall)}, "
                f"other {pct(ph.other_cpu, ph.wall)}; server threads waited for a core "
                f"{pct(ph.server_wait, ph.wall)}{warn}"
            )
        print()
        print("  Exactness:")
        checks = (res.baseline.checks if res.baseline else []) + [
            c for path in [*res.paths, *res.processes] for c in path.checks
        ]
        labels = (["baseline"] if res.baseline else []) + [
            path.label for path in [*res.paths, *res.processes] for _ in path.checks
        ]
        for label, check in zip(labels, checks, strict=True):
            mark = {True: "ok  ", False: "FAIL", None: "n/a "}[check.ok]
            print(f"    [{mark}] {label}: {check.name}: {check.detail}")
            if check.ok is False:
                all_ok = False
        for name, code in res.server_exit_codes.items():
            clean = code == 0
            print(
                f"    [{'ok  ' if clean else 'warn'}] {name} stopped "
                f"{'cleanly' if clean else f'with exit code {code}'}"
            )
        if res.statements:
            print()
            print(
                f"  SQL statements per request ({res.statements[0].pledges} requests one at a "
                "time per path, in process, no worker):"
            )
            for sc in res.statements:
                n = max(sc.pledges, 1)
                db_cpu = "" if sc.db_cpu is None else f", PostgreSQL {sc.db_cpu / n * 1000:.2f}"
                print(
                    f"    {sc.label}: {sc.per_pledge:.2f} statements and "
                    f"{sc.transactions / n:.2f} transactions a {sc.unit}; CPU ms a {sc.unit}: "
                    f"app {sc.cpu / n * 1000:.2f}{db_cpu}; the last: {'; '.join(sc.one_pledge)}"
                )
        if res.profile:
            print_profile(res.profile)
    print()
    print("EXACTNESS: " + ("all checks passed" if all_ok else "FAILED"))
    return all_ok


def print_layouts(res: DatabaseResult) -> None:
    """--processes: each path's rate as separate processes against one process."""
    one = {path.phases[0].name: path for path in res.paths}
    base_rate = res.baseline.rate if res.baseline else None
    print()
    print("  Separate processes against one process (the same paths, each on a fresh database):")
    for path in res.processes:
        same = one.get(path.phases[0].name.removesuffix("-procs"))
        if same is None:
            continue
        baseline = (
            f"; ratio to baseline {same.rate / base_rate:.2f} -> {path.rate / base_rate:.2f}"
            if base_rate
            else ""
        )
        print(
            f"    {same.label}: one process {same.rate:.1f} {same.unit}/s, {path.label} "
            f"{path.rate:.1f}/s = {path.rate / same.rate if same.rate else 0:.2f}x{baseline}"
        )


def print_profile(path: Path, top: int = 25) -> None:
    import pstats

    if not path.exists():
        print(f"  (no profile written at {path})")
        return
    print(f"\n  cProfile of the server ({path}); numbers under cProfile are slower:")
    stats = pstats.Stats(str(path), stream=sys.stdout)
    stats.strip_dirs().sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--requests",
        type=int,
        default=800,
        help="requests per path (the campaign's target is half)",
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=32,
        help="concurrent client tasks in all, split over the load processes",
    )
    parser.add_argument(
        "--load-procs",
        type=int,
        default=1,
        help="load generator processes (the machine has 2 cores)",
    )
    parser.add_argument(
        "--pool-size",
        type=int,
        default=4,
        help="client tasks sharing one httpx.AsyncClient connection pool",
    )
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=30,
        help="no request is started after this long in one phase",
    )
    parser.add_argument("--request-timeout", type=float, default=60)
    parser.add_argument(
        "--drain-seconds",
        type=float,
        default=45,
        help="how long to wait for the worker after each path",
    )
    parser.add_argument(
        "--paths",
        default=None,
        help="comma-separated: paper, web (web = pledge then confirm), households, price, "
        "choice (residents choosing between offers in an open choice round); default all "
        "five, or paper,web with --processes",
    )
    parser.add_argument(
        "--processes",
        action="store_true",
        help="on PostgreSQL, also run the paths against uvicorn --workers N (--web-workers) "
        "and one groundswell worker, after groundswell serve, and compare",
    )
    parser.add_argument(
        "--web-workers",
        type=int,
        default=2,
        metavar="N",
        help="uvicorn web workers with --processes (default 2)",
    )
    parser.add_argument(
        "--statements",
        type=int,
        default=0,
        metavar="N",
        help="also send N paper pledges per path one at a time to the app in this process, "
        "counting the SQL statements each takes and the CPU (0: do not)",
    )
    parser.add_argument(
        "--only-statements",
        action="store_true",
        help="with --statements: only that, no baseline or throughput",
    )
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL),
        help="an admin connection; the benchmark creates and drops its own "
        "databases on that server",
    )
    parser.add_argument(
        "--profile",
        metavar="DIR",
        help="run the Groundswell server under cProfile, save and print it",
    )
    parser.add_argument(
        "--keep-logs",
        action="store_true",
        help="keep the temporary directory with server logs and SQLite files",
    )
    parser.add_argument("--loadgen", metavar="SPEC", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.paths is None:
        args.paths = "paper,web" if args.processes else ",".join(PATHS)
    args.paths = [p.strip() for p in args.paths.split(",") if p.strip()]
    if not set(args.paths) <= set(PATHS) or args.requests < 1:
        parser.error(
            "--paths takes paper, web, households, price and choice; --requests must be positive"
        )
    return args


async def amain(args: argparse.Namespace) -> int:
    kinds = await database_kinds(args.skip_sqlite, args.skip_postgres, args.postgres_url)
    started = time.monotonic()
    results = []
    for kind in kinds:
        print(f"--- {kind}: running ...", flush=True)
        results.append(await run_database(kind, args))
    ok = report(results, args)
    print(f"Whole run: {time.monotonic() - started:.0f} s")
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.loadgen:
        return loadgen_main(args.loadgen)
    return run_benchmark(amain(args))


if __name__ == "__main__":
    sys.exit(main())
