"""Pages for campaign leads: their campaigns, starting and editing one (with the money it
asks for), the dashboard (progress chart, forecast, districts, money and refunds), paper
pledges, updates to pledgers, the pledge CSV and a printable flyer.

Leads are volunteers, often on a phone: every page works without JavaScript and every
form re-renders with its messages beside the fields. Every page needs a lead's session;
another lead's campaign answers 404, as if it did not exist.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import segno
from databases import Database
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from app.bootstrap import services
from app.csrf import check_csrf
from app.errors import Problem, problem_from_domain
from app.pages.campaign_demand import demand_view
from app.pages.demand_form import (
    DEMAND_FIELDS,
    LIVE_DEMAND_FIELDS,
    demand_data,
    demand_form_errors,
    demand_form_values,
    live_demand_data,
)
from app.pages.price_answers import ANSWER_FIELDS, answer_errors, answers_from
from app.pages.rendering import render
from app.pages.sharing import campaign_url
from app.pages.sign_in import (
    lead_or_redirect,
    own_campaign,
)
from app.spreadsheet import SPREADSHEET_BOM, csv_cell
from notifications.hand_notes import untold_count
from pledges import campaigns as campaign_service
from pledges.campaigns import CATEGORIES, Campaign
from pledges.contact_downloads import campaign_contact_downloads
from pledges.counting import household_breakdown
from pledges.dashboard import load_dashboard, long_date
from pledges.discovery import SimilarCampaign, similar_campaigns
from pledges.errors import (
    CampaignNotFound,
    CampaignNotOpen,
    DomainError,
    FieldError,
    PledgeNotFound,
    RefundRefused,
    SlugTaken,
    StruckOutEmail,
    ValidationFailed,
)
from pledges.letters import letters_summary
from pledges.money import CURRENCIES, format_money, major_text, parse_major
from pledges.payments import PaymentView, payment_view, refund_in_full
from pledges.pledge_rows import columns_for, pledge_rows
from pledges.pledging import (
    AlreadyRecorded,
    PledgeInput,
    VouchedPledgeInput,
    has_email,
    parse_paper_pledge,
    record_lead_pledge,
)
from pledges.premises_list import premises_panel
from pledges.review import decisions_for_campaign
from pledges.text import MESSAGES as TEXT_MESSAGES
from pledges.text import whole_number
from pledges.updates import UpdateRateLimited, list_updates, parse_update, post_update

CATEGORY_LABELS = {
    "broadband": "Broadband",
    "waste": "Bins, waste and recycling",
    "supplier": "A supplier, like energy or water",
    "transport": "Transport",
    "other": "Something else",
}
STATUS_LABELS = {
    "draft": "Draft: only you can see it",
    "pending_review": "Waiting for review: only you can see it",
    "open": "Open for pledges",
    "tipped": "Reached its target",
    "expired": "Closed: the deadline passed",
    "cancelled": "Cancelled",
}
# The money part of the campaign form: whether and how it asks for money, amounts typed
# in pounds (euros, dollars), as "20" or "12.50".
MONEY_FIELDS = ("money_kind", "currency", "money_target", "deposit", "money_min", "money_max")
MONEY_KINDS = ("none", "deposit", "range")
CURRENCY_LABELS = {
    "gbp": "Pounds (GBP, £)",
    "eur": "Euros (EUR, €)",
    "usd": "US dollars (USD, $)",
}
# The campaign form's fields, in the order the page shows them (and lists errors).
CAMPAIGN_FIELDS = (
    "title",
    "summary",
    "description",
    "category",
    "area_name",
    "postcode_districts",
    "target",
    *MONEY_FIELDS,
    *DEMAND_FIELDS,
    "deadline",
    "milestones",
    "slug",
)
# Where errors may be shown: every field, and "money" (the money fieldset as a whole).
_MONEY_AT = CAMPAIGN_FIELDS.index("money_kind")
ERROR_PLACES = (*CAMPAIGN_FIELDS[:_MONEY_AT], "money", *CAMPAIGN_FIELDS[_MONEY_AT:])
LIVE_FIELDS = ("title", "summary", "description", "deadline")
PAPER_FIELDS = (
    "name",
    "email",
    "postcode",
    "address_line",
    "phone",
    *ANSWER_FIELDS,
    "consent",
    "attested",
)
CONSENT_MISSING = (
    "Tick the box to confirm the person signed a paper form agreeing to be counted and "
    "contacted about this campaign."
)
ATTESTATION_MISSING = (
    "Without an email address, tick the box to confirm you met or spoke to this person and "
    "they asked you to record their pledge."
)
CSV_BATCH = 500
FLASH = "lead_flash"
# A money pledge's payment states, as the dashboard names them.
PAYMENT_LABELS = {
    "awaiting_card": "Waiting for a card",
    "card_saved": "Card saved, to be charged if it tips",
    "charging": "Being charged",
    "action_required": "Charge failed: asked to pay",
    "paid": "Paid",
    "failed": "Not paid after 7 days",
    "releasing": "Card being released",
    "released": "Card released, not charged",
    "refunded": "Refunded",
    "refund_due": "Paid as it was withdrawn: being refunded",
}


# Sessions and ownership


def _flash(request: Request, message: str) -> None:
    request.session[FLASH] = message


def _dashboard_redirect(slug: str, anchor: str = "") -> Response:
    return RedirectResponse(f"/lead/campaigns/{slug}{anchor}", status_code=303)


def _page(request: Request, name: str, context: dict[str, Any], status_code: int = 200) -> Response:
    context.setdefault("long_date", long_date)
    context.setdefault("status_labels", STATUS_LABELS)
    context.setdefault("category_labels", CATEGORY_LABELS)
    context.setdefault("payment_labels", PAYMENT_LABELS)
    return render(request, name, context, status_code)


# The campaign form: what was typed, as parse_campaign wants it, and its errors back


def _typed(raw: Any, names: tuple[str, ...]) -> dict[str, str]:
    return {name: str(raw.get(name, "")) for name in names}


def _number_or_text(value: str) -> int | str:
    text = value.strip().replace(",", "")
    return int(text) if re.fullmatch(r"\d{1,12}", text) else value


def _amount_or_text(value: str) -> int | str | None:
    """A typed amount as minor units; empty as None; anything else as the text itself, so
    parse_campaign refuses it and the form says so beside the field."""
    if not value.strip():
        return None
    amount = parse_major(value)
    return value if amount is None else amount


def _money_data(form: dict[str, str]) -> Any:
    """The API's `money` object from the form: None when it asks for no money."""
    kind = form["money_kind"] or "none"
    if kind == "none":
        return None
    if kind not in MONEY_KINDS:
        return kind  # not an object: parse_campaign names "money"
    money: dict[str, Any] = {"currency": form["currency"] or None}
    names = {"money_target": "target"}
    names |= (
        {"deposit": "deposit"} if kind == "deposit" else {"money_min": "min", "money_max": "max"}
    )
    for field, key in names.items():
        amount = _amount_or_text(form[field])
        if amount is not None:
            money[key] = amount
    return money


