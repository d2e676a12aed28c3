"""Charging: what the worker's payments pass costs beyond Stripe's own calls.

The fake Stripe (gateways.stripe_stand_in.FakeStripe, served by uvicorn on 127.0.0.1) runs as a
separate process (this script with --fake-stripe), so that its work does not share this
process's core, as Stripe's own servers would not. A fresh one per database.

Each run, on a database (a SQLite file; a database created on the PostgreSQL server and
dropped afterwards) wired by app.bootstrap as in production:

0. SET-UP, not timed: a money campaign of N households and N deposits, and N residents
   who pledge (record_pledge), save a card on the fake's hosted Checkout page
   (create_customer, setup_session, POST /pay/<session>, retrieve_session, saved_card,
   record_card_saved) and confirm their email (confirm_pledge). The last one tips it.
1. BASELINE: N off-session charges straight through StripeGateway.charge, with the
   pass's concurrency (pledges.payments.CONCURRENCY) and no database: the same saved
   cards, amounts and descriptions, with idempotency keys of their own.
2. PASS: pledges.payments.charge_due until nothing is left (claim under a lease, charge
   with the pledge's idempotency key, record paid with the campaign's collected amount).

--runs runs per database (default 3), the order of 1 and 2 alternating. Printed: N,
seconds and charges per second of each, the ratio pass / baseline, and their medians.
Exit status: 1 if a correctness check failed (a pledge not charged exactly once, the
campaign's collected amount wrong), 2 if the benchmark itself could not run; never on a
speed target. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import io
import os
import pstats
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
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
    postgres_cpu_seconds,
    print_checks,
    print_profile,
    proc_cpu_seconds,
    run_benchmark,
    scratch_postgres_databases,
)

DEPOSIT = 2000  # £20, each pledge's amount
# Baseline charges carry pledge ids far above the database's, so that their idempotency
# keys (groundswell-charge-<pledge id>) never meet the pass's.
BASELINE_OFFSET = 1_000_000_000
SETUP_CONCURRENCY = 8


# --------------------------------------------------------------------------- the fake Stripe


def fake_stripe_main(port: int) -> int:
    """The fake Stripe, and GET /control/charges: its succeeded PaymentIntents."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    from gateways.stripe_stand_in import FakeStripe
    from tests.payments.stripe_server import API_KEY, WEBHOOK_SECRET

    # Nobody listens for its webhooks here: without auto_deliver each event would still
    # open an HTTP client (in the fake's process) to send it nowhere.
    fake = FakeStripe(
        API_KEY, WEBHOOK_SECRET, public_url=f"http://127.0.0.1:{port}", auto_deliver=False
    )

    async def charges(request: Request) -> Response:
        return JSONResponse(
            [
                {
                    "id": p["id"],
                    "amount": p["amount_received"],
                    "currency": p["currency"],
                    "customer": p["customer"],
                    "pledge_id": p["metadata"].get("pledge_id"),
                }
                for p in fake.charges()
            ]
        )

    app = Starlette(routes=[Route("/control/charges", charges), *fake.app.routes])
    uvicorn.run(
        app, host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan="off"
    )
    return 0


class FakeStripeProcess(ServerProcess):
    stop_timeout = 10

    def __init__(self, port: int, workdir: Path) -> None:
        argv = [sys.executable, str(Path(__file__).resolve()), "--fake-stripe", "--port", str(port)]
        super().__init__("fake-stripe", argv, dict(os.environ), workdir, cwd=ROOT)
        self.base = f"http://127.0.0.1:{port}"

    async def charges(self) -> list[dict[str, Any]]:
        import httpx

        async with httpx.AsyncClient(base_url=self.base, timeout=30, trust_env=False) as c:
            response = await c.get("/control/charges")
            response.raise_for_status()
            return list(response.json())


# --------------------------------------------------------------------------- results


