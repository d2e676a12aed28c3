"""The one place Groundswell reads its configuration from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from starlette.config import Config
from starlette.datastructures import Secret

from notifications.webhooks import DEFAULT_SCHEDULE, parse_schedule
from pledges.accounts import DEFAULT_KEY_CACHE_SECONDS
from pledges.campaigns import MODERATION_MODES
from pledges.demand import DEFAULT_TAKE_UP, FIRMNESS
from pledges.rate_limits import DEFAULT_PLEDGE_RATE_LIMIT, RateLimit, RateWindow

DEVELOPMENT_SECRET_KEY = "development-only-secret-key-do-not-use"  # noqa: S105

# Every setting Groundswell reads, with its meaning; the README's table is checked against it.
DOCUMENTED_SETTINGS: dict[str, str] = {
    "DATABASE_URL": "Database to use: a SQLite file or a PostgreSQL server.",
    "SECRET_KEY": "Signs tokens and sessions; the development default is refused unless DEBUG.",
    "BASE_URL": "Public address of the site, used in links in emails and webhooks.",
    "SMTP_URL": "Mail server for outgoing email; unset stores mail for /dev/mail.",
    "MAIL_FROM": "From address of outgoing email.",
    "DEBUG": "Development mode: tracebacks in the log, /dev/mail, the development secret.",
    "DEMO": "Demo mode: as DEBUG for /dev/mail, and the demo data is seeded on serve.",
    "WORKER_POLL_SECONDS": "How often the worker looks for work when nothing wakes it.",
    "WEBHOOK_RETRY_SCHEDULE": "Seconds before each webhook attempt, comma-separated.",
    "WEBHOOK_TIMEOUT_SECONDS": "Total time allowed for one webhook attempt.",
    "WEBHOOK_ALLOW_PRIVATE_NETWORKS": (
        "Allow http and private addresses for webhooks (development only)."
    ),
    "WEBHOOK_LEASE_SECONDS": (
        "How long a worker holds a webhook delivery before another may retry it; "
        "longer than WEBHOOK_TIMEOUT_SECONDS (default: that plus 15)."
    ),
    "PLEDGE_RATE_LIMIT": (
        "Anonymous pledges allowed per IP per campaign, as pledges/seconds windows "
        "(default 1/60,5/300); off disables it."
    ),
    "ADMIN_EMAILS": (
        "Comma-separated emails of administrators; they sign in as leads do and may hide "
        "campaigns and invalidate pledges."
    ),
    "STRIPE_SECRET_KEY": (
        "Stripe secret key (sk_test_... or sk_live_...); unset: money campaigns are unavailable."
    ),
    "STRIPE_WEBHOOK_SECRET": (
        "Signing secret of the Stripe webhook endpoint /stripe/webhook (whsec_...); "
        "required with STRIPE_SECRET_KEY."
    ),
    "STRIPE_API_BASE": (
        "Address of Stripe's API (default https://api.stripe.com); the demo and tests point "
        "it at the local stand-in."
    ),
    "PLEDGE_RETENTION_DAYS": (
        "Days after a campaign closes before its pledgers' personal data is anonymised "
        "(default 183, about 6 months)."
    ),
    "API_KEY_CACHE_SECONDS": (
        "How long a process remembers who owns an API key (default 5); a key revoked "
        "elsewhere is refused within this delay. 0 asks the database every time."
    ),
    "GROUP_COMMIT": (
        "auto (default: on with SQLite, off with PostgreSQL), on or off: write the "
        "confirmations that arrive together in one transaction."
    ),
    "MODERATION": (
        "pre (default), post or off: pre keeps a published campaign off every public page, "
        "the API and webhooks until an administrator approves it; post reviews it after it "
        "goes live; off publishes at once (the demo's default)."
    ),
    "TAKE_UP_RATES": (
        "Percent of interested, will-switch and deposit pledges expected to sign up "
        "(default interested=30,will_switch=60,deposit=90)."
    ),
}


class ConfigurationError(Exception):
    """A setting is missing or unsafe; the message says which and why."""


def parse_pledge_rate_limit(value: str) -> RateLimit:
    """`1/60,5/300` (at most 1 pledge in 60 s and 5 in 300 s) or `off`."""
    text = value.strip().lower()
    if text == "off":
        return ()
    windows = []
    for part in text.split(","):
        count, slash, seconds = part.strip().partition("/")
        if not (slash and count.isdigit() and seconds.isdigit()):
            raise ConfigurationError(
                f"PLEDGE_RATE_LIMIT {value!r} is not valid: use 'off' or comma-separated "
                "pledges/seconds windows, like 1/60,5/300."
            )
        if int(count) < 1 or int(seconds) < 1:
            raise ConfigurationError(
                f"PLEDGE_RATE_LIMIT {value!r} is not valid: each window needs at least "
                "1 pledge and 1 second (use 'off' to disable the limit)."
            )
        windows.append(RateWindow(int(count), int(seconds)))
    return tuple(windows)


def parse_take_up_rates(value: str) -> dict[str, int]:
    """`interested=30,will_switch=60,deposit=90` (percents; any left out keep the default)."""
    rates: dict[str, int] = {}
    for part in value.split(","):
        if not part.strip():
            continue
        name, equals, percent = part.strip().partition("=")
        if not equals or name.strip() not in FIRMNESS or not percent.strip().isdigit():
            raise ConfigurationError(
                f"TAKE_UP_RATES {value!r} is not valid: use firmness=percent pairs, like "
                "interested=30,will_switch=60,deposit=90."
            )
        if int(percent) > 100:
            raise ConfigurationError(f"TAKE_UP_RATES: {name.strip()} must be 0 to 100 percent.")
        rates[name.strip()] = int(percent)
    return {**DEFAULT_TAKE_UP, **rates}


def parse_emails(value: str) -> frozenset[str]:
    return frozenset(e.strip().lower() for e in value.split(",") if e.strip())


def _secret(value: str) -> Secret | None:
    return Secret(value.strip()) if value.strip() else None


def _flag(value: str | bool | None) -> bool:
    if isinstance(value, bool):
        return value
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite:///./groundswell.db"
    secret_key: Secret = field(default_factory=lambda: Secret(DEVELOPMENT_SECRET_KEY))
    base_url: str = "http://127.0.0.1:8000"
    smtp_url: Secret | None = None
    mail_from: str = "Groundswell <noreply@groundswell.localhost>"
    debug: bool = False
    demo: bool = False
    worker_poll_seconds: float = 1.0
    webhook_retry_schedule: tuple[float, ...] = DEFAULT_SCHEDULE
    webhook_timeout_seconds: float = 15.0
    webhook_allow_private_networks: bool = False
    webhook_lease_seconds: float | None = None
    pledge_rate_limit: RateLimit = DEFAULT_PLEDGE_RATE_LIMIT
    admin_emails: frozenset[str] = frozenset()
    pledge_retention_days: int = 183
    stripe_secret_key: Secret | None = None
    stripe_webhook_secret: Secret | None = None
    stripe_api_base: str = "https://api.stripe.com"
    # The share of each firmness expected to sign up when offered (README: Price and
    # firmness), percents; a campaign's lead may set its own.
    take_up_rates: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_TAKE_UP))
    # Who owns an API key is remembered this long (pledges.accounts.KeyCache).
    api_key_cache_seconds: float = DEFAULT_KEY_CACHE_SECONDS
    # Confirmations written in batches (pledges.group_commit): auto, on or off.
    group_commit: str = "auto"
    # Review of campaigns by administrators (pledges.review): pre, post or off.
    moderation: str = "pre"

    @property
    def group_commit_on(self) -> bool | None:
        """GROUP_COMMIT for the Store: None leaves it to the database (auto)."""
        return {"on": True, "off": False}.get(self.group_commit)

    @classmethod
    def from_environ(
        cls, environ: Mapping[str, str] | None = None, **overrides: object
    ) -> Settings:
        config = Config(environ=dict(os.environ if environ is None else environ))
        smtp = config("SMTP_URL", default="")
        lease = config("WEBHOOK_LEASE_SECONDS", default="").strip()
        values: dict[str, object] = {
            "database_url": config("DATABASE_URL", default=cls.database_url),
            "secret_key": config("SECRET_KEY", cast=Secret, default=DEVELOPMENT_SECRET_KEY),
            "base_url": config("BASE_URL", default=cls.base_url).rstrip("/"),
            "smtp_url": Secret(smtp) if smtp else None,
            "mail_from": config("MAIL_FROM", default=cls.mail_from),
            "debug": _flag(config("DEBUG", default="")),
            "demo": _flag(config("DEMO", default="")),
            "worker_poll_seconds": config("WORKER_POLL_SECONDS", cast=float, default=1.0),
            "webhook_retry_schedule": config(
                "WEBHOOK_RETRY_SCHEDULE",
                cast=parse_schedule,
                default=",".join(f"{s:g}" for s in DEFAULT_SCHEDULE),
            ),
            "webhook_timeout_seconds": config("WEBHOOK_TIMEOUT_SECONDS", cast=float, default=15.0),
            "webhook_allow_private_networks": _flag(
                config("WEBHOOK_ALLOW_PRIVATE_NETWORKS", default="")
            ),
            "webhook_lease_seconds": float(lease) if lease else None,
            "pledge_rate_limit": config(
                "PLEDGE_RATE_LIMIT", default=",".join(map(str, DEFAULT_PLEDGE_RATE_LIMIT))
            ),
            "admin_emails": config("ADMIN_EMAILS", default=""),
            "pledge_retention_days": config("PLEDGE_RETENTION_DAYS", cast=int, default=183),
            "stripe_secret_key": _secret(config("STRIPE_SECRET_KEY", default="")),
            "stripe_webhook_secret": _secret(config("STRIPE_WEBHOOK_SECRET", default="")),
            "stripe_api_base": config("STRIPE_API_BASE", default=cls.stripe_api_base).rstrip("/"),
            "take_up_rates": config("TAKE_UP_RATES", default=""),
            "api_key_cache_seconds": config(
                "API_KEY_CACHE_SECONDS", cast=float, default=DEFAULT_KEY_CACHE_SECONDS
            ),
            "group_commit": config("GROUP_COMMIT", default="auto").strip().lower(),
            "moderation": config("MODERATION", default="").strip().lower(),
        }
        values.update(overrides)
        if not values["moderation"]:  # unset: reviewed before publishing, but not in the demo
            values["moderation"] = "off" if _flag(str(values["demo"])) else "pre"
        if isinstance(values["admin_emails"], str):
            values["admin_emails"] = parse_emails(values["admin_emails"])
        if isinstance(values["take_up_rates"], str):
            values["take_up_rates"] = parse_take_up_rates(values["take_up_rates"])
        if isinstance(values["pledge_rate_limit"], str):  # as in the environment
            values["pledge_rate_limit"] = parse_pledge_rate_limit(values["pledge_rate_limit"])
        settings = cls(**values)  # type: ignore[arg-type]
        settings.check()
        return settings

    @property
    def money_enabled(self) -> bool:
        """Money campaigns need Stripe: a secret key (and with it the webhook secret)."""
        return self.stripe_secret_key is not None

    @property
    def development(self) -> bool:
        return self.debug or self.demo

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def check(self) -> None:
        if str(self.secret_key) == DEVELOPMENT_SECRET_KEY and not self.development:
            raise ConfigurationError(
                "SECRET_KEY is the development default; set SECRET_KEY to a long random "
                "value (or DEBUG=1 on a development machine)."
            )
        if not self.base_url.startswith(("http://", "https://")):
            raise ConfigurationError("BASE_URL must start with http:// or https://")
        if self.stripe_secret_key is not None and self.stripe_webhook_secret is None:
            raise ConfigurationError(
                "STRIPE_WEBHOOK_SECRET is required with STRIPE_SECRET_KEY: without it Stripe's "
                "events (saved cards, payments) cannot be verified."
            )
        if not self.stripe_api_base.startswith(("http://", "https://")):
            raise ConfigurationError("STRIPE_API_BASE must start with http:// or https://")
        if self.api_key_cache_seconds < 0:
            raise ConfigurationError("API_KEY_CACHE_SECONDS must be 0 or more.")
        if self.group_commit not in ("auto", "on", "off"):
            raise ConfigurationError("GROUP_COMMIT must be auto, on or off.")
        if self.moderation not in MODERATION_MODES:
            raise ConfigurationError("MODERATION must be pre, post or off.")
        if self.pledge_retention_days < 1:
            raise ConfigurationError("PLEDGE_RETENTION_DAYS must be at least 1.")
        if (
            self.webhook_lease_seconds is not None
            and self.webhook_lease_seconds <= self.webhook_timeout_seconds
        ):
            # A lease shorter than an attempt lets a second worker send the same message.
            raise ConfigurationError(
                "WEBHOOK_LEASE_SECONDS must be longer than WEBHOOK_TIMEOUT_SECONDS."
            )
