"""Issue 13: responses, offers, the choice round, choices, and the delivery record

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 19:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Timestamp = sa.DateTime(timezone=True)


def _counter(name: str) -> sa.Column:
    return sa.Column(name, sa.Integer(), nullable=False, server_default="0")


def upgrade() -> None:
    op.create_table(
        "responses",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("public_id", sa.String(40), nullable=False),
        sa.Column("campaign_id", BigId, nullable=False),
        sa.Column("organisation_id", BigId, nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["campaigns.id"], name="fk_responses_campaign_id_campaigns"
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name="fk_responses_organisation_id_organisations",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_responses"),
        sa.UniqueConstraint("public_id", name="uq_responses_public_id"),
    )
    op.create_index("ix_responses_campaign", "responses", ["campaign_id", "created_at"])
    op.create_table(
        "offers",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("public_id", sa.String(40), nullable=False),
        sa.Column("campaign_id", BigId, nullable=False),
        sa.Column("organisation_id", BigId, nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("price", sa.BigInteger(), nullable=False),
        sa.Column("period", sa.String(5), nullable=False),
        sa.Column("setup_fee", sa.BigInteger(), nullable=False, server_default="0"),
        _counter("minimum_term_months"),
        sa.Column("available_from", Timestamp, nullable=True),
        sa.Column("valid_until", Timestamp, nullable=True),
        sa.Column("social_tariff_price", sa.BigInteger(), nullable=True),
        sa.Column("social_tariff_eligibility", sa.String(1000), nullable=True),
        sa.Column("no_social_tariff", sa.String(1000), nullable=True),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("withdrawn_reason", sa.String(1000), nullable=True),
        sa.Column("withdrawn_at", Timestamp, nullable=True),
        sa.Column("shuffle_key", sa.String(64), nullable=False),
        _counter("chosen_count"),
        _counter("social_tariff_count"),
        _counter("served_count"),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["campaigns.id"], name="fk_offers_campaign_id_campaigns"
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name="fk_offers_organisation_id_organisations",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_offers"),
        sa.UniqueConstraint("public_id", name="uq_offers_public_id"),
    )
    op.create_index("ix_offers_campaign", "offers", ["campaign_id", "status"])
    op.create_table(
        "choice_rounds",
        sa.Column("campaign_id", BigId, nullable=False),
        sa.Column("opened_by", sa.String(5), nullable=False),
        sa.Column("opened_at", Timestamp, nullable=False),
        sa.Column("closes_at", Timestamp, nullable=False),
        sa.Column("closed_at", Timestamp, nullable=True),
        _counter("chose_count"),
        _counter("none_count"),
        _counter("social_tariff_count"),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["campaigns.id"], name="fk_choice_rounds_campaign_id_campaigns"
        ),
        sa.PrimaryKeyConstraint("campaign_id", name="pk_choice_rounds"),
    )
    op.create_index("ix_choice_rounds_due", "choice_rounds", ["closed_at", "closes_at"])
    op.create_table(
        "choices",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("campaign_id", BigId, nullable=False),
        sa.Column("unit_key", sa.String(24), nullable=False),
        sa.Column("pledge_id", BigId, nullable=False),
        sa.Column("offer_id", BigId, nullable=True),
        sa.Column("needs_social_tariff", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("share_contact", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.Column("service_confirmed_at", Timestamp, nullable=True),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["campaigns.id"], name="fk_choices_campaign_id_campaigns"
        ),
        sa.ForeignKeyConstraint(["pledge_id"], ["pledges.id"], name="fk_choices_pledge_id_pledges"),
        sa.ForeignKeyConstraint(["offer_id"], ["offers.id"], name="fk_choices_offer_id_offers"),
        sa.PrimaryKeyConstraint("id", name="pk_choices"),
        sa.UniqueConstraint("campaign_id", "unit_key", name="uq_choices_campaign_unit"),
    )
    op.create_index("ix_choices_offer", "choices", ["offer_id"])
    op.create_index("ix_choices_pledge", "choices", ["pledge_id"])
    op.create_table(
        "delivery_milestones",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("public_id", sa.String(40), nullable=False),
        sa.Column("campaign_id", BigId, nullable=False),
        sa.Column("organisation_id", BigId, nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("due_on", Timestamp, nullable=False),
        sa.Column("done_on", Timestamp, nullable=True),
        sa.Column("missed_at", Timestamp, nullable=True),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["campaigns.id"], name="fk_delivery_milestones_campaign_id_campaigns"
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name="fk_delivery_milestones_organisation_id_organisations",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_delivery_milestones"),
        sa.UniqueConstraint("public_id", name="uq_delivery_milestones_public_id"),
    )
    op.create_index(
        "ix_delivery_milestones_campaign", "delivery_milestones", ["campaign_id", "due_on"]
    )
    op.create_index(
        "ix_delivery_milestones_due", "delivery_milestones", ["missed_at", "done_on", "due_on"]
    )


def downgrade() -> None:
    for table in ("delivery_milestones", "choices", "choice_rounds", "offers", "responses"):
        op.drop_table(table)
