"""Issue 12: the price each household would pay, firmness, cost sharing, the equity floor

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 16:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
COUNTERS = (
    "firm_interested",
    "firm_will_switch",
    "firm_deposit",
    "priced_count",
    "priced_covered",
    "priority_count",
)


def upgrade() -> None:
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.add_column(sa.Column("price_currency", sa.String(length=3), nullable=True))
        batch_op.add_column(sa.Column("price_period", sa.String(length=5), nullable=True))
        batch_op.add_column(sa.Column("price_points", sa.String(length=800), nullable=True))
        batch_op.add_column(
            sa.Column("price_required", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("target_price", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("take_up_rates", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("quote_total", sa.BigInteger(), nullable=True))
        batch_op.add_column(
            sa.Column("quote_voucher", sa.BigInteger(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("tip_on_cost", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("equity_share", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("equity_districts", sa.String(length=2000), nullable=True))
        for name in COUNTERS:
            batch_op.add_column(sa.Column(name, sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(
            sa.Column("cost_covered", sa.BigInteger(), nullable=False, server_default="0")
        )
    with op.batch_alter_table("pledges", schema=None) as batch_op:
        batch_op.add_column(sa.Column("max_price", sa.BigInteger(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "firmness", sa.String(length=12), nullable=False, server_default="will_switch"
            )
        )
    for table in ("households", "premises"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(
                sa.Column("priority", sa.Boolean(), nullable=False, server_default=sa.false())
            )
    op.create_table(
        "demand_counts",
        sa.Column("campaign_id", BigId, nullable=False),
        sa.Column("price", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("firmness", sa.String(length=12), nullable=False),
        sa.Column("level", sa.String(length=8), nullable=False),
        sa.Column("listed", sa.Boolean(), nullable=False),
        sa.Column("district", sa.String(length=4), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_demand_counts_campaign_id_campaigns"),
        ),
        sa.PrimaryKeyConstraint(
            "campaign_id",
            "price",
            "firmness",
            "level",
            "listed",
            "district",
            name=op.f("pk_demand_counts"),
        ),
    )
    # Pledges made before this revision: money pledges were deposits all along, and every
    # counted pledge so far is "will_switch" (the default) or a deposit.
    op.execute("UPDATE pledges SET firmness = 'deposit' WHERE amount IS NOT NULL")
    for column, units in (
        ("firm_deposit", "confirmed_count WHERE currency IS NOT NULL AND counts = 'people'"),
        ("firm_will_switch", "confirmed_count WHERE currency IS NULL AND counts = 'people'"),
        ("firm_deposit", "household_count WHERE currency IS NOT NULL AND counts = 'households'"),
        ("firm_will_switch", "household_count WHERE currency IS NULL AND counts = 'households'"),
    ):
        op.execute(f"UPDATE campaigns SET {column} = {units}")


def downgrade() -> None:
    op.drop_table("demand_counts")
    for table in ("premises", "households"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("priority")
    with op.batch_alter_table("pledges", schema=None) as batch_op:
        batch_op.drop_column("firmness")
        batch_op.drop_column("max_price")
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        for name in (
            "cost_covered",
            *reversed(COUNTERS),
            "equity_districts",
            "equity_share",
            "tip_on_cost",
            "quote_voucher",
            "quote_total",
            "take_up_rates",
            "target_price",
            "price_required",
            "price_points",
            "price_period",
            "price_currency",
        ):
            batch_op.drop_column(name)
