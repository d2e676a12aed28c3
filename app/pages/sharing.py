"""Taking a campaign beyond its page: share links, Open Graph, time left, milestones,
the embeddable SVG badge and the iframe widget."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from math import ceil
from urllib.parse import quote, urlencode

from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from app.bootstrap import services
from app.errors import Problem
from app.http_cache import EMBEDDED, cacheable, shows_campaign
from pledges import campaigns as campaign_service
from pledges.campaigns import Campaign, reached
from pledges.store import utcnow

CLOSED_STATUSES = ("expired", "cancelled")
# Badges and widgets are fetched by other sites' visitors: a minute of caching spares us.
# The widget may be framed by any site, and needs nothing but its own inline styles.
WIDGET_CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors *"
BADGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"
BADGE_WIDTH = 320
BADGE_TITLE_CHARS = 38
# What fits on the badge's second line at 12px.
BADGE_LINE_CHARS = 46


def time_left(campaign: Campaign, now: datetime | None = None) -> str:
    """In calendar days (UTC, as the deadline is shown): "12 days left", "closes today"."""
    now = now or utcnow()
    if campaign.status in CLOSED_STATUSES or campaign.deadline <= now:
        return "closed"
    days = (campaign.deadline.date() - now.date()).days
    if days <= 0:
        return "closes today"
    return "1 day left" if days == 1 else f"{days} days left"


@dataclass(frozen=True)
class Milestone:
    percent: int
    pledges: int
    reached: bool


def milestones(campaign: Campaign) -> list[Milestone]:
    """Each milestone, reached once recorded (counts may fall later) or counted now; in
    the campaign's unit (pledges, or households on a campaign that counts them)."""
    tally = campaign.tally
    return [
        Milestone(
            percent=m,
            pledges=ceil(m * tally.goal / 100),
            reached=m <= campaign.milestone_reached
            or reached(
                m,
                tally.units,
                tally.goal,
                campaign.pledged_amount,
                campaign.money_target,
            ),
        )
        for m in campaign.milestones
    ]


def people_text(count: int) -> str:
    return "1 person" if count == 1 else f"{count:,} people"


def households_text(campaign: Campaign) -> str:
    """ "12 of 50 households", or "12 households" with no count target."""
    n = campaign.household_count
    if campaign.target:
        return f"{n:,} of {campaign.target:,} households"
    return "1 household" if n == 1 else f"{n:,} households"


def coverage_text(campaign: Campaign) -> str | None:
    """A households campaign's share of the premises: "38 of 140 homes (27%) — target 40%"
    (no target part without a coverage target); None while the premises are unknown."""
    tally = campaign.tally
    if not campaign.counts_households or not tally.premises:
        return None
    share = tally.covered * 100 // tally.premises  # floored, as progress is: never overstated
    text = f"{tally.covered:,} of {tally.premises:,} homes ({share}%)"
    if campaign.coverage_target:
        text += f" — target {campaign.coverage_target}%"
    return text


def progress_text(campaign: Campaign) -> str:
    """ "12 of 40 pledges", "£1,200 of £8,000 pledged", or both for a campaign with two
    targets (a money-only campaign has no count target to show). A households campaign
    counts homes: "12 of 50 households", or its coverage against a coverage target."""
    parts = []
    if campaign.counts_households and campaign.coverage_target:
        parts.append(coverage_text(campaign) or f"{households_text(campaign)} so far")
    elif campaign.counts_households:
        parts.append(households_text(campaign))
    elif campaign.target:
        parts.append(f"{campaign.confirmed} of {campaign.target} pledges")
    if campaign.money_target:
        money = campaign.money
        parts.append(f"{money(campaign.pledged_amount)} of {money(campaign.money_target)} pledged")
    return " and ".join(parts) or f"{campaign.confirmed} pledges"


def progress_line(campaign: Campaign) -> str:
    """progress_text with the percent towards the target: "12 of 40 pledges (30%)". A
    coverage target's text already carries its own percent of the premises."""
    text = progress_text(campaign)
    if campaign.counts_households and campaign.coverage_target and not campaign.money_target:
        return text
    return f"{text} ({campaign.percent}%)"


@dataclass(frozen=True)
class ShareLink:
    label: str
    href: str


def campaign_url(base_url: str, slug: str) -> str:
    return f"{base_url.rstrip('/')}/c/{slug}"


def share_links(campaign: Campaign, base_url: str) -> list[ShareLink]:
    url = campaign_url(base_url, campaign.slug)
    message = f"{campaign.title}: {campaign.summary}"
    return [
        ShareLink(
            "Share by email",
            "mailto:?"
            + urlencode(
                {"subject": campaign.title, "body": f"{message}\n\n{url}"}, quote_via=quote
            ),
        ),
        ShareLink(
            "Share on WhatsApp",
            "https://wa.me/?" + urlencode({"text": f"{message} {url}"}, quote_via=quote),
        ),
        ShareLink(
            "Share on Facebook",
            "https://www.facebook.com/sharer/sharer.php?" + urlencode({"u": url}, quote_via=quote),
        ),
        ShareLink(
            "Share on X (Twitter)",
            "https://x.com/intent/tweet?"
            + urlencode({"text": campaign.title, "url": url}, quote_via=quote),
        ),
    ]


