"""Accessibility checks on every page, rendered through the app as a browser gets it.

Each page in PAGES is fetched with the ASGI client and parsed with the standard library's
html.parser; CHECKS then look for what commonly goes wrong: no page language, no skip
link, more or fewer than one h1, skipped heading levels, form controls without a label,
duplicate ids, error-summary links to nothing, images without text alternatives, and
anything loaded from another site. A second part reads the colours in app/static/site.css
and checks the text and background pairs the site uses against WCAG's 4.5:1.

To check a new page, add one line to PAGES: a name and either a path to GET or an async
function of a `Visit` that returns the response (sign in first with `sign_in_by_email`,
`sign_in_organisation` or whatever the page needs).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import sqlalchemy as sa
from starlette.applications import Starlette

from app.main import services_of
from app.settings import Settings
from notifications.endpoints import create_endpoint, parse_endpoint
from notifications.tables import emails
from pledges.accounts import Lead, create_organisation_api_key, ensure_lead
from pledges.campaigns import Campaign, open_campaign
from pledges.choices import close_round, open_round
from pledges.offers import list_offers
from pledges.pledging import (
    confirm_pledge,
    parse_pledge,
    parse_vouched_pledge,
    record_pledge,
    record_vouched_pledge,
)
from pledges.review import reject_campaign
from pledges.store import Store, utcnow
from pledges.tables import reports
from tests.app.pages.confirming import press_confirm
from tests.app.pages.test_residents import Element, Page
from tests.conftest import make_settings
from tests.factories import approve, make_campaign, make_lead, pledge_data

ADMIN = "admin@example.org"


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url, admin_emails=ADMIN)


BASE_URL = "http://testserver"
SITE_CSS = Path(__file__).resolve().parents[3] / "app" / "static" / "site.css"
PUBLIC_HOOK_URL = "https://93.184.216.34/hooks/groundswell"  # a global address, never contacted


# --- visiting pages -------------------------------------------------------------------------


@dataclass
class Visit:
    """What a page's recipe may use: the client (its cookies are the session), the app and
    its store, and a campaign with a pledge or two made for the occasion."""

    client: httpx.AsyncClient
    app: Starlette
    store: Store

    async def campaign(self, **overrides: object) -> Campaign:
        campaign = await make_campaign(self.store, **overrides)
        for i in range(2):
            outcome = await record_pledge(self.store, campaign.slug, parse_pledge(pledge_data(i)))
            await confirm_pledge(self.store, outcome.pledge_id)
        return campaign

    async def pledge_id(self, campaign: Campaign, i: int = 9) -> int:
        return (
            await record_pledge(self.store, campaign.slug, parse_pledge(pledge_data(i)))
        ).pledge_id

    def signed(self, value: int, namespace: str) -> str:
        token: str = services_of(self.app).signer.sign(value, namespace)
        return token

    async def csrf(self, path: str) -> str:
        page = await self.client.get(path)
        match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert match, f"no CSRF token on {path}"
        return match.group(1)

    async def post_form(self, page: str, action: str, data: dict[str, str]) -> httpx.Response:
        return await self.client.post(action, data={"csrf_token": await self.csrf(page), **data})


async def emailed_sign_in_link(visit: Visit, purpose: str, email: str) -> str:
    """Ask for a sign-in link as a person would, and read it from the queued email: the
    path and query of the confirm page it opens."""
    form = "/lead/sign-in" if purpose == "lead" else "/me/sign-in"
    asked = await visit.post_form(form, form, {"email": email})
    assert asked.status_code == 200, asked.text
    body = await visit.store.database.fetch_val(
        sa.select(emails.c.text_body)
        .where(emails.c.to_address == email, emails.c.kind == f"sign_in_{purpose}")
        .order_by(emails.c.id.desc())
        .limit(1)
    )
    assert body, f"no sign-in email to {email}"
    match = re.search(rf"{re.escape(BASE_URL)}({re.escape(form)}/confirm\?token=\S+)", body)
    assert match, "no sign-in link in the email"
    return match.group(1)


async def sign_in_by_email(visit: Visit, purpose: str, email: str) -> None:
    """Sign in as a lead ("lead") or a resident ("resident") through the emailed link."""
    link = await emailed_sign_in_link(visit, purpose, email)
    confirm = await visit.client.get(link)
    token = Page(confirm.text).find("input", name="token")
    assert token is not None, confirm.text
    action = link.split("?", 1)[0]
    signed_in = await visit.post_form(link, action, {"token": token.attrs["value"]})
    assert signed_in.status_code == 303, signed_in.text
    assert signed_in.headers["location"] == ("/lead" if purpose == "lead" else "/me")


async def sign_in_organisation(visit: Visit, *filters: dict[str, list[str]]) -> None:
    """A provider approved to receive contacts, with one endpoint per filter, signed in with
    its key."""
    org, key = await create_organisation_api_key(
        visit.store, "ops@fibreco.example", "FibreCo", "provider"
    )
    await approve(visit.store, org.id)
    for f in filters:
        await create_endpoint(
            visit.store,
            org.id,
            await parse_endpoint(
                {"url": PUBLIC_HOOK_URL, "filters": f}, partial=False, allow_private=False
            ),
        )
    signed_in = await visit.post_form("/org/sign-in", "/org/sign-in", {"api_key": key})
    assert signed_in.status_code == 303, signed_in.text


# --- the pages ------------------------------------------------------------------------------


async def campaign_page(v: Visit) -> httpx.Response:
    campaign = await v.campaign(title="Fibre for Otley Road")
    return await v.client.get(f"/c/{campaign.slug}")


async def campaign_form_errors(v: Visit) -> httpx.Response:
    campaign = await v.campaign()
    return await v.post_form(
        f"/c/{campaign.slug}",
        f"/c/{campaign.slug}/pledge",
        {"name": "", "email": "not an email", "postcode": "nowhere"},
    )


PRICES = {"currency": "gbp", "period": "once", "price_points": [20_000, 35_000, 50_000]}


async def priced_campaign(v: Visit, lead: Lead | None = None) -> Campaign:
    """A campaign asking the most each would pay, with a target price, a provider's quote
    and an equity floor, and pledges at several prices, one not sure."""
    campaign = await make_campaign(
        v.store,
        lead=lead,
        title="Fibre for Otley Road",
        price_question=PRICES,
        target_price=35_000,
        quote={"total": 2_000_000, "currency": "gbp", "voucher_per_home": 10_000},
        equity_floor={"share": 25, "districts": ["LS11"]},
    )
    for i, price in enumerate((50_000, 35_000, 20_000, "not_sure")):
        data = pledge_data(i, max_price=price, firmness=("interested", "will_switch")[i % 2])
        outcome = await record_pledge(v.store, campaign.slug, parse_pledge(data))
        await confirm_pledge(v.store, outcome.pledge_id)
    return campaign


async def campaign_with_demand(v: Visit) -> httpx.Response:
    return await v.client.get(f"/c/{(await priced_campaign(v)).slug}")


async def campaign_demand_errors(v: Visit) -> httpx.Response:
    campaign = await priced_campaign(v)
    return await v.post_form(
        f"/c/{campaign.slug}",
        f"/c/{campaign.slug}/pledge",
        {"name": "", "email": "x", "postcode": "LS6 1AB", "max_price": "1", "firmness": "?"},
    )


async def pledged(v: Visit) -> httpx.Response:
    return await v.client.get(f"/c/{(await v.campaign()).slug}/pledged")


async def confirm_button(v: Visit) -> httpx.Response:
    pledge_id = await v.pledge_id(await v.campaign())
    return await v.client.get(
        "/pledges/confirm", params={"token": v.signed(pledge_id, "pledge-confirm")}
    )


async def confirmed(v: Visit) -> httpx.Response:
    pledge_id = await v.pledge_id(await v.campaign())
    return await press_confirm(v.client, v.signed(pledge_id, "pledge-confirm"))


async def withdraw(v: Visit) -> httpx.Response:
    pledge_id = await v.pledge_id(await v.campaign())
    return await v.client.get(
        "/pledges/withdraw", params={"token": v.signed(pledge_id, "pledge-withdraw")}
    )


async def lead_sign_in_error(v: Visit) -> httpx.Response:
    return await v.post_form("/lead/sign-in", "/lead/sign-in", {"email": "nobody"})


async def lead_check_email(v: Visit) -> httpx.Response:
    return await v.post_form("/lead/sign-in", "/lead/sign-in", {"email": "lead@example.org"})


async def lead_confirm(v: Visit) -> httpx.Response:
    return await v.client.get(await emailed_sign_in_link(v, "lead", "lead@example.org"))


async def org_sign_in_error(v: Visit) -> httpx.Response:
    return await v.post_form("/org/sign-in", "/org/sign-in", {"api_key": "gs_wrong"})


async def org_demand(v: Visit) -> httpx.Response:
    naming = {"categories": ["broadband"], "postcode_prefixes": ["LS6"]}
    await sign_in_organisation(v, naming, {"postcode_prefixes": ["M1"]})
    await v.campaign(title="Tipped fibre", target=2)  # tipped, with a contacts download
    await v.campaign(title="Open fibre", target=10)
    return await v.client.get("/org/demand")


async def org_demand_errors(v: Visit) -> httpx.Response:
    await sign_in_organisation(v)
    return await v.client.get("/org/demand", params={"category": "x", "postcode_prefix": "?"})


async def org_demand_ranked(v: Visit) -> httpx.Response:
    await sign_in_organisation(v, {"categories": ["broadband"]})
    points = {"currency": "gbp", "period": "month", "price_points": [2000, 2500, 3000]}
    campaign = await make_campaign(v.store, title="Priced fibre", price_question=points)
    for i, postcode in enumerate(("LS6 1AB", "LS16 5AA", "LS6 2DB")):
        data = pledge_data(i, max_price=points["price_points"][i], postcode=postcode)
        outcome = await record_pledge(v.store, campaign.slug, parse_pledge(data))
        await confirm_pledge(v.store, outcome.pledge_id)
    return await v.client.get("/org/demand", params={"price": "25", "period": "month"})


async def org_demand_price_errors(v: Visit) -> httpx.Response:
    await sign_in_organisation(v)
    return await v.client.get("/org/demand", params={"price": "cheap", "period": "week"})


async def org_endpoints(v: Visit) -> httpx.Response:
    await sign_in_organisation(v, {"categories": ["broadband"], "postcode_prefixes": ["LS"]})
    return await v.client.get("/org/endpoints")


async def org_endpoints_errors(v: Visit) -> httpx.Response:
    await sign_in_organisation(v)
    return await v.post_form(
        "/org/endpoints",
        "/org/endpoints",
        {"url": "http://127.0.0.1/x", "postcode_prefixes": "Leeds", "campaigns": "No!"},
    )


async def org_endpoint(v: Visit) -> httpx.Response:
    await sign_in_organisation(v, {})
    listing = Page((await v.client.get("/org/endpoints")).text)
    link = next(
        a.attrs["href"]
        for a in listing.find_all("a")
        if a.attrs.get("href", "").startswith("/org/endpoints/ep_")
    )
    return await v.client.get(link)


async def org_respond(v: Visit) -> httpx.Response:
    await sign_in_organisation(v, {"categories": ["broadband"]})
    campaign = await v.campaign(title="Tipped fibre", target=2)
    path = f"/org/campaigns/{campaign.slug}/respond"
    published = await v.post_form(path, path, {"body": "We can survey in March."})
    assert published.status_code == 303, published.text
    return await v.client.get(path)


async def org_respond_errors(v: Visit) -> httpx.Response:
    await sign_in_organisation(v, {"categories": ["broadband"]})
    campaign = await v.campaign(title="Tipped fibre", target=2)
    path = f"/org/campaigns/{campaign.slug}/respond"
    return await v.post_form(path, path, {"body": " "})


async def campaign_with_responses(v: Visit) -> httpx.Response:
    await sign_in_organisation(v, {"categories": ["broadband"]})
    campaign = await v.campaign(title="Tipped fibre", target=2)
    path = f"/org/campaigns/{campaign.slug}/respond"
    body = {"body": "We can survey in March.\n\nOffers follow."}
    assert (await v.post_form(path, path, body)).status_code == 303
    page = await v.client.get(f"/c/{campaign.slug}")
    assert 'id="responses"' in page.text
    return page


async def lead_campaign(v: Visit, email: str = "lead@example.org") -> Campaign:
    """Sign in as a lead who runs a campaign with two confirmed pledges."""
    await sign_in_by_email(v, "lead", email)
    lead = await ensure_lead(v.store.database, email)
    campaign = await make_campaign(v.store, lead=lead, title="Fibre for Otley Road")
    for i in range(2):
        await confirm_pledge(v.store, await v.pledge_id(campaign, i))
    return campaign


async def lead_home(v: Visit) -> httpx.Response:
    await lead_campaign(v)
    return await v.client.get("/lead")


async def lead_new_campaign(v: Visit) -> httpx.Response:
    await sign_in_by_email(v, "lead", "lead@example.org")
    return await v.client.get("/lead/campaigns/new")


async def lead_new_campaign_errors(v: Visit) -> httpx.Response:
    await sign_in_by_email(v, "lead", "lead@example.org")
    return await v.post_form(
        "/lead/campaigns/new",
        "/lead/campaigns/new",
        {"title": "", "postcode_districts": "Nowhere", "target": "lots", "action": "publish"},
    )


async def lead_new_campaign_demand_errors(v: Visit) -> httpx.Response:
    await sign_in_by_email(v, "lead", "lead@example.org")
    return await v.post_form(
        "/lead/campaigns/new",
        "/lead/campaigns/new",
        {
            "title": "Fibre",
            "price_period": "month",
            "price_points": "15, 15",
            "target_price": "x",
            "quote_total": "lots",
            "quote_tip": "on",
            "take_up_deposit": "101",
            "equity_share": "0",
            "equity_districts": "Leeds",
            "action": "draft",
        },
    )


async def lead_dashboard_with_demand(v: Visit) -> httpx.Response:
    await sign_in_by_email(v, "lead", "lead@example.org")
    lead = await ensure_lead(v.store.database, "lead@example.org")
    campaign = await priced_campaign(v, lead)
    return await v.client.get(f"/lead/campaigns/{campaign.slug}")


async def lead_paper_pledge_demand_errors(v: Visit) -> httpx.Response:
    await sign_in_by_email(v, "lead", "lead@example.org")
    lead = await ensure_lead(v.store.database, "lead@example.org")
    campaign = await priced_campaign(v, lead)
    path = f"/lead/campaigns/{campaign.slug}"
    return await v.post_form(
        path,
        f"{path}/paper-pledges",
        {"name": "Pat", "postcode": "LS6 1AB", "attested": "on", "max_price": "7"},
    )


async def lead_edit_live_with_demand(v: Visit) -> httpx.Response:
    await sign_in_by_email(v, "lead", "lead@example.org")
    lead = await ensure_lead(v.store.database, "lead@example.org")
    campaign = await priced_campaign(v, lead)
    return await v.client.get(f"/lead/campaigns/{campaign.slug}/edit")


async def lead_dashboard(v: Visit) -> httpx.Response:
    campaign = await lead_campaign(v)
    return await v.client.get(f"/lead/campaigns/{campaign.slug}")


async def lead_edit(v: Visit) -> httpx.Response:
    campaign = await lead_campaign(v)
    return await v.client.get(f"/lead/campaigns/{campaign.slug}/edit")


async def lead_cancel(v: Visit) -> httpx.Response:
    campaign = await lead_campaign(v)
    return await v.client.get(f"/lead/campaigns/{campaign.slug}/cancel")


async def lead_flyer(v: Visit) -> httpx.Response:
    campaign = await lead_campaign(v)
    return await v.client.get(f"/lead/campaigns/{campaign.slug}/flyer")


async def campaign_updates(v: Visit) -> httpx.Response:
    campaign = await lead_campaign(v)
    await v.post_form(
        f"/lead/campaigns/{campaign.slug}",
        f"/lead/campaigns/{campaign.slug}/updates",
        {"title": "Survey booked", "body": "The provider surveys the street on Monday."},
    )
    return await v.client.get(f"/c/{campaign.slug}/updates")


async def admin_home(v: Visit) -> httpx.Response:
    await v.campaign(title="Fibre for Otley Road")
    await sign_in_by_email(v, "lead", ADMIN)
    return await v.client.get("/admin")


async def admin_invalidate_errors(v: Visit) -> httpx.Response:
    await sign_in_by_email(v, "lead", ADMIN)
    return await v.post_form(
        "/admin/invalidate", "/admin/invalidate", {"ip": "not an address", "action": "preview"}
    )


async def admin_organisations(v: Visit) -> httpx.Response:
    await create_organisation_api_key(v.store, "ops@fibreco.example", "FibreCo", "provider")
    approved, _ = await create_organisation_api_key(
        v.store, "clerk@leeds.example", "Leeds City Council", "council"
    )
    await approve(v.store, approved.id)
    await sign_in_by_email(v, "lead", ADMIN)
    return await v.client.get("/admin/organisations")


async def admin_invalidate(v: Visit) -> httpx.Response:
    await sign_in_by_email(v, "lead", ADMIN)
    return await v.client.get("/admin/invalidate")


async def queued_for_review(v: Visit, title: str) -> str:
    """A campaign its lead published under MODERATION=pre: waiting in the queue."""
    lead, _ = await make_lead(v.store, "queued.lead@example.org")
    draft = await make_campaign(v.store, lead, draft=True, title=title)
    await open_campaign(v.store, draft.slug, lead.id, moderation="pre")
    return draft.slug


async def admin_moderation(v: Visit) -> httpx.Response:
    await queued_for_review(v, "Fibre for Otley Road")
    await queued_for_review(v, "Bins for Burley")
    await sign_in_by_email(v, "lead", ADMIN)
    return await v.client.get("/admin/moderation")


async def admin_moderation_errors(v: Visit) -> httpx.Response:
    slug = await queued_for_review(v, "Fibre for Otley Road")
    await queued_for_review(v, "Bins for Burley")
    await sign_in_by_email(v, "lead", ADMIN)
    return await v.post_form(
        "/admin/moderation", f"/admin/moderation/{slug}/reject", {"reason": "", "note": ""}
    )


async def public_rejections(v: Visit) -> httpx.Response:
    slug = await queued_for_review(v, "Fibre for Otley Road")
    await reject_campaign(v.store, slug, ADMIN, "unclear", "Which streets?")
    return await v.client.get("/moderation")


async def my_pledges(v: Visit) -> httpx.Response:
    await v.pledge_id(await v.campaign(), 3)
    await sign_in_by_email(v, "resident", "resident3@example.org")
    return await v.client.get("/me")


async def my_erase(v: Visit) -> httpx.Response:
    await v.pledge_id(await v.campaign(), 3)
    await sign_in_by_email(v, "resident", "resident3@example.org")
    return await v.client.get("/me/erase")


# Reports from residents, and one campaign per cause


async def report_page(v: Visit) -> httpx.Response:
    campaign = await v.campaign()
    return await v.client.get(f"/c/{campaign.slug}/report")


async def report_form_errors(v: Visit) -> httpx.Response:
    campaign = await v.campaign()
    path = f"/c/{campaign.slug}/report"
    return await v.post_form(path, path, {"reason": "other", "email": "not an email"})


async def admin_reports_with_errors(v: Visit) -> httpx.Response:
    campaign = await v.campaign(title="Fibre for Otley Road")
    path = f"/c/{campaign.slug}/report"
    reported = await v.post_form(path, path, {"reason": "spam", "email": "jo@example.org"})
    assert reported.status_code == 303, reported.text
    await sign_in_by_email(v, "lead", ADMIN)
    report_id = await v.store.database.fetch_val(sa.select(sa.func.max(reports.c.id)))
    return await v.post_form("/admin/reports", f"/admin/reports/{report_id}/warn", {"message": ""})


async def lead_new_campaign_like_another(v: Visit) -> httpx.Response:
    await v.campaign(title="Fibre for Headingley")
    await sign_in_by_email(v, "lead", "lead@example.org")
    return await v.post_form(
        "/lead/campaigns/new",
        "/lead/campaigns/new",
        {
            "title": "Fibre for us",
            "summary": "Gigabit broadband for our street.",
            "category": "broadband",
            "area_name": "Headingley",
            "postcode_districts": "LS6",
            "target": "20",
            "deadline": (utcnow().date() + timedelta(days=30)).isoformat(),
            "action": "draft",
        },
    )


# Offers and the choice round

OFFER_FORM = {
    "title": "Full fibre 900",
    "description": "900 Mb/s both ways.",
    "price": "30",
    "period": "month",
    "social_tariff_kind": "tariff",
    "social_tariff_price": "15",
    "social_tariff_who_qualifies": "Households on Universal Credit.",
}


def expect(status: int, response: httpx.Response) -> httpx.Response:
    """The recipe reached the page it means to check, not an error page."""
    assert response.status_code == status, response.text
    return response


async def offered_campaign(v: Visit, lead: Lead | None = None) -> Campaign:
    """A tipped campaign with one offer, posted by a signed-in provider through its form."""
    await sign_in_organisation(v, {"postcode_prefixes": ["LS"]})
    campaign = await v.campaign(lead=lead, title="Tipped fibre", target=2)
    offers = f"/org/campaigns/{campaign.slug}/offers"
    posted = await v.post_form(offers, offers, OFFER_FORM)
    assert posted.status_code == 303, posted.text
    return campaign


async def org_offers_errors(v: Visit) -> httpx.Response:
    await sign_in_organisation(v, {"postcode_prefixes": ["LS"]})
    campaign = await v.campaign(title="Tipped fibre", target=2)
    offers = f"/org/campaigns/{campaign.slug}/offers"
    bad = {**OFFER_FORM, "price": "thirty", "social_tariff_kind": "", "title": ""}
    return expect(422, await v.post_form(offers, offers, bad))


async def org_offers_in_round(v: Visit) -> httpx.Response:
    campaign = await offered_campaign(v)
    await open_round(v.store, campaign.id, utcnow() + timedelta(days=10))
    offers = f"/org/campaigns/{campaign.slug}/offers"
    [offer] = await list_offers(v.store.database, campaign.id)
    return expect(
        422, await v.post_form(offers, f"{offers}/{offer.public_id}/withdraw", {"reason": ""})
    )


async def org_offer_fixed(v: Visit) -> httpx.Response:
    campaign = await offered_campaign(v)
    await open_round(v.store, campaign.id, utcnow() + timedelta(days=10))
    [offer] = await list_offers(v.store.database, campaign.id)
    return expect(
        200, await v.client.get(f"/org/campaigns/{campaign.slug}/offers/{offer.public_id}")
    )


async def org_offers_results(v: Visit) -> httpx.Response:
    campaign = await offered_campaign(v)
    await open_round(v.store, campaign.id, utcnow() + timedelta(days=10))
    await close_round(v.store, campaign.id)
    return expect(200, await v.client.get(f"/org/campaigns/{campaign.slug}/offers"))


async def lead_choice_errors(v: Visit) -> httpx.Response:
    await sign_in_by_email(v, "lead", "lead@example.org")
    lead = await ensure_lead(v.store.database, "lead@example.org")
    campaign = await offered_campaign(v, lead)
    choice = f"/lead/campaigns/{campaign.slug}/choice"
    return expect(422, await v.post_form(choice, f"{choice}/open", {"closes_at": "soon"}))


async def lead_choice_round(v: Visit) -> httpx.Response:
    """The round open, with a neighbour without email whose choice the lead left blank."""
    await sign_in_by_email(v, "lead", "lead@example.org")
    lead = await ensure_lead(v.store.database, "lead@example.org")
    campaign = await offered_campaign(v, lead)
    neighbour = await record_vouched_pledge(
        v.store,
        campaign.slug,
        lead.id,
        parse_vouched_pledge({"name": "Edna", "postcode": "LS6 1AB", "attested": True}),
    )
    await open_round(v.store, campaign.id, utcnow() + timedelta(days=10))
    choice = f"/lead/campaigns/{campaign.slug}/choice"
    recorded = f"{choice}/recorded/{neighbour.pledge_id}"
    return expect(422, await v.post_form(choice, recorded, {"offer": ""}))


Recipe = Callable[[Visit], Awaitable[httpx.Response]]

# One line per page: (name, path to GET or a recipe).
PAGES: list[tuple[str, str | Recipe]] = [
    ("home", "/"),
    ("home with a bad postcode", "/?postcode=not+a+postcode"),
    ("campaign", campaign_page),
    ("campaign with form errors", campaign_form_errors),
    ("campaign with a demand curve", campaign_with_demand),
    ("campaign with price and firmness errors", campaign_demand_errors),
    ("pledged", pledged),
    ("confirm button", confirm_button),
    ("confirmed", confirmed),
    ("confirm with a bad token", "/pledges/confirm?token=bad"),
    ("withdraw", withdraw),
    ("withdraw with a bad token", "/pledges/withdraw?token=bad"),
    ("privacy", "/privacy"),
    ("not found", "/no-such-page"),
    ("lead sign-in", "/lead/sign-in"),
    ("lead sign-in with an error", lead_sign_in_error),
    ("lead sign-in: check your email", lead_check_email),
    ("lead sign-in: confirm", lead_confirm),
    ("lead sign-in: bad link", "/lead/sign-in/confirm?token=bad"),
    ("resident sign-in", "/me/sign-in"),
    ("org sign-in", "/org/sign-in"),
    ("org sign-in with a wrong key", org_sign_in_error),
    ("org demand", org_demand),
    ("org demand with filter errors", org_demand_errors),
    ("org demand ranked at a price", org_demand_ranked),
    ("org demand with price errors", org_demand_price_errors),
    ("org endpoints", org_endpoints),
    ("org endpoints with form errors", org_endpoints_errors),
    ("org endpoint", org_endpoint),
    ("org respond", org_respond),
    ("org respond with errors", org_respond_errors),
    ("campaign with responses", campaign_with_responses),
    ("org offers with form errors", org_offers_errors),
    ("org offers in the round, with a withdrawal error", org_offers_in_round),
    ("org offer fixed once the round opened", org_offer_fixed),
    ("org offers with the round's results", org_offers_results),
    ("lead home", lead_home),
    ("lead new campaign", lead_new_campaign),
    ("lead new campaign with errors", lead_new_campaign_errors),
    ("lead dashboard", lead_dashboard),
    ("lead new campaign with demand errors", lead_new_campaign_demand_errors),
    ("lead dashboard with a demand curve", lead_dashboard_with_demand),
    ("lead paper pledge with a wrong price", lead_paper_pledge_demand_errors),
    ("lead edit of a live campaign asking a price", lead_edit_live_with_demand),
    ("lead edit", lead_edit),
    ("lead cancel", lead_cancel),
    ("lead flyer", lead_flyer),
    ("lead choice round with a closing date error", lead_choice_errors),
    ("lead choice round open, recording a neighbour's choice", lead_choice_round),
    ("campaign updates", campaign_updates),
    ("admin", admin_home),
    ("admin organisations", admin_organisations),
    ("admin invalidate with errors", admin_invalidate_errors),
    ("admin invalidate", admin_invalidate),
    ("admin moderation queue", admin_moderation),
    ("admin moderation rejection with errors", admin_moderation_errors),
    ("why campaigns are rejected", public_rejections),
    ("my pledges", my_pledges),
    ("erase my data", my_erase),
    ("report a campaign", report_page),
    ("report with errors", report_form_errors),
    ("admin reports with a warning error", admin_reports_with_errors),
    ("lead new campaign like another", lead_new_campaign_like_another),
]


# --- the checks -----------------------------------------------------------------------------

CONTROLS = {"input", "select", "textarea"}
# Inputs whose own attributes name them for assistive technology.
SELF_LABELLED_INPUTS = {"hidden", "submit", "button", "reset", "image"}
HEADING = re.compile(r"^h([1-6])$")


def hidden_from_everyone(element: Element) -> bool:
    """Not presented to anyone: hidden, or inside an aria-hidden region (the honeypot)."""
    return any(
        "hidden" in e.attrs or e.attrs.get("aria-hidden") == "true"
        for e in (element, *element.ancestors)
    )


def check_language(page: Page) -> list[str]:
    html = page.find("html")
    return [] if html is not None and html.attrs.get("lang", "").strip() else ["<html> has no lang"]


def check_skip_link(page: Page) -> list[str]:
    links = page.find_all("a")
    if not links or links[0].attrs.get("href") != "#main":
        return ["the first link is not a skip link to #main"]
    if "main" not in page.ids:
        return ["the skip link's target #main is missing"]
    return []


def check_title(page: Page) -> list[str]:
    title = page.find("title")
    return [] if title is not None and title.words else ["no <title>"]


def check_one_h1(page: Page) -> list[str]:
    count = len(page.find_all("h1"))
    return [] if count == 1 else [f"{count} h1 elements, not one"]


def check_heading_order(page: Page) -> list[str]:
    """Levels go down one at a time (h1 -> h3 is a skip). The level before the first
    heading counts as 1: an error summary's h2 above the h1 is the GOV.UK pattern."""
    problems = []
    previous = 1
    for element in page.elements:
        match = HEADING.match(element.tag)
        if not match:
            continue
        level = int(match.group(1))
        if level > previous + 1:
            problems.append(f"h{previous} -> h{level} skips a level at {element.words!r}")
        previous = level
    return problems