@dataclass
class Timed:
    label: str
    charges: int
    seconds: float
    cpu: dict[str, float | None] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.charges / self.seconds if self.seconds > 0 else 0.0

    def cpu_ms_per_charge(self) -> float | None:
        """This process's CPU and PostgreSQL's (not the fake's: it stands for Stripe)."""
        ours = [v for k, v in self.cpu.items() if k != "fake" and v is not None]
        if not ours or not self.charges:
            return None
        return sum(ours) / 100 * self.seconds / self.charges * 1000


@dataclass
class Run:
    """One campaign: the baseline and the pass, in `order`."""

    number: int
    baseline_first: bool
    setup: Timed
    baseline: Timed
    charging: Timed
    rounds: int

    @property
    def ratio(self) -> float:
        return self.charging.seconds / self.baseline.seconds if self.baseline.seconds else 0.0


@dataclass
class KindResult:
    kind: str
    runs: list[Run] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    profile: str = ""


class CpuMeter:
    """CPU of this process (with aiosqlite's threads), the fake and PostgreSQL over a span,
    as % of one core."""

    def __init__(self, fake_pid: int, postgres: bool) -> None:
        self.fake_pid = fake_pid
        self.postgres = postgres

    def sample(self) -> dict[str, float | None]:
        return {
            "bench": time.process_time(),
            "fake": proc_cpu_seconds(self.fake_pid),
            "postgres": postgres_cpu_seconds() if self.postgres else None,
        }

    @staticmethod
    def share(
        before: dict[str, float | None], after: dict[str, float | None], wall: float
    ) -> dict[str, float | None]:
        out: dict[str, float | None] = {}
        for k, v in before.items():
            w = after.get(k)
            share = None if v is None or w is None or wall <= 0 else (w - v) / wall * 100
            # Negative: PostgreSQL backends that ended took their CPU with them.
            out[k] = share if share is None or share >= 0 else None
        return out


@dataclass(frozen=True)
class SavedCard:
    pledge_id: int
    customer: str
    payment_method: str
    amount: int


# --------------------------------------------------------------------------- set-up


async def tipped_money_campaign(
    store: Any, gateway: Any, fake: FakeStripeProcess, n: int
) -> tuple[Any, float]:
    """A campaign of n households and n deposits, tipped by n residents who save a card at
    the fake and confirm their email, as the pages and the webhook would record it."""
    import httpx

    from pledges.accounts import create_lead_api_key
    from pledges.campaigns import create_campaign, get_campaign, parse_campaign
    from pledges.payments import record_card_saved
    from pledges.pledging import confirm_pledge, parse_pledge, record_pledge

    lead, _ = await create_lead_api_key(store, "lead@bench.example.org")
    slug = f"charging-{secrets.token_hex(3)}"
    body = campaign_body(slug, n, title="Charging benchmark", script=Path(__file__).name)
    body["money"] = {"currency": "gbp", "target": n * DEPOSIT, "deposit": DEPOSIT}
    campaign = await create_campaign(store, lead.id, parse_campaign(body), money_enabled=True)
    todo = list(range(n))

    async def resident(http: httpx.AsyncClient) -> None:
        while todo:
            i = todo.pop()
            outcome = await record_pledge(
                store,
                slug,
                parse_pledge(
                    {
                        "name": f"Resident {i}",
                        "email": f"resident{i}@bench.example.org",
                        "postcode": "LS6 1AB",
                        "show_name": False,
                        "share_contact": False,
                    }
                ),
            )
            pledge_id = outcome.pledge_id
            customer = await gateway.create_customer(
                email=f"resident{i}@bench.example.org", name=f"Resident {i}", pledge_id=pledge_id
            )
            session = await gateway.setup_session(
                customer=customer,
                pledge_id=pledge_id,
                currency="gbp",
                success_url="http://127.0.0.1/done?session={CHECKOUT_SESSION_ID}",
                cancel_url="http://127.0.0.1/cancel",
            )
            # The resident picks the test card that succeeds on the hosted page.
            page = await http.post(session.url, data={"card": "visa"})
            if page.status_code != 303:
                raise BenchmarkError(f"fake Checkout answered {page.status_code}: {page.text}")
            state = await gateway.retrieve_session(session.id)
            if state.setup_intent is None:
                raise BenchmarkError(f"session {session.id} has no SetupIntent")
            found_customer, method = await gateway.saved_card(state.setup_intent)
            if method is None:
                raise BenchmarkError(f"SetupIntent {state.setup_intent} saved no card")
            await record_card_saved(store, pledge_id, found_customer, method)
            await confirm_pledge(store, pledge_id)

    started = time.perf_counter()
    async with httpx.AsyncClient(timeout=30, trust_env=False, follow_redirects=False) as http:
        await asyncio.gather(*(resident(http) for _ in range(SETUP_CONCURRENCY)))
    seconds = time.perf_counter() - started
    return await get_campaign(store.database, campaign.slug), seconds