def _campaign_data(form: dict[str, str]) -> dict[str, Any]:
    data: dict[str, Any] = {
        "title": form["title"],
        "summary": form["summary"],
        "description": form["description"],
        "category": form["category"] or None,
        "area": {
            "name": form["area_name"],
            "postcode_districts": [
                d for d in re.split(r"[\s,;]+", form["postcode_districts"]) if d
            ],
        },
        "deadline": form["deadline"].strip(),
    }
    if form["target"].strip():  # left empty, a money target may stand in for it
        data["target"] = _number_or_text(form["target"])
    money = _money_data(form)
    if money is not None:
        data["money"] = money
    if form["milestones"].strip():
        parts = [p for p in re.split(r"[\s,;%]+", form["milestones"]) if p]
        data["milestones"] = [_number_or_text(p) for p in parts]
    if form["slug"].strip():
        data["slug"] = form["slug"].strip()
    return data | demand_data(form)


# Names for parse_campaign's general rules (a value is required, its length, text only),
# so the error summary says which field each is about.
FIELD_NOUNS = {
    "title": "a title",
    "summary": "a summary",
    "description": "the story",
    "area_name": "the area's name",
}


def _specific(field: str, error: FieldError) -> str:
    noun = FIELD_NOUNS.get(field)
    if noun is None:
        return error.message
    named = noun.replace("a ", "the ", 1) if noun.startswith("a ") else noun
    named = f"{named[0].upper()}{named[1:]}"
    if error.code == "required":
        return f"Enter {noun}."
    if error.code == "wrong_length":
        low, high = error.params["min"], error.params["max"]
        return f"{named} must be between {low} and {high} characters."
    if error.code == "not_text":
        return f"{named} must be text."
    if error.code in TEXT_MESSAGES:  # a character its field may not hold
        return f"{named} {TEXT_MESSAGES[error.code]}"
    return error.message