def check_labels(page: Page) -> list[str]:
    labelled = {e.attrs.get("for") for e in page.find_all("label")}
    problems = []
    for element in page.elements:
        if element.tag not in CONTROLS or hidden_from_everyone(element):
            continue
        if element.tag == "input" and element.attrs.get("type", "text") in SELF_LABELLED_INPUTS:
            continue
        if element.attrs.get("aria-label", "").strip() or element.attrs.get("aria-labelledby"):
            continue
        if element.attrs.get("id") and element.attrs["id"] in labelled:
            continue
        problems.append(f"<{element.tag} name={element.attrs.get('name')!r}> has no label")
    for button in page.find_all("button"):
        if not (button.words or button.attrs.get("aria-label", "").strip()):
            problems.append("a button has no text")
    return problems


def check_unique_ids(page: Page) -> list[str]:
    seen: dict[str, int] = {}
    for element in page.elements:
        if "id" in element.attrs:
            seen[element.attrs["id"]] = seen.get(element.attrs["id"], 0) + 1
    return [f"id {i!r} is used {n} times" for i, n in seen.items() if n > 1]


def check_references(page: Page) -> list[str]:
    """Error-summary links, label for= and aria-describedby/labelledby point at real ids."""
    ids = page.ids
    problems = []
    for link in page.find_all("a"):
        if link.inside("error-summary"):
            href = link.attrs.get("href", "")
            if not href.startswith("#") or href[1:] not in ids:
                problems.append(f"error summary links to {href!r}, which is not on the page")
    for label in page.find_all("label"):
        if label.attrs.get("for") and label.attrs["for"] not in ids:
            problems.append(f"label for {label.attrs['for']!r}, which is not on the page")
    for element in page.elements:
        for attr in ("aria-describedby", "aria-labelledby"):
            for ref in element.attrs.get(attr, "").split():
                if ref not in ids:
                    problems.append(f"{attr} {ref!r} is not on the page")
    return problems


