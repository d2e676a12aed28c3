"""Issue 15: residents' reports of campaigns and updates, and administrators' actions on them

Revision ID: 0010
Revises: 0008
Create Date: 2026-12-05 05:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "report_actions",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("campaign_id", BigId, nullable=False),
        sa.Column("action", sa.String(10), nullable=False),
        sa.Column("admin_email", sa.String(320), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["campaigns.id"], name="fk_report_actions_campaign_id_campaigns"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_report_actions"),
    )
    op.create_index("ix_report_actions_created", "report_actions", ["created_at"])
    op.create_table(
        "reports",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("campaign_id", BigId, nullable=False),
        sa.Column("update_id", BigId, nullable=True),
        sa.Column("reason", sa.String(20), nullable=False),
        sa.Column("details", sa.Text(), nullable=False, server_default=""),
        sa.Column("reporter_email", sa.String(320), nullable=True),
        sa.Column("reporter_email_canonical", sa.String(320), nullable=True),
        sa.Column("ip", sa.String(45), nullable=True),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("action_id", BigId, nullable=True),
        sa.Column("closed_at", Timestamp, nullable=True),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["campaigns.id"], name="fk_reports_campaign_id_campaigns"
        ),
        sa.ForeignKeyConstraint(
            ["update_id"], ["campaign_updates.id"], name="fk_reports_update_id_campaign_updates"
        ),
        sa.ForeignKeyConstraint(
            ["action_id"], ["report_actions.id"], name="fk_reports_action_id_report_actions"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_reports"),
    )
    op.create_index("ix_reports_open", "reports", ["closed_at", "created_at"])
    op.create_index("ix_reports_campaign", "reports", ["campaign_id"])
    op.create_index("ix_reports_ip", "reports", ["ip", "created_at"])
    op.create_index("ix_reports_reporter", "reports", ["reporter_email_canonical"])


def downgrade() -> None:
    op.drop_table("reports")
    op.drop_table("report_actions")
