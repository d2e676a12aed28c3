"""The `groundswell` command: serve, worker, migrate, demo, apikey, admin, anonymise.

Logging goes to stderr at WARNING, so a command prints only what it has to say (no
migration or database INFO lines); `--verbose`, before or after the command, shows INFO.
The long-running `serve` and `worker` also log Groundswell's own INFO lines (the worker
started, Stripe's events, ...), which are what their operators read; `serve` keeps
uvicorn's own startup lines and access log."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from app.settings import ConfigurationError, Settings
from pledges.accounts import (
    ORGANISATION_KINDS,
    Lead,
    Organisation,
    create_lead_api_key,
    create_organisation_api_key,
)
from pledges.rate_limits import RateWindow
from pledges.store import Store

T = TypeVar("T")

log = logging.getLogger("groundswell")

DEMO_PLEDGE_RATE_LIMIT = (RateWindow(5, 300),)


def _settings(args: argparse.Namespace, **overrides: object) -> Settings:
    if getattr(args, "demo", False):
        overrides.setdefault("demo", True)
        # The demo's providers are receivers on this machine.
        overrides.setdefault("webhook_allow_private_networks", True)
        if "PLEDGE_RATE_LIMIT" not in os.environ:
            # One person tries every part of the demo from one machine: the README's money
            # demo pledges twice on one campaign within a minute. Still a limit, and shown.
            overrides.setdefault("pledge_rate_limit", DEMO_PLEDGE_RATE_LIMIT)
    return Settings.from_environ(None, **overrides)


def cmd_migrate(args: argparse.Namespace) -> int:
    from app.migrate import migrate

    settings = Settings.from_environ(debug=True) if args.any_key else Settings.from_environ()
    migrate(settings.database_url)
    print("Database is at the newest schema.")
    return 0


async def _with_store(settings: Settings, job: Callable[[Store], Awaitable[T]]) -> T:
    store = Store(settings.database_url)
    await store.connect()
    try:
        return await job(store)
    finally:
        await store.disconnect()


def cmd_demo(args: argparse.Namespace) -> int:
    from app.development.demo import seed_demo, seed_households_demo
    from app.development.demo_choice import seed_choice_demo
    from app.development.demo_delivery import seed_delivery_demo
    from app.development.demo_demand import seed_demand_demo
    from app.migrate import migrate
    from pledges.tokens import Signer

    settings = _settings(args, demo=True)
    migrate(settings.database_url)

    async def seed(store: Store) -> bool:
        seeded = await seed_demo(store)
        await seed_households_demo(store, Signer(str(settings.secret_key)))
        await seed_demand_demo(store)
        await seed_choice_demo(store, settings.base_url)
        await seed_delivery_demo(store, settings.base_url)
        return seeded

    seeded = asyncio.run(_with_store(settings, seed))
    print("Demo campaigns added." if seeded else "Campaigns exist already; nothing added.")
    return 0


def cmd_apikey_create(args: argparse.Namespace) -> int:
    from pledges.identity import is_valid_email

    if not is_valid_email(args.email):
        print(f"error: not an email address: {args.email}", file=sys.stderr)
        return 2
    settings = Settings.from_environ(debug=True) if args.any_key else Settings.from_environ()

    if args.org:
        if args.kind not in ORGANISATION_KINDS:
            print("error: --kind must be provider or council with --org", file=sys.stderr)
            return 2

        async def org_job(store: Store) -> tuple[Organisation, str]:
            return await create_organisation_api_key(store, args.email, args.org, args.kind)

        org, key = asyncio.run(_with_store(settings, org_job))
        print(f"API key for {org.kind} {org.name}, member {args.email.lower()} (shown once):")
        print(key)
        return 0

    async def job(store: Store) -> tuple[Lead, str]:
        return await create_lead_api_key(store, args.email)

    lead, key = asyncio.run(_with_store(settings, job))
    print(f"API key for campaign lead {lead.email} (shown once; store it safely):")
    print(key)
    return 0


def _admin_settings(args: argparse.Namespace) -> Settings:
    # As for apikey: these commands need the database, not the secret key.
    return Settings.from_environ(debug=True) if args.any_key else Settings.from_environ()


def _pledges(count: int) -> str:
    return f"{count} pledge" if count == 1 else f"{count} pledges"


def cmd_admin_hide(args: argparse.Namespace) -> int:
    from pledges.errors import CampaignNotFound
    from pledges.moderation import hide_campaign, unhide_campaign

    change = hide_campaign if args.admin_command == "hide" else unhide_campaign

    async def job(store: Store) -> str:
        campaign = await change(store, args.slug)
        return "hidden" if campaign.hidden_at else "shown"

    try:
        state = asyncio.run(_with_store(_admin_settings(args), job))
    except CampaignNotFound:
        print(f"error: there is no campaign {args.slug!r}", file=sys.stderr)
        return 2
    print(f"Campaign {args.slug} is {state}.")
    return 0


def cmd_admin_invalidate(args: argparse.Namespace) -> int:
    from pledges.errors import ValidationFailed
    from pledges.moderation import InvalidationResult, invalidate_pledges

    async def job(store: Store) -> InvalidationResult:
        return await invalidate_pledges(
            store,
            campaign_slug=args.campaign,
            ip=args.ip,
            email_domain=args.email_domain,
            since=args.since,
            until=args.until,
            dry_run=args.dry_run,
        )

    try:
        result = asyncio.run(_with_store(_admin_settings(args), job))
    except ValidationFailed as exc:
        for error in exc.errors:
            option = "--" + error.field.replace("_", "-")  # email_domain: --email-domain
            where = "" if error.field == "filters" else f"{option}: "
            print(f"error: {where}{error.message}", file=sys.stderr)
        return 2
    verb = "Dry run: would strike out" if result.dry_run else "Struck out"
    print(
        f"{verb} {_pledges(result.total)} ({result.confirmed} confirmed, {result.pending} pending)."
    )
    for slug, counts in result.by_campaign.items():
        print(
            f"  {slug}: {counts.get('confirmed', 0)} confirmed, {counts.get('pending', 0)} pending"
        )
    return 0


def cmd_anonymise(args: argparse.Namespace) -> int:
    from notifications.outbox import scrub_pledge_mail
    from pledges.moderation import parse_time
    from pledges.retention import anonymise_closed_campaigns

    try:
        now = parse_time(args.now) if args.now else None
    except (ValueError, OverflowError):
        print(f"error: --now: not an ISO 8601 date or time: {args.now}", file=sys.stderr)
        return 2
    settings = _admin_settings(args)
    days = settings.pledge_retention_days

    async def job(store: Store) -> int:
        return await anonymise_closed_campaigns(store, days, now, scrub_mail=scrub_pledge_mail)

    done = asyncio.run(_with_store(settings, job))
    print(f"Anonymised {_pledges(done)} of campaigns closed more than {days} days ago.")
    return 0


def serve_settings(args: argparse.Namespace) -> Settings:
    """Settings for `serve`: without BASE_URL, links point at the address being served."""
    settings = _settings(args)
    if settings.base_url == Settings.base_url and (args.host, args.port) != ("127.0.0.1", 8000):
        host = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host  # noqa: S104
        settings = dataclasses.replace(settings, base_url=f"http://{host}:{args.port}")
    return settings


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from app.main import create_app
    from app.migrate import migrate

    settings = serve_settings(args)
    if settings.is_sqlite:
        migrate(settings.database_url)  # the embedded default needs no separate step
    if settings.demo and not settings.money_enabled:
        # Offline money pledges: Stripe's local stand-in runs beside the app.
        from app.development.demo import serve_with_stand_in

        asyncio.run(
            serve_with_stand_in(settings, args.host, args.port, run_worker=not args.no_worker)
        )
        return 0
    if settings.demo:
        from app.development.demo import seed_for_serve

        asyncio.run(seed_for_serve(settings))
    app = create_app(settings, run_worker=not args.no_worker)
    print(f"Groundswell on http://{args.host}:{args.port}", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="info", proxy_headers=True)
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from app.bootstrap import bootstrap

    settings = Settings.from_environ()
    services = bootstrap(settings)

    async def run() -> None:
        await services.store.connect()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, services.worker.stop)
        try:
            await services.worker.run()
        finally:
            await services.store.disconnect()

    asyncio.run(run())
    return 0


def _verbose_option(parser: argparse.ArgumentParser) -> None:
    # SUPPRESS: a command's parser leaves the flag alone when it was given before the command.
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS,
        help="log INFO lines too (migrations, the worker, the database)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="groundswell", description=__doc__)
    _verbose_option(parser)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="web and worker in one process")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument(
        "--demo",
        action="store_true",
        help="seed demo data, show /dev/mail; without Stripe keys, run its local stand-in",
    )
    serve.add_argument("--no-worker", action="store_true", help="web only")
    serve.set_defaults(func=cmd_serve)

    worker = sub.add_parser("worker", help="the worker alone")
    worker.set_defaults(func=cmd_worker)

    migrate = sub.add_parser("migrate", help="bring the database to the newest schema")
    migrate.set_defaults(func=cmd_migrate, any_key=True)

    demo = sub.add_parser("demo", help="seed demo campaigns")
    demo.set_defaults(func=cmd_demo)

    apikey = sub.add_parser("apikey", help="API keys")
    apikey_sub = apikey.add_subparsers(dest="apikey_command", required=True)
    create = apikey_sub.add_parser("create", help="create a key (and the lead if needed)")
    create.add_argument("--email", required=True)
    create.add_argument("--org", help="a provider or council organisation's name")
    create.add_argument("--kind", choices=ORGANISATION_KINDS, help="with --org")
    create.set_defaults(func=cmd_apikey_create, any_key=True)

    admin = sub.add_parser("admin", help="moderation: hide campaigns, strike out pledges")
    admin_sub = admin.add_subparsers(dest="admin_command", required=True)
    for name, text in (("hide", "hide a campaign from every public page"), ("unhide", "show it")):
        hide = admin_sub.add_parser(name, help=text)
        hide.add_argument("slug")
        hide.set_defaults(func=cmd_admin_hide, any_key=True)
        _verbose_option(hide)
    invalidate = admin_sub.add_parser(
        "invalidate", help="strike out pending and confirmed pledges matching every filter"
    )
    invalidate.add_argument("--campaign", metavar="SLUG")
    invalidate.add_argument("--ip", metavar="IP|CIDR", help="an address or a range")
    invalidate.add_argument("--email-domain", metavar="DOMAIN", help="exact, no subdomains")
    invalidate.add_argument("--since", metavar="ISO", help="created at or after (UTC)")
    invalidate.add_argument("--until", metavar="ISO", help="created before (UTC)")
    invalidate.add_argument("--dry-run", action="store_true", help="count, change nothing")
    invalidate.set_defaults(func=cmd_admin_invalidate, any_key=True)

    anonymise = sub.add_parser(
        "anonymise", help="anonymise pledges of campaigns closed past PLEDGE_RETENTION_DAYS"
    )
    anonymise.add_argument("--now", metavar="ISO", help="run as if it were this time")
    anonymise.set_defaults(func=cmd_anonymise, any_key=True)
    for command in (serve, worker, migrate, demo, create, invalidate, anonymise):
        _verbose_option(command)
    return parser


# Commands that run until stopped: their own INFO lines are what an operator watches.
SERVICES = ("serve", "worker")


def configure_logging(command: str, verbose: bool) -> None:
    """Log to stderr: WARNING and above, or INFO and above with --verbose; a service's
    own loggers (groundswell.*) at INFO either way."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    if command in SERVICES:
        logging.getLogger("groundswell").setLevel(logging.INFO)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.command, getattr(args, "verbose", False))
    try:
        return int(args.func(args))
    except ConfigurationError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