def check_text_alternatives(page: Page) -> list[str]:
    problems = []
    for img in page.find_all("img"):
        if "alt" not in img.attrs:
            problems.append(f"img {img.attrs.get('src')!r} has no alt")
    for svg in page.find_all("svg"):
        if svg.attrs.get("aria-hidden") == "true":
            continue
        titled = any(e.tag == "title" and svg in e.ancestors and e.words for e in page.elements)
        if not (svg.attrs.get("aria-label", "").strip() or titled):
            problems.append("an svg has neither a title nor aria-label, nor aria-hidden")
    return problems


RESOURCE_ATTRIBUTES = {
    "link": "href",
    "script": "src",
    "img": "src",
    "iframe": "src",
    "source": "src",
    "audio": "src",
    "video": "src",
}


def check_no_external_resources(page: Page) -> list[str]:
    """Everything a page loads comes from the app itself: no CDNs, fonts or trackers."""
    own = urlsplit(BASE_URL).netloc
    problems = []
    for element in page.elements:
        attr = RESOURCE_ATTRIBUTES.get(element.tag)
        url = element.attrs.get(attr, "") if attr else ""
        parts = urlsplit(url)
        if (parts.scheme in ("http", "https") or url.startswith("//")) and parts.netloc != own:
            problems.append(f"<{element.tag}> loads {url} from another site")
    return problems


