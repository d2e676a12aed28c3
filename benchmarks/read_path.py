"""The cacheable read path against a static page of the same size from the same stack.

For each database (a fresh SQLite file; a fresh PostgreSQL database when one answers):

1. `groundswell serve` (one process, production mode), a lead's key from
   `groundswell apikey create`, a campaign created through the API with a few paper
   pledges, then one first fetch of each read (its size and ETag; each must be 200 with no
   Set-Cookie and a strong ETag).
2. benchmarks/baseline_app.py (the same uvicorn options) serving `/static/{size}`: a fixed
   HTML page of the same number of bytes, with an ETag, answering If-None-Match with 304.
3. For the campaign page (`/c/{slug}`), its JSON (`/api/v1/campaigns/{slug}`) and its badge
   (`/c/{slug}/badge.svg`), each plain (answered 200) and conditional (If-None-Match with
   the first fetch's ETag, answered 304): requests/s, p50 and p99 at `--concurrency`
   keep-alive clients for `--seconds`, then the static page of that size the same way
   (plain against plain, 304 against 304), and the ratio with its target beside it.

Every answer is checked: plain ones 200 with no Set-Cookie, conditional ones 304 (also
the static page's). A non-conforming answer makes the exit status 1; a speed miss never
does. Exit status 2: the benchmark could not run. See benchmarks/README.md.
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
    BENCHMARKS,
    ROOT,
    BenchmarkError,
    Check,
    Groundswell,
    HttpServer,
    add_database_arguments,
    campaign_body,
    database_kinds,
    free_port,
    groundswell_command,
    lead_key,
    load_average,
    print_stopped,
    production_env,
    run_benchmark,
    run_cli,
    scratch_postgres_databases,
)
from http_load import LoadResult, Template, run_load

# What each read is, and the least share of the static page's rate it should reach.
READS = (
    ("page", "campaign page", "/c/{slug}"),
    ("json", "campaign JSON", "/api/v1/campaigns/{slug}"),
    ("badge", "badge", "/c/{slug}/badge.svg"),
)
TARGETS = {("page", False): 0.5, ("json", False): 0.7}
TARGET_304 = 0.8
# Paper pledges on the campaign before it is read, so its page shows a count.
PLEDGES = 12


def target(read: str, conditional: bool) -> float | None:
    return TARGET_304 if conditional else TARGETS.get((read, conditional))


@dataclass
class FirstFetch:
    """The first anonymous fetch of one read."""

    read: str
    path: str
    size: int
    etag: str
    status: int
    set_cookie: bool
    cache_control: str


@dataclass
class Pair:
    """One read, plain or conditional, against the static page of its size."""

    read: str
    label: str
    conditional: bool
    size: int
    groundswell: LoadResult
    static: LoadResult

    @property
    def ratio(self) -> float:
        base = self.static.rate
        return self.groundswell.rate / base if base > 0 else 0.0

    @property
    def cpu_ratio(self) -> float | None:
        """The static page's server CPU per answer over Groundswell's: the rate ratio each
        would reach with a core to itself, far steadier than rates on a shared machine."""
        gs, static = server_ms(self.groundswell), server_ms(self.static)
        return None if gs is None or static is None or gs <= 0 else static / gs


def server_ms(result: LoadResult) -> float | None:
    """The server's CPU milliseconds per answer (its process tree, with its threads)."""
    values = list(result.server_cpu.values())
    if not values or any(v is None for v in values) or result.sent == 0:
        return None
    return sum(v or 0.0 for v in values) / result.sent * 1000


@dataclass
class DatabaseResult:
    kind: str
    first: list[FirstFetch] = field(default_factory=list)
    pairs: list[Pair] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    exit_codes: dict[str, int | None] = field(default_factory=dict)
    profile: Path | None = None
    load_before: str = ""
    load_after: str = ""


async def first_fetches(base_url: str, slug: str) -> list[FirstFetch]:
    import httpx

    found = []
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        for read, _, path in READS:
            answer = await http.get(path.format(slug=slug))
            found.append(
                FirstFetch(
                    read,
                    path.format(slug=slug),
                    len(answer.content),
                    answer.headers.get("etag", ""),
                    answer.status_code,
                    "set-cookie" in answer.headers,
                    answer.headers.get("cache-control", ""),
                )
            )
    return found


def first_fetch_checks(first: list[FirstFetch]) -> list[Check]:
    return [
        Check(
            f"first fetch of the {f.read}: 200, no cookie, a strong ETag",
            f.status == 200
            and not f.set_cookie
            and f.etag.startswith('"')
            and f.cache_control.startswith("public"),
            f"status {f.status}, Set-Cookie {'yes' if f.set_cookie else 'no'}, ETag {f.etag}, "
            f"Cache-Control {f.cache_control!r}, {f.size} bytes",
        )
        for f in first
    ]


