"""A lean keep-alive HTTP/1.1 load generator for the read benchmarks (read_path.py,
viral_mix.py), cheaper per request than httpx so that it is not what limits the rate.

Each load process (this file run as a script with `--spec FILE`) opens `concurrency`
connections (asyncio protocols: no task or stream per request), sends pre-encoded requests
over them one at a time per connection (keep-alive, no pipelining), parses each answer in
the callback that receives it, by its Content-Length (or chunked), and sends the next one
from there. It keeps per kind of request: the statuses, latencies, how many answers set a
cookie, and how many bodies held a given byte string. The parent (`run_load`) starts the
processes, waits until every one has its connections open, starts them together, and
measures the CPU of the servers, PostgreSQL and the whole machine over the timed phase.

A request is never cancelled once sent (a cancelled pledge could be committed without the
client knowing); no request starts after `max_seconds`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import select
import subprocess
import sys
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common import (
    BenchmarkError,
    machine_busy_seconds,
    percentile,
    postgres_cpu_seconds,
    tree_cpu_seconds,
)


@dataclass(frozen=True)
class Template:
    """One request, sent as often as the sequence names it. `flag`: a byte string whose
    presence in an answer's body is counted (e.g. b'"repeated":true')."""

    kind: str
    method: str
    path: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | None = None
    flag: bytes | None = None

    def spec(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "method": self.method,
            "path": self.path,
            "headers": dict(self.headers),
            "body": None if self.body is None else self.body.decode(),
            "flag": None if self.flag is None else self.flag.decode(),
        }


def json_template(
    kind: str,
    path: str,
    body: Any,
    headers: Mapping[str, str] | None = None,
    flag: bytes | None = None,
) -> Template:
    """A POST of `body` as JSON."""
    return Template(
        kind,
        "POST",
        path,
        {"Content-Type": "application/json", **(headers or {})},
        json.dumps(body).encode(),
        flag,
    )


# --------------------------------------------------------------------------- load process


def _encode(template: dict[str, Any], host: str) -> bytes:
    lines = [f"{template['method']} {template['path']} HTTP/1.1", f"Host: {host}"]
    lines += [f"{name}: {value}" for name, value in template["headers"].items()]
    body = (template["body"] or "").encode()
    if template["body"] is not None:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class _Kind:
    __slots__ = ("bytes", "flagged", "latencies", "set_cookie", "statuses")

    def __init__(self) -> None:
        self.statuses: dict[int, int] = {}
        self.latencies: list[float] = []
        self.set_cookie = 0
        self.flagged = 0
        self.bytes = 0


def _chunked(buf: bytearray) -> tuple[bytes, int] | None:
    """A whole chunked body at the start of buf: (body, bytes it took), or None if not yet."""
    parts: list[bytes] = []
    at = 0
    while True:
        end = buf.find(b"\r\n", at)
        if end < 0:
            return None
        size = int(bytes(buf[at:end]).split(b";")[0], 16)
        if size == 0:
            trailer = buf.find(b"\r\n", end + 2)  # no trailers are sent here
            return (b"".join(parts), trailer + 2) if trailer >= 0 else None
        if len(buf) < end + 2 + size + 2:
            return None
        parts.append(bytes(buf[end + 2 : end + 2 + size]))
        at = end + 2 + size + 2


