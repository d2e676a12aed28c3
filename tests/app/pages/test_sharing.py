"""Sharing a campaign: Open Graph tags, share links, time left, milestones, the SVG badge,
the iframe widget and who may frame what, the privacy page, and the page's weight."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, time, timedelta
from urllib.parse import parse_qs, unquote, urlsplit

import httpx
import pytest
import sqlalchemy as sa

from app.csrf import SESSION_MAX_AGE_SECONDS
from app.pages.privacy import (
    TECHNICAL,
    TECHNICAL_COLUMNS,
    choice_fields,
    kept_fields,
    published_fields,
    report_fields,
)
from app.pages.sharing import time_left
from app.settings import Settings
from pledges.campaigns import Campaign, get_campaign
from pledges.demand_curve import MIN_CELL
from pledges.pledging import withdraw_pledge
from pledges.store import Store, utcnow
from pledges.tables import campaign_updates, campaigns, metadata, pledges
from pledges.tokens import DAY, MAX_AGE
from pledges.updates import MAX_BODY, MAX_TITLE
from tests.app.pages.test_residents import Page, client_for, page_of
from tests.conftest import make_settings
from tests.factories import (
    covering_provider,
    make_campaign,
    make_cancelled_campaign,
    make_confirmed_pledge,
    make_expired_campaign,
)

SVG = "{http://www.w3.org/2000/svg}"
AWKWARD_TITLE = 'Fish <&> "chips" & peas'


def meta_content(page: Page, **attrs: str) -> str:
    tag = page.find("meta", **attrs)
    assert tag is not None, f"no <meta {attrs}>"
    return tag.attrs["content"]


def parse_svg(text: str) -> ET.Element:
    return ET.fromstring(text)  # noqa: S314 - our own badge, parsed to prove it is well-formed


async def set_deadline(store: Store, slug: str, deadline: datetime) -> None:
    await store.database.execute(
        sa.update(campaigns).where(campaigns.c.slug == slug).values(deadline=deadline)
    )


# The badge


async def test_badge_shows_progress_and_escapes_the_title(
    client: httpx.AsyncClient, store: Store
) -> None:
    campaign = await make_campaign(store, title=AWKWARD_TITLE, target=8)
    await make_confirmed_pledge(store, campaign.slug, 1)
    await make_confirmed_pledge(store, campaign.slug, 2)

    response = await client.get(f"/c/{campaign.slug}/badge.svg")

    assert response.status_code == 200
    assert response.headers["content-type"] == "image/svg+xml"
    assert response.headers["cache-control"] == "public, max-age=60, stale-while-revalidate=300"
    assert "set-cookie" not in response.headers
    assert AWKWARD_TITLE not in response.text  # escaped, never raw
    svg = parse_svg(response.text)  # well-formed XML, whatever the title
    assert svg.tag == f"{SVG}svg"
    assert svg.attrib["role"] == "img"
    title = svg.find(f"{SVG}title")
    assert title is not None
    assert title.text == f"{AWKWARD_TITLE}: 2 of 8 pledges (25%)"
    assert svg.attrib["aria-labelledby"] == title.attrib["id"]
    texts = [t.text for t in svg.iter(f"{SVG}text")]
    assert texts == [AWKWARD_TITLE, "2 of 8 pledges (25%)"]
    *_, track, filled = svg.iter(f"{SVG}rect")
    assert float(filled.attrib["width"]) == float(track.attrib["width"]) / 4


async def test_badge_shortens_a_long_title_but_names_it_in_full(
    client: httpx.AsyncClient, store: Store
) -> None:
    long_title = "Full fibre broadband for every home on Otley Road & Shaw Lane"
    campaign = await make_campaign(store, title=long_title, target=3)
    for i in range(3):
        await make_confirmed_pledge(store, campaign.slug, i)

    svg = parse_svg((await client.get(f"/c/{campaign.slug}/badge.svg")).text)

    shown = next(svg.iter(f"{SVG}text")).text
    assert shown is not None and shown.endswith("…") and long_title.startswith(shown[:-1])
    title = svg.find(f"{SVG}title")
    assert title is not None and title.text == f"{long_title}: 3 of 3 pledges (100%)"
    *_, track, filled = svg.iter(f"{SVG}rect")
    assert filled.attrib["width"] == track.attrib["width"]


@pytest.mark.parametrize("what", ["unknown", "draft"])
@pytest.mark.parametrize("path", ["badge.svg", "widget"])
async def test_badge_and_widget_are_an_html_404_for_no_public_campaign(
    client: httpx.AsyncClient, store: Store, what: str, path: str
) -> None:
    slug = "no-such-campaign"
    if what == "draft":
        slug = (await make_campaign(store, title="A secret draft", draft=True)).slug

    response = await client.get(f"/c/{slug}/{path}")

    assert response.status_code == 404
    assert "<svg" not in response.text
    assert "A secret draft" not in response.text
    page = page_of(response)
    assert page.find("h1") is not None and page.find("h1").words == "Not found"


async def test_closed_campaigns_keep_their_badge(client: httpx.AsyncClient, store: Store) -> None:
    campaign = await make_cancelled_campaign(store, title="Weekly bins")
    response = await client.get(f"/c/{campaign.slug}/badge.svg")
    assert response.status_code == 200
    assert "0 of 10 pledges (0%)" in response.text


# The widget, and who may frame what


async def test_widget_may_be_framed_by_any_site(client: httpx.AsyncClient, store: Store) -> None:
    campaign = await make_campaign(store, title=AWKWARD_TITLE, target=4)
    await make_confirmed_pledge(store, campaign.slug, 1)
    await client.get(f"/c/{campaign.slug}")  # a visitor who already has a session

    response = await client.get(f"/c/{campaign.slug}/widget")

    assert response.status_code == 200
    assert "frame-ancestors *" in response.headers["content-security-policy"]
    assert "x-frame-options" not in response.headers
    assert response.headers["cache-control"] == "public, max-age=60, stale-while-revalidate=300"
    assert "set-cookie" not in response.headers  # cacheable, and nothing to track
    page = page_of(response)
    assert page.find("h1") is not None and page.find("h1").words == AWKWARD_TITLE
    assert "1 of 4 pledges (25%)" in page.words
    button = page.find("a", target="_top")
    assert button is not None
    assert button.attrs["href"] == f"http://testserver/c/{campaign.slug}#pledge"
    assert button.words == "Pledge your support"
    # Self-contained: nothing loaded from anywhere, not even this site.
    assert not [e for e in page.elements if e.tag in {"link", "script", "img", "iframe"}]


async def test_widget_of_a_closed_campaign_links_to_it(
    client: httpx.AsyncClient, store: Store
) -> None:
    campaign = await make_expired_campaign(store)
    page = page_of(await client.get(f"/c/{campaign.slug}/widget"))
    link = page.find("a", target="_top")
    assert link is not None and link.attrs["href"] == f"http://testserver/c/{campaign.slug}"
    assert "Pledge your support" not in page.words
    assert "closed" in page.words


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/c/{slug}",
        "/c/{slug}/pledged",
        "/c/{slug}/badge.svg",
        "/c/no-such-campaign/widget",
        "/privacy",
        "/no-such-page",
        "/static/site.css",
        "/api/v1/campaigns",
        "/api/v1/campaigns/no-such-campaign",
    ],
)
async def test_everything_but_the_widget_refuses_to_be_framed(
    client: httpx.AsyncClient, store: Store, path: str
) -> None:
    campaign = await make_campaign(store)

    response = await client.get(path.format(slug=campaign.slug))

    assert response.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "strict-origin-when-cross-origin"


async def test_the_widget_sends_the_other_security_headers_too(
    client: httpx.AsyncClient, store: Store
) -> None:
    campaign = await make_campaign(store)
    response = await client.get(f"/c/{campaign.slug}/widget")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "strict-origin-when-cross-origin"


# The campaign page: Open Graph, share links, embed code


async def test_campaign_page_has_open_graph_tags_from_the_settings(
    database_url: str, store: Store
) -> None:
    campaign = await make_campaign(
        store, title=AWKWARD_TITLE, summary="Gigabit broadband for Otley Road, <please>."
    )
    settings = make_settings(database_url, base_url="https://pledges.example.org")

    async with client_for(settings) as client:  # requested as testserver: the URL is BASE_URL's
        page = page_of(await client.get(f"/c/{campaign.slug}"))

    url = f"https://pledges.example.org/c/{campaign.slug}"
    assert meta_content(page, property="og:title") == AWKWARD_TITLE
    assert meta_content(page, property="og:description") == campaign.summary
    assert meta_content(page, property="og:url") == url
    assert meta_content(page, property="og:type") == "website"
    assert meta_content(page, name="twitter:card") == "summary"
    assert meta_content(page, name="twitter:title") == AWKWARD_TITLE
    assert meta_content(page, name="twitter:description") == campaign.summary
    assert page.find("link", rel="canonical", href=url) is not None
    assert page.by_id("share-url").attrs["value"] == url


async def test_share_links_are_plain_named_links_to_the_campaign(
    client: httpx.AsyncClient, store: Store
) -> None:
    campaign = await make_campaign(store, title=AWKWARD_TITLE)
    url = f"http://testserver/c/{campaign.slug}"

    page = page_of(await client.get(f"/c/{campaign.slug}"))

    links = {a.words: a.attrs["href"] for a in page.find_all("a") if a.inside("share")}
    assert set(links) == {
        "Share by email",
        "Share on WhatsApp",
        "Share on Facebook",
        "Share on X (Twitter)",
    }
    email = urlsplit(links["Share by email"])
    assert email.scheme == "mailto"
    mail = {k: v[0] for k, v in parse_qs(email.query).items()}
    assert mail["subject"] == AWKWARD_TITLE
    assert url in mail["body"]
    assert links["Share on WhatsApp"].startswith("https://wa.me/?text=")
    assert links["Share on Facebook"].startswith("https://www.facebook.com/sharer/")
    assert links["Share on X (Twitter)"].startswith("https://x.com/intent/tweet?")
    for href in links.values():
        assert url in unquote(href)
    copy = page.by_id("share-url")
    assert copy.tag == "input" and "readonly" in copy.attrs
    assert page.find("label", **{"for": "share-url"}) is not None
    assert not [e for e in page.elements if e.tag == "script"]


async def test_embed_code_is_offered_in_a_details_block(
    client: httpx.AsyncClient, store: Store
) -> None:
    campaign = await make_campaign(store, title=AWKWARD_TITLE)
    url = f"http://testserver/c/{campaign.slug}"

    page = page_of(await client.get(f"/c/{campaign.slug}"))

    summary = page.find("summary")
    assert summary is not None and summary.words == "Embed this campaign"
    assert summary.ancestors[-1].tag == "details"
    for textarea_id in ("embed-widget", "embed-badge"):
        assert page.by_id(textarea_id).ancestors[-2] is summary.ancestors[-1]
        assert page.find("label", **{"for": textarea_id}) is not None
    # What a lead pastes is itself valid HTML, with the title escaped inside it.
    iframe = Page(page.by_id("embed-widget").text).find("iframe")
    assert iframe is not None
    assert iframe.attrs["src"] == f"{url}/widget"
    assert iframe.attrs["title"] == f"{AWKWARD_TITLE} on Groundswell"
    badge = Page(page.by_id("embed-badge").text)
    img, link = badge.find("img"), badge.find("a")
    assert img is not None and link is not None
    assert img.attrs["src"] == f"{url}/badge.svg"
    assert img.attrs["alt"] == f"Pledges for {AWKWARD_TITLE} on Groundswell"
    assert link.attrs["href"] == url
    assert (await client.get(f"{url}/widget")).status_code == 200
    assert (await client.get(f"{url}/badge.svg")).status_code == 200


# Time left and milestones


def end_of_today() -> datetime:
    return datetime.combine(utcnow().date(), time.max, tzinfo=UTC)


DEADLINES = {
    "12 days left": lambda: utcnow() + timedelta(days=12),
    "1 day left": lambda: end_of_today() + timedelta(microseconds=1),  # midnight tonight
    "closes today": end_of_today,
    "closed": lambda: utcnow() - timedelta(seconds=1),  # past, and not yet expired
}


@pytest.mark.parametrize("expected", list(DEADLINES))
async def test_time_left_on_the_campaign_page_and_widget(
    client: httpx.AsyncClient, store: Store, expected: str
) -> None:
    campaign = await make_campaign(store)
    await set_deadline(store, campaign.slug, DEADLINES[expected]())

    page = page_of(await client.get(f"/c/{campaign.slug}"))
    widget = page_of(await client.get(f"/c/{campaign.slug}/widget"))

    shown = [e.words for e in page.elements if e.has_class("time-left")]
    assert shown == [expected.capitalize()]
    assert f"· {expected}" in widget.words


@pytest.mark.parametrize("make", [make_expired_campaign, make_cancelled_campaign])
async def test_a_closed_campaign_says_closed(
    client: httpx.AsyncClient, store: Store, make: Callable[[Store], Awaitable[Campaign]]
) -> None:
    campaign = await make(store)
    await set_deadline(store, campaign.slug, utcnow() + timedelta(days=5))
    page = page_of(await client.get(f"/c/{campaign.slug}"))
    assert [e.words for e in page.elements if e.has_class("time-left")] == ["Closed"]


NOW = datetime(2026, 3, 10, 15, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("deadline", "status", "expected"),
    [
        (NOW - timedelta(days=1), "open", "closed"),
        (NOW, "open", "closed"),
        (NOW + timedelta(microseconds=1), "open", "closes today"),
        (datetime(2026, 3, 10, 23, 59, 59, tzinfo=UTC), "open", "closes today"),
        (datetime(2026, 3, 11, 0, 0, tzinfo=UTC), "open", "1 day left"),
        (datetime(2026, 3, 11, 23, 59, 59, tzinfo=UTC), "tipped", "1 day left"),
        (datetime(2026, 3, 12, 0, 0, tzinfo=UTC), "open", "2 days left"),
        (NOW + timedelta(days=12), "open", "12 days left"),
        (NOW + timedelta(days=12), "expired", "closed"),
        (NOW + timedelta(days=12), "cancelled", "closed"),
    ],
)
async def test_time_left_boundaries(
    store: Store, deadline: datetime, status: str, expected: str
) -> None:
    campaign = await make_campaign(store)
    await set_deadline(store, campaign.slug, deadline)
    await store.database.execute(
        sa.update(campaigns).where(campaigns.c.id == campaign.id).values(status=status)
    )
    stored: Campaign = await get_campaign(store.database, campaign.slug)
    assert time_left(stored, now=NOW) == expected


async def test_milestones_show_reached_or_not(client: httpx.AsyncClient, store: Store) -> None:
    campaign = await make_campaign(store, target=8, milestones=[25, 50, 75])
    pledge_ids = [await make_confirmed_pledge(store, campaign.slug, i) for i in range(4)]

    def milestones(page: Page) -> list[tuple[str, str]]:
        items = [e for e in page.elements if e.tag == "li" and e.inside("milestones")]
        return [(e.attrs["class"], e.words) for e in items]

    page = page_of(await client.get(f"/c/{campaign.slug}"))
    assert milestones(page) == [
        ("reached", "25% (2 pledges): reached"),
        ("reached", "50% (4 pledges): reached"),
        ("to-come", "75% (6 pledges): not reached yet"),
    ]
    # A milestone once reached stays reached, as its webhook and email said.
    await withdraw_pledge(store, pledge_ids[0])
    page = page_of(await client.get(f"/c/{campaign.slug}"))
    assert "3 of 8 pledges (37%)" in page.words
    assert [cls for cls, _ in milestones(page)] == ["reached", "reached", "to-come"]


# The privacy page


@pytest.mark.parametrize("path", ["/", "/c/{slug}", "/no-such-page"])
async def test_the_privacy_page_is_linked_from_every_footer(
    client: httpx.AsyncClient, store: Store, path: str
) -> None:
    campaign = await make_campaign(store)
    page = page_of(await client.get(path.format(slug=campaign.slug)))

    links = [
        a
        for a in page.find_all("a", href="/privacy")
        if any(e.tag == "footer" for e in a.ancestors)
    ]
    assert links and "Privacy" in links[0].words

    privacy = await client.get(links[0].attrs["href"])
    assert privacy.status_code == 200
    found = page_of(privacy).find("h1")
    assert found is not None and found.words == "Privacy"


async def test_the_privacy_page_says_what_the_code_keeps(
    client: httpx.AsyncClient, store: Store, settings: Settings
) -> None:
    campaign = await make_campaign(store)
    visit = await client.get(f"/c/{campaign.slug}")
    assert "set-cookie" not in visit.headers  # reading a campaign sets no cookie
    # Signing in does: here an organisation, with its key.
    _, key = await covering_provider(store, "Northnet")
    ask = page_of(await client.get("/org/sign-in")).form_fields("/org/sign-in")
    signed_in = await client.post(
        "/org/sign-in", data={"csrf_token": ask["csrf_token"], "api_key": key}
    )
    assert signed_in.status_code == 303

    page = page_of(await client.get("/privacy"))

    # Every column of a pledge is explained on the page (a new column fails this test).
    described = {c for f in kept_fields() for c in f.columns}
    assert set(pledges.c.keys()) - set(TECHNICAL_COLUMNS) <= described
    # So is every column of a resident's choice between offers and of what providers
    # publish after a campaign tips.
    # And of a resident's report of a campaign or an update.
    every_field = [*kept_fields(), *choice_fields(), *published_fields(), *report_fields()]
    assert {
        "choices",
        "responses",
        "offers",
        "choice_rounds",
        "delivery_milestones",
        "reports",
    } <= set(TECHNICAL)
    for name, technical in TECHNICAL.items():
        described = {c for f in every_field if f.table == name for c in f.columns}
        assert set(metadata.tables[name].c.keys()) - set(technical) <= described, name
    assert [e.words for e in page.find_all("dt")] == [f.what for f in every_field]
    # The social-tariff answer is shown only as a total, from the open data's smallest cell.
    assert f"only when at least {MIN_CELL} did" in page.words
    assert f"never under {MIN_CELL}" in page.words
    # How long the links work, as the signer enforces it.
    for namespace in ("pledge-confirm", "pledge-withdraw", "unsubscribe"):
        assert f"for {MAX_AGE[namespace] // DAY} days" in page.words
    # The one cookie, and how long the browser is told to keep it.
    cookie = signed_in.headers["set-cookie"]
    assert cookie.startswith("gs_session=")
    found = re.search(r"Max-Age=(\d+)", cookie, re.I)
    assert found is not None
    max_age = int(found.group(1))
    assert max_age == SESSION_MAX_AGE_SECONDS
    assert "gs_session" in page.words
    assert f"It lasts {max_age // DAY} days." in page.words
    # The retention rule, with the configured period (PLEDGE_RETENTION_DAYS).
    days = settings.pledge_retention_days
    assert f"{days} days after a campaign closes, we anonymise its pledges" in page.words


# Weight


async def _post_updates(store: Store, campaign: Campaign, count: int) -> None:
    """Updates at their longest, straight into the table (posting is limited to one a day)."""
    now = utcnow()
    async with store.write() as db:
        for i in range(count):
            await db.execute(
                sa.insert(campaign_updates).values(
                    campaign_id=campaign.id,
                    title=f"{i:03d}" + "U" * (MAX_TITLE - 3),
                    body=f"{i:03d}" + "B" * (MAX_BODY - 3),
                    created_at=now - timedelta(days=count - i),
                )
            )


async def test_the_campaign_page_shows_the_newest_updates_and_links_to_the_rest(
    client: httpx.AsyncClient, store: Store
) -> None:
    campaign = await make_campaign(store)
    await _post_updates(store, campaign, 5)

    page = page_of(await client.get(f"/c/{campaign.slug}"))
    shown = [
        e.words[:3]
        for e in page.elements
        if e.tag == "h3" and any(a.tag == "article" for a in e.ancestors)
    ]
    assert shown == ["004", "003", "002"]  # newest first
    assert f"/c/{campaign.slug}/updates" in [e.attrs.get("href") for e in page.find_all("a")]

    everything = await client.get(f"/c/{campaign.slug}/updates")
    assert everything.status_code == 200
    titles = [e.words[:3] for e in page_of(everything).elements if e.tag == "h3"]
    assert titles == ["004", "003", "002", "001", "000"]


async def test_a_campaign_with_few_updates_has_no_link_to_more(
    client: httpx.AsyncClient, store: Store
) -> None:
    campaign = await make_campaign(store)
    await _post_updates(store, campaign, 3)
    page = page_of(await client.get(f"/c/{campaign.slug}"))
    assert f"/c/{campaign.slug}/updates" not in [e.attrs.get("href") for e in page.find_all("a")]
    assert len([e for e in page.elements if e.tag == "article"]) == 3


async def test_a_full_campaign_page_weighs_under_100_kb_with_everything_it_loads(
    client: httpx.AsyncClient, store: Store
) -> None:
    """The heaviest page a campaign can have: every text at its longest, 50 names shown."""
    campaign = await make_campaign(
        store,
        title="T" * 200,
        summary="S" * 500,
        description="\n\n".join(["D" * 998] * 20),  # 19,998 of 20,000
        area={"name": "A" * 200, "postcode_districts": [f"LS{i}" for i in range(1, 30)]},
        target=1000,
    )
    for i in range(50):
        name = f"{i:03d}" + "N" * 197
        await make_confirmed_pledge(store, campaign.slug, i, name=name, show_name=True)
    await _post_updates(store, campaign, 10)

    response = await client.get(f"/c/{campaign.slug}")

    assert response.status_code == 200
    page = page_of(response)
    assert len([e for e in page.elements if e.tag == "li" and e.inside("names")]) == 50
    assert len([e for e in page.elements if e.tag == "article"]) == 3  # the newest, in full
    resources = [
        e.attrs["href"] for e in page.find_all("link") if e.attrs.get("rel") != "canonical"
    ]
    resources += [e.attrs["src"] for e in page.elements if e.tag in {"script", "img", "iframe"}]
    assert resources == ["/static/site.css"]  # everything from this site: no CDNs or fonts
    total = len(response.content)
    for path in resources:
        loaded = await client.get(path)
        assert loaded.status_code == 200
        assert "@import" not in loaded.text and "url(" not in loaded.text
        total += len(loaded.content)
    assert total < 100_000, f"{total} bytes"