def answer_check(who: str, label: str, conditional: bool, result: LoadResult) -> Check:
    """Plain: every answer 200 and none sets a cookie; conditional: every answer 304."""
    kind = result.kinds["read"]
    want = 304 if conditional else 200
    return Check(
        f"{who} {label}{' (If-None-Match)' if conditional else ''}: every answer {want}",
        kind.count > 0 and kind.answered(want) == kind.count and kind.set_cookie == 0,
        f"{kind.count} answers {dict(sorted(kind.statuses.items()))}, "
        f"{kind.set_cookie} with Set-Cookie"
        + (f"; e.g. {result.errors[0]}" if result.errors else ""),
    )


def measure(
    name: str,
    port: int,
    path: str,
    etag: str | None,
    servers: dict[str, int],
    args: argparse.Namespace,
    workdir: Path,
    postgres: bool,
) -> LoadResult:
    headers = {"If-None-Match": etag} if etag else {}
    return run_load(
        name,
        port,
        [Template("read", "GET", path, headers)],
        [0],
        workdir=workdir,
        concurrency=args.concurrency,
        procs=args.load_procs,
        cycle=True,
        max_seconds=args.seconds,
        request_timeout=args.request_timeout,
        servers=servers,
        postgres=postgres,
    )


async def run_database(kind: str, args: argparse.Namespace) -> DatabaseResult:
    result = DatabaseResult(kind, load_before=load_average())
    workdir = Path(tempfile.mkdtemp(prefix=f"groundswell-read-{kind}-"))
    postgres = kind == "postgres"
    try:
        async with contextlib.AsyncExitStack() as stack:
            if kind == "sqlite":
                url = f"sqlite:///{workdir / 'groundswell.db'}"
            else:
                (url,) = await stack.enter_async_context(
                    scratch_postgres_databases(args.postgres_url, ["bench_read"])
                )
            env = production_env(url)
            if postgres:
                run_cli([*groundswell_command(), "migrate"], env, workdir)
            if args.profile:
                result.profile = Path(args.profile).resolve() / f"read-path-{kind}.prof"
                result.profile.parent.mkdir(parents=True, exist_ok=True)
            gs = Groundswell("one", kind, env, workdir, result.profile)
            # The static page reads nothing from its database: a SQLite file will do.
            static_port = free_port()
            static = HttpServer(
                f"static-{kind}",
                [sys.executable, str(BENCHMARKS / "baseline_app.py"), "--port", str(static_port)],
                production_env(f"sqlite:///{workdir / 'static.db'}"),
                workdir,
                static_port,
                ROOT,
            )
            try:
                await gs.start()
                await static.serve("/health")
                slug = await create_campaign(gs.base_url, env, workdir)
                result.first = await first_fetches(gs.base_url, slug)
                result.checks += first_fetch_checks(result.first)
                if not all(c.ok for c in result.checks):
                    return result
                for read, label, _ in READS:
                    first = next(f for f in result.first if f.read == read)
                    for conditional in (False, True):
                        static_etag = None
                        if conditional:
                            static_etag = await static_etag_of(static.base_url, first.size)
                        measured = [
                            measure(
                                f"{read}-{'304' if conditional else '200'}",
                                gs.port,
                                first.path,
                                first.etag if conditional else None,
                                gs.pids,
                                args,
                                workdir,
                                postgres,
                            ),
                            measure(
                                f"static-{first.size}-{'304' if conditional else '200'}",
                                static.port,
                                f"/static/{first.size}",
                                static_etag,
                                {static.name: static.pid},
                                args,
                                workdir,
                                postgres,
                            ),
                        ]
                        pair = Pair(read, label, conditional, first.size, *measured)
                        result.pairs.append(pair)
                        result.checks += [
                            answer_check("Groundswell", label, conditional, pair.groundswell),
                            answer_check("static", f"{first.size} B", conditional, pair.static),
                        ]
            finally:
                result.exit_codes.update(gs.stop())
                result.exit_codes[static.name] = static.stop()
    finally:
        result.load_after = load_average()
        if args.keep_logs:
            print(f"(logs and databases kept in {workdir})")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return result


async def create_campaign(base_url: str, env: dict[str, str], workdir: Path) -> str:
    """A campaign through the API with a lead's key, and a few paper pledges on it."""
    import httpx

    key = lead_key(env, workdir)
    slug = f"bench-read-{uuid.uuid4().hex[:8]}"
    body = campaign_body(slug, 1000, title="Fibre for Brudenell Road", script="read_path.py")
    auth = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=base_url, timeout=30, headers=auth) as http:
        created = await http.post("/api/v1/campaigns", json=body)
        if created.status_code != 201:
            raise BenchmarkError(f"campaign not created: {created.status_code} {created.text}")
        for i in range(PLEDGES):
            pledge = {
                "name": f"Resident {i}",
                "email": f"read.{i}@bench.example.org",
                "postcode": "LS6 1AB",
                "source": "paper",
            }
            answer = await http.post(f"/api/v1/campaigns/{slug}/pledges", json=pledge)
            if answer.status_code != 201:
                raise BenchmarkError(f"pledge refused: {answer.status_code} {answer.text}")
    return slug


