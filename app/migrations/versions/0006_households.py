"""Issue 11: households, premises and coverage, letters, pledges without email

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 13:10:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

Timestamp = sa.DateTime(timezone=True)
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("counts", sa.String(length=10), nullable=False, server_default="people")
        )
        batch_op.add_column(sa.Column("premises_count", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("premises_listed", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("coverage_target", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("require_letter", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        for name in ("household_count", "covered_count"):
            batch_op.add_column(sa.Column(name, sa.Integer(), nullable=False, server_default="0"))

    op.create_table(
        "households",
        sa.Column("id", BigId, nullable=False),
        sa.Column("campaign_id", BigId, nullable=False),
        sa.Column("postcode", sa.String(length=8), nullable=False),
        sa.Column("address_key", sa.String(length=200), nullable=False),
        sa.Column("street", sa.String(length=200), nullable=False),
        sa.Column("district", sa.String(length=4), nullable=False),
        sa.Column("listed", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("counting_pledge_id", BigId, nullable=True),
        sa.Column("level", sa.String(length=8), nullable=True),
        sa.Column("letter_verified_at", Timestamp, nullable=True),
        sa.Column("left_out_at", Timestamp, nullable=True),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["campaigns.id"], name="fk_households_campaign_id_campaigns"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_households"),
        sa.UniqueConstraint(
            "campaign_id", "postcode", "address_key", name="uq_households_campaign_address"
        ),
    )
    op.create_table(
        "premises",
        sa.Column("id", BigId, nullable=False),
        sa.Column("campaign_id", BigId, nullable=False),
        sa.Column("address_line", sa.String(length=200), nullable=False),
        sa.Column("postcode", sa.String(length=8), nullable=False),
        sa.Column("district", sa.String(length=4), nullable=False),
        sa.Column("street", sa.String(length=200), nullable=False),
        sa.Column("address_key", sa.String(length=200), nullable=False),
        sa.Column("uprn", sa.String(length=12), nullable=True),
        sa.Column("code_hash", sa.String(length=64), nullable=True),
        sa.Column("code_issued_at", Timestamp, nullable=True),
        sa.Column("code_used_at", Timestamp, nullable=True),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["campaigns.id"], name="fk_premises_campaign_id_campaigns"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_premises"),
        sa.UniqueConstraint(
            "campaign_id", "postcode", "address_key", name="uq_premises_campaign_address"
        ),
    )
    op.create_index("ix_premises_campaign_code", "premises", ["campaign_id", "code_hash"])
    op.create_table(
        "letter_attempts",
        sa.Column("id", BigId, nullable=False),
        sa.Column("campaign_id", BigId, nullable=False),
        sa.Column("address", sa.String(length=220), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["campaigns.id"], name="fk_letter_attempts_campaign_id_campaigns"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_letter_attempts"),
    )
    op.create_index(
        "ix_letter_attempts_campaign", "letter_attempts", ["campaign_id", "created_at"]
    )
    op.create_index(
        "ix_letter_attempts_address",
        "letter_attempts",
        ["campaign_id", "address", "created_at"],
    )

    with op.batch_alter_table("pledges", schema=None) as batch_op:
        batch_op.alter_column("email", existing_type=sa.String(length=320), nullable=True)
        batch_op.alter_column(
            "email_canonical", existing_type=sa.String(length=320), nullable=True
        )
        batch_op.add_column(sa.Column("address_line", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("household_id", BigId, nullable=True))
        batch_op.add_column(sa.Column("phone", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("vouched_by", BigId, nullable=True))
        batch_op.create_foreign_key(
            "fk_pledges_household_id_households", "households", ["household_id"], ["id"]
        )
        batch_op.create_foreign_key("fk_pledges_vouched_by_leads", "leads", ["vouched_by"], ["id"])
        batch_op.create_index("ix_pledges_household", ["household_id", "status"])

    op.create_table(
        "hand_notes",
        sa.Column("id", BigId, nullable=False),
        sa.Column("dedupe_key", sa.String(length=120), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("pledge_id", BigId, nullable=False),
        sa.Column("campaign_id", BigId, nullable=False),
        sa.Column("event_id", BigId, nullable=True),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("told_at", Timestamp, nullable=True),
        sa.ForeignKeyConstraint(
            ["pledge_id"], ["pledges.id"], name="fk_hand_notes_pledge_id_pledges"
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["campaigns.id"], name="fk_hand_notes_campaign_id_campaigns"
        ),
        sa.ForeignKeyConstraint(["event_id"], ["events.id"], name="fk_hand_notes_event_id_events"),
        sa.PrimaryKeyConstraint("id", name="pk_hand_notes"),
        sa.UniqueConstraint("dedupe_key", name="uq_hand_notes_dedupe_key"),
    )
    op.create_index("ix_hand_notes_campaign", "hand_notes", ["campaign_id", "told_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_hand_notes_campaign", table_name="hand_notes")
    op.drop_table("hand_notes")
    with op.batch_alter_table("pledges", schema=None) as batch_op:
        batch_op.drop_index("ix_pledges_household")
        batch_op.drop_constraint("fk_pledges_vouched_by_leads", type_="foreignkey")
        batch_op.drop_constraint("fk_pledges_household_id_households", type_="foreignkey")
        for name in ("vouched_by", "phone", "household_id", "address_line"):
            batch_op.drop_column(name)
        batch_op.alter_column(
            "email_canonical", existing_type=sa.String(length=320), nullable=False
        )
        batch_op.alter_column("email", existing_type=sa.String(length=320), nullable=False)
    op.drop_index("ix_letter_attempts_address", table_name="letter_attempts")
    op.drop_index("ix_letter_attempts_campaign", table_name="letter_attempts")
    op.drop_table("letter_attempts")
    op.drop_index("ix_premises_campaign_code", table_name="premises")
    op.drop_table("premises")
    op.drop_table("households")
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        for name in (
            "covered_count",
            "household_count",
            "require_letter",
            "coverage_target",
            "premises_listed",
            "premises_count",
            "counts",
        ):
            batch_op.drop_column(name)