async def saved_cards(store: Any, campaign_id: int) -> list[SavedCard]:
    import sqlalchemy as sa

    from pledges.tables import pledges

    rows = await store.database.fetch_all(
        sa.select(
            pledges.c.id,
            pledges.c.stripe_customer_id,
            pledges.c.stripe_payment_method_id,
            pledges.c.amount,
        )
        .where(pledges.c.campaign_id == campaign_id)
        .order_by(pledges.c.id)
    )
    return [
        SavedCard(
            r["id"], r["stripe_customer_id"], r["stripe_payment_method_id"], int(r["amount"] or 0)
        )
        for r in rows
    ]


# --------------------------------------------------------------------------- the two phases


async def baseline_charges(
    gateway: Any, cards: list[SavedCard], campaign: Any, concurrency: int
) -> tuple[float, int, list[str]]:
    """Each card charged once through StripeGateway.charge, `concurrency` at a time, no
    database; returns (seconds, succeeded, errors)."""
    queue = list(cards)
    succeeded = 0
    errors: list[str] = []

    async def charger() -> None:
        nonlocal succeeded
        while queue:
            card = queue.pop(0)
            try:
                result = await gateway.charge(
                    pledge_id=BASELINE_OFFSET + card.pledge_id,
                    customer=card.customer,
                    payment_method=card.payment_method,
                    amount=card.amount,
                    currency=campaign.currency,
                    description=f"Pledge to {campaign.title}",
                )
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
                continue
            if result.succeeded:
                succeeded += 1
            else:
                errors.append(str(result.error_code))

    started = time.perf_counter()
    await asyncio.gather(*(charger() for _ in range(concurrency)))
    return time.perf_counter() - started, succeeded, errors


async def charging_pass(
    store: Any, gateway: Any, n: int, profiler: cProfile.Profile | None
) -> tuple[float, int, int]:
    """charge_due until it finds nothing; returns (seconds, pledges claimed, rounds)."""
    from pledges.payments import BATCH, charge_due

    most_rounds = n // BATCH + 10  # bounded: a round that charges nothing ends the pass
    claimed = rounds = 0
    if profiler:
        profiler.enable()
    started = time.perf_counter()
    try:
        while rounds < most_rounds:
            rounds += 1
            done = await charge_due(store, gateway)
            if done == 0:
                break
            claimed += done
        seconds = time.perf_counter() - started
    finally:
        if profiler:
            profiler.disable()
    return seconds, claimed, rounds


# --------------------------------------------------------------------------- checks