# The money form's amount fields: the name parse_campaign gives each, and what the
# message calls it.
MONEY_AMOUNTS = {
    "money.target": ("money_target", "the money target"),
    "money.deposit": ("deposit", "the deposit"),
    "money.min": ("money_min", "the smallest amount"),
    "money.max": ("money_max", "the largest amount"),
}


def _money_form_error(error: FieldError, form: dict[str, str]) -> tuple[str, str]:
    """A money error of parse_campaign (amounts in minor units) as the form's field and
    a message in the pounds (euros, dollars) the lead typed."""
    field = error.field
    if field == "money":
        if error.code == "money_unavailable":
            return "money", (
                "Money pledges are not available on this site, so a campaign cannot ask for "
                "money. Choose not to ask for money."
            )
        return "money_kind", "Choose whether the campaign asks for money."
    if field == "money.currency":
        return "currency", "Choose the currency."
    name, noun = MONEY_AMOUNTS[field]
    typed = form[name].strip()
    if error.code in ("not_a_whole_number", "out_of_range"):
        if parse_major(typed) is None:
            return name, f"Enter {noun} in numbers, like 20 or 12.50."
        currency = form["currency"] if form["currency"] in CURRENCIES else "gbp"
        low_text = format_money(error.params["min"], currency)
        high_text = format_money(error.params["max"], currency)
        return name, f"{noun[0].upper()}{noun[1:]} must be from {low_text} to {high_text}."
    if error.code == "below_minimum":
        return name, "The largest amount must not be less than the smallest."
    # Required and missing: the deposit for a fixed deposit, min and max for a range.
    if form["money_kind"] == "range" and field == "money.deposit":
        return "money_min", "Enter the smallest and the largest amount a household may pledge."
    return name, f"Enter {noun}."


def _campaign_form_errors(
    errors: list[FieldError], data: dict[str, Any], form: dict[str, str]
) -> dict[str, str]:
    """parse_campaign's field names (area.name, area.postcode_districts[2], money.min)
    as the form's fields, in the form's order, with messages for people filling in a form:
    chosen by each error's field and code, never by the domain's words."""
    found, errors = demand_form_errors(errors, data, form)
    bad_districts: list[str] = []
    for error in errors:
        field = error.field
        message: str | None = None  # None: the general wording of _specific
        if field == "money" or field.startswith("money."):
            field, message = _money_form_error(error, form)
            found.setdefault(field, message)
            continue
        if field == "target" and "money" in data and "target" not in data:
            message = "Enter how many pledges it needs, or a money target below."
        if field in ("area", "area.name"):
            field = "area_name"
        elif field.startswith("area.postcode_districts["):
            index = int(field[field.index("[") + 1 : -1])
            bad_districts.append(str(data["area"]["postcode_districts"][index]))
            continue
        elif field == "area.postcode_districts":
            field = "postcode_districts"
            message = "Enter the postcode districts the campaign covers, like LS6, LS16."
        elif field == "category":
            message = "Choose a category."
        elif field == "deadline" and error.code == "not_a_date":
            message = "Enter the deadline as a date, like 2027-03-12."
        elif field == "milestones":
            message = "Enter up to 10 whole percentages from 1 to 99, like 25, 50, 75."
        elif field not in CAMPAIGN_FIELDS:
            field = "title"
        found.setdefault(field, _specific(field, error) if message is None else message)
    if bad_districts:
        found["postcode_districts"] = (
            f"Not a UK postcode district: {', '.join(bad_districts)}. "
            "Use the first part of a postcode, like LS6."
        )
    return {name: found[name] for name in ERROR_PLACES if name in found}


