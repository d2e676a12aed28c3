"""Issue 5: money campaigns and pledges charged through Stripe when a campaign tips

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 00:10:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.add_column(sa.Column("currency", sa.String(length=3), nullable=True))
        batch_op.add_column(sa.Column("money_target", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("deposit_amount", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("min_amount", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("max_amount", sa.BigInteger(), nullable=True))
        for name in ("pledged_amount", "collected_amount", "refunded_amount"):
            batch_op.add_column(
                sa.Column(name, sa.BigInteger(), nullable=False, server_default="0")
            )
        batch_op.add_column(sa.Column("funded_at", Timestamp, nullable=True))
    with op.batch_alter_table("pledges", schema=None) as batch_op:
        batch_op.add_column(sa.Column("amount", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("payment_status", sa.String(length=16), nullable=True))
        for name in ("email_confirmed_at", "card_saved_at"):
            batch_op.add_column(sa.Column(name, Timestamp, nullable=True))
        for name in (
            "stripe_customer_id",
            "stripe_payment_method_id",
            "stripe_payment_intent_id",
        ):
            batch_op.add_column(sa.Column(name, sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("payment_error", sa.String(length=100), nullable=True))
        for name in (
            "charge_lease_until",
            "charge_failed_at",
            "payment_reminded_at",
            "paid_at",
            "released_at",
            "refunded_at",
        ):
            batch_op.add_column(sa.Column(name, Timestamp, nullable=True))
        batch_op.create_index("ix_pledges_payment_status", ["payment_status", "campaign_id"])
    op.create_table(
        "stripe_events",
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("type", sa.String(length=100), nullable=False),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.Column("received_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_stripe_events"),
    )


def downgrade() -> None:
    op.drop_table("stripe_events")
    with op.batch_alter_table("pledges", schema=None) as batch_op:
        batch_op.drop_index("ix_pledges_payment_status")
        for name in (
            "refunded_at",
            "released_at",
            "paid_at",
            "payment_reminded_at",
            "charge_failed_at",
            "charge_lease_until",
            "payment_error",
            "stripe_payment_intent_id",
            "stripe_payment_method_id",
            "stripe_customer_id",
            "card_saved_at",
            "email_confirmed_at",
            "payment_status",
            "amount",
        ):
            batch_op.drop_column(name)
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        for name in (
            "funded_at",
            "refunded_amount",
            "collected_amount",
            "pledged_amount",
            "max_amount",
            "min_amount",
            "deposit_amount",
            "money_target",
            "currency",
        ):
            batch_op.drop_column(name)