async def charging_checks(
    store: Any,
    fake: FakeStripeProcess,
    campaign_id: int,
    cards: list[SavedCard],
    n: int,
    charged_before: int,
) -> list[Check]:
    """The fake's succeeded PaymentIntents against the database, for one campaign; the
    fake held `charged_before` from earlier runs."""
    import sqlalchemy as sa

    from pledges.tables import campaigns, events, pledges

    charges = await fake.charges()
    ours = {str(c.pledge_id): c for c in cards}
    baseline_ids = {str(BASELINE_OFFSET + c.pledge_id) for c in cards}
    pass_charges = [c for c in charges if c["pledge_id"] in ours]
    baseline_charges = [c for c in charges if c["pledge_id"] in baseline_ids]
    by_pledge: dict[str, list[dict[str, Any]]] = {}
    for c in pass_charges:
        by_pledge.setdefault(c["pledge_id"], []).append(c)
    wrong_amount = sum(1 for c in pass_charges if c["amount"] != ours[c["pledge_id"]].amount)

    rows = await store.database.fetch_all(
        sa.select(pledges.c.id, pledges.c.payment_status, pledges.c.stripe_payment_intent_id).where(
            pledges.c.campaign_id == campaign_id
        )
    )
    paid = [r for r in rows if r["payment_status"] == "paid"]
    recorded = {str(r["id"]): r["stripe_payment_intent_id"] for r in paid}
    mismatched = sum(
        1
        for pledge_id, intents in by_pledge.items()
        if len(intents) != 1 or recorded.get(pledge_id) != intents[0]["id"]
    )
    campaign = await store.database.fetch_one(
        sa.select(campaigns.c.collected_amount, campaigns.c.pledged_amount).where(
            campaigns.c.id == campaign_id
        )
    )
    expected_amount = sum(c.amount for c in cards)
    succeeded_events = await store.database.fetch_val(
        sa.select(sa.func.count()).where(
            events.c.campaign_id == campaign_id, events.c.type == "payment.succeeded"
        )
    )
    return [
        Check(
            "fake: exactly N succeeded PaymentIntents for the campaign's pledges",
            len(pass_charges) == n and len(by_pledge) == n and wrong_amount == 0,
            f"succeeded={len(pass_charges)} pledges charged={len(by_pledge)} of N={n}, "
            f"wrong amount={wrong_amount}",
        ),
        Check(
            "every pledge paid, with the PaymentIntent the fake holds for it",
            len(rows) == n and len(paid) == n and mismatched == 0,
            f"pledges={len(rows)} paid={len(paid)} not matching the fake={mismatched}",
        ),
        Check(
            "campaign collected_amount is N x amount",
            campaign is not None
            and int(campaign["collected_amount"]) == expected_amount == n * DEPOSIT,
            f"collected={None if campaign is None else campaign['collected_amount']} "
            f"expected={n} x {DEPOSIT} = {n * DEPOSIT}",
        ),
        Check(
            "one payment.succeeded event per pledge",
            int(succeeded_events) == n,
            f"events={succeeded_events} N={n}",
        ),
        Check(
            "baseline: N succeeded PaymentIntents, nothing else charged",
            len(baseline_charges) == n and len(charges) == charged_before + 2 * n,
            f"baseline={len(baseline_charges)} of {n}; all succeeded at the fake="
            f"{len(charges)} (expected {charged_before + 2 * n})",
        ),
    ]


# --------------------------------------------------------------------------- one database


async def run_kind(
    kind: str, url: str, args: argparse.Namespace, fake: FakeStripeProcess
) -> KindResult:
    from app.bootstrap import bootstrap
    from app.migrate import migrate
    from app.settings import Settings
    from tests.payments.stripe_server import API_KEY, WEBHOOK_SECRET

    result = KindResult(kind)
    await asyncio.to_thread(migrate, url)
    settings = Settings.from_environ(
        {
            "DATABASE_URL": url,
            "SECRET_KEY": secrets.token_urlsafe(48),
            "STRIPE_SECRET_KEY": API_KEY,
            "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "STRIPE_API_BASE": fake.base,
        }
    )
    services = bootstrap(settings)  # the production wiring: the Store and the StripeGateway
    store, gateway = services.store, services.payments
    assert gateway is not None
    meter = CpuMeter(fake.pid, postgres=kind == "postgres")
    run_checks: list[list[Check]] = []
    await store.connect()
    try:
        for number in range(1, args.runs + 1):
            run_checks.append(await timed_run(number, store, gateway, fake, meter, args, result))
    finally:
        await gateway.aclose()
        await store.disconnect()
    result.checks = merge_checks(run_checks)
    return result