def _slug_taken_error(form: dict[str, str], slug: str) -> dict[str, str]:
    if form["slug"].strip():
        return {"slug": "Another campaign already uses this web address. Choose another."}
    return {
        "slug": f"Another campaign already uses the web address made from this title ({slug}). "
        "Choose a different one here."
    }


def _form_from_campaign(campaign: Campaign) -> dict[str, str]:
    return {
        "title": campaign.title,
        "summary": campaign.summary,
        "description": campaign.description,
        "category": campaign.category,
        "area_name": campaign.area_name,
        "postcode_districts": ", ".join(campaign.postcode_districts),
        "target": str(campaign.target) if campaign.target else "",
        "money_kind": (
            "none"
            if not campaign.is_money
            else "deposit"
            if campaign.deposit_amount is not None
            else "range"
        ),
        "currency": campaign.currency or "gbp",
        "money_target": major_text(campaign.money_target),
        "deposit": major_text(campaign.deposit_amount),
        "money_min": major_text(campaign.min_amount),
        "money_max": major_text(campaign.max_amount),
        "deadline": campaign.deadline.date().isoformat(),
        "milestones": ", ".join(str(m) for m in campaign.milestones),
        "slug": campaign.slug,
        **demand_form_values(campaign),
    }


def _campaign_form_page(
    request: Request,
    *,
    mode: str,
    form: dict[str, str],
    errors: dict[str, str],
    campaign: Campaign | None = None,
    status_code: int = 200,
    similar: list[SimilarCampaign] | None = None,
) -> Response:
    return _page(
        request,
        "lead/campaign_form.html",
        {
            "mode": mode,  # new | draft | live
            "form": form,
            "errors": errors,
            "campaign": campaign,
            "similar": similar or [],
            "categories": CATEGORIES,
            "money_enabled": services(request).settings.money_enabled,
            "currency_labels": CURRENCY_LABELS,
        },
        status_code,
    )


# Pages


async def lead_home(request: Request) -> Response:
    lead = await lead_or_redirect(request)
    if isinstance(lead, Response):
        return lead
    found = await campaign_service.campaigns_for_lead(services(request).store.database, lead.id)
    return _page(
        request,
        "lead/home.html",
        {"lead": lead, "campaigns": found, "flash": request.session.pop(FLASH, None)},
    )


async def _slug_in_use(db: Database, slug: str) -> bool:
    try:
        await campaign_service.get_campaign(db, slug)
    except CampaignNotFound:
        return False
    return True


async def new_campaign(request: Request) -> Response:
    lead = await lead_or_redirect(request)
    if isinstance(lead, Response):
        return lead
    if request.method == "GET":
        blank = dict.fromkeys(CAMPAIGN_FIELDS, "")
        blank |= {"milestones": "25, 50, 75", "money_kind": "none", "currency": "gbp"}
        blank |= demand_form_values(None)
        return _campaign_form_page(request, mode="new", form=blank, errors={})
    raw = await request.form()
    check_csrf(request, raw.get("csrf_token"))
    form = _typed(raw, CAMPAIGN_FIELDS)
    publish = raw.get("action") == "publish"
    data = {**_campaign_data(form), "draft": not publish}
    svc = services(request)
    try:
        spec = campaign_service.parse_campaign(data)
        if raw.get("similar_checked") != "1":
            # As e-petitions does: campaigns like this one first, so that a duplicate
            # does not split the support. Nothing is stored until the lead goes on. A
            # taken address is said first: it has to be fixed whatever they choose.
            if await _slug_in_use(svc.store.database, spec.slug):
                raise SlugTaken(spec.slug)
            similar = await similar_campaigns(
                svc.store.database, spec.category, spec.postcode_districts
            )
            if similar:
                return _campaign_form_page(
                    request, mode="new", form=form, errors={}, similar=similar
                )
        campaign = await campaign_service.create_campaign(
            svc.store,
            lead.id,
            spec,
            money_enabled=svc.settings.money_enabled,
            moderation=svc.settings.moderation,
        )
    except ValidationFailed as exc:
        errors = _campaign_form_errors(exc.errors, data, form)
        return _campaign_form_page(request, mode="new", form=form, errors=errors, status_code=422)
    except SlugTaken as exc:
        errors = _slug_taken_error(form, str(exc))
        return _campaign_form_page(request, mode="new", form=form, errors=errors, status_code=409)
    _flash(
        request,
        _published_words(campaign)
        if publish
        else "Saved as a draft. Only you can see it until you publish it.",
    )
    return _dashboard_redirect(campaign.slug)