CHECKS = [
    check_language,
    check_skip_link,
    check_title,
    check_one_h1,
    check_heading_order,
    check_labels,
    check_unique_ids,
    check_references,
    check_text_alternatives,
    check_no_external_resources,
]


def accessibility_problems(html: str) -> list[str]:
    page = Page(html)
    return [problem for check in CHECKS for problem in check(page)]


@pytest.mark.parametrize(("name", "recipe"), PAGES, ids=[name for name, _ in PAGES])
async def test_page_is_accessible(
    app: Starlette, client: httpx.AsyncClient, name: str, recipe: str | Recipe
) -> None:
    visit = Visit(client, app, services_of(app).store)
    response = await client.get(recipe) if isinstance(recipe, str) else await recipe(visit)
    assert response.status_code < 500, response.text
    assert response.headers["content-type"].startswith("text/html"), response.headers
    assert accessibility_problems(response.text) == [], name


async def test_the_sign_in_helper_uses_the_emailed_link(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    """For pages behind sign-in (a lead's, an administrator's, "my pledges"): the helper
    goes through the real flow: ask, read the one emailed link, open it and confirm."""
    visit = Visit(client, app, services_of(app).store)
    await visit.pledge_id(await visit.campaign(), 3)  # residents need a pledge to get a link
    for purpose, email in (("lead", "lead@example.org"), ("resident", "resident3@example.org")):
        await sign_in_by_email(visit, purpose, email)
        sent = await visit.store.database.fetch_val(
            sa.select(sa.func.count()).where(emails.c.kind == f"sign_in_{purpose}")
        )
        assert sent == 1


@pytest.mark.parametrize(
    ("html", "found"),
    [
        ('<html><body><a href="#main">Skip</a><main id="main"><h1>A</h1></main>', "no lang"),
        ('<html lang="en"><body><a href="/">Home</a><h1>A</h1>', "skip link"),
        (
            '<html lang="en"><body><a href="#main">Skip</a><main id="main"><h1>A</h1><h3>B</h3>',
            "skips",
        ),
        (
            '<html lang="en"><body><a href="#main">Skip</a><main id="main"><h1>A</h1><h1>B</h1>',
            "2 h1",
        ),
        (
            '<html lang="en"><a href="#main">S</a><main id="main"><h1>A</h1><input name="q">',
            "no label",
        ),
        ('<html lang="en"><a href="#main">S</a><main id="main"><h1>A</h1><p id="main">', "used 2"),
        (
            '<html lang="en"><a href="#main">S</a><main id="main"><h1>A</h1>'
            '<div class="error-summary"><a href="#email">Bad</a></div>',
            "error summary links to '#email'",
        ),
        (
            '<html lang="en"><a href="#main">S</a><main id="main"><h1>A</h1><img src="/x.png">',
            "alt",
        ),
        ('<html lang="en"><a href="#main">S</a><main id="main"><h1>A</h1><svg></svg>', "svg"),
        (
            '<html lang="en"><link rel="stylesheet" href="https://cdn.example/x.css">'
            '<a href="#main">S</a><main id="main"><h1>A</h1>',
            "another site",
        ),
    ],
)
def test_the_checks_catch_what_they_look_for(html: str, found: str) -> None:
    """Each check fails on a page with its problem: a check that passes everything is no
    check at all."""
    assert any(found in p for p in accessibility_problems(html)), accessibility_problems(html)


def test_the_checks_pass_a_page_with_none_of_those_problems() -> None:
    html = (
        '<html lang="en"><head><title>T</title><link rel="stylesheet" href="/static/site.css">'
        f'<link rel="canonical" href="{BASE_URL}/c/x"></head><body>'
        '<a class="skip-link" href="#main">Skip</a><main id="main">'
        '<div class="error-summary"><h2>Problem</h2><a href="#q">Enter q</a></div>'
        '<h1>A</h1><h2>B</h2><h3>C</h3><h2>D</h2><label for="q">Q</label><input id="q" name="q">'
        '<input type="hidden" name="csrf_token" value="x">'
        '<div class="trap" aria-hidden="true"><input name="website"></div>'
        '<img src="/badge.svg" alt="Progress"><svg aria-hidden="true"></svg>'
        '<button type="submit">Go</button></main></body></html>'
    )
    assert accessibility_problems(html) == []


# --- colour contrast ------------------------------------------------------------------------

CSS_RULE = re.compile(r"([^{}]+)\{([^{}]*)\}")
HEX = re.compile(r"^#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")
NAMED = {"white": "#ffffff", "black": "#000000"}


def css_rules(text: str) -> dict[str, dict[str, str]]:
    """Selector -> its declarations, from a flat stylesheet (later rules win)."""
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    rules: dict[str, dict[str, str]] = {}
    for selectors, body in CSS_RULE.findall(text):
        declarations = {}
        for declaration in body.split(";"):
            name, sep, value = declaration.partition(":")
            if sep:
                declarations[name.strip()] = value.strip()
        for selector in selectors.split(","):
            rules.setdefault(" ".join(selector.split()), {}).update(declarations)
    return rules


def colour(rules: dict[str, dict[str, str]], selector: str, prop: str) -> str:
    """The colour a rule sets, custom properties from :root resolved, as #rrggbb."""
    value = rules[selector][prop]
    while (var := re.fullmatch(r"var\((--[\w-]+)\)", value)) is not None:
        value = rules[":root"][var.group(1)]
    value = NAMED.get(value, value)
    match = HEX.match(value)
    assert match, f"{selector} {prop}: {value!r} is not a colour this test reads"
    digits = match.group(1)
    if len(digits) == 3:
        digits = "".join(d * 2 for d in digits)
    return "#" + digits.lower()


def relative_luminance(hex_colour: str) -> float:
    """WCAG 2.x relative luminance of an sRGB colour."""

    def linear(channel: int) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b)