async def timed_run(
    number: int,
    store: Any,
    gateway: Any,
    fake: FakeStripeProcess,
    meter: CpuMeter,
    args: argparse.Namespace,
    result: KindResult,
) -> list[Check]:
    """A new tipped campaign, then the baseline and the pass, in alternating order so that
    neither always runs on a warmer process; appends the Run and returns its checks."""
    from pledges.payments import CONCURRENCY

    n = args.pledges
    print(f"--- {result.kind}: run {number} of {args.runs}: set-up ...", flush=True)
    campaign, setup_seconds = await tipped_money_campaign(store, gateway, fake, n)
    if campaign.status != "tipped" or campaign.confirmed != n:
        raise BenchmarkError(f"set-up: campaign {campaign.status} with {campaign.confirmed} of {n}")
    cards = await saved_cards(store, campaign.id)

    async def baseline() -> Timed:
        before = meter.sample()
        seconds, succeeded, errors = await baseline_charges(gateway, cards, campaign, CONCURRENCY)
        if errors:
            result.notes.append(
                f"run {number}: baseline: {len(errors)} charge(s) failed, e.g. {errors[0]}"
            )
        return Timed(
            "baseline", succeeded, seconds, CpuMeter.share(before, meter.sample(), seconds)
        )

    async def charging() -> tuple[Timed, int]:
        # Profiled in the last run only: one profile, of a warm process.
        profiler = cProfile.Profile() if args.profile and number == args.runs else None
        before = meter.sample()
        seconds, claimed, rounds = await charging_pass(store, gateway, n, profiler)
        cpu = CpuMeter.share(before, meter.sample(), seconds)
        if profiler:
            out = io.StringIO()
            stats = pstats.Stats(profiler, stream=out)
            stats.strip_dirs().sort_stats("tottime").print_stats(20)
            stats.sort_stats("cumulative").print_stats(30)
            result.profile = out.getvalue()
        return Timed("pass", claimed, seconds, cpu), rounds

    baseline_first = number % 2 == 1
    print(f"--- {result.kind}: run {number}: baseline and pass ...", flush=True)
    if baseline_first:
        base = await baseline()
        timed, rounds = await charging()
    else:
        timed, rounds = await charging()
        base = await baseline()
    setup = Timed("set-up", n, setup_seconds)
    result.runs.append(Run(number, baseline_first, setup, base, timed, rounds))
    return await charging_checks(
        store, fake, campaign.id, cards, n, charged_before=2 * n * (number - 1)
    )


def merge_checks(per_run: list[list[Check]]) -> list[Check]:
    """One line per check over all runs: the failing runs' details, else the first's."""
    merged = []
    for i, first in enumerate(per_run[0] if per_run else []):
        same = [(number, checks[i]) for number, checks in enumerate(per_run, 1)]
        failing = [(number, c) for number, c in same if not c.ok]
        if failing:
            detail = "; ".join(f"run {number}: {c.detail}" for number, c in failing)
        else:
            detail = first.detail + (f" (each of {len(same)} runs)" if len(same) > 1 else "")
        merged.append(Check(first.name, not failing, detail))
    return merged


# --------------------------------------------------------------------------- orchestration


def cpu_text(cpu: dict[str, float | None]) -> str:
    return ", ".join(f"{k} {v:.0f}%" for k, v in cpu.items() if v is not None)


def ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def report(results: list[KindResult], args: argparse.Namespace) -> bool:
    from pledges.payments import BATCH, CONCURRENCY

    ok = True
    print()
    print(
        f"Charging: N = {args.pledges} off-session charges of {DEPOSIT / 100:.2f} GBP per run, "
        f"{CONCURRENCY} at a time (the pass claims batches of {BATCH}); {args.runs} run(s) per "
        f"database, each on a new campaign; {os.cpu_count()} cores; the fake Stripe in its own "
        "process."
    )
    print(
        "CPU ms/charge: this process (with aiosqlite's threads) and PostgreSQL, not the fake. "
        "CPU %: share of ONE core over the timed span."
    )
    for res in results:
        print()
        print(f"=== {res.kind} ===")
        if res.runs:
            print(
                f"  {'run':>3}  {'first':<8}  {'baseline s':>10} {'charges/s':>9} "
                f"{'CPU ms/ch':>9}   {'pass s':>6} {'charges/s':>9} {'CPU ms/ch':>9}   "
                f"{'pass/baseline':>13}"
            )
        for run in res.runs:
            b, c = run.baseline, run.charging
            print(
                f"  {run.number:>3}  {'baseline' if run.baseline_first else 'pass':<8}  "
                f"{b.seconds:>10.2f} {b.rate:>9.1f} {ms(b.cpu_ms_per_charge()):>9}   "
                f"{c.seconds:>6.2f} {c.rate:>9.1f} {ms(c.cpu_ms_per_charge()):>9}   "
                f"{run.ratio:>12.2f}x"
            )
        if res.runs:
            n = args.pledges
            base_s = statistics.median(r.baseline.seconds for r in res.runs)
            pass_s = statistics.median(r.charging.seconds for r in res.runs)
            ratio = statistics.median(r.ratio for r in res.runs)
            print(
                f"  median: baseline {base_s:.2f} s ({n / base_s:.0f} charges/s), pass "
                f"{pass_s:.2f} s ({n / pass_s:.0f} charges/s); pass / baseline {ratio:.2f}x "
                f"the time, {(pass_s - base_s) / n * 1000:+.2f} ms per charge"
            )
            last = res.runs[-1]
            print(
                f"  last run's CPU: baseline [{cpu_text(last.baseline.cpu)}], "
                f"pass [{cpu_text(last.charging.cpu)}]; {last.rounds} charge_due calls a pass"
            )
            setup = sum(r.setup.seconds for r in res.runs)
            print(
                f"  set-up (not timed for the ratio): {len(res.runs)} x {n} pledges in "
                f"{setup:.1f} s ({len(res.runs) * n / setup:.0f}/s), each campaign tipped"
            )
        ok = print_checks(res.checks, res.notes) and ok
        print_profile("cProfile of the last run's pass (main thread)", res.profile)
    print()
    print("CORRECTNESS: " + ("all checks passed" if ok else "FAILED"))
    return ok


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--pledges", type=int, default=200, help="N: pledges, and charges")
    parser.add_argument(
        "--database",
        choices=["sqlite", "postgres", "both"],
        default="both",
        help="PostgreSQL is skipped (with the reason) when it does not answer",
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL),
        help="an admin connection; the benchmark creates and drops its own database there",
    )
    parser.add_argument(
        "--runs",
        type=int,
        default=3,
        help="campaigns per database, each timed baseline and pass (in alternating order)",
    )
    parser.add_argument(
        "--profile", action="store_true", help="cProfile the payments pass of the last run"
    )
    parser.add_argument("--keep-logs", action="store_true")
    parser.add_argument("--fake-stripe", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.pledges < 1 or args.runs < 1:
        parser.error("--pledges and --runs must be positive")
    return args


async def amain(args: argparse.Namespace) -> int:
    kinds = await database_kinds(
        skip_sqlite=args.database == "postgres",
        skip_postgres=args.database == "sqlite",
        postgres_url=args.postgres_url,
    )
    if not kinds:
        raise BenchmarkError("no database to run on")
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="groundswell-charging-bench-"))
    fake = FakeStripeProcess(free_port(), workdir)
    results: list[KindResult] = []
    try:
        fake.start()
        await fake.wait_http(f"{fake.base}/control/charges")
        for kind in kinds:
            # A fresh fake per database: the checks count what it holds.
            if results:
                fake.stop()
                fake = FakeStripeProcess(free_port(), workdir)
                fake.start()
                await fake.wait_http(f"{fake.base}/control/charges")
            async with contextlib.AsyncExitStack() as databases:
                if kind == "sqlite":
                    url = f"sqlite:///{workdir / 'charging.db'}"
                else:
                    (url,) = await databases.enter_async_context(
                        scratch_postgres_databases(args.postgres_url, ["bench_charging"])
                    )
                results.append(await run_kind(kind, url, args, fake))
    finally:
        fake.stop()
        if args.keep_logs:
            print(f"(logs and SQLite files kept in {workdir})")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    ok = report(results, args)
    print(f"Whole run: {time.monotonic() - started:.0f} s")
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.fake_stripe:
        return fake_stripe_main(args.port)
    return run_benchmark(amain(args))


if __name__ == "__main__":
    sys.exit(main())