def _published_words(campaign: Campaign) -> str:
    if campaign.status == "pending_review":
        return (
            "Sent for review. An administrator checks every campaign before it is published: "
            "you will get an email when it opens, or saying why not."
        )
    return "Published. Share the campaign page to start gathering pledges."


async def _dashboard_page(
    request: Request,
    campaign: Campaign,
    *,
    paper: dict[str, Any] | None = None,
    paper_errors: dict[str, str] | None = None,
    update: dict[str, str] | None = None,
    update_errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    svc = services(request)
    async with svc.store.read() as db:
        dashboard = await load_dashboard(db, campaign)
        updates = await list_updates(db, campaign.id)
        premises = await premises_panel(db, campaign)
        homes = await household_breakdown(db, campaign) if campaign.counts_households else None
        letters = await letters_summary(db, campaign) if campaign.premises_listed else None
        to_tell = await untold_count(db, campaign.id)
        demand = await demand_view(db, campaign)
        decisions = await decisions_for_campaign(db, campaign.id) if campaign.moderation else []
        downloads = await campaign_contact_downloads(db, campaign.id)
    paper_errors = paper_errors or {}
    update_errors = update_errors or {}
    summary = [(f"paper-{k}", v) for k, v in paper_errors.items()] + [
        (f"update-{k}", v) for k, v in update_errors.items()
    ]
    return _page(
        request,
        "lead/dashboard.html",
        {
            "campaign": campaign,
            "dashboard": dashboard,
            "households": homes,
            "letters": letters,
            "demand": demand,
            "last_decision": decisions[0] if decisions else None,
            # Built by pledges.dashboard from XML-escaped text only.
            "chart": Markup(dashboard.chart_svg),  # noqa: S704
            "updates": updates,
            "premises": premises,
            "to_tell": to_tell,
            "contact_downloads": downloads,
            "public_url": campaign_url(svc.settings.base_url, campaign.slug),
            "flash": request.session.pop(FLASH, None),
            "paper": paper or {},
            "paper_errors": paper_errors,
            "update": update or {},
            "update_errors": update_errors,
            "error_summary": summary,
        },
        status_code,
    )


async def dashboard(request: Request) -> Response:
    lead = await lead_or_redirect(request)
    if isinstance(lead, Response):
        return lead
    return await _dashboard_page(request, await own_campaign(request, lead))


async def publish(request: Request) -> Response:
    lead = await lead_or_redirect(request)
    if isinstance(lead, Response):
        return lead
    form = await request.form()
    check_csrf(request, form.get("csrf_token"))
    campaign = await own_campaign(request, lead)
    svc = services(request)
    try:
        published = await campaign_service.open_campaign(
            svc.store, campaign.slug, lead.id, moderation=svc.settings.moderation
        )
    except ValidationFailed:  # the deadline has passed: published, it would close at once
        _flash(request, "Its deadline has passed. Edit it to set a later one, then publish.")
    except CampaignNotOpen as exc:
        label = STATUS_LABELS.get(exc.status, exc.status)
        _flash(request, f"It was not a draft any more ({label.lower()}).")
    else:
        _flash(request, _published_words(published))
    return _dashboard_redirect(campaign.slug)


async def cancel(request: Request) -> Response:
    """GET asks "are you sure?"; the POST from that page cancels, and pledgers are told."""
    lead = await lead_or_redirect(request)
    if isinstance(lead, Response):
        return lead
    campaign = await own_campaign(request, lead)
    if request.method == "GET":
        return _page(request, "lead/cancel.html", {"campaign": campaign})
    form = await request.form()
    check_csrf(request, form.get("csrf_token"))
    try:
        await campaign_service.cancel_campaign(services(request).store, campaign.slug, lead.id)
    except CampaignNotOpen as exc:
        _flash(request, f"It could not be cancelled: it is {exc.status} already.")
    else:
        _flash(request, "The campaign is cancelled. Everyone who pledged will get an email.")
    return _dashboard_redirect(campaign.slug)


async def edit_campaign(request: Request) -> Response:
    """A draft may change in every field; an open or tipped campaign only in its words and
    a later deadline; a closed one not at all."""
    lead = await lead_or_redirect(request)
    if isinstance(lead, Response):
        return lead
    campaign = await own_campaign(request, lead)
    mode = (
        "draft"
        if campaign.status == "draft"
        else "live"
        if campaign.status in ("open", "tipped")
        else "closed"
    )
    if request.method == "GET":
        return _campaign_form_page(
            request, mode=mode, form=_form_from_campaign(campaign), errors={}, campaign=campaign
        )
    raw = await request.form()
    check_csrf(request, raw.get("csrf_token"))
    if mode == "closed":
        return _campaign_form_page(
            request,
            mode=mode,
            form=_form_from_campaign(campaign),
            errors={},
            campaign=campaign,
            status_code=409,
        )
    names = CAMPAIGN_FIELDS if mode == "draft" else (*LIVE_FIELDS, *LIVE_DEMAND_FIELDS)
    form = {**_form_from_campaign(campaign), **_typed(raw, names)}
    data = (
        _campaign_data(form)
        if mode == "draft"
        else {**{n: form[n] for n in LIVE_FIELDS}, **live_demand_data(form, campaign)}
    )
    svc = services(request)
    try:
        edit = campaign_service.parse_campaign_edit(data, campaign)
        updated = await campaign_service.update_campaign(
            svc.store, campaign.slug, lead.id, edit, money_enabled=svc.settings.money_enabled
        )
    except ValidationFailed as exc:
        errors = _campaign_form_errors(exc.errors, data, form)
        return _campaign_form_page(
            request, mode=mode, form=form, errors=errors, campaign=campaign, status_code=422
        )
    except SlugTaken as exc:
        return _campaign_form_page(
            request,
            mode=mode,
            form=form,
            errors=_slug_taken_error(form, str(exc)),
            campaign=campaign,
            status_code=409,
        )
    except CampaignNotOpen as exc:
        _flash(
            request,
            f"Nothing was saved: the campaign changed while you were editing "
            f"(it is now {STATUS_LABELS.get(exc.status, exc.status).lower()}).",
        )
        return _dashboard_redirect(campaign.slug)
    _flash(request, "Your changes are saved.")
    return _dashboard_redirect(updated.slug)


# The paper form is filled in by the lead about someone else.
PAPER_REQUIRED = {
    "name": "Enter their name.",
    "email": "Enter their email address.",
    "postcode": "Enter their postcode.",
    "address_line": "This campaign counts homes: enter the first line of their address, "
    "like 12 Brudenell Road.",
    "attested": ATTESTATION_MISSING,
}


def _paper_message(error: FieldError) -> str:
    if error.code == "required" and error.field in PAPER_REQUIRED:
        return PAPER_REQUIRED[error.field]
    return error.message


def _paper_done(outcome_repeated: bool, spec: PledgeInput | VouchedPledgeInput) -> str:
    if outcome_repeated:
        return "This person had already pledged, so they are counted once."
    if isinstance(spec, VouchedPledgeInput):
        return (
            "Pledge recorded on your word. It counts now. Anything we would email them "
            "will be on your list to tell by hand."
        )
    return "Paper pledge recorded. It counts now."


async def paper_pledge(request: Request) -> Response:
    lead = await lead_or_redirect(request)
    if isinstance(lead, Response):
        return lead
    raw = await request.form()
    check_csrf(request, raw.get("csrf_token"))
    campaign = await own_campaign(request, lead)
    typed = _typed(raw, ("name", "email", "postcode", "address_line", "phone"))
    data: dict[str, Any] = {
        **typed,
        **answers_from(raw),
        "show_name": raw.get("show_name") == "on",
        "share_contact": raw.get("share_contact") == "on",
        "attested": raw.get("attested") == "on",
    }
    form = {**data, "consent": raw.get("consent") == "on"}
    errors: dict[str, str] = {}
    pledge: PledgeInput | VouchedPledgeInput | None = None
    try:
        pledge = parse_paper_pledge(data)
    except ValidationFailed as exc:
        errors |= answer_errors(exc.errors, by_lead=True)
        for e in exc.errors:
            errors.setdefault(e.field, _paper_message(e))
    # With an email: a signed paper form, as ever. Without: the lead's word (attested).
    if has_email(data) and not form["consent"]:
        errors["consent"] = CONSENT_MISSING
    if pledge is not None and not errors:
        status_code = 422
        try:
            outcome = await record_lead_pledge(
                services(request).store, campaign.slug, lead.id, pledge
            )
        except ValidationFailed as exc:  # the address a households campaign needs, a price
            errors |= answer_errors(exc.errors, by_lead=True)
            for e in exc.errors:
                errors.setdefault(e.field if e.field in PAPER_FIELDS else "form", _paper_message(e))
        except (AlreadyRecorded, StruckOutEmail) as exc:
            errors[exc.errors[0].field] = exc.errors[0].message
            status_code = 409
        except DomainError as exc:  # closed, hidden: said on the form, nothing stored
            errors["form"] = str(exc)
            return await _dashboard_page(
                request, campaign, paper=form, paper_errors=errors, status_code=409
            )
        else:
            _flash(request, _paper_done(outcome.repeated, pledge))
            return _dashboard_redirect(campaign.slug, "#paper")
        ordered = {k: errors[k] for k in (*PAPER_FIELDS, *errors) if k in errors}
        return await _dashboard_page(
            request, campaign, paper=form, paper_errors=ordered, status_code=status_code
        )
    ordered = {k: errors[k] for k in (*PAPER_FIELDS, *errors) if k in errors}
    return await _dashboard_page(
        request, campaign, paper=form, paper_errors=ordered, status_code=422
    )


def _next_update_text(when: datetime) -> str:
    return (
        "You can post one update a day and three a week, so each one counts. "
        f"Your next update can go out after {when:%H:%M} UTC on {long_date(when)}."
    )


async def campaign_update(request: Request) -> Response:
    lead = await lead_or_redirect(request)
    if isinstance(lead, Response):
        return lead
    raw = await request.form()
    check_csrf(request, raw.get("csrf_token"))
    campaign = await own_campaign(request, lead)
    form = _typed(raw, ("title", "body"))
    try:
        update = parse_update(form)
        await post_update(services(request).store, campaign.slug, lead.id, update)
    except ValidationFailed as exc:
        errors = {e.field: e.message for e in exc.errors}
        return await _dashboard_page(
            request, campaign, update=form, update_errors=errors, status_code=422
        )
    except UpdateRateLimited as exc:
        errors = {"limit": _next_update_text(exc.next_allowed_at)}
        return await _dashboard_page(
            request, campaign, update=form, update_errors=errors, status_code=429
        )
    except CampaignNotOpen as exc:
        errors = {
            "limit": "An administrator has hidden this campaign, so updates cannot be posted."
            if exc.status == "hidden"
            else "Publish the campaign before you post updates."
        }
        return await _dashboard_page(
            request, campaign, update=form, update_errors=errors, status_code=409
        )
    _flash(request, "Update posted. It is on the campaign page and on its way to pledgers.")
    return _dashboard_redirect(campaign.slug, "#updates")


# Refunds


async def _campaign_pledge(request: Request, campaign: Campaign, value: Any) -> PaymentView:
    """A pledge of this campaign by the number the form sent; any other is not there."""
    pledge_id = whole_number(str(value or ""), max_digits=18)
    if pledge_id is None:
        raise Problem(404, "There is no such pledge on this campaign.")
    try:
        pledge = await payment_view(services(request).store.database, pledge_id)
    except PledgeNotFound as exc:
        raise Problem(404, "There is no such pledge on this campaign.") from exc
    if pledge.campaign_id != campaign.id:
        raise Problem(404, "There is no such pledge on this campaign.")
    return pledge


async def refund_page(request: Request) -> Response:
    """The dashboard's Refund button asks "are you sure?"; the POST from that page (with
    confirm=yes) refunds the pledge in full. Only the campaign's own lead may."""
    lead = await lead_or_redirect(request)
    if isinstance(lead, Response):
        return lead
    raw = await request.form()
    check_csrf(request, raw.get("csrf_token"))
    campaign = await own_campaign(request, lead)
    pledge = await _campaign_pledge(request, campaign, raw.get("pledge_id"))
    if raw.get("confirm") != "yes":
        return _page(request, "lead/refund.html", {"campaign": campaign, "pledge": pledge})
    try:
        svc = services(request)
        amount = await refund_in_full(svc.store, svc.payments, pledge.pledge_id, by="lead")
    except RefundRefused as exc:
        problem = problem_from_domain(exc)
        pledge = await payment_view(services(request).store.database, pledge.pledge_id)
        return _page(
            request,
            "lead/refund.html",
            {"campaign": campaign, "pledge": pledge, "problem": problem.detail},
            problem.status,
        )
    _flash(
        request,
        f"Refunded {campaign.money(amount)} to pledge {pledge.pledge_id}. "
        "Stripe returns it to their card; it can take 5 to 10 days to appear.",
    )
    return _dashboard_redirect(campaign.slug, "#money")


# The pledge CSV


def _csv_line(values: list[Any]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerow([csv_cell(v) for v in values])
    return buffer.getvalue()


async def pledges_csv(request: Request) -> Response:
    """Every pledge of the campaign, streamed in batches by id (none held for long)."""
    lead = await lead_or_redirect(request)
    if isinstance(lead, Response):
        return lead
    campaign = await own_campaign(request, lead)
    db = services(request).store.database
    names = columns_for(campaign)

    def cell(row: Any, name: str) -> Any:
        # Amounts as the lead reads them, in pounds (euros, dollars): 20.00.
        if name in ("amount", "max_price") and row[name] is not None:
            major, minor = divmod(int(row[name]), 100)
            return f"{major}.{minor:02d}"
        if name == "max_price":  # on a campaign asking it, none given is "not sure"
            return "not sure"
        return row[name]

    async def lines() -> AsyncIterator[str]:
        yield SPREADSHEET_BOM + _csv_line(list(names))
        last_id = 0
        while rows := await pledge_rows(db, campaign, after_id=last_id, limit=CSV_BATCH):
            yield "".join(_csv_line([cell(row, name) for name in names]) for row in rows)
            last_id = rows[-1]["id"]

    return StreamingResponse(
        lines(),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{campaign.slug}-pledges.csv"',
            "Cache-Control": "no-store",  # residents' personal data
        },
    )


# The flyer


def qr_svg(url: str) -> str:
    """The campaign's address as a QR code, inline SVG sized by CSS (no fixed size)."""
    code = segno.make(url, error="m")
    svg: str = code.svg_inline(
        scale=1, omitsize=True, svgclass="qr", title="QR code for the campaign's web address"
    )
    return svg


async def flyer(request: Request) -> Response:
    lead = await lead_or_redirect(request)
    if isinstance(lead, Response):
        return lead
    campaign = await own_campaign(request, lead)
    if not campaign.is_public:
        raise Problem(
            409,
            "A flyer sends people to the campaign's page, so the campaign must be published "
            "(and not hidden) first.",
        )
    url = campaign_url(services(request).settings.base_url, campaign.slug)
    return _page(
        request,
        "lead/flyer.html",
        # segno's SVG: paths and a fixed title, no text from anyone.
        {"campaign": campaign, "url": url, "qr": Markup(qr_svg(url))},  # noqa: S704
    )


routes = [
    Route("/lead", lead_home, methods=["GET"]),
    # Before /lead/campaigns/{slug}, which would otherwise take "new" for a slug.
    Route("/lead/campaigns/new", new_campaign, methods=["GET", "POST"]),
    Route("/lead/campaigns/{slug}", dashboard, methods=["GET"]),
    Route("/lead/campaigns/{slug}/edit", edit_campaign, methods=["GET", "POST"]),
    Route("/lead/campaigns/{slug}/publish", publish, methods=["POST"]),
    Route("/lead/campaigns/{slug}/cancel", cancel, methods=["GET", "POST"]),
    Route("/lead/campaigns/{slug}/paper-pledges", paper_pledge, methods=["POST"]),
    Route("/lead/campaigns/{slug}/updates", campaign_update, methods=["POST"]),
    Route("/lead/campaigns/{slug}/refunds", refund_page, methods=["POST"]),
    Route("/lead/campaigns/{slug}/pledges.csv", pledges_csv, methods=["GET"]),
    Route("/lead/campaigns/{slug}/flyer", flyer, methods=["GET"]),
]
