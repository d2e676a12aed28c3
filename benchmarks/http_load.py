"""A lean keep-alive HTTP/1.1 load generator for the read benchmarks (read_path.py,
viral_mix.py), cheaper per request than httpx so that it is not what limits the rate.

Each load process (this file run as a script with `--spec FILE`) opens `concurrency`
connections with raw asyncio streams, sends pre-encoded requests over them one at a time
per connection (keep-alive, no pipelining), and reads each answer by its Content-Length
(or chunked). It keeps per kind of request: the statuses, latencies, how many answers set a
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


async def _read_answer(
    reader: asyncio.StreamReader, head_only: bool
) -> tuple[int, bool, bool, bytes]:
    """(status, set a cookie, connection to close, body) of one HTTP/1.1 answer."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    lower = head.lower()
    cookie = b"\r\nset-cookie:" in lower
    close = b"\r\nconnection: close" in lower
    if head_only or status in (204, 304) or 100 <= status < 200:
        return status, cookie, close, b""
    at = lower.find(b"\r\ncontent-length:")
    if at >= 0:
        end = lower.index(b"\r\n", at + 2)
        n = int(lower[at + 17 : end])
        return status, cookie, close, await reader.readexactly(n) if n else b""
    if b"\r\ntransfer-encoding: chunked" in lower:
        parts: list[bytes] = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")  # no trailers are sent here
                return status, cookie, close, b"".join(parts)
            parts.append((await reader.readexactly(size + 2))[:-2])
    return status, cookie, True, await reader.read()  # delimited by the close


async def _load(spec: dict[str, Any]) -> dict[str, Any]:
    host, port = spec["host"], spec["port"]
    templates = spec["templates"]
    encoded = [_encode(t, f"{host}:{port}") for t in templates]
    head_only = [t["method"] == "HEAD" for t in templates]
    flags = [None if t["flag"] is None else t["flag"].encode() for t in templates]
    kind_names = sorted({t["kind"] for t in templates})
    kinds = {name: _Kind() for name in kind_names}
    kind_of = [kinds[t["kind"]] for t in templates]
    sequence: list[int] = spec["sequence"]
    cycle: bool = spec["cycle"]
    concurrency = max(1, spec["concurrency"] if cycle else min(spec["concurrency"], len(sequence)))
    errors: list[str] = []

    async def connect() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection(host, port, limit=1 << 20)

    conns = [await connect() for _ in range(concurrency)]
    warmup = encoded[spec["warmup"]]
    for reader, writer in conns:
        writer.write(warmup)
        await _read_answer(reader, head_only[spec["warmup"]])
    print("ready", flush=True)
    sys.stdin.readline()  # "go": every load process starts together

    position = 0
    sent = 0
    started = time.monotonic()
    deadline = started + spec["max_seconds"]
    cpu_before = time.process_time()

    async def client(k: int) -> None:
        nonlocal position, sent
        reader, writer = conns[k]
        n = len(sequence)
        while (cycle or position < n) and time.monotonic() < deadline:
            t = sequence[position % n]
            position += 1
            sent += 1
            kind = kind_of[t]
            t0 = time.perf_counter()
            try:
                writer.write(encoded[t])
                status, cookie, close, body = await _read_answer(reader, head_only[t])
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
                kind.statuses[-1] = kind.statuses.get(-1, 0) + 1
                kind.latencies.append(time.perf_counter() - t0)
                if len(errors) < 5:
                    errors.append(f"{templates[t]['kind']}: {type(exc).__name__}: {exc}")
                writer.close()
                reader, writer = await connect()
                continue
            kind.latencies.append(time.perf_counter() - t0)
            kind.statuses[status] = kind.statuses.get(status, 0) + 1
            kind.bytes += len(body)
            if cookie:
                kind.set_cookie += 1
            flag = flags[t]
            if flag is not None and flag in body:
                kind.flagged += 1
            if status >= 400 and len(errors) < 5:
                errors.append(f"{templates[t]['kind']}: {status} {body[:200]!r}")
            if close:
                writer.close()
                reader, writer = await connect()
        writer.close()

    await asyncio.gather(*(client(k) for k in range(concurrency)))
    finished = time.monotonic()
    cpu = time.process_time() - cpu_before
    return {
        "started": started,
        "finished": finished,
        "cpu": cpu,
        "sent": sent,
        "errors": errors,
        "kinds": {
            name: {
                "statuses": {str(s): n for s, n in k.statuses.items()},
                "latencies": k.latencies,
                "set_cookie": k.set_cookie,
                "flagged": k.flagged,
                "bytes": k.bytes,
            }
            for name, k in kinds.items()
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
) -> LoadResult:
    """Send `sequence` (indices into `templates`; with `cycle`, over and over until
    `max_seconds`) from `concurrency` connections spread over `procs` load processes.
    `servers`: name -> pid whose CPU (with their threads and child processes) is measured.
    `warmup`: the template each connection sends once before the clock starts."""
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
