"""A campaign going viral: reads and pledges at once, against the same reads when idle.

For each database (a fresh SQLite file; a fresh PostgreSQL database when one answers), and
on PostgreSQL with `--web-workers N` also in the multi-process layout (uvicorn --workers N
and one `groundswell worker`) after `groundswell serve`, each on its own fresh database:

1. A campaign created through the API with a lead's key from `groundswell apikey create`,
   its target half the pledges the mix will send (so it tips mid-run), and a first fetch of
   its page, JSON and badge for their ETags.
2. IDLE: the mix's reads alone (no pledges) from `--idle-clients` keep-alive clients for
   `--idle-seconds`.
3. MIX: `--requests` requests from `--concurrency` (64) clients (or, with `--rate R`, open
   loop: R requests a second on at most that many connections, each request's latency
   counted from when it was due): 95 % reads of the campaign
   page, its JSON and its badge (some conditional, with the first fetch's ETag), 5 % paper
   pledges (POST /api/v1/campaigns/{slug}/pledges with the lead's key, confirmed at once),
   spread evenly.
4. After the worker drained: the campaign's count equals the pledges accepted, one pledge
   row per accepted pledge, exactly one `campaign.tipped` if the target was crossed.

It prints the reads' p50/p99 under the mix against their p99 when idle (target: the mix's
p99 at most 2x the idle one) and the pledges' p50/p99. Every read must be answered 200
(or 304 to a conditional one: a pledge changes the ETag) with no Set-Cookie, every pledge
201; any other answer, or an exactness failure, makes the exit status 1. A speed miss
never does. Exit status 2: the benchmark could not run. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from common import (
    BenchmarkError,
    Check,
    Groundswell,
    add_database_arguments,
    campaign_body,
    database_kinds,
    groundswell_command,
    lead_key,
    load_average,
    percentile,
    print_stopped,
    production_env,
    run_benchmark,
    run_cli,
    scratch_postgres_databases,
)
from http_load import LoadResult, Template, json_template, run_load
from pledge_throughput import Db, groundswell_checks, wait_for_worker

TARGET_P99_RATIO = 2.0
# Twenty slots: one pledge and nineteen reads, a quarter of them conditional. The pledge
# is not in the idle run.
READ_SLOTS = (
    ["page"] * 6
    + ["page-304"] * 2
    + ["json"] * 4
    + ["json-304"] * 1
    + ["badge"] * 4
    + ["badge-304"] * 2
)
PATHS = {"page": "/c/{slug}", "json": "/api/v1/campaigns/{slug}", "badge": "/c/{slug}/badge.svg"}


@dataclass
class LayoutResult:
    kind: str
    label: str
    slug: str = ""
    idle: LoadResult | None = None
    mix: LoadResult | None = None
    pledges_planned: int = 0
    target: int = 0
    drained: bool = True
    drain_seconds: float = 0.0
    checks: list[Check] = field(default_factory=list)
    exit_codes: dict[str, int | None] = field(default_factory=dict)
    profile: Path | None = None
    load_before: str = ""
    load_after: str = ""


def read_kinds(result: LoadResult) -> list[str]:
    return [k for k in result.kinds if k != "pledge"]


def read_latencies(result: LoadResult) -> list[float]:
    return [x for k in read_kinds(result) for x in result.kinds[k].latencies]


def read_count(result: LoadResult) -> int:
    return sum(result.kinds[k].count for k in read_kinds(result))


def read_checks(label: str, result: LoadResult) -> list[Check]:
    """Plain reads: every answer 200; conditional ones 200 or 304; none sets a cookie."""
    checks = []
    for kind in sorted(read_kinds(result)):
        k = result.kinds[kind]
        allowed = {200, 304} if kind.endswith("-304") else {200}
        good = sum(n for s, n in k.statuses.items() if s in allowed)
        checks.append(
            Check(
                f"{label} {kind}: every answer {' or '.join(map(str, sorted(allowed)))}, no cookie",
                k.count > 0 and good == k.count and k.set_cookie == 0,
                f"{k.count} answers {dict(sorted(k.statuses.items()))}, "
                f"{k.set_cookie} with Set-Cookie",
            )
        )
    return checks


def templates_for(slug: str, etags: dict[str, str]) -> dict[str, Template]:
    found = {}
    for read, path in PATHS.items():
        found[read] = Template(read, "GET", path.format(slug=slug))
        found[f"{read}-304"] = Template(
            f"{read}-304", "GET", path.format(slug=slug), {"If-None-Match": etags[read]}
        )
    return found


async def first_etags(base_url: str, slug: str) -> dict[str, str]:
    import httpx

    etags = {}
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        for read, path in PATHS.items():
            answer = await http.get(path.format(slug=slug))
            if answer.status_code != 200 or "etag" not in answer.headers:
                raise BenchmarkError(f"first fetch of {path}: {answer.status_code}, no ETag?")
            etags[read] = answer.headers["etag"]
    return etags


async def run_layout(
    layout: str, kind: str, url: str, args: argparse.Namespace, workdir: Path
) -> LayoutResult:
    import httpx

    env = production_env(url)
    if kind == "postgres":
        run_cli([*groundswell_command(), "migrate"], env, workdir)
    profile = None
    if args.profile and layout == "one":
        profile = Path(args.profile).resolve() / f"viral-mix-{kind}.prof"
        profile.parent.mkdir(parents=True, exist_ok=True)
    gs = Groundswell(layout, kind, env, workdir, profile, web_workers=args.web_workers or 2)
    result = LayoutResult(kind, gs.label, profile=profile, load_before=load_average())
    postgres = kind == "postgres"
    await gs.start()
    try:
        key = lead_key(env, workdir)
        auth = {"Authorization": f"Bearer {key}"}
        tag = uuid.uuid4().hex[:8]
        result.slug = slug = f"bench-viral-{tag}"
        pledges = len(range(0, args.requests, len(READ_SLOTS) + 1))
        result.pledges_planned = pledges
        result.target = max(1, pledges // 2)
        body = campaign_body(slug, result.target, title="Going viral", script="viral_mix.py")
        async with httpx.AsyncClient(base_url=gs.base_url, timeout=30, headers=auth) as http:
            created = await http.post("/api/v1/campaigns", json=body)
            if created.status_code != 201:
                raise BenchmarkError(f"campaign not created: {created.text}")
        etags = await first_etags(gs.base_url, slug)
        reads = templates_for(slug, etags)
        names = list(reads)
        read_templates = [reads[n] for n in names]
        read_sequence = [names.index(n) for n in READ_SLOTS]
        result.idle = run_load(
            f"idle-{layout}",
            gs.port,
            read_templates,
            read_sequence,
            workdir=workdir,
            concurrency=args.idle_clients,
            procs=1,
            cycle=True,
            max_seconds=args.idle_seconds,
            servers=gs.pids,
            postgres=postgres,
        )
        # The mix: every slot of 20 is a pledge, then 19 reads; each pledge its own request.
        pledge_url = f"/api/v1/campaigns/{slug}/pledges"
        templates = list(read_templates)
        sequence: list[int] = []
        for i in range(args.requests):
            slot = i % (len(READ_SLOTS) + 1)
            if slot == 0:
                n = len(templates) - len(read_templates)
                pledge = {
                    "name": f"Resident {n}",
                    "email": f"viral-{tag}.{n}@bench.example.org",
                    "postcode": "LS6 1AB",
                    "source": "paper",
                }
                templates.append(json_template("pledge", pledge_url, pledge, auth))
                sequence.append(len(templates) - 1)
            else:
                sequence.append(read_sequence[slot - 1])
        result.mix = run_load(
            f"mix-{layout}",
            gs.port,
            templates,
            sequence,
            workdir=workdir,
            concurrency=args.concurrency,
            procs=args.load_procs,
            max_seconds=args.max_seconds,
            servers=gs.pids,
            postgres=postgres,
            warmup=0,
            rate=args.rate,
        )
        async with Db(url) as db:
            result.drained, result.drain_seconds = await wait_for_worker(db, args.drain_seconds)
            pledged = result.mix.kinds["pledge"]
            result.checks = read_checks("idle", result.idle) + read_checks("mix", result.mix)
            result.checks.append(
                Check(
                    "every pledge sent answered 201",
                    pledged.answered(201) == pledged.count,
                    f"{pledged.count} sent of {pledges}: {dict(sorted(pledged.statuses.items()))}"
                    + (f"; e.g. {result.mix.errors[0]}" if result.mix.errors else ""),
                )
            )
            result.checks += await groundswell_checks(
                db, slug, pledged.accepted, pledged.accepted, 0, result.drained, web=False
            )
    finally:
        result.exit_codes = gs.stop()
        result.load_after = load_average()
    return result


async def run_database(kind: str, args: argparse.Namespace) -> list[LayoutResult]:
    layouts = ["one"]
    if args.web_workers:
        if kind == "postgres":
            layouts.append("processes")
        else:
            print("  (--web-workers: SQLite is for one process; only groundswell serve here)")
    workdir = Path(tempfile.mkdtemp(prefix=f"groundswell-viral-{kind}-"))
    results = []
    try:
        async with contextlib.AsyncExitStack() as stack:
            if kind == "sqlite":
                urls = [f"sqlite:///{workdir / f'viral-{layout}.db'}" for layout in layouts]
            else:
                urls = await stack.enter_async_context(
                    scratch_postgres_databases(
                        args.postgres_url, [f"bench_viral_{layout}" for layout in layouts]
                    )
                )
            for layout, url in zip(layouts, urls, strict=True):
                print(f"--- {kind}, {layout}: running ...", flush=True)
                results.append(await run_layout(layout, kind, url, args, workdir))
    finally:
        if args.keep_logs:
            print(f"(logs and databases kept in {workdir})")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return results


# --------------------------------------------------------------------------- report


def ms(values: list[float], q: float) -> float:
    return percentile(values, q) * 1000


def report(results: list[LayoutResult], args: argparse.Namespace) -> bool:
    ok = True
    print()
    how = (
        f"at {args.concurrency} clients"
        if args.rate is None
        else f"offered at {args.rate:g} req/s (open loop, at most {args.concurrency} connections)"
    )
    print(
        f"Viral mix: {args.requests} requests {how} (1 in {len(READ_SLOTS) + 1} a paper "
        f"pledge, the rest reads), against the same reads at {args.idle_clients} clients for "
        f"{args.idle_seconds:g} s; {os.cpu_count()} cores"
    )
    print("CPU: share of ONE core over the phase; 'other' is everything else on the machine.")
    for res in results:
        print()
        print(
            f"=== {res.kind}: {res.label} === (load average before {res.load_before}, after "
            f"{res.load_after})"
        )
        for phase in (res.idle, res.mix):
            if phase is None:
                continue
            server = sum(v or 0 for v in phase.server_cpu.values())
            print(
                f"  {phase.name}: {phase.sent} requests in {phase.wall:.2f} s = "
                f"{phase.rate:.0f} req/s; CPU loadgen {phase.share(phase.loadgen_cpu)}, "
                f"server {phase.share(server)}, pg {phase.share(phase.db_cpu)}, other "
                f"{phase.share(phase.other_cpu)}"
            )
            for kind in sorted(phase.kinds):
                k = phase.kinds[kind]
                print(
                    f"      {kind:<10}{k.count:>7} answers  p50 {k.p(50):7.1f} ms  p99 "
                    f"{k.p(99):7.1f} ms  {dict(sorted(k.statuses.items()))}"
                )
        if res.idle and res.mix:
            idle, mix = read_latencies(res.idle), read_latencies(res.mix)
            ratio = ms(mix, 99) / ms(idle, 99) if idle else float("nan")
            verdict = "meets" if ratio <= TARGET_P99_RATIO else "ABOVE"
            print()
            print(
                f"  reads idle: p50 {ms(idle, 50):.1f} ms / p99 {ms(idle, 99):.1f} ms "
                f"({res.idle.rate:.0f} req/s at {args.idle_clients} clients)"
            )
            print(
                f"  reads under the mix: p50 {ms(mix, 50):.1f} ms / p99 {ms(mix, 99):.1f} ms "
                f"({read_count(res.mix) / res.mix.wall:.0f} reads/s)"
            )
            print(f"  read p99, mix / idle: {ratio:.2f}x ({verdict} target <= {TARGET_P99_RATIO}x)")
            pledged = res.mix.kinds["pledge"]
            print(
                f"  pledges under the mix: {pledged.accepted} accepted of {res.pledges_planned}"
                f" planned, {pledged.accepted / res.mix.wall:.1f}/s, p50 {pledged.p(50):.1f} ms"
                f" / p99 {pledged.p(99):.1f} ms (target {res.target}: tips mid-run)"
            )
            print(
                f"  worker drained in {res.drain_seconds:.2f} s after the last answer"
                if res.drained
                else f"  worker NOT drained after {res.drain_seconds:.0f} s"
            )
            print(
                f"  load generator: {res.mix.loadgen_cpu / max(res.mix.sent, 1) * 1000:.3f} ms "
                f"CPU a request, about {res.mix.loadgen_capacity:.0f} req/s on a core"
            )
        print("  Correctness and exactness:")
        for check in res.checks:
            mark = {True: "ok  ", False: "FAIL", None: "n/a "}[check.ok]
            print(f"    [{mark}] {check.name}: {check.detail}")
            ok = ok and check.ok is not False
        print_stopped(res.exit_codes, res.profile)
    print()
    print("EXACTNESS: " + ("all checks passed" if ok else "FAILED"))
    return ok


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--requests", type=int, default=4000, help="requests in the mix")
    parser.add_argument("--concurrency", type=int, default=64, help="clients in the mix")
    parser.add_argument("--idle-clients", type=int, default=4, help="clients when idle")
    parser.add_argument("--idle-seconds", type=float, default=3, help="length of the idle run")
    parser.add_argument(
        "--web-workers",
        type=int,
        default=0,
        metavar="N",
        help="on PostgreSQL also run uvicorn --workers N + one groundswell worker (0: do not)",
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=None,
        metavar="R",
        help="open loop: send the mix at R requests a second (on at most --concurrency "
        "connections; latency counts from when each was due) instead of 64 clients each "
        "sending when answered",
    )
    parser.add_argument("--load-procs", type=int, default=1, help="load generator processes")
    parser.add_argument(
        "--max-seconds", type=float, default=120, help="no request starts after this long"
    )
    parser.add_argument("--drain-seconds", type=float, default=60)
    add_database_arguments(parser)
    parser.add_argument(
        "--profile",
        metavar="DIR",
        help="run groundswell serve under cProfile (not the multi-process layout)",
    )
    args = parser.parse_args(argv)
    if args.requests < len(READ_SLOTS) + 1 or args.concurrency < 1 or args.idle_clients < 1:
        parser.error(f"--requests must be at least {len(READ_SLOTS) + 1}; clients positive")
    return args


async def amain(args: argparse.Namespace) -> int:
    kinds = await database_kinds(args.skip_sqlite, args.skip_postgres, args.postgres_url)
    started = time.monotonic()
    results = []
    for kind in kinds:
        results += await run_database(kind, args)
    ok = report(results, args)
    print(f"Whole run: {time.monotonic() - started:.0f} s")
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    return run_benchmark(amain(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