async def static_etag_of(base_url: str, size: int) -> str:
    import httpx

    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        answer = await http.get(f"/static/{size}")
    if answer.status_code != 200 or len(answer.content) != size:
        raise BenchmarkError(
            f"static page of {size} B: {answer.status_code}, {len(answer.content)}"
        )
    return answer.headers["etag"]


# --------------------------------------------------------------------------- report


def report(results: list[DatabaseResult], args: argparse.Namespace) -> bool:
    ok = True
    print()
    print(
        f"Read path: {args.seconds:g} s per measurement, {args.concurrency} keep-alive clients, "
        f"{args.load_procs} load process(es), {os.cpu_count()} cores"
    )
    print("CPU columns: share of ONE core over the measurement; 'other' is everything else.")
    header = (
        f"    {'':<26}{'bytes':>7}{'answers':>9}{'req/s':>9}{'p50 ms':>8}{'p99 ms':>8}"
        f"{'loadgen':>8}{'server':>8}{'pg':>6}{'other':>7}{'server ms/req':>15}"
    )
    for res in results:
        print()
        print(f"=== {res.kind} === (load average before {res.load_before}, after {res.load_after})")
        print(header)
        for pair in res.pairs:
            for who, r in (("Groundswell", pair.groundswell), ("static", pair.static)):
                name = f"{who} {pair.read}" + (" 304" if pair.conditional else " 200")
                k = r.kinds["read"]
                server = sum(v or 0 for v in r.server_cpu.values())
                per = server_ms(r)
                print(
                    f"    {name:<26}{pair.size:>7}{k.count:>9}{r.rate:>9.0f}{k.p(50):>8.1f}"
                    f"{k.p(99):>8.1f}{r.share(r.loadgen_cpu):>8}{r.share(server):>8}"
                    f"{r.share(r.db_cpu):>6}{r.share(r.other_cpu):>7}"
                    f"{'n/a' if per is None else f'{per:.2f}':>15}"
                )
        print()
        print("  Ratios (Groundswell / static page of the same size, same kind of answer), by")
        print("  requests/s and by the server's CPU per answer (static ms / Groundswell ms):")
        for pair in res.pairs:
            goal = target(pair.read, pair.conditional)
            verdict = (
                "no target"
                if goal is None
                else f"{'meets' if pair.ratio >= goal else 'BELOW'} target >= {goal}x"
            )
            answer = "304 (If-None-Match)" if pair.conditional else "200"
            by_cpu = "n/a" if pair.cpu_ratio is None else f"{pair.cpu_ratio:.2f}x"
            print(
                f"    {pair.label + ' ' + answer:<36}{pair.ratio:>6.2f}x  by CPU {by_cpu:>6}   "
                f"{verdict}"
            )
        if res.pairs:
            fastest = max(p.static.rate for p in res.pairs)
            capacity = min(r.loadgen_capacity for p in res.pairs for r in (p.groundswell, p.static))
            lg_ms = max(
                r.loadgen_cpu / max(r.sent, 1) * 1000
                for p in res.pairs
                for r in (p.groundswell, p.static)
            )
            enough = capacity >= 2 * fastest
            print()
            print(
                f"  Load generator: at most {lg_ms:.3f} ms of CPU a request, so about "
                f"{capacity:.0f} req/s with its {args.load_procs} process(es) on a core each; "
                f"the fastest server figure (static) is {fastest:.0f} req/s: "
                + (
                    f"{capacity / fastest:.1f}x headroom"
                    if enough
                    else "LESS than 2x headroom: the load generator may limit the rates"
                )
            )
        print()
        print("  Correctness:")
        for check in res.checks:
            print(f"    [{'ok  ' if check.ok else 'FAIL'}] {check.name}: {check.detail}")
            ok = ok and bool(check.ok)
        print_stopped(res.exit_codes, res.profile)
    print()
    print("CORRECTNESS: " + ("every answer conformed" if ok else "FAILED"))
    return ok


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--seconds", type=float, default=4, help="length of each measurement (12 per database)"
    )
    parser.add_argument("--concurrency", type=int, default=32, help="keep-alive connections")
    parser.add_argument(
        "--load-procs", type=int, default=1, help="load generator processes (2 cores here)"
    )
    parser.add_argument("--request-timeout", type=float, default=30)
    add_database_arguments(parser)
    parser.add_argument(
        "--profile", metavar="DIR", help="run Groundswell under cProfile, save and print it"
    )
    args = parser.parse_args(argv)
    if args.seconds <= 0 or args.concurrency < 1:
        parser.error("--seconds and --concurrency must be positive")
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
    return run_benchmark(amain(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
