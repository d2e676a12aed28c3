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
