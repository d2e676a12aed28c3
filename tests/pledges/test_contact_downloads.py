"""The contacts of a choice round's choosers: only for an approved organisation, and every
download recorded with the pledges it carried."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from pledges.choices import download_choosers
from pledges.contact_downloads import (
    NotApprovedForContacts,
    campaign_contact_downloads,
    recipients_of_pledges,
)
from pledges.store import Store
from pledges.tables import choices, contact_download_pledges
from tests.conftest import table_snapshot
from tests.factories import approve, make_delivered_campaign


async def test_choosers_go_only_to_an_approved_provider_and_each_download_is_recorded(
    store: Store,
) -> None:
    delivered = await make_delivered_campaign(store, choosers=3)
    consenting = delivered.choosers[:2]
    await store.database.execute(
        sa.update(choices).where(choices.c.pledge_id.in_(consenting)).values(share_contact=True)
    )
    campaign_id, provider_id = delivered.campaign.id, delivered.provider.id

    before = await table_snapshot(store)
    with pytest.raises(NotApprovedForContacts):
        await download_choosers(store, campaign_id, provider_id, via="choice_api")
    assert await table_snapshot(store) == before

    await approve(store, provider_id)
    found = await download_choosers(store, campaign_id, provider_id, via="choice_csv")
    assert sorted(c.email or "" for c in found) == sorted(
        f"resident{i}@example.org" for i in (0, 1)
    )

    [download] = await campaign_contact_downloads(store.database, campaign_id)
    assert (download.organisation, download.contact_count, download.via) == (
        delivered.provider.name,
        2,
        "choice_csv",
    )
    carried = await store.database.fetch_all(sa.select(contact_download_pledges.c.pledge_id))
    assert sorted(r["pledge_id"] for r in carried) == sorted(consenting)
    received = await recipients_of_pledges(store.database, delivered.choosers)
    assert [r["organisation"] for r in received[consenting[0]]] == [delivered.provider.name]
    assert received[delivered.choosers[2]] == []  # did not agree: not in the download
