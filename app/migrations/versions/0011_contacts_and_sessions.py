"""Issue 15: approved organisations, the record of contacts downloads, signed-in sessions
kept on the server, and sign-in links limited by canonical address and by client

Revision ID: 0011
Revises: 0008
Create Date: 2026-12-05 05:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    # Existing organisations are not approved: an administrator approves each before it
    # can download contacts again (none was ever checked).
    with op.batch_alter_table("organisations") as batch:
        batch.add_column(sa.Column("approved_at", Timestamp, nullable=True))
        batch.add_column(sa.Column("approved_by", BigId, nullable=True))
        batch.create_foreign_key(
            "fk_organisations_approved_by_leads", "leads", ["approved_by"], ["id"]
        )
    with op.batch_alter_table("magic_links") as batch:
        batch.add_column(sa.Column("email_canonical", sa.String(320), nullable=True))
        batch.add_column(sa.Column("ip", sa.String(45), nullable=True))
    op.create_index(
        "ix_magic_links_canonical_created", "magic_links", ["email_canonical", "created_at"]
    )
    op.create_index("ix_magic_links_ip_created", "magic_links", ["ip", "created_at"])
    op.create_index("ix_magic_links_created", "magic_links", ["created_at"])
    op.create_table(
        "signed_in_sessions",
        sa.Column("id_hash", sa.String(64), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("expires_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("id_hash", name="pk_signed_in_sessions"),
    )
    op.create_index("ix_signed_in_sessions_expires", "signed_in_sessions", ["expires_at"])
    op.create_table(
        "contact_downloads",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("organisation_id", BigId, nullable=False),
        sa.Column("campaign_id", BigId, nullable=False),
        sa.Column("contact_count", sa.Integer(), nullable=False),
        sa.Column("via", sa.String(10), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name="fk_contact_downloads_organisation_id_organisations",
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["campaigns.id"], name="fk_contact_downloads_campaign_id_campaigns"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_contact_downloads"),
    )
    op.create_index(
        "ix_contact_downloads_campaign", "contact_downloads", ["campaign_id", "created_at"]
    )
    op.create_table(
        "contact_download_pledges",
        sa.Column("download_id", BigId, nullable=False),
        sa.Column("pledge_id", BigId, nullable=False),
        sa.ForeignKeyConstraint(
            ["download_id"],
            ["contact_downloads.id"],
            name="fk_contact_download_pledges_download_id_contact_downloads",
        ),
        sa.ForeignKeyConstraint(
            ["pledge_id"], ["pledges.id"], name="fk_contact_download_pledges_pledge_id_pledges"
        ),
        sa.PrimaryKeyConstraint("download_id", "pledge_id", name="pk_contact_download_pledges"),
    )
    op.create_index(
        "ix_contact_download_pledges_pledge", "contact_download_pledges", ["pledge_id"]
    )


def downgrade() -> None:
    op.drop_table("contact_download_pledges")
    op.drop_table("contact_downloads")
    op.drop_table("signed_in_sessions")
    op.drop_index("ix_magic_links_created", "magic_links")
    op.drop_index("ix_magic_links_ip_created", "magic_links")
    op.drop_index("ix_magic_links_canonical_created", "magic_links")
    with op.batch_alter_table("magic_links") as batch:
        batch.drop_column("ip")
        batch.drop_column("email_canonical")
    with op.batch_alter_table("organisations") as batch:
        batch.drop_constraint("fk_organisations_approved_by_leads", type_="foreignkey")
        batch.drop_column("approved_by")
        batch.drop_column("approved_at")
