"""`groundswell worker` as real processes: two of them share the work without sending a
message twice, and a worker killed mid-delivery loses nothing."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from notifications.endpoints import Endpoint, create_endpoint, parse_endpoint
from notifications.tables import webhook_attempts, webhook_deliveries
from pledges.accounts import create_organisation_api_key
from pledges.store import Store, aware
from tests.conftest import TEST_SECRET, wait_for
from tests.factories import make_campaign
from tests.receiver import Receiver, run_receiver

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_SECONDS = 2.0
LEASE_SECONDS = 3.0  # how long a killed worker's message waits before another sends it


@dataclass
class WorkerProcess:
    process: asyncio.subprocess.Process
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    async def ready(self) -> bool:
        assert self.process.returncode is None, f"worker exited:\n{self.output()}"
        return "worker started" in self.output()


@contextlib.asynccontextmanager
async def worker_process(database_url: str, log: Path) -> AsyncIterator[WorkerProcess]:
    """`python -m app.cli worker` started (wait on `ready`), and stopped (SIGTERM, then
    SIGKILL) however the test ends."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "SECRET_KEY": TEST_SECRET,
        "BASE_URL": "http://testserver",
        "WEBHOOK_ALLOW_PRIVATE_NETWORKS": "1",
        "WEBHOOK_RETRY_SCHEDULE": "0,0.2,0.2,0.2",
        "WEBHOOK_TIMEOUT_SECONDS": str(TIMEOUT_SECONDS),
        "WEBHOOK_LEASE_SECONDS": str(LEASE_SECONDS),
        "WORKER_POLL_SECONDS": "0.1",
    }
    for name in ("DEBUG", "DEMO", "SMTP_URL"):
        env.pop(name, None)
    with log.open("ab") as out:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "app.cli", "worker", cwd=ROOT, env=env, stdout=out, stderr=out
        )
    worker = WorkerProcess(process, log)
    try:
        yield worker
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), timeout=TIMEOUT_SECONDS + 5)
            except TimeoutError:
                process.kill()
                await process.wait()


async def an_endpoint(store: Store, url: str) -> Endpoint:
    org, _ = await create_organisation_api_key(store, "ops@fibreco.example", "FibreCo", "provider")
    return await create_endpoint(
        store, org.id, await parse_endpoint({"url": url}, partial=False, allow_private=True)
    )


async def deliveries(store: Store) -> list[Any]:
    return list(
        await store.database.fetch_all(
            sa.select(webhook_deliveries).order_by(webhook_deliveries.c.id)
        )
    )


async def test_two_workers_deliver_every_message_once(
    database_url: str, store: Store, tmp_path: Path
) -> None:
    if store.is_sqlite:
        pytest.skip("two worker processes need PostgreSQL: SQLite has one writer at a time")
    count = 40
    async with run_receiver(Receiver()) as receiver:
        endpoint = await an_endpoint(store, receiver.url)
        receiver.secrets.append(endpoint.secret)
        async with (
            worker_process(database_url, tmp_path / "one.log") as one,
            worker_process(database_url, tmp_path / "two.log") as two,
        ):
            await wait_for(one.ready, timeout=20)
            await wait_for(two.ready, timeout=20)
            # Each commit wakes both workers (LISTEN/NOTIFY); they race for every message.
            for _ in range(count):
                await make_campaign(store)

            async def all_delivered() -> bool:
                rows = await deliveries(store)
                return len(rows) == count and all(r["status"] == "succeeded" for r in rows)

            await wait_for(all_delivered, timeout=30)
            assert one.process.returncode is None, one.output()
            assert two.process.returncode is None, two.output()

    ids = [r.headers["webhook-id"] for r in receiver.requests]
    assert len(ids) == count, f"{len(ids) - len(set(ids))} sent twice"
    assert len(set(ids)) == count
    assert len(receiver.verified()) == count
    assert set(ids) == {r["message_id"] for r in await deliveries(store)}


async def test_a_worker_killed_mid_delivery_loses_nothing(
    database_url: str, store: Store, tmp_path: Path
) -> None:
    # The first request hangs far past the attempt's timeout: the worker is mid-POST.
    async with run_receiver(Receiver(script=[("hang", 60)])) as receiver:
        endpoint = await an_endpoint(store, receiver.url)
        receiver.secrets.append(endpoint.secret)
        await make_campaign(store)

        async with worker_process(database_url, tmp_path / "killed.log") as doomed:
            await wait_for(doomed.ready, timeout=20)

            async def receiving() -> bool:
                return len(receiver.requests) == 1

            await wait_for(receiving, timeout=20)
            doomed.process.send_signal(signal.SIGKILL)
            await doomed.process.wait()

        [claimed] = await deliveries(store)
        assert claimed["status"] == "sending"  # nobody is left to record the attempt
        assert claimed["attempts"] == 1
        lease_until = aware(claimed["lease_until"])
        assert lease_until is not None

        async with worker_process(database_url, tmp_path / "second.log") as second:
            await wait_for(second.ready, timeout=20)

            async def delivered() -> Any:
                [row] = await deliveries(store)
                return row if row["status"] == "succeeded" else None

            row = await wait_for(delivered, timeout=20)
            assert second.process.returncode is None, second.output()

    assert len(receiver.requests) == 2
    assert len(receiver.verified()) == 2
    assert {r.headers["webhook-id"] for r in receiver.requests} == {row["message_id"]}
    assert row["attempts"] == 2
    [attempt] = await store.database.fetch_all(
        sa.select(webhook_attempts).where(webhook_attempts.c.delivery_id == row["id"])
    )
    assert attempt["status_code"] == 200
    # Sent again only once the dead worker's lease had run out.
    assert aware(attempt["attempted_at"]) >= lease_until  # type: ignore[operator]
