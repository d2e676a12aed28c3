"""The lead's pages for a households campaign's premises list: upload or replace the list
(a CSV file or pasted CSV), review the addresses pledges came from that are not on it (add
each to the list, or leave it out), and print a street's walk sheet: the listed doors with
no counted pledge yet, a tick box each, and the campaign's QR code.

Every page needs the lead's session; another lead's campaign answers 404, as on the lead's
other pages (app/pages/leads.py)."""

from __future__ import annotations

from typing import Any

from markupsafe import Markup
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from app.bootstrap import services
from app.csrf import check_csrf
from app.errors import Problem
from app.pages.leads import FLASH, STATUS_LABELS, qr_svg
from app.pages.rendering import render
from app.pages.sharing import campaign_url
from app.pages.sign_in import (
    lead_or_redirect,
    own_campaign,
)
from pledges import premises_list
from pledges.campaigns import Campaign
from pledges.errors import FieldError, ValidationFailed
from pledges.premises import MAX_PREMISES, parse_premises_csv
from pledges.premises_list import MAX_LIST_BYTES, NotAwaitingReview, PremisesRefused
from pledges.text import whole_number

# Row errors shown beside the field; the rest are counted.
SHOWN_ERRORS = 20
NO_LIST = "Choose a CSV file, or paste the list into the box."


def _page(request: Request, name: str, context: dict[str, Any], status_code: int = 200) -> Response:
    context.setdefault("status_labels", STATUS_LABELS)
    return render(request, name, context, status_code)


def _flash(request: Request, message: str) -> None:
    request.session[FLASH] = message


def _households_only(campaign: Campaign) -> None:
    if not campaign.counts_households:
        raise Problem(
            404, "This campaign counts people, so it has no premises list or walk sheets."
        )


def _upload_page(
    request: Request,
    campaign: Campaign,
    *,
    pasted: str = "",
    errors: dict[str, list[str]] | None = None,
    status_code: int = 200,
) -> Response:
    errors = errors or {}
    summary = [(f"premises-{field}", messages[0]) for field, messages in errors.items()]
    return _page(
        request,
        "lead/premises_upload.html",
        {
            "campaign": campaign,
            "pasted": pasted,
            "errors": errors,
            "error_summary": summary,
            "max_premises": MAX_PREMISES,
            "can_change": campaign.status in premises_list.CHANGEABLE,
        },
        status_code,
    )


def _row_messages(errors: list[FieldError]) -> list[str]:
    # The parser's messages name their row ("Row 4: ..."), as the lead's spreadsheet shows it.
    shown = [e.message for e in errors[:SHOWN_ERRORS]]
    if len(errors) > SHOWN_ERRORS:
        shown.append(f"… and {len(errors) - SHOWN_ERRORS} more.")
    return shown


