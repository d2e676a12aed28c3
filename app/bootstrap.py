"""Builds the collaborators shared by the web entry point and the worker entry point."""

from __future__ import annotations

from dataclasses import dataclass, field

from starlette.requests import Request

from app.settings import Settings
from gateways.stripe_gateway import StripeGateway
from notifications.mail import mailer_for
from notifications.messages import MessageRenderer
from notifications.webhooks import DeliveryPolicy
from notifications.worker import Worker
from pledges.accounts import KeyCache
from pledges.demand import configure_take_up
from pledges.store import Store
from pledges.tokens import Signer


@dataclass
class Services:
    settings: Settings
    store: Store
    signer: Signer
    renderer: MessageRenderer
    worker: Worker
    # None without STRIPE_SECRET_KEY: money campaigns are unavailable.
    payments: StripeGateway | None = None
    # Who owns each recently used API key (API_KEY_CACHE_SECONDS).
    key_cache: KeyCache = field(default_factory=KeyCache)


def bootstrap(settings: Settings) -> Services:
    configure_take_up(settings.take_up_rates)
    store = Store(settings.database_url, group_commit=settings.group_commit_on)
    signer = Signer(str(settings.secret_key))
    renderer = MessageRenderer(signer, settings.base_url, settings.mail_from)
    smtp_url = str(settings.smtp_url) if settings.smtp_url else None
    policy = DeliveryPolicy(
        schedule=settings.webhook_retry_schedule,
        total_timeout=settings.webhook_timeout_seconds,
        connect_timeout=min(5.0, settings.webhook_timeout_seconds),
        allow_private_networks=settings.webhook_allow_private_networks,
        lease_seconds=settings.webhook_lease_seconds,
    )
    payments = (
        StripeGateway(
            str(settings.stripe_secret_key),
            str(settings.stripe_webhook_secret),
            settings.stripe_api_base,
        )
        if settings.stripe_secret_key is not None
        else None
    )
    worker = Worker(
        store,
        mailer_for(smtp_url),
        renderer,
        poll_seconds=settings.worker_poll_seconds,
        policy=policy,
        pledge_retention_days=settings.pledge_retention_days,
        payments=payments,
    )
    key_cache = KeyCache(settings.api_key_cache_seconds)
    return Services(settings, store, signer, renderer, worker, payments, key_cache)


def services(request: Request) -> Services:
    """The collaborators of the app serving this request."""
    return request.app.state.services
