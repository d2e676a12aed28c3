"""The email outbox: one row per message, unique per (purpose, recipient)."""

from __future__ import annotations

import sqlalchemy as sa

from pledges.tables import BigId, Timestamp, metadata

emails = sa.Table(
    "emails",
    metadata,
    sa.Column("id", BigId, primary_key=True),
    # Makes each message exactly-once: e.g. "tipped:<event id>:<pledge id>".
    sa.Column("dedupe_key", sa.String(120), nullable=False, unique=True),
    sa.Column("kind", sa.String(30), nullable=False),
    sa.Column("pledge_id", BigId, sa.ForeignKey("pledges.id"), nullable=True),
    sa.Column("campaign_id", BigId, sa.ForeignKey("campaigns.id"), nullable=True),
    sa.Column("event_id", BigId, sa.ForeignKey("events.id"), nullable=True),
    sa.Column("to_address", sa.String(320), nullable=False),
    # queued -> sending -> sent (SMTP) | stored (no SMTP: kept for /dev/mail) | failed
    sa.Column("status", sa.String(10), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", Timestamp, nullable=False),
    sa.Column("lease_until", Timestamp, nullable=True),
    sa.Column("last_error", sa.String(500), nullable=True),
    sa.Column("subject", sa.String(300), nullable=True),
    sa.Column("text_body", sa.Text, nullable=True),
    sa.Column("html_body", sa.Text, nullable=True),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("sent_at", Timestamp, nullable=True),
    sa.Index("ix_emails_due", "status", "next_attempt_at"),
)

# What would have been emailed to a pledge without an email address (tipping, updates,
# later offers): the lead's printable "to tell by hand" list, one row per message.
hand_notes = sa.Table(
    "hand_notes",
    metadata,
    sa.Column("id", BigId, primary_key=True),
    # Exactly-once, as the outbox's: e.g. "tipped:<event id>:<pledge id>".
    sa.Column("dedupe_key", sa.String(120), nullable=False, unique=True),
    sa.Column("kind", sa.String(30), nullable=False),
    sa.Column("pledge_id", BigId, sa.ForeignKey("pledges.id"), nullable=False),
    sa.Column("campaign_id", BigId, sa.ForeignKey("campaigns.id"), nullable=False),
    sa.Column("event_id", BigId, sa.ForeignKey("events.id"), nullable=True),
    sa.Column("subject", sa.String(300), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    # Set when the lead marks the message as passed on.
    sa.Column("told_at", Timestamp, nullable=True),
    sa.Index("ix_hand_notes_campaign", "campaign_id", "told_at", "id"),
)

webhook_endpoints = sa.Table(
    "webhook_endpoints",
    metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("public_id", sa.String(40), nullable=False, unique=True),
    sa.Column("organisation_id", BigId, sa.ForeignKey("organisations.id"), nullable=False),
    sa.Column("url", sa.String(2000), nullable=False),
    sa.Column("description", sa.String(500), nullable=False, server_default=""),
    sa.Column("event_types", sa.Text, nullable=False),  # JSON list; empty = all
    sa.Column(
        "filters", sa.Text, nullable=False
    ),  # JSON {categories, postcode_prefixes, campaigns}
    # Signing secrets are needed in clear to sign; the previous one signs beside the new
    # one until previous_secret_expires_at (rotation).
    sa.Column("secret", sa.String(100), nullable=False),
    sa.Column("previous_secret", sa.String(100), nullable=True),
    sa.Column("previous_secret_expires_at", Timestamp, nullable=True),
    # active | disabled | deleted
    sa.Column("status", sa.String(10), nullable=False),
    sa.Column("disabled_reason", sa.String(300), nullable=True),
    sa.Column("disabled_at", Timestamp, nullable=True),
    sa.Column("failing_since", Timestamp, nullable=True),
    sa.Column("last_success_at", Timestamp, nullable=True),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.Index("ix_webhook_endpoints_org", "organisation_id"),
)

webhook_deliveries = sa.Table(
    "webhook_deliveries",
    metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("public_id", sa.String(40), nullable=False, unique=True),
    sa.Column("endpoint_id", BigId, sa.ForeignKey("webhook_endpoints.id"), nullable=False),
    sa.Column("event_id", BigId, sa.ForeignKey("events.id"), nullable=True),
    # The webhook-id header: the same on every attempt, the receiver's idempotency key.
    sa.Column("message_id", sa.String(40), nullable=False),
    sa.Column("event_type", sa.String(40), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    # pending -> sending -> succeeded | failed (| pending again on retry)
    sa.Column("status", sa.String(10), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", Timestamp, nullable=False),
    sa.Column("lease_until", Timestamp, nullable=True),
    sa.Column("last_status_code", sa.Integer, nullable=True),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("completed_at", Timestamp, nullable=True),
    sa.UniqueConstraint("event_id", "endpoint_id", name="uq_webhook_deliveries_event_endpoint"),
    sa.Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
    sa.Index("ix_webhook_deliveries_endpoint", "endpoint_id", "id"),
)

webhook_attempts = sa.Table(
    "webhook_attempts",
    metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("delivery_id", BigId, sa.ForeignKey("webhook_deliveries.id"), nullable=False),
    sa.Column("attempted_at", Timestamp, nullable=False),
    sa.Column("status_code", sa.Integer, nullable=True),
    sa.Column("duration_ms", sa.Integer, nullable=False),
    sa.Column("error", sa.String(500), nullable=True),
    sa.Column("response_body", sa.Text, nullable=True),  # the first 4 KB
    sa.Index("ix_webhook_attempts_delivery", "delivery_id", "id"),
)