class _Run:
    """What every connection of a load process shares: the requests, the next one to send,
    the tallies, and when to stop."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.host, self.port = spec["host"], spec["port"]
        self.templates = spec["templates"]
        self.encoded = [_encode(t, f"{self.host}:{self.port}") for t in self.templates]
        self.head_only = [t["method"] == "HEAD" for t in self.templates]
        self.flags = [None if t["flag"] is None else t["flag"].encode() for t in self.templates]
        self.kinds = {name: _Kind() for name in sorted({t["kind"] for t in self.templates})}
        self.kind_of = [self.kinds[t["kind"]] for t in self.templates]
        self.sequence: list[int] = spec["sequence"]
        self.cycle: bool = spec["cycle"]
        self.max_seconds: float = spec["max_seconds"]
        self.position = 0
        self.sent = 0
        self.deadline = float("inf")
        self.errors: list[str] = []
        self.active = 0
        self.finished: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        # Open loop (`rate` requests a second): requests go out on schedule, each on an idle
        # connection or, when none is, queued here until one is; a request's latency counts
        # from when it was due, so a slow server cannot slow the arrivals it is measured by.
        self.rate: float | None = spec.get("rate")
        self.idle: list[_Connection] = []
        self.backlog: deque[tuple[int, float]] = deque()
        self.producing = True
        self.in_flight = 0
        self.next_due = 0.0
        self.tasks: set[asyncio.Task[None]] = set()

    def start(self, connections: list[_Connection]) -> None:
        """The clock starts: every connection sends, or (open loop) the schedule begins."""
        if self.rate is None:
            self.active = len(connections)
            for connection in connections:
                connection.send(None)
            return
        self.idle = list(connections)
        self.next_due = time.monotonic()
        self.tick()

    def tick(self) -> None:
        """Open loop: send every request that is due, then wait for the next one's time."""
        now = time.monotonic()
        assert self.rate is not None
        while self.next_due <= now:
            t = self.next_request()
            if t is None:
                self.producing = False
                self.check_finished()
                return
            if self.idle:
                self.idle.pop().send(t, self.next_due)
            else:
                self.backlog.append((t, self.next_due))
            self.next_due += 1 / self.rate
        loop = asyncio.get_running_loop()
        loop.call_at(loop.time() + (self.next_due - now), self.tick)

    def free(self, connection: _Connection) -> None:
        """Open loop: a connection is free for the next queued request, or idle."""
        if self.backlog:
            t, due = self.backlog.popleft()
            connection.send(t, due)
        else:
            self.idle.append(connection)
            self.check_finished()

    def check_finished(self) -> None:
        if (
            not self.producing
            and not self.backlog
            and self.in_flight == 0
            and not self.finished.done()
        ):
            self.finished.set_result(None)

    def reset_tallies(self) -> None:
        self.kinds = {name: _Kind() for name in self.kinds}
        self.kind_of = [self.kinds[t["kind"]] for t in self.templates]
        self.errors = []

    def next_request(self) -> int | None:
        """The template to send next, or None: all sent, or the time is up."""
        n = len(self.sequence)
        if (not self.cycle and self.position >= n) or time.monotonic() >= self.deadline:
            return None
        t = self.sequence[self.position % n]
        self.position += 1
        self.sent += 1
        return t

    def error(self, text: str) -> None:
        if len(self.errors) < 5:
            self.errors.append(text)

    async def open(self) -> _Connection:
        loop = asyncio.get_running_loop()
        _, connection = await loop.create_connection(
            lambda: _Connection(self), self.host, self.port
        )
        return connection

    def stopped(self) -> None:
        """A connection has nothing more to send."""
        self.active -= 1
        if self.active == 0 and not self.finished.done():
            self.finished.set_result(None)

    def send_on_new(self, t: int, due: float | None) -> None:
        """Open a connection and send t on it (it counts as in flight meanwhile)."""
        self.in_flight += 1
        t0 = time.monotonic() if due is None else due

        async def reopen() -> None:
            try:
                connection = await self.open()
            except OSError as exc:
                self.in_flight -= 1
                kind = self.kind_of[t]
                kind.statuses[-1] = kind.statuses.get(-1, 0) + 1
                kind.latencies.append(time.monotonic() - t0)
                self.error(f"connect: {exc}")
                if self.rate is None:
                    self.stopped()
                else:
                    self.check_finished()
                return
            self.in_flight -= 1
            connection.send(t, t0)

        task = asyncio.get_running_loop().create_task(reopen())
        self.tasks.add(task)  # held until done: the loop keeps only a weak reference
        task.add_done_callback(self.tasks.discard)

    def replace(self, t: int | None) -> None:
        """A connection closed: open another (and send `t` on it, if given)."""

        async def reopen() -> None:
            try:
                connection = await self.open()
            except OSError as exc:
                self.error(f"reconnect: {exc}")
                if self.rate is None:
                    self.stopped()
                return
            if self.rate is None:
                connection.send(t)
            else:
                self.free(connection)

        task = asyncio.get_running_loop().create_task(reopen())
        self.tasks.add(task)  # held until done: the loop keeps only a weak reference
        task.add_done_callback(self.tasks.discard)


