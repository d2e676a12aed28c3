"""End-to-end fixtures: the real `groundswell serve` (web and worker in one process) in a
subprocess on a fresh database, and real Chromium driven by Playwright.

Chromium is Debian's (/usr/bin/chromium); Playwright never downloads a browser here. When
either is missing the browser tests skip with the reason, unless
GROUNDSWELL_REQUIRE_BROWSER=1 (set by .ci/run), where that is a failure instead.

The tests are plain sync functions: Playwright's sync API refuses to start inside a running
event loop, and pytest-asyncio runs none around a sync test. For the same reason the
fixtures here never call asyncio themselves: PostgreSQL housekeeping runs in a thread.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import httpx
import pytest

from tests.conftest import (
    POSTGRES_REQUIRED,
    _postgres_reason,
    _with_database,
    postgres_admin_url,
)

T = TypeVar("T")

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
BROWSER_REQUIRED = os.environ.get("GROUNDSWELL_REQUIRE_BROWSER") == "1"
# We run as root; the networking flags keep Chromium from calling home on a closed network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
SERVER_SECRET_KEY = "e2e-secret-key-for-groundswell-browser-tests"
STARTUP_SECONDS = 30.0

# Settings from the developer's shell that would change what the tests see.
_CLEARED_SETTINGS = (
    "SMTP_URL",
    "ADMIN_EMAILS",
    "DEMO",
    "WEBHOOK_RETRY_SCHEDULE",
    "STRIPE_SECRET_KEY",
    "STRIPE_WEBHOOK_SECRET",
    "STRIPE_API_BASE",
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "serve_args(*args): more arguments for the live server's `groundswell serve`"
    )
    config.addinivalue_line(
        "markers", "serve_env(**settings): settings in the live server's environment"
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Attach the server's log to a failing browser test's report."""
    report = yield
    server = getattr(item, "groundswell_server", None)
    if report.failed and server is not None:
        report.sections.append(("groundswell serve log", server.log()))
    return report


def run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine on a loop of its own in a thread, out of everyone else's way."""
    result: list[T] = []
    failure: list[BaseException] = []

    def target() -> None:
        try:
            result.append(asyncio.run(coroutine))
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return result[0]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def groundswell(env: dict[str, str], *args: str) -> str:
    """Run the `groundswell` command with `env`; its output, or a failure showing it."""
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        raise AssertionError(
            f"groundswell {' '.join(args[:2])} failed ({done.returncode}):\n"
            f"{done.stdout}\n{done.stderr}"
        )
    return done.stdout


