"""Helpers shared by the benchmark scripts in this folder (not a benchmark itself).

pledge_throughput.py and webhook_delivery.py both run real Groundswell processes on this
machine and measure them; this module holds what they do alike:

* paths, and the repository root on sys.path (importing this module puts it there, so the
  scripts can import app, pledges and notifications when run as `python benchmarks/x.py`);
* BenchmarkError and run_benchmark: exit status 2 when the benchmark itself could not run;
* subprocesses: free_port, groundswell_command, production_env, run_cli,
  ServerProcess (started with a log file, polled until it answers, stopped with SIGINT),
  HttpServer, Groundswell (in one process, or web workers plus a worker) and lead_key;
* databases: which kinds to run (database_kinds) and scratch PostgreSQL databases created
  and dropped by the run (scratch_postgres_databases);
* measurement: CPU seconds from /proc (a process, a process tree, PostgreSQL, the whole
  machine), the load average, and percentile;
* request bodies and correctness checks (campaign_body, Check).

The scripts import it as `from common import ...`: run as a script, a file's own folder
(benchmarks/) is first on sys.path.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Coroutine, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

BENCHMARKS = Path(__file__).resolve().parent
ROOT = BENCHMARKS.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class BenchmarkError(Exception):
    """The benchmark could not run (a process did not start, a phase did not finish...)."""


def run_benchmark(main: Coroutine[Any, Any, int]) -> int:
    """Run a script's async main; a BenchmarkError is printed and becomes exit status 2."""
    try:
        return asyncio.run(main)
    except BenchmarkError as exc:
        print(f"benchmark error: {exc}", file=sys.stderr)
        return 2


# --------------------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def groundswell_command() -> list[str]:
    script = Path(sys.executable).parent / "groundswell"
    return [str(script)] if script.exists() else [sys.executable, "-m", "app.cli"]


def production_env(database_url: str, *, unset: Sequence[str] = (), **extra: str) -> dict[str, str]:
    """This environment in production mode (mail stays in the outbox, never leaves), with
    the database, a random SECRET_KEY, no pledge rate limit, `unset` removed and `extra`
    added."""
    env = dict(os.environ)
    for name in ("DEBUG", "DEMO", "SMTP_URL", "BASE_URL", *unset):
        env.pop(name, None)
    env["DATABASE_URL"] = database_url
    env["SECRET_KEY"] = secrets.token_urlsafe(48)
    # Every client here is 127.0.0.1: the per-IP limit on anonymous pledges would refuse
    # the load generator itself.
    env["PLEDGE_RATE_LIMIT"] = "off"
    env.update(extra)
    return env


def run_cli(argv: list[str], env: dict[str, str], cwd: Path) -> str:
    """Run a command to completion (2 minutes at most); its stdout, or BenchmarkError."""
    done = subprocess.run(
        argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )
    if done.returncode != 0:
        raise BenchmarkError(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stderr}")
    return done.stdout


class ServerProcess:
    """A subprocess with its output in a log file: started, polled until it answers, and
    stopped with SIGINT (uvicorn's graceful shutdown: the lifespan stops the worker), then
    SIGKILL if it does not end within `stop_timeout` seconds."""

    stop_timeout: float = 30

    def __init__(
        self,
        name: str,
        argv: list[str],
        env: dict[str, str],
        workdir: Path,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.argv = argv
        self.env = env
        self.workdir = workdir
        self.cwd = workdir if cwd is None else cwd
        self.log_path = workdir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                self.argv, env=self.env, cwd=self.cwd, stdout=log, stderr=subprocess.STDOUT
            )

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    async def wait_http(self, url: str, timeout: float = 60) -> None:
        """Poll `url` every 0.1 s until it answers 200; stopped and BenchmarkError if the
        process exits first or `timeout` passes."""
        import httpx

        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=2) as client:
            while time.monotonic() < deadline:
                if not self.running():
                    code = None if self.proc is None else self.proc.returncode
                    raise BenchmarkError(f"{self.name} exited with {code}:\n{self.log_tail()}")
                with contextlib.suppress(httpx.HTTPError):  # not listening yet
                    if (await client.get(url)).status_code == 200:
                        return
                await asyncio.sleep(0.1)
        self.stop()
        raise BenchmarkError(f"{self.name} not ready within {timeout} s:\n{self.log_tail()}")

    def stop(self, timeout: float | None = None) -> int | None:
        """The exit code; None if it never started or had to be killed."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=self.stop_timeout if timeout is None else timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                return None
        return self.proc.returncode

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


class HttpServer(ServerProcess):
    """A server on 127.0.0.1:`port`."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        env: dict[str, str],
        workdir: Path,
        port: int,
        cwd: Path | None = None,
    ) -> None:
        super().__init__(name, argv, env, workdir, cwd)
        self.port = port
        self.base_url = f"http://127.0.0.1:{port}"

    async def serve(self, ready_path: str, timeout: float = 60) -> None:
        """Start it and wait until `ready_path` answers 200."""
        self.start()
        await self.wait_http(f"{self.base_url}{ready_path}", timeout)