class _Connection(asyncio.Protocol):
    """One keep-alive connection: sends a request, parses the answer as it arrives, records
    it and sends the next one, all from the event loop's callbacks (no task per request)."""

    def __init__(self, run: _Run) -> None:
        self.run = run
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.t = -1  # the template in flight; -1: none
        self.t0 = 0.0
        self.head = b""  # the answer's head, lower-cased, once read
        self.need = -1  # body bytes to read; -1: reading the head; -2: chunked
        self.status = 0
        self.warming = False  # sending the warm-up request, before the clock starts
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def send(self, t: int | None, due: float | None = None) -> None:
        """Send template t (None: the next one of the run, or stop); its latency counts from
        `due` (time.monotonic()) if given, else from now."""
        if t is None:
            t = self.run.next_request()
        if t is None:
            self.run.stopped()
            if self.transport is not None:
                self.transport.close()
            return
        if self.transport is None or self.transport.is_closing():
            # The server closed this connection while it was idle (uvicorn's keep-alive
            # timeout is 5 s): send on a new one.
            self.run.send_on_new(t, due)
            return
        self.t = t
        self.t0 = time.monotonic() if due is None else due
        self.run.in_flight += 1
        assert self.transport is not None
        self.transport.write(self.run.encoded[t])

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        if self.need == -1:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(buf[: end + 4]).lower()
            del buf[: end + 4]
            self.head = head
            self.status = status = int(head[9:12])
            if self.run.head_only[self.t] or status in (204, 304) or status < 200:
                self.need = 0
            else:
                at = head.find(b"\r\ncontent-length:")
                if at >= 0:
                    self.need = int(head[at + 17 : head.index(b"\r\n", at + 2)])
                elif b"\r\ntransfer-encoding: chunked" in head:
                    self.need = -2
                else:
                    self.need = -3  # delimited by the close: read until connection_lost
                    return
        if self.need == -2:
            whole = _chunked(buf)
            if whole is None:
                return
            body, used = whole
            del buf[:used]
        elif self.need >= 0:
            if len(buf) < self.need:
                return
            body = bytes(buf[: self.need])
            del buf[: self.need]
        else:
            return
        self.answered(body)

    def answered(self, body: bytes) -> None:
        run, t, head, status = self.run, self.t, self.head, self.status
        kind = run.kind_of[t]
        kind.latencies.append(time.monotonic() - self.t0)
        kind.statuses[status] = kind.statuses.get(status, 0) + 1
        kind.bytes += len(body)
        if b"\r\nset-cookie:" in head:
            kind.set_cookie += 1
        flag = run.flags[t]
        if flag is not None and flag in body:
            kind.flagged += 1
        if status >= 400:
            run.error(f"{run.templates[t]['kind']}: {status} {body[:200]!r}")
        self.t, self.need, self.head = -1, -1, b""
        run.in_flight -= 1
        if self.warming:
            self.warming = False
            self.ready.set_result(None)
            return
        if b"\r\nconnection: close" in head:
            assert self.transport is not None
            self.transport.close()
            self.run.replace(None)
            return
        if run.rate is None:
            self.send(None)
        else:
            run.free(self)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.t < 0:
            return
        if self.need == -3:  # the answer was delimited by the close
            self.answered(bytes(self.buf))
            return
        run, t = self.run, self.t
        kind = run.kind_of[t]
        kind.statuses[-1] = kind.statuses.get(-1, 0) + 1
        kind.latencies.append(time.monotonic() - self.t0)
        run.error(f"{run.templates[t]['kind']}: connection lost ({exc})")
        self.t = -1
        run.in_flight -= 1
        if self.warming:
            self.warming = False
            self.ready.set_exception(ConnectionError(f"connection lost ({exc})"))
            return
        run.replace(None)