def embed_code(campaign: Campaign, base_url: str) -> dict[str, str]:
    """The HTML a lead pastes into another site: the iframe widget and the badge image."""
    url = campaign_url(base_url, campaign.slug)
    title = campaign.title  # Markup.format escapes it for an HTML attribute
    return {
        "iframe": str(
            Markup(
                '<iframe src="{src}" title="{title} on Groundswell" width="320" height="{height}" '
                'style="border:0" loading="lazy"></iframe>'
            ).format(
                src=f"{url}/widget",
                title=title,
                # A households campaign's widget has a line more: homes and people.
                height=240 if campaign.counts_households else 190,
            )
        ),
        "badge": str(
            Markup(
                '<a href="{href}"><img src="{src}" alt="Pledges for {title} on Groundswell" '
                'width="{width}" height="64"></a>'
            ).format(href=url, src=f"{url}/badge.svg", title=title, width=BADGE_WIDTH)
        ),
    }


def add_template_helpers(templates: Jinja2Templates) -> None:
    templates.env.globals.update(
        time_left=time_left,
        milestones=milestones,
        share_links=share_links,
        campaign_url=campaign_url,
        embed_code=embed_code,
        progress_text=progress_text,
        progress_line=progress_line,
        coverage_text=coverage_text,
        households_text=households_text,
        people_text=people_text,
    )


def badge_svg(campaign: Campaign) -> str:
    """A 320x64 badge: title, "N of T pledges (P%)", a bar. Every text is XML-escaped. A
    households campaign's line counts homes, and the people too when there is room."""
    shown = campaign.title
    if len(shown) > BADGE_TITLE_CHARS:
        shown = shown[: BADGE_TITLE_CHARS - 1].rstrip() + "…"
    line = full = progress_line(campaign)
    if campaign.counts_households:
        full = f"{line} · {people_text(campaign.confirmed)}"
        if len(full) <= BADGE_LINE_CHARS:
            line = full
    bar = BADGE_WIDTH - 24
    filled = round(bar * campaign.percent / 100)
    return str(
        Markup(
            '<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="64" '
            'viewBox="0 0 {w} 64" role="img" aria-labelledby="badge-title">'
            '<title id="badge-title">{title}: {full}</title>'
            '<rect x="0.5" y="0.5" width="{inner}" height="63" rx="4" fill="#fff" '
            'stroke="#b1b4b6"/>'
            '<g font-family="system-ui, -apple-system, Segoe UI, Arial, sans-serif">'
            '<text x="12" y="22" font-size="14" font-weight="700" fill="#0b0c0c">{shown}</text>'
            '<text x="12" y="40" font-size="{size}" fill="#505a5f">{line}</text>'
            "</g>"
            '<rect x="12" y="47" width="{bar}" height="8" fill="#f3f2f1"/>'
            '<rect x="12" y="47" width="{filled}" height="8" fill="#00703c"/>'
            "</svg>\n"
        ).format(
            w=BADGE_WIDTH,
            inner=BADGE_WIDTH - 1,
            title=campaign.title,
            shown=shown,
            full=full,
            line=line,
            size=12 if campaign.counts_households and len(line) > BADGE_LINE_CHARS - 6 else 13,
            bar=bar,
            filled=filled,
        )
    )


async def _public_campaign(request: Request) -> Campaign:
    campaign = await campaign_service.get_campaign(
        services(request).store.database, request.path_params["slug"]
    )
    if not campaign.is_public:  # a draft, or hidden by an administrator
        raise Problem(404, "There is no campaign at this address.")
    return campaign


@cacheable(EMBEDDED, shared=True)
async def badge(request: Request) -> Response:
    campaign = await _public_campaign(request)
    svg = Response(
        badge_svg(campaign),
        media_type="image/svg+xml",
        headers={"Content-Security-Policy": BADGE_CSP},
    )
    return shows_campaign(svg, campaign.id)


@cacheable(EMBEDDED)
async def widget(request: Request) -> Response:
    """For an <iframe> on any site: no session, no cookie, links open in the top window."""
    campaign = await _public_campaign(request)
    settings = services(request).settings
    response: Response = request.app.state.templates.TemplateResponse(
        request,
        "widget.html",
        {"campaign": campaign, "url": campaign_url(settings.base_url, campaign.slug)},
        headers={"Content-Security-Policy": WIDGET_CSP},
    )
    return response


routes = [
    Route("/c/{slug}/badge.svg", badge, methods=["GET"]),
    Route("/c/{slug}/widget", widget, methods=["GET"]),
]
