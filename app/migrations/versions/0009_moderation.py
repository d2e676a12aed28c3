"""Issue 15: moderation before (or after) publishing, and the administrators' decisions

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05 05:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        # "pending_review" is longer than the 12 characters the statuses needed so far.
        batch_op.alter_column(
            "status",
            existing_type=sa.String(length=12),
            type_=sa.String(length=16),
            existing_nullable=False,
        )
        batch_op.add_column(sa.Column("moderation", sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column("submitted_at", Timestamp, nullable=True))
    op.create_table(
        "moderation_decisions",
        sa.Column("id", BigId, nullable=False),
        sa.Column("campaign_id", BigId, nullable=False),
        sa.Column("administrator", sa.String(length=320), nullable=False),
        sa.Column("decision", sa.String(length=10), nullable=False),
        sa.Column("reason", sa.String(length=30), nullable=True),
        sa.Column("note", sa.Text(), nullable=False, server_default=""),
        sa.Column("mode", sa.String(length=4), nullable=False),
        sa.Column("decided_at", Timestamp, nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name="fk_moderation_decisions_campaign_id_campaigns",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_moderation_decisions"),
    )
    op.create_index(
        "ix_moderation_decisions_campaign",
        "moderation_decisions",
        ["campaign_id", "decided_at"],
    )
    op.create_index("ix_campaigns_moderation", "campaigns", ["moderation", "submitted_at"])


def downgrade() -> None:
    op.drop_index("ix_campaigns_moderation", table_name="campaigns")
    op.drop_index("ix_moderation_decisions_campaign", table_name="moderation_decisions")
    op.drop_table("moderation_decisions")
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_column("submitted_at")
        batch_op.drop_column("moderation")
        batch_op.alter_column(
            "status",
            existing_type=sa.String(length=16),
            type_=sa.String(length=12),
            existing_nullable=False,
        )