async def _load(spec: dict[str, Any]) -> dict[str, Any]:
    run = _Run(spec)
    n = len(run.sequence)
    concurrency = max(1, spec["concurrency"] if run.cycle else min(spec["concurrency"], n))
    connections = [await run.open() for _ in range(concurrency)]
    for connection in connections:
        connection.warming = True
        connection.send(spec["warmup"])
        await connection.ready
    run.reset_tallies()  # the warm-up answers are not counted
    print("ready", flush=True)
    sys.stdin.readline()  # "go": every load process starts together

    started = time.monotonic()
    run.deadline = started + run.max_seconds
    cpu_before = time.process_time()
    run.in_flight = 0
    run.start(connections)
    await run.finished
    finished = time.monotonic()
    cpu = time.process_time() - cpu_before
    return {
        "started": started,
        "finished": finished,
        "cpu": cpu,
        "sent": run.sent,
        "errors": run.errors,
        "kinds": {
            name: {
                "statuses": {str(s): n for s, n in k.statuses.items()},
                "latencies": k.latencies,
                "set_cookie": k.set_cookie,
                "flagged": k.flagged,
                "bytes": k.bytes,
            }
            for name, k in run.kinds.items()
        },
    }


def load_main(spec_path: str) -> int:
    spec = json.loads(Path(spec_path).read_text())
    result = asyncio.run(_load(spec))
    Path(spec["result_path"]).write_text(json.dumps(result))
    return 0


# --------------------------------------------------------------------------- parent side


@dataclass
class KindResult:
    """What the answers to one kind of request were."""

    statuses: dict[int, int]
    latencies: list[float]
    set_cookie: int
    flagged: int
    bytes: int

    @property
    def count(self) -> int:
        return sum(self.statuses.values())

    def answered(self, status: int) -> int:
        return self.statuses.get(status, 0)

    @property
    def accepted(self) -> int:
        return sum(n for s, n in self.statuses.items() if 200 <= s < 300)

    def p(self, q: float) -> float:
        """Latency percentile in milliseconds."""
        return percentile(self.latencies, q) * 1000


@dataclass
class LoadResult:
    """One timed phase: per kind of request, and the CPU over the phase (seconds)."""

    name: str
    wall: float
    sent: int
    kinds: dict[str, KindResult]
    loadgen_cpu: float
    loadgen_procs: int
    server_cpu: dict[str, float | None]
    db_cpu: float | None
    machine_cpu: float
    errors: list[str]

    @property
    def rate(self) -> float:
        """Answers per second (every status)."""
        return self.sent / self.wall if self.wall > 0 else 0.0

    def kind_rate(self, kind: str) -> float:
        return self.kinds[kind].count / self.wall if self.wall > 0 else 0.0

    @property
    def other_cpu(self) -> float:
        """CPU used meanwhile by processes that are not part of this measurement."""
        ours = self.loadgen_cpu + sum(v or 0 for v in self.server_cpu.values())
        return max(0.0, self.machine_cpu - ours - (self.db_cpu or 0))

    @property
    def loadgen_capacity(self) -> float:
        """Requests a second the load generator could send with every process on a core
        of its own: what it sent per CPU second, times its processes."""
        if self.loadgen_cpu <= 0:
            return float("inf")
        return self.sent / self.loadgen_cpu * self.loadgen_procs

    def share(self, cpu: float | None) -> str:
        """CPU seconds as a share of one core over the phase."""
        return "n/a" if cpu is None or self.wall <= 0 else f"{cpu / self.wall * 100:.0f}%"


