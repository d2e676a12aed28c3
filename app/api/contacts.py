"""/api/v1 contacts of a tipped campaign, for the organisations that receive it."""

from __future__ import annotations

from pydantic import Field
from starlette.requests import Request
from starlette.responses import Response

from app.api.contract import Answer, Operation, answer, operation
from app.api.models import Shape
from app.api.requests import require_organisation
from app.bootstrap import services
from app.errors import Problem
from notifications import demand


class Contact(Shape):
    name: str
    email: str | None = Field(
        description="Null for a resident who pledged without an email address (their "
        "campaign's lead recorded the pledge)."
    )
    postcode: str
    address_line: str | None = Field(
        default=None,
        description="The first line of the address, when the pledger gave one (campaigns that "
        "count households ask it). Only pledgers who agreed to be contacted are listed.",
    )


class CampaignContacts(Shape):
    campaign: str
    contacts: list[Contact]


@operation(
    "GET",
    "/api/v1/campaigns/{slug}/contacts",
    operation_id="getCampaignContacts",
    summary="Consenting pledgers' contact details, once the campaign tipped",
    tag="contacts",
    caller="organisation",
    answers={
        200: Answer("Contacts", CampaignContacts, headers={"Cache-Control": "Always no-store."})
    },
    errors=(403, 404, 409),
    description="A 403 for an organisation an administrator has not approved to receive "
    "contacts, or with no active endpoint that receives this campaign's tipping with filters "
    "naming its category and area (empty filters do not count); a 409 before the campaign "
    "tipped. Every download is recorded and shown to the campaign's lead, and to each "
    "resident listed in their data export.",
)
async def campaign_contacts(request: Request) -> Response:
    """Names and contact details of confirmed pledgers who consented, once a campaign tipped,
    for approved organisations with an endpoint whose filters name its category and area."""
    org = await require_organisation(request)
    try:
        campaign, contacts = await demand.campaign_contacts(
            services(request).store, org.id, request.path_params["slug"], via="api"
        )
    except demand.CampaignNotTipped as exc:
        raise Problem(409, str(exc)) from exc
    except demand.ContactsRefused as exc:  # not approved, or no endpoint names it
        raise Problem(403, str(exc)) from exc
    found = CampaignContacts(
        campaign=campaign.slug,
        contacts=[_contact(c) for c in contacts],
    )
    return answer(found, headers={"Cache-Control": "no-store"})


def _contact(found: demand.Contact) -> Contact:
    contact = Contact(name=found.name, email=found.email, postcode=found.postcode)
    if found.address_line is not None:  # absent, as before, for a pledge without one
        contact.address_line = found.address_line
    return contact


operations: list[Operation] = [campaign_contacts]
