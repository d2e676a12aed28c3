"""Starlette wiring: routes, middleware, exception handlers and the lifespan. Nothing else."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from app import api, pages
from app.bootstrap import Services, bootstrap
from app.csrf import SESSION_COOKIE, SESSION_MAX_AGE_SECONDS, CrossOriginProtection
from app.development import mailbox, webhook_inbox
from app.errors import EXCEPTION_HANDLERS
from app.http_cache import RenderCache, ServeRenders
from app.pages import campaign_demand, sharing
from app.security_headers import SecurityHeadersMiddleware, checkout_origin
from app.sessions import RefuseEndedSessions
from app.settings import Settings
from app.unreadable_paths import RefuseUnreadablePaths

HERE = Path(__file__).parent


def create_app(settings: Settings | None = None, *, run_worker: bool = False) -> Starlette:
    """The web app; with run_worker the worker runs in the same process and event loop."""
    settings = settings or Settings.from_environ()
    services = bootstrap(settings)
    if run_worker:
        services.store.after_commit(services.worker.wake)
    render_cache = RenderCache()
    services.store.on_campaigns_changed(render_cache.campaigns_changed)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await services.store.connect()
        task = asyncio.create_task(services.worker.run()) if run_worker else None
        try:
            yield
        finally:
            if task is not None:
                services.worker.stop()
                with suppress(asyncio.CancelledError):
                    await asyncio.wait_for(task, timeout=10)
            await services.store.disconnect()

    templates = Jinja2Templates(directory=HERE / "templates")
    sharing.add_template_helpers(templates)
    campaign_demand.add_template_helpers(templates)
    app = Starlette(
        debug=False,
        routes=[
            *api.routes,
            *pages.routes,
            *mailbox.routes,
            *webhook_inbox.routes,
            Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
        ],
        middleware=[
            Middleware(
                SecurityHeadersMiddleware,
                https=settings.base_url.startswith("https://"),
                form_targets=(
                    (checkout_origin(settings.stripe_api_base),)
                    if settings.money_enabled
                    else ()
                ),
            ),
            Middleware(RefuseUnreadablePaths),
            Middleware(ServeRenders, cache=render_cache, session_cookie=SESSION_COOKIE),
            Middleware(CrossOriginProtection, base_url=settings.base_url),
            Middleware(
                SessionMiddleware,
                secret_key=str(settings.secret_key),
                session_cookie=SESSION_COOKIE,
                max_age=SESSION_MAX_AGE_SECONDS,
                same_site="lax",
                https_only=settings.base_url.startswith("https://"),
            ),
            Middleware(RefuseEndedSessions),
        ],
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
    )
    app.state.services = services
    app.state.templates = templates
    app.state.render_cache = render_cache
    return app


def web_app() -> Starlette:
    """uvicorn --factory entry point for a web process (the worker runs separately)."""
    return create_app(Settings.from_environ())


def services_of(app: Starlette) -> Services:
    return app.state.services