def run_load(
    name: str,
    port: int,
    templates: Sequence[Template],
    sequence: Sequence[int],
    *,
    workdir: Path,
    concurrency: int,
    procs: int = 1,
    cycle: bool = False,
    max_seconds: float = 30,
    request_timeout: float = 60,
    servers: Mapping[str, int] | None = None,
    postgres: bool = False,
    warmup: int = 0,
    rate: float | None = None,
) -> LoadResult:
    """Send `sequence` (indices into `templates`; with `cycle`, over and over until
    `max_seconds`) from `concurrency` connections spread over `procs` load processes.
    `servers`: name -> pid whose CPU (with their threads and child processes) is measured.
    `warmup`: the template each connection sends once before the clock starts. `rate`:
    open loop, that many requests a second in all (split over the processes), each on a
    free connection or queued until one is free, its latency counted from when it was due;
    None: closed loop, each connection sends its next request when answered."""
    servers = servers or {}
    procs = max(1, min(procs, concurrency, len(sequence) if not cycle else concurrency))
    children: list[tuple[subprocess.Popen[str], Path]] = []
    try:
        for k in range(procs):
            spec_path = workdir / f"load-{name}-{k}.json"
            result_path = workdir / f"load-{name}-{k}.result.json"
            share = list(sequence[k::procs]) if not cycle else list(sequence)
            spec_path.write_text(
                json.dumps(
                    {
                        "host": "127.0.0.1",
                        "port": port,
                        "templates": [t.spec() for t in templates],
                        "sequence": share,
                        "cycle": cycle,
                        "concurrency": concurrency // procs + (k < concurrency % procs),
                        "max_seconds": max_seconds,
                        "warmup": warmup,
                        "rate": None if rate is None else rate / procs,
                        "result_path": str(result_path),
                    }
                )
            )
            child = subprocess.Popen(
                [sys.executable, str(Path(__file__).resolve()), "--spec", str(spec_path)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            children.append((child, result_path))
        deadline = time.monotonic() + 60
        for child, _ in children:
            assert child.stdout is not None
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or child.poll() is not None:
                    raise BenchmarkError(f"load generator for {name} did not get ready")
                ready, _, _ = select.select([child.stdout], [], [], remaining)
                if ready and child.stdout.readline().strip() == "ready":
                    break
        server0 = {n: tree_cpu_seconds(pid) for n, pid in servers.items()}
        db0 = postgres_cpu_seconds() if postgres else None
        machine0 = machine_busy_seconds()
        for child, _ in children:
            assert child.stdin is not None
            child.stdin.write("go\n")
            child.stdin.flush()
        for child, _ in children:
            try:
                code = child.wait(timeout=max_seconds + request_timeout + 30)
            except subprocess.TimeoutExpired as exc:
                raise BenchmarkError(f"load generator for {name} did not finish") from exc
            if code != 0:
                raise BenchmarkError(f"load generator for {name} exited with {code}")
        machine1 = machine_busy_seconds()
        server1 = {n: tree_cpu_seconds(pid) for n, pid in servers.items()}
        db1 = postgres_cpu_seconds() if postgres else None
    finally:
        for child, _ in children:
            if child.poll() is None:
                child.kill()
                child.wait()
    results = [json.loads(path.read_text()) for _, path in children]
    kinds: dict[str, KindResult] = {}
    for r in results:
        for kind, k in r["kinds"].items():
            into = kinds.setdefault(kind, KindResult({}, [], 0, 0, 0))
            for status, n in k["statuses"].items():
                into.statuses[int(status)] = into.statuses.get(int(status), 0) + n
            into.latencies.extend(k["latencies"])
            into.set_cookie += k["set_cookie"]
            into.flagged += k["flagged"]
            into.bytes += k["bytes"]
    server_cpu: dict[str, float | None] = {}
    for n in servers:
        before, after = server0[n], server1[n]
        server_cpu[n] = None if before is None or after is None else after - before
    return LoadResult(
        name=name,
        wall=max(r["finished"] for r in results) - min(r["started"] for r in results),
        sent=sum(r["sent"] for r in results),
        kinds=kinds,
        loadgen_cpu=sum(r["cpu"] for r in results),
        loadgen_procs=len(children),
        server_cpu=server_cpu,
        # Backends that ended during the phase take their CPU with them: never below 0.
        db_cpu=None if db0 is None or db1 is None else max(0.0, db1 - db0),
        machine_cpu=machine1 - machine0,
        errors=[e for r in results for e in r["errors"]],
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--spec", required=True, help="the JSON spec run_load writes")
    args = parser.parse_args(argv)
    return load_main(args.spec)


if __name__ == "__main__":
    sys.exit(main())