def server_environ(database_url: str, base_url: str = "http://127.0.0.1:8000") -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _CLEARED_SETTINGS}
    env.update(
        {
            "DATABASE_URL": database_url,
            "DEBUG": "1",
            "BASE_URL": base_url,
            "SECRET_KEY": SERVER_SECRET_KEY,
            "WEBHOOK_ALLOW_PRIVATE_NETWORKS": "1",
            "PLEDGE_RATE_LIMIT": "off",
            # Campaigns publish at once; tests/e2e/test_moderation.py sets pre itself.
            "MODERATION": "off",
            "WORKER_POLL_SECONDS": "0.2",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


# Databases -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def e2e_sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One SQLite file brought to the newest schema by `groundswell migrate`, to copy."""
    path = tmp_path_factory.mktemp("e2e-template") / "template.db"
    groundswell(server_environ(f"sqlite:///{path}"), "migrate")
    return path


async def _create_database(name: str, template: str | None = None) -> None:
    admin = await asyncpg.connect(postgres_admin_url())
    try:
        clause = f' TEMPLATE "{template}"' if template else ""
        await admin.execute(f'CREATE DATABASE "{name}"{clause}')
    finally:
        await admin.close()


async def _drop_database(name: str) -> None:
    admin = await asyncpg.connect(postgres_admin_url())
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture(scope="session")
def e2e_postgres_template() -> Iterator[str | None]:
    """A PostgreSQL database migrated once by `groundswell migrate`; each test gets a copy."""
    if run_async(_postgres_reason()) is not None:
        yield None
        return
    name = f"groundswell_e2e_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    run_async(_create_database(name))
    try:
        groundswell(server_environ(_with_database(postgres_admin_url(), name)), "migrate")
        yield name
    finally:
        run_async(_drop_database(name))


@pytest.fixture(params=["sqlite", "postgres"])
def e2e_database_url(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    e2e_sqlite_template: Path,
    e2e_postgres_template: str | None,
) -> Iterator[str]:
    """A fresh, migrated database for one test's server: a SQLite file or a PostgreSQL
    database copied from the migrated template."""
    if request.param == "sqlite":
        path = tmp_path / "groundswell.db"
        shutil.copy(e2e_sqlite_template, path)
        yield f"sqlite:///{path}"
        return
    if e2e_postgres_template is None:
        reason = run_async(_postgres_reason()) or "PostgreSQL not reachable"
        if POSTGRES_REQUIRED:
            pytest.fail(f"GROUNDSWELL_REQUIRE_POSTGRES=1 but {reason}")
        pytest.skip(reason)
    name = f"{e2e_postgres_template}_{uuid.uuid4().hex[:6]}"
    run_async(_create_database(name, template=e2e_postgres_template))
    try:
        yield _with_database(postgres_admin_url(), name)
    finally:
        run_async(_drop_database(name))


# The live server ----------------------------------------------------------------------------


@dataclass
class LiveServer:
    """`groundswell serve` running in a subprocess, with the settings it was given."""

    url: str
    env: dict[str, str]
    database: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def cli(self, *args: str) -> str:
        """`groundswell ...` against this server's database."""
        return groundswell(self.env, *args)

    def lead_api_key(self, email: str) -> str:
        return self.cli("apikey", "create", "--email", email).strip().splitlines()[-1]

    def org_api_key(self, email: str, org: str, kind: str = "provider") -> str:
        out = self.cli("apikey", "create", "--email", email, "--org", org, "--kind", kind)
        return out.strip().splitlines()[-1]

    def api(self, key: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=10)


def _wait_until_ready(process: subprocess.Popen[bytes], url: str, log_path: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    with httpx.Client(timeout=2) as client:
        while True:
            if process.poll() is not None:
                raise AssertionError(
                    f"groundswell serve exited with {process.returncode}:\n"
                    + log_path.read_text(errors="replace")
                )
            try:
                if client.get(f"{url}/").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"groundswell serve did not answer within {STARTUP_SECONDS} s:\n"
                    + log_path.read_text(errors="replace")
                )
            time.sleep(0.05)  # the poll interval of a deadline-bound wait


@pytest.fixture
def live_server(
    request: pytest.FixtureRequest, e2e_database_url: str, tmp_path: Path
) -> Iterator[LiveServer]:
    """The real app with its worker, on a free port, on a fresh database. Its log is
    attached to the report of a test that fails. `@pytest.mark.serve_args("--demo")`
    adds arguments to `groundswell serve`, `@pytest.mark.serve_env(MODERATION="pre")`
    settings to its environment."""
    marker = request.node.get_closest_marker("serve_args")
    extra = [str(a) for a in marker.args] if marker else []
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = server_environ(e2e_database_url, url)
    settings = request.node.get_closest_marker("serve_env")
    if settings:
        env.update({name: str(value) for name, value in settings.kwargs.items()})
    database = "sqlite" if e2e_database_url.startswith("sqlite") else "postgres"
    log_path = tmp_path / "groundswell-serve.log"
    command = [sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [*command, *extra],
            cwd=ROOT,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    server = LiveServer(url, env, database, process, log_path)
    request.node.groundswell_server = server
    try:
        _wait_until_ready(process, url, log_path)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


# The browser --------------------------------------------------------------------------------


def _browser_missing() -> str | None:
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} is missing (apt-get install -y chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[test]')"
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless, shared by one module's tests. Module scope keeps
    Playwright's loop from outliving the browser tests into the async ones."""
    reason = _browser_missing()
    if reason:
        if BROWSER_REQUIRED:
            pytest.fail(f"GROUNDSWELL_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any, live_server: LiveServer) -> Iterator[Any]:
    """A fresh browser context (no cookies) at desktop size, aimed at the live server. A test
    fails if Chromium refused anything under the site's Content-Security-Policy."""
    from playwright.sync_api import expect

    expect.set_options(timeout=10_000)
    context = browser.new_context(
        base_url=live_server.url, viewport=DESKTOP, locale="en-GB", timezone_id="Europe/London"
    )
    context.set_default_timeout(10_000)
    refused: list[str] = []
    context.on(
        "console",
        lambda message: refused.append(f"{message.page.url}: {message.text}")
        if "Content Security Policy" in message.text
        else None,
    )
    try:
        yield context.new_page()
    finally:
        context.close()
    # Every flow runs under the site's Content-Security-Policy: nothing it refused was needed.
    assert refused == []


# Screenshots --------------------------------------------------------------------------------

Screenshot = Callable[[Any, str], None]


@pytest.fixture
def screenshot(live_server: LiveServer) -> Screenshot:
    """`screenshot(page, "name")` saves a full-page PNG into GROUNDSWELL_SCREENSHOTS_DIR
    when it is set (from the SQLite run only, so each picture is taken once)."""
    folder = os.environ.get("GROUNDSWELL_SCREENSHOTS_DIR")

    def take(page: Any, name: str) -> None:
        if not folder or live_server.database != "sqlite":
            return
        assert re.fullmatch(r"[a-z0-9-]+", name), name
        page.evaluate("document.activeElement && document.activeElement.blur()")  # no focus ring
        target = Path(folder)
        target.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(target / f"{name}.png"), full_page=True)

    return take


# Helpers the flows share ----------------------------------------------------------------------


def reload_until(page: Any, locator: Any, timeout: float = 20.0) -> None:
    """Reload `page` until `locator` shows: for work the worker does after a response."""
    from playwright.sync_api import expect

    deadline = time.monotonic() + timeout
    while True:
        try:
            expect(locator).to_be_visible(timeout=500)
            return
        except AssertionError:
            if time.monotonic() > deadline:
                raise
        page.reload()


def mail_in_dev_mailbox(page: Any, to: str, subject: str) -> Any:
    """Open /dev/mail and reload until a message to `to` with `subject` is listed; its row."""
    page.goto("/dev/mail")
    row = page.get_by_role("row").filter(has_text=to).filter(has_text=subject).first
    reload_until(page, row)
    return row


def open_mail(page: Any, to: str, subject: str) -> None:
    """Open the newest message to `to` with `subject` from /dev/mail."""
    from playwright.sync_api import expect

    row = mail_in_dev_mailbox(page, to, subject)
    row.get_by_role("link", name=re.compile(re.escape(subject))).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(subject)


SIGN_IN_MAIL = {
    # purpose: (subject, the link in the email, the button on the page it opens)
    "lead": ("Your Groundswell sign-in link", "Sign in to Groundswell", "Sign in"),
    "resident": ("Your pledges on Groundswell", "See my pledges", "Show my pledges"),
}


def sign_in_with_emailed_link(page: Any, purpose: str, email: str) -> None:
    """On a sign-in form (/lead/sign-in or /me/sign-in): ask for a link, open the email in
    /dev/mail, follow its link and press the button, as a person would."""
    from playwright.sync_api import expect

    subject, link, button = SIGN_IN_MAIL[purpose]
    page.get_by_label("Email address").fill(email)
    page.get_by_role("button", name="Email me a link").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your email")
    open_mail(page, email, subject)
    page.locator(".mail-body").get_by_role("link", name=link).click()
    page.get_by_role("button", name=button).click()


def create_campaign(server: LiveServer, lead_key: str, **overrides: Any) -> dict[str, Any]:
    """A published campaign made through the JSON API with a lead's key."""
    from tests.factories import campaign_data

    with server.api(lead_key) as api:
        answer = api.post("/api/v1/campaigns", json=campaign_data(**overrides))
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def add_paper_pledges(
    server: LiveServer, lead_key: str, slug: str, count: int, postcode: str = "LS6 1AB"
) -> int:
    """`count` paper pledges (confirmed at once); the campaign's confirmed count after."""
    from tests.factories import pledge_data

    confirmed = 0
    with server.api(lead_key) as api:
        for i in range(count):
            pledge = pledge_data(i, email=f"paper{i}@example.org", postcode=postcode)
            body = {**pledge, "source": "paper"}
            answer = api.post(f"/api/v1/campaigns/{slug}/pledges", json=body)
            assert answer.status_code == 201, answer.text
            confirmed = int(answer.json()["progress"]["confirmed"])
    return confirmed
