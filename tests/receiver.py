"""A real HTTP webhook receiver on 127.0.0.1 (uvicorn), verifying signatures the way a
provider would, with the standardwebhooks library, and answering as each test scripts."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from standardwebhooks import Webhook
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    verified: Any  # the parsed payload when the signature checked out, else None


@dataclass
class Receiver:
    """Records every request. `script` holds responses to give in order, each a status code,
    ("hang", seconds), or (status, headers); when it is empty the answer is `default`."""

    secrets: list[str] = field(default_factory=list)
    script: list[Any] = field(default_factory=list)
    default: int = 200
    requests: list[Received] = field(default_factory=list)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def verified(self) -> list[Received]:
        return [r for r in self.requests if r.verified is not None]

    def verify(self, body: bytes, headers: dict[str, str]) -> Any:
        for secret in self.secrets:
            try:
                return Webhook(secret).verify(body, headers)
            except Exception:  # noqa: S112 - try the next secret
                continue
        return None

    async def handle(self, request: Request) -> Response:
        body = await request.body()
        headers = dict(request.headers)
        self.requests.append(Received(request.url.path, headers, body, self.verify(body, headers)))
        action = self.script.pop(0) if self.script else self.default
        if isinstance(action, tuple) and action[0] == "hang":
            await asyncio.sleep(action[1])
            return Response("late", status_code=200)
        if isinstance(action, tuple):
            status, extra = action
            return Response("scripted", status_code=status, headers=extra)
        return Response(f"answer {action}", status_code=int(action))


@contextlib.asynccontextmanager
async def run_receiver(receiver: Receiver, port: int = 0) -> AsyncIterator[Receiver]:
    """Serve `receiver` on 127.0.0.1: on a free port, or on `port` (a receiver coming back)."""
    app = Starlette(routes=[Route("/{path:path}", receiver.handle, methods=["POST"])])
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while not server.started:
        if task.done() or loop.time() > deadline:
            raise RuntimeError("receiver did not start")
        await asyncio.sleep(0.01)
    receiver.port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield receiver
    finally:
        server.should_exit = True
        server.force_exit = True
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            await asyncio.wait_for(task, timeout=5)
