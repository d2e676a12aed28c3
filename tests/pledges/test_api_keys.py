"""API keys: who owns one is remembered briefly, and a revoked key stops working."""

from __future__ import annotations

import sqlalchemy as sa

from pledges.accounts import (
    KeyCache,
    create_organisation_api_key,
    hash_key,
    lead_for_key,
    organisation_for_key,
    revoke_api_key,
)
from pledges.store import Store, utcnow
from pledges.tables import api_keys
from tests.factories import make_lead


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def _revoke_elsewhere(store: Store, raw_key: str) -> None:
    """As another process (or an operator in the database) would: no cache is told."""
    await store.database.execute(
        sa.update(api_keys)
        .where(api_keys.c.key_hash == hash_key(raw_key))
        .values(revoked_at=utcnow())
    )


async def test_a_key_revoked_elsewhere_is_refused_once_the_delay_has_passed(store: Store) -> None:
    lead, key = await make_lead(store)
    clock = Clock()
    cache = KeyCache(5, clock=clock)
    assert await lead_for_key(store.database, key, cache) == lead

    await _revoke_elsewhere(store, key)
    clock.now += 4.9
    assert await lead_for_key(store.database, key, cache) == lead  # within the delay
    clock.now += 0.1
    assert await lead_for_key(store.database, key, cache) is None
    assert await lead_for_key(store.database, key) is None


async def test_a_key_revoked_in_this_process_is_refused_at_once(store: Store) -> None:
    lead, key = await make_lead(store)
    org, org_key = await create_organisation_api_key(
        store, "ops@fibre.example", "Fibre Co", "provider"
    )
    cache = KeyCache(60, clock=Clock())
    assert await lead_for_key(store.database, key, cache) == lead
    assert await organisation_for_key(store.database, org_key, cache) == org

    assert await revoke_api_key(store, key) is True
    assert await revoke_api_key(store, org_key) is True

    assert await lead_for_key(store.database, key, cache) is None
    assert await organisation_for_key(store.database, org_key, cache) is None
    assert await revoke_api_key(store, key) is False  # revoked already


async def test_a_remembered_key_costs_no_query_and_a_new_key_works_at_once(store: Store) -> None:
    cache = KeyCache(5, clock=Clock())
    assert await lead_for_key(store.database, "gs_not-a-key", cache) is None
    lead, key = await make_lead(store)
    assert await lead_for_key(store.database, key, cache) == lead  # unknown keys not kept
    await store.database.execute(sa.delete(api_keys))  # only the cache knows it now
    assert await lead_for_key(store.database, key, cache) == lead


async def test_zero_seconds_asks_the_database_every_time(store: Store) -> None:
    lead, key = await make_lead(store)
    cache = KeyCache(0, clock=Clock())
    assert await lead_for_key(store.database, key, cache) == lead
    await _revoke_elsewhere(store, key)
    assert await lead_for_key(store.database, key, cache) is None
