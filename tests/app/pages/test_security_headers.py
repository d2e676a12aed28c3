"""Every page carries the site's security headers: a Content-Security-Policy allowing only
the site's own resources (no inline script or style, forms posting only to the site and,
with money pledges on, to Stripe Checkout), Permissions-Policy, and Strict-Transport-Security
once BASE_URL is https. Each page is also checked for what that policy would refuse in a
browser (inline scripts, <style> elements, style and event-handler attributes); the browser
tests (tests/e2e) fail on any refusal Chromium reports.

The pages are the accessibility check's (tests/app/pages/test_accessibility.py: PAGES), plus
the JSON API, the static files and the embeddable widget and badge. Headers do not depend on
the database, so this runs on SQLite only."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette

from app.main import create_app, services_of
from app.security_headers import STRIPE_CHECKOUT, checkout_origin
from app.settings import Settings
from tests.app.pages.test_accessibility import ADMIN, PAGES, Recipe, Visit
from tests.app.pages.test_residents import Page
from tests.conftest import make_settings
from tests.factories import make_campaign

sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url, admin_emails=ADMIN)


def directives(response: httpx.Response) -> dict[str, list[str]]:
    policy = response.headers["content-security-policy"]
    parsed = {}
    for directive in policy.split(";"):
        name, *values = directive.split()
        parsed[name] = values
    return parsed


def policy_problems(response: httpx.Response) -> list[str]:
    """What is wrong with a page's headers, against the site's policy."""
    problems = []
    csp = directives(response)
    for name, expected in (
        ("default-src", ["'self'"]),
        ("script-src", ["'self'"]),
        ("style-src", ["'self'"]),
        ("object-src", ["'none'"]),
        ("base-uri", ["'self'"]),
        ("frame-ancestors", ["'none'"]),
        ("form-action", ["'self'"]),
    ):
        if csp.get(name) != expected:
            problems.append(f"{name} is {csp.get(name)}, not {expected}")
    if response.headers.get("x-content-type-options") != "nosniff":
        problems.append("no X-Content-Type-Options: nosniff")
    if response.headers.get("x-frame-options") != "DENY":
        problems.append("no X-Frame-Options: DENY")
    permissions = response.headers.get("permissions-policy", "")
    for feature in ("camera", "microphone", "geolocation", "payment"):
        if f"{feature}=()" not in permissions:
            problems.append(f"Permissions-Policy allows {feature}")
    if "strict-transport-security" in response.headers:
        problems.append("Strict-Transport-Security on a site served over http")
    return problems


def refused_by_policy(html: str) -> list[str]:
    """What a browser would refuse to run or apply on this page under the policy."""
    page = Page(html)
    problems = []
    for element in page.elements:
        if element.tag == "style":
            problems.append("a <style> element")
        if element.tag == "script" and "src" not in element.attrs:
            problems.append("an inline <script>")
        if "style" in element.attrs:
            problems.append(f"a style attribute on <{element.tag}>")
        problems += [f"{name} on <{element.tag}>" for name in element.attrs if name[:2] == "on"]
        if element.attrs.get("href", "").lower().startswith("javascript:"):
            problems.append(f"a javascript: link on <{element.tag}>")
    return problems


@pytest.mark.parametrize(("name", "recipe"), PAGES, ids=[name for name, _ in PAGES])
@sqlite_only
async def test_every_page_sends_the_security_headers(
    app: Starlette, client: httpx.AsyncClient, name: str, recipe: str | Recipe
) -> None:
    visit = Visit(client, app, services_of(app).store)
    response = await client.get(recipe) if isinstance(recipe, str) else await recipe(visit)
    assert response.status_code < 500, response.text
    assert policy_problems(response) == [], name
    assert refused_by_policy(response.text) == [], name


@sqlite_only
async def test_the_api_static_files_and_errors_send_them_too(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    campaign = await make_campaign(services_of(app).store)
    for path in (
        "/api/v1/campaigns",
        f"/api/v1/campaigns/{campaign.slug}",
        "/api/v1/campaigns/no-such-campaign",
        "/static/site.css",
        "/static/flyer.css",
        "/no-such-page",
    ):
        response = await client.get(path)
        assert policy_problems(response) == [], path


@sqlite_only
async def test_the_embeddable_widget_keeps_its_own_stricter_policy(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    campaign = await make_campaign(services_of(app).store)
    response = await client.get(f"/c/{campaign.slug}/widget")
    assert response.status_code == 200
    csp = directives(response)
    # Framed by any site, loading nothing, running no script: styles are its own, inline.
    assert (csp["default-src"], csp["frame-ancestors"]) == (["'none'"], ["*"])
    assert "script-src" not in csp
    assert "x-frame-options" not in response.headers
    assert "camera=()" in response.headers["permissions-policy"]


@sqlite_only
async def test_https_sites_ask_browsers_to_stay_on_https(database_url: str) -> None:
    app = create_app(make_settings(database_url, base_url="https://groundswell.example"))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="https://groundswell.example"
        ) as client:
            for path in ("/", "/privacy", "/api/v1/campaigns", "/static/site.css"):
                response = await client.get(path)
                assert response.headers["strict-transport-security"] == "max-age=63072000", path


@sqlite_only
async def test_forms_may_end_at_stripe_checkout_only_when_money_pledges_are_on(
    database_url: str, client: httpx.AsyncClient
) -> None:
    assert directives(await client.get("/"))["form-action"] == ["'self'"]
    app = create_app(
        make_settings(
            database_url,
            stripe_secret_key="sk_test_groundswell",
            stripe_webhook_secret="whsec_groundswell",
            stripe_api_base="http://127.0.0.1:12111",
        )
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as money:
            response = await money.get("/")
    assert directives(response)["form-action"] == ["'self'", "http://127.0.0.1:12111"]


def test_checkout_is_stripes_own_host_unless_a_stand_in_serves_it() -> None:
    assert checkout_origin("https://api.stripe.com") == STRIPE_CHECKOUT
    assert checkout_origin("http://127.0.0.1:12111/") == "http://127.0.0.1:12111"
    assert checkout_origin("https://stripe-stand-in.example:8443") == (
        "https://stripe-stand-in.example:8443"
    )


def test_the_page_check_finds_what_the_policy_refuses() -> None:
    html = (
        '<html><style>p{}</style><script>alert(1)</script><script src="/static/x.js"></script>'
        '<p style="color: red" onclick="go()"><a href="javascript:go()">x</a></p></html>'
    )
    assert refused_by_policy(html) == [
        "a <style> element",
        "an inline <script>",
        "a style attribute on <p>",
        "onclick on <p>",
        "a javascript: link on <a>",
    ]
