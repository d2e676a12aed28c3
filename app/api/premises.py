"""/api/v1 for a households campaign's premises list, with the lead's key: replace the whole
list (CSV or JSON rows of address line, postcode and optional UPRN) and read the coverage
it gives, by street and by district (counts only)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import Field, RootModel
from starlette.requests import Request
from starlette.responses import Response

from app.api.contract import Answer, Operation, answer, operation
from app.api.models import Input, Shape
from app.api.requests import read_limited, require_lead
from app.bootstrap import services
from app.errors import Problem
from pledges import campaigns as campaign_service
from pledges import premises_list
from pledges.accounts import Lead
from pledges.campaigns import Campaign
from pledges.errors import FieldError, NotCampaignLead, ValidationFailed
from pledges.premises import MAX_PREMISES, PremiseRow, parse_premises_csv, parse_premises_json
from pledges.premises_list import MAX_LIST_BYTES, Coverage, PremisesRefused, PremisesSummary

CSV_EXAMPLE = (
    "address_line,postcode,uprn\n2 Brudenell Road,LS6 1AB,72012345\n4 Brudenell Road,LS6 1AB,\n"
)

# ----- models ----------------------------------------------------------------------------


class PremiseInput(Input):
    address_line: str = Field(
        description="The first line of the address: house number or name and street, with "
        "the flat if any."
    )
    postcode: str = Field(description="A UK postcode.")
    uprn: str | None = Field(
        default=None, description="The Unique Property Reference Number, if known."
    )


class PremisesUpload(Input):
    premises: list[PremiseInput] = Field(min_length=1, max_length=MAX_PREMISES)


Rows = Annotated[list[PremiseInput], Field(min_length=1, max_length=MAX_PREMISES)]


class PremisesList(RootModel[Rows | PremisesUpload]):
    """The whole list: the rows alone, or {"premises": [...]}."""


class PremisesReplaced(Shape):
    listed: int = Field(ge=0, description="Premises on the list now.")
    added: int = Field(ge=0)
    removed: int = Field(ge=0)
    kept: int = Field(
        ge=0, description="Premises on both lists (any letter code issued for them stays)."
    )
    counted_households_listed: int = Field(
        ge=0, description="Households on the list with a counted pledge."
    )
    coverage_percent: float | None = Field(
        ge=0, description="Counted households on the list as a percent of the premises."
    )


class CoverageRow(Shape):
    name: str = Field(description="The street or the postcode district.")
    listed: int = Field(ge=0, description="Premises on the list there.")
    counted: int = Field(ge=0, description="Of those, premises with a counted household.")
    percent: float = Field(ge=0, le=100)
    to_knock: int = Field(ge=0, description="Premises there with no counted pledge yet.")


class PremisesCoverage(Shape):
    listed: int = Field(ge=0)
    counted_households_listed: int = Field(ge=0)
    coverage_percent: float | None = Field(ge=0)
    awaiting_review: int = Field(
        ge=0,
        description="Households with pledges whose address is not on the list, waiting for "
        "the lead to add them to it or leave them out.",
    )
    by_street: list[CoverageRow]
    by_district: list[CoverageRow]


# ----- handlers --------------------------------------------------------------------------


async def _own_households_campaign(request: Request, lead: Lead) -> Campaign:
    campaign = await campaign_service.get_campaign(
        services(request).store.database, request.path_params["slug"]
    )
    if campaign.lead_id != lead.id:
        raise NotCampaignLead(campaign.slug)
    return campaign


def _json_rows(raw: bytes) -> list[PremiseRow]:
    try:
        data: Any = json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise Problem(
            400,
            "The body is not valid JSON.",
            [FieldError("body", "not_json", "Send the list as JSON.")],
        ) from exc
    return parse_premises_json(data)


async def _rows(request: Request) -> list[PremiseRow]:
    """The list in the body, as CSV or JSON; 413 past MAX_LIST_BYTES, 422 naming each row
    and field at fault."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in ("", "application/json", "text/csv"):
        raise Problem(415, "Send the list as text/csv or application/json.")
    raw = await read_limited(request, MAX_LIST_BYTES)
    try:
        if media == "text/csv":
            try:
                text = raw.decode("utf-8-sig")
            except UnicodeDecodeError as exc:
                raise Problem(
                    400,
                    "The CSV is not UTF-8 text.",
                    [FieldError("body", "not_text", "Save the CSV as UTF-8 and send it again.")],
                ) from exc
            return parse_premises_csv(text)
        return _json_rows(raw)
    except ValidationFailed as exc:
        raise Problem(422, "Some rows of the list are not valid.", exc.errors) from exc


