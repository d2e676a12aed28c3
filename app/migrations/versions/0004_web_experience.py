"""Issue 4: hidden campaigns, invalidated and anonymised pledges, campaign updates,
single-use sign-in links

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21 23:30:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.add_column(sa.Column("hidden_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("pledges", schema=None) as batch_op:
        batch_op.add_column(sa.Column("invalidated_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("anonymised_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "campaign_updates",
        sa.Column("id", BigId, nullable=False),
        sa.Column("campaign_id", BigId, nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name="fk_campaign_updates_campaign_id_campaigns",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_campaign_updates"),
    )
    op.create_index(
        "ix_campaign_updates_campaign", "campaign_updates", ["campaign_id", "created_at"]
    )
    op.create_table(
        "magic_links",
        sa.Column("nonce_hash", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=20), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("nonce_hash", name="pk_magic_links"),
    )
    op.create_index("ix_magic_links_email_created", "magic_links", ["email", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_magic_links_email_created", table_name="magic_links")
    op.drop_table("magic_links")
    op.drop_index("ix_campaign_updates_campaign", table_name="campaign_updates")
    op.drop_table("campaign_updates")
    with op.batch_alter_table("pledges", schema=None) as batch_op:
        batch_op.drop_column("anonymised_at")
        batch_op.drop_column("invalidated_at")
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_column("hidden_at")