# How Groundswell runs: "one" is `groundswell serve` (web and worker in one process);
# "processes" is the README's "Running on PostgreSQL with separate processes": uvicorn
# with web workers (two by default), and one `groundswell worker`.
LAYOUTS = ("one", "processes")


class Groundswell:
    """Groundswell started in one of LAYOUTS on a migrated database, on 127.0.0.1."""

    def __init__(
        self,
        layout: str,
        kind: str,
        env: dict[str, str],
        workdir: Path,
        profile: Path | None = None,
        web_workers: int = 2,
    ) -> None:
        if layout not in LAYOUTS:
            raise ValueError(layout)
        self.layout = layout
        self.web_workers = web_workers
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        cli = groundswell_command()
        address = ["--host", "127.0.0.1", "--port", str(self.port)]
        self.processes: list[ServerProcess] = []
        if layout == "one":
            argv = [*cli, "serve", *address]
            if profile is not None:
                argv = [sys.executable, "-m", "cProfile", "-o", str(profile), "-m", "app.cli"]
                argv += ["serve", *address]
            self.web = HttpServer(f"groundswell-{kind}", argv, env, workdir, self.port)
            self.processes.append(self.web)
        else:
            # The same uvicorn options as `groundswell serve` (access log on, proxy headers).
            argv = [sys.executable, "-m", "uvicorn", "--factory", "app.main:web_app", *address]
            argv += ["--workers", str(web_workers), "--proxy-headers", "--log-level", "info"]
            self.web = HttpServer(f"groundswell-web-{kind}", argv, env, workdir, self.port)
            worker = ServerProcess(f"groundswell-worker-{kind}", [*cli, "worker"], env, workdir)
            self.processes += [self.web, worker]

    @property
    def label(self) -> str:
        if self.layout == "one":
            return "groundswell serve (one process)"
        return f"uvicorn --workers {self.web_workers} + groundswell worker"

    @property
    def pids(self) -> dict[str, int]:
        """Each process by name (the web one's CPU includes its uvicorn workers)."""
        return {p.name: p.pid for p in self.processes}

    async def start(self, ready_path: str = "/api/v1/campaigns") -> None:
        try:
            for process in self.processes[1:]:
                process.start()
            await self.web.serve(ready_path)
            for process in self.processes[1:]:
                if not process.running():
                    raise BenchmarkError(f"{process.name} exited:\n{process.log_tail()}")
        except BaseException:
            self.stop()
            raise

    def stop(self) -> dict[str, int | None]:
        """Stop them all (SIGINT); each one's exit code."""
        return {p.name: p.stop() for p in self.processes}


def lead_key(env: dict[str, str], workdir: Path, email: str = "lead@bench.example.org") -> str:
    """A campaign lead's API key, from `groundswell apikey create`."""
    out = run_cli([*groundswell_command(), "apikey", "create", "--email", email], env, workdir)
    return out.strip().splitlines()[-1]


def pstats_report(path: Path, top: int = 25) -> str:
    """The top functions of a cProfile file, by own time and by cumulative time."""
    import io
    import pstats

    if not path.exists():
        return f"(no profile written at {path})"
    out = io.StringIO()
    stats = pstats.Stats(str(path), stream=out)
    stats.strip_dirs().sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    return out.getvalue()


# --------------------------------------------------------------------------- databases


async def postgres_reachable(admin_url: str) -> str | None:
    """None if PostgreSQL answers at admin_url, else why not."""
    import asyncpg

    try:
        conn = await asyncpg.connect(admin_url, timeout=5)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    await conn.close()
    return None