def _refused(exc: PremisesRefused) -> Problem:
    return Problem(409, str(exc))


def _coverage_row(row: Coverage) -> CoverageRow:
    return CoverageRow(
        name=row.name,
        listed=row.listed,
        counted=row.counted,
        percent=row.percent,
        to_knock=row.to_knock,
    )


def _summary_model(summary: PremisesSummary) -> PremisesReplaced:
    return PremisesReplaced(
        listed=summary.listed,
        added=summary.added,
        removed=summary.removed,
        kept=summary.kept,
        counted_households_listed=summary.counted_households_listed,
        coverage_percent=summary.coverage_percent,
    )


@operation(
    "PUT",
    "/api/v1/campaigns/{slug}/premises",
    operation_id="replaceCampaignPremises",
    summary="Replace the premises list of a households campaign (the lead's own)",
    tag="campaigns",
    caller="lead",
    body=PremisesList,
    other_bodies={
        "text/csv": {
            "schema": {
                "type": "string",
                "description": "UTF-8 CSV with a header row: `address_line`, `postcode` and "
                "optionally `uprn`.",
            },
            "example": CSV_EXAMPLE,
        }
    },
    answers={200: Answer("The list as it is now", PremisesReplaced)},
    errors=(403, 404, 409),
    description="The whole list replaces the one before, in one go: premises on both keep "
    "any letter code issued for them. Allowed while the campaign is a draft or open; a 409 "
    "once it has tipped or closed, or for a campaign that counts people. At most "
    f"{MAX_PREMISES:,} rows and 5 MiB (a 413 past that). A 422 names each row and field at "
    "fault (a missing column, a duplicate, a postcode that is not a UK one) and nothing "
    "changes. If the list makes the coverage reach the campaign's target, it tips.",
)
async def replace_premises(request: Request) -> Response:
    lead = await require_lead(request)
    campaign = await _own_households_campaign(request, lead)
    try:
        premises_list.check_changeable(campaign)
        rows = await _rows(request)
        summary = await premises_list.replace_premises(
            services(request).store, campaign.slug, lead.id, rows
        )
    except PremisesRefused as exc:
        raise _refused(exc) from exc
    return answer(_summary_model(summary))


@operation(
    "GET",
    "/api/v1/campaigns/{slug}/premises",
    operation_id="getCampaignPremises",
    summary="The premises list's coverage, by street and by district (the lead's own)",
    tag="campaigns",
    caller="lead",
    answers={200: Answer("Counts only: never an address or a name", PremisesCoverage)},
    errors=(403, 404, 409),
    description="A 409 for a campaign that counts people (it has no premises list).",
)
async def get_premises(request: Request) -> Response:
    lead = await require_lead(request)
    campaign = await _own_households_campaign(request, lead)
    async with services(request).store.read() as db:
        panel = await premises_list.premises_panel(db, campaign)
    if panel is None:
        raise Problem(409, "This campaign counts people, so it has no premises list.")
    shown = PremisesCoverage(
        listed=panel.summary.listed,
        counted_households_listed=panel.summary.counted_households_listed,
        coverage_percent=panel.summary.coverage_percent,
        awaiting_review=panel.awaiting_review,
        by_street=[_coverage_row(r) for r in panel.by_street],
        by_district=[_coverage_row(r) for r in panel.by_district],
    )
    return answer(shown, headers={"Cache-Control": "no-store"})


operations: list[Operation] = [replace_premises, get_premises]