async def _sent_list(request: Request) -> tuple[str, str, str | None]:
    """(the field the list came in, its text, an error for that field or None)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_LIST_BYTES + 64 * 1024:
        return "file", "", f"The list must be at most {MAX_LIST_BYTES // (1024 * 1024)} MB."
    form = await request.form(max_files=1, max_fields=8, max_part_size=MAX_LIST_BYTES)
    check_csrf(request, form.get("csrf_token"))
    upload = form.get("premises_file")
    if isinstance(upload, UploadFile) and upload.filename:
        raw = await upload.read(MAX_LIST_BYTES + 1)
        if len(raw) > MAX_LIST_BYTES:
            return "file", "", f"The file must be at most {MAX_LIST_BYTES // (1024 * 1024)} MB."
        try:
            return "file", raw.decode("utf-8-sig"), None
        except UnicodeDecodeError:
            return "file", "", "The file is not UTF-8 text. Save it as CSV (UTF-8) and try again."
    pasted = form.get("premises_csv")
    text = pasted if isinstance(pasted, str) else ""
    return "csv", text, None if text.strip() else NO_LIST


async def upload(request: Request) -> Response:
    lead = await lead_or_redirect(request)
    if isinstance(lead, Response):
        return lead
    campaign = await own_campaign(request, lead)
    _households_only(campaign)
    if request.method == "GET":
        return _upload_page(request, campaign)
    field, text, problem = await _sent_list(request)
    pasted = text if field == "csv" else ""
    if problem is not None:
        return _upload_page(
            request, campaign, pasted=pasted, errors={field: [problem]}, status_code=422
        )
    try:
        rows = parse_premises_csv(text)
        summary = await premises_list.replace_premises(
            services(request).store, campaign.slug, lead.id, rows
        )
    except ValidationFailed as exc:
        return _upload_page(
            request,
            campaign,
            pasted=pasted,
            errors={field: _row_messages(exc.errors)},
            status_code=422,
        )
    except PremisesRefused as exc:
        return _upload_page(
            request, campaign, pasted=pasted, errors={field: [str(exc)]}, status_code=409
        )
    _flash(
        request,
        f"The premises list is saved: {summary.listed} premises ({summary.added} added, "
        f"{summary.removed} removed, {summary.kept} kept).",
    )
    return RedirectResponse(f"/lead/campaigns/{campaign.slug}#premises", status_code=303)


async def review(request: Request) -> Response:
    """GET lists the addresses awaiting review; a POST adds one to the list or leaves it out."""
    lead = await lead_or_redirect(request)
    if isinstance(lead, Response):
        return lead
    campaign = await own_campaign(request, lead)
    _households_only(campaign)
    svc = services(request)
    if request.method == "POST":
        form = await request.form()
        check_csrf(request, form.get("csrf_token"))
        household = whole_number(str(form.get("household_id") or ""), max_digits=18)
        action = form.get("action")
        if household is None or action not in ("add", "leave_out"):
            raise Problem(404, "There is no such address awaiting review on this campaign.")
        try:
            if action == "add":
                await premises_list.add_to_list(svc.store, campaign.slug, lead.id, household)
                _flash(request, "Added to the premises list. Its pledges count towards coverage.")
            else:
                await premises_list.leave_out(svc.store, campaign.slug, lead.id, household)
                _flash(request, "Left out of the list. Its pledges still count as households.")
        except NotAwaitingReview:
            _flash(request, "That address was reviewed already.")
        except PremisesRefused as exc:
            _flash(request, str(exc))
        return RedirectResponse(request.url.path, status_code=303)
    async with svc.store.read() as db:
        waiting = await premises_list.unlisted_households(db, campaign)
    return _page(
        request,
        "lead/premises_review.html",
        {
            "campaign": campaign,
            "waiting": waiting,
            "can_add": campaign.status in premises_list.CHANGEABLE,
            "flash": request.session.pop(FLASH, None),
        },
    )


async def walk_sheet(request: Request) -> Response:
    lead = await lead_or_redirect(request)
    if isinstance(lead, Response):
        return lead
    campaign = await own_campaign(request, lead)
    _households_only(campaign)
    if not campaign.is_public:
        raise Problem(
            409,
            "A walk sheet's code sends people to the campaign's page, so the campaign must be "
            "published (and not hidden) first.",
        )
    street = request.query_params.get("street", "")
    async with services(request).store.read() as db:
        streets = {c.name: c for c in await premises_list.coverage_by_street(db, campaign.id)}
        if street not in streets:
            raise Problem(404, "There is no such street on this campaign's premises list.")
        doors = await premises_list.walk_sheet(db, campaign.id, street)
    url = campaign_url(services(request).settings.base_url, campaign.slug)
    context: dict[str, Any] = {
        "campaign": campaign,
        "street": streets[street],
        "doors": doors,
        "url": url,
        # segno's SVG: paths and a fixed title, no text from anyone.
        "qr": Markup(qr_svg(url)),  # noqa: S704
    }
    return _page(request, "lead/walk_sheet.html", context)


routes = [
    Route("/lead/campaigns/{slug}/premises", upload, methods=["GET", "POST"]),
    Route("/lead/campaigns/{slug}/premises/review", review, methods=["GET", "POST"]),
    Route("/lead/campaigns/{slug}/walk", walk_sheet, methods=["GET"]),
]
