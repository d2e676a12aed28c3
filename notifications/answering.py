"""Who may answer a campaign after it tips: publish a response, post offers, keep a
delivery record.

An organisation answers the campaigns its webhook endpoints cover (their categories,
postcode prefixes and campaigns), as it downloads contacts only for those; the rule lives
here, beside the endpoints that define it, because pledges never imports notifications.
The JSON API and the organisation's pages both call `answerable_campaign` before the
domain (pledges.responses, pledges.offers, pledges.delivery) writes anything.
"""

from __future__ import annotations

from typing import Literal

from databases import Database

from notifications.demand import endpoint_covers, public_campaign
from notifications.endpoints import list_endpoints
from pledges.accounts import Organisation
from pledges.campaigns import Campaign
from pledges.errors import NotPermitted, WrongState

Purpose = Literal["response", "offer", "delivery"]


class NotCovering(NotPermitted):
    def __init__(self) -> None:
        super().__init__(
            "None of your active webhook endpoints covers this campaign's area and category, "
            "so your organisation cannot answer it."
        )


def may_respond(organisation: Organisation, campaign: Campaign) -> bool:
    """A provider once the campaign tipped; a council once it reached a milestone."""
    if campaign.status == "tipped":
        return True
    return (
        organisation.kind == "council"
        and campaign.status == "open"
        and campaign.milestone_reached > 0
    )


def check_purpose(organisation: Organisation, campaign: Campaign, purpose: Purpose) -> None:
    """The campaign's state and the organisation's kind allow `purpose`, or raise why not."""
    if purpose == "response":
        if not may_respond(organisation, campaign):
            raise WrongState(
                "A provider may respond once the campaign has tipped; a council once it has "
                "reached a milestone."
            )
        return
    if organisation.kind != "provider":
        raise NotPermitted("Only providers post offers and delivery milestones.")
    if campaign.status != "tipped":
        what = "Offers" if purpose == "offer" else "Delivery milestones"
        raise WrongState(f"{what} can be posted only on a campaign that has tipped.")


async def answerable_campaign(
    db: Database, organisation: Organisation, slug: str, purpose: Purpose
) -> Campaign:
    """The public campaign at `slug`, if `organisation` may answer it for `purpose`; raises
    CampaignNotFound, NotCovering (403) or WrongState (409)."""
    campaign = await public_campaign(db, slug)
    endpoints = await list_endpoints(db, organisation.id)
    if not any(e.status == "active" and endpoint_covers(e, campaign) for e in endpoints):
        raise NotCovering()
    check_purpose(organisation, campaign, purpose)
    return campaign


async def covers(db: Database, organisation_id: int, campaign: Campaign) -> bool:
    """Whether any of the organisation's active endpoints covers the campaign."""
    endpoints = await list_endpoints(db, organisation_id)
    return any(e.status == "active" and endpoint_covers(e, campaign) for e in endpoints)
