"""The Store's reuse of compiled statements gives each call its own values."""

from __future__ import annotations

import sqlalchemy as sa

from pledges.store import Store
from pledges.tables import leads
from tests.factories import make_lead


async def test_same_shape_statements_bind_their_own_values(store: Store) -> None:
    for i in range(3):
        await make_lead(store, f"lead{i}@example.org")
    for i in range(3):
        email = await store.database.fetch_val(
            sa.select(leads.c.email).where(leads.c.email == f"lead{i}@example.org")
        )
        assert email == f"lead{i}@example.org"
    rows = await store.database.fetch_all(
        sa.update(leads)
        .where(leads.c.email == "lead1@example.org")
        .values(name="Second")
        .returning(leads.c.email, leads.c.name)
    )
    assert [(r["email"], r["name"]) for r in rows] == [("lead1@example.org", "Second")]


async def test_in_lists_of_different_lengths_are_compiled_each_time(store: Store) -> None:
    for i in range(4):
        await make_lead(store, f"in{i}@example.org")
    for n in (1, 3, 2, 4):
        wanted = [f"in{i}@example.org" for i in range(n)]
        found = await store.database.fetch_all(
            sa.select(leads.c.email).where(leads.c.email.in_(wanted)).order_by(leads.c.email)
        )
        assert [r["email"] for r in found] == wanted