def contrast_ratio(one: str, other: str) -> float:
    lighter, darker = sorted((relative_luminance(one), relative_luminance(other)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


PAGE = ("body", "background")
# (what, text colour as (selector, property), background as (selector, property))
COLOUR_PAIRS = [
    ("body text on white", ("body", "color"), PAGE),
    ("muted text on white", (".meta", "color"), PAGE),
    ("hints on white", (".hint", "color"), PAGE),
    ("footer text on white", (".site-footer", "color"), PAGE),
    ("links on white", ("a", "color"), PAGE),
    ("error text on white", (".error-message", "color"), PAGE),
    ("error summary links on white", (".error-summary a", "color"), PAGE),
    ("white on the header colour", (".site-header", "color"), (".site-header", "background")),
    (
        "brand on the header colour",
        (".site-header .brand", "color"),
        (".site-header", "background"),
    ),
    (
        "tagline on the header colour",
        (".site-header .tagline", "color"),
        (".site-header", "background"),
    ),
    ("nav links on the header colour", (".site-nav a", "color"), (".site-header", "background")),
    ("white on button green", ("button", "color"), ("button", "background")),
    ("white on the warning button", ("button", "color"), ("button.warning", "background")),
    ("secondary button", ("button.secondary", "color"), ("button.secondary", "background")),
    ("white on the green panel", (".banner", "color"), (".banner", "background")),
    (
        "skip link: focus colour behind text",
        (".skip-link:focus", "color"),
        (".skip-link:focus", "background"),
    ),
    (
        "nav link: focus colour behind text",
        (".site-nav a:focus", "color"),
        (".site-nav a:focus", "background"),
    ),
    ("secrets", ("code.secret", "color"), ("code.secret", "background")),
    ("example text on grey", ("body", "color"), (".mail-text", "background")),
    ("the target price's row", ("body", "color"), (".data tr.target", "background")),
]


@pytest.mark.parametrize(
    ("what", "text", "background"), COLOUR_PAIRS, ids=[p[0] for p in COLOUR_PAIRS]
)
def test_text_contrast_reaches_wcag_aa(
    what: str, text: tuple[str, str], background: tuple[str, str]
) -> None:
    rules = css_rules(SITE_CSS.read_text())
    fg, bg = colour(rules, *text), colour(rules, *background)
    ratio = contrast_ratio(fg, bg)
    assert ratio >= 4.5, f"{what}: {fg} on {bg} is {ratio:.2f}:1, below 4.5:1"


def test_the_contrast_ratio_matches_wcag_examples() -> None:
    assert contrast_ratio("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast_ratio("#ffffff", "#ffffff") == pytest.approx(1.0)
    assert contrast_ratio("#767676", "#ffffff") == pytest.approx(4.54, abs=0.01)  # the AA grey
    assert contrast_ratio("#777777", "#ffffff") < 4.5


def test_every_focusable_kind_of_element_has_a_visible_focus_style() -> None:
    rules = css_rules(SITE_CSS.read_text())
    focused = {
        selector.split(":focus")[0]
        for selector, declarations in rules.items()
        if selector.endswith(":focus")
        and "outline" in declarations
        and not declarations["outline"].startswith(("none", "0"))
    }
    for tag in ("a", "button", "input", "select", "textarea"):
        assert tag in focused, f"no visible :focus style for {tag}"