def add_database_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every server benchmark reads databases by (see database_kinds)."""
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL),
        help="an admin connection; the benchmark creates and drops its own databases there",
    )
    parser.add_argument("--keep-logs", action="store_true", help="keep logs and SQLite files")


async def database_kinds(skip_sqlite: bool, skip_postgres: bool, postgres_url: str) -> list[str]:
    """The kinds of database to run: sqlite and postgres, less those skipped, and less
    PostgreSQL when it does not answer (the reason is printed)."""
    kinds = [] if skip_sqlite else ["sqlite"]
    if not skip_postgres:
        reason = await postgres_reachable(postgres_url)
        if reason is None:
            kinds.append("postgres")
        else:
            print(f"PostgreSQL skipped: not reachable ({reason})")
    return kinds


def with_database(url: str, name: str) -> str:
    return f"{url.rpartition('/')[0]}/{name}"


@contextlib.asynccontextmanager
async def scratch_postgres_databases(
    admin_url: str, prefixes: Sequence[str]
) -> AsyncIterator[list[str]]:
    """New databases `<prefix>_<pid>_<random>` on admin_url's server, one per prefix; yields
    their URLs and drops them (WITH FORCE) afterwards, also those made before a failure."""
    import asyncpg

    suffix = f"{os.getpid()}_{uuid.uuid4().hex[:6]}"
    created: list[str] = []
    try:
        admin = await asyncpg.connect(admin_url)
        try:
            for prefix in prefixes:
                name = f"{prefix}_{suffix}"
                await admin.execute(f'CREATE DATABASE "{name}"')
                created.append(name)
        finally:
            await admin.close()
        yield [with_database(admin_url, name) for name in created]
    finally:
        if created:
            admin = await asyncpg.connect(admin_url)
            try:
                for name in created:
                    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            finally:
                await admin.close()


# --------------------------------------------------------------------------- measurement


def _stat_cpu_seconds(stat: str) -> float:
    """utime + stime from the text of /proc/<pid>/stat (all the process's threads)."""
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def proc_cpu_seconds(pid: int) -> float | None:
    """CPU of a process and all its threads (aiosqlite runs queries in threads)."""
    try:
        return _stat_cpu_seconds(Path(f"/proc/{pid}/stat").read_text())
    except OSError:
        return None


def process_tree(pid: int) -> list[int]:
    """The process and every live process descended from it (uvicorn --workers: the
    supervisor and its workers)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        children.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(entry.name))
    found, todo = [pid], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def tree_cpu_seconds(pid: int) -> float | None:
    """CPU of a process, its threads and its live descendants. None if it is gone."""
    own = proc_cpu_seconds(pid)
    if own is None:
        return None
    return own + sum(proc_cpu_seconds(p) or 0.0 for p in process_tree(pid)[1:])


def machine_busy_seconds() -> float:
    """CPU time all cores spent busy since boot (from /proc/stat), to see other load."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return 0.0
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS


def load_average() -> str:
    """The machine's load averages over 1, 5 and 15 minutes (/proc/loadavg)."""
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def postgres_cpu_seconds() -> float | None:
    """CPU of the local PostgreSQL processes (server and backends), if visible in /proc."""
    total, found = 0.0, False
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        comm = stat[stat.find("(") + 1 : stat.rfind(")")]
        if comm.startswith("postgres"):
            total += _stat_cpu_seconds(stat)
            found = True
    return total if found else None


def percentile(values: list[float], p: float) -> float:
    """The nearest-rank percentile (NaN for no values)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


# --------------------------------------------------------------------------- bodies, checks


def campaign_body(slug: str, target: int, *, title: str, script: str) -> dict[str, Any]:
    """A campaign for POST /api/v1/campaigns (or create_campaign), deadline in 30 days."""
    return {
        "slug": slug,
        "title": f"{title} {slug}",
        "summary": f"Created by benchmarks/{script}.",
        "category": "broadband",
        "area": {"name": "Headingley", "postcode_districts": ["LS6"]},
        "target": target,
        "deadline": (datetime.now(UTC) + timedelta(days=30)).isoformat(),
    }


@dataclass
class Check:
    """One correctness check, as reported."""

    name: str
    ok: bool | None  # None: not applicable in this run
    detail: str


def print_checks(checks: Sequence[Check], notes: Sequence[str] = ()) -> bool:
    """Print a run's notes and correctness checks; whether none failed."""
    for note in notes:
        print(f"  note: {note}")
    print("  Correctness:")
    ok = True
    for check in checks:
        print(f"    [{'ok  ' if check.ok else 'FAIL'}] {check.name}: {check.detail}")
        ok = ok and bool(check.ok)
    return ok


def print_profile(title: str, profile: str) -> None:
    """A cProfile report, indented under its title; nothing when none was taken."""
    if profile:
        print(f"  {title}:")
        print("\n".join("    " + line for line in profile.splitlines() if line.strip()))


def print_stopped(exit_codes: dict[str, int | None], profile: Path | None) -> None:
    """How each server process ended, then its cProfile report if one was taken."""
    for name, code in exit_codes.items():
        print(
            f"    [{'ok  ' if code == 0 else 'warn'}] {name} stopped "
            + ("cleanly" if code == 0 else f"with exit code {code}")
        )
    if profile:
        print(f"\n  cProfile of the server ({profile}); numbers under cProfile are slower:")
        print("\n".join("    " + line for line in pstats_report(profile).splitlines()))
