"""The privacy page: what Groundswell keeps about residents, why, and for how long.

Built from the code it describes (the pledges and choices tables, the tables of what
providers publish, link lifetimes, the session cookie, the payment reminders), and tested
against it, so that it says what the code actually does."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.bootstrap import services
from app.csrf import SESSION_MAX_AGE_SECONDS
from app.http_cache import STATIC_TEXT, cacheable
from app.pages.rendering import render
from pledges.demand_curve import MIN_CELL
from pledges.payments import GIVE_UP_AFTER, REMIND_AFTER
from pledges.reports import IP_KEPT, REPORTER_EMAIL_KEPT
from pledges.retention import LETTER_ATTEMPTS_KEPT, SIGN_IN_LINKS_KEPT
from pledges.tables import metadata
from pledges.tokens import DAY, MAX_AGE


@dataclass(frozen=True)
class KeptField:
    columns: tuple[str, ...]  # the columns of `table` it describes
    what: str
    why: str
    table: str = "pledges"


# Every column of a pledge, said plainly; a test fails when a column is missing here.
PLEDGE_FIELDS = (
    KeptField(
        ("name",),
        "Your name",
        "To show it on the campaign page, only if you tick the box, and to pass it to "
        "providers, only if you agree.",
    ),
    KeptField(
        ("email",),
        "Your email address",
        "To send the link that confirms your pledge, and news of the campaign: when it "
        "reaches its target, closes or is cancelled. It is never shown on the site.",
    ),
    KeptField(
        ("email_canonical",),
        "Your email address in a standard form (lower case, for example)",
        "So that each person counts once on each campaign.",
    ),
    KeptField(
        ("postcode", "district"),
        "Your postcode, and its first half (the district, like LS6)",
        "Providers and councils see how many pledges come from each district, never your "
        "postcode; they receive your full postcode only if you agree to be contacted.",
    ),
    KeptField(
        ("address_line", "household_id"),
        "On a campaign that counts homes rather than people: the first line of your address "
        "(house number or name, street, and flat), and which household of the campaign it "
        "makes you part of",
        "So that each home counts once however many people in it pledge, and so that the "
        "campaign's lead can see which of the premises in the area have pledged and which "
        "doors are left to knock on. It is never shown on the site. Providers and councils "
        "see only how many homes pledged in each district; they receive your address only "
        "if you agree to be contacted and the campaign reaches its target.",
    ),
    KeptField(
        ("phone", "vouched_by"),
        "If a campaign's lead recorded your pledge for you because you have no email "
        "address: a phone number, if you gave one, and which lead recorded it",
        "So that the lead can tell you the campaign's news by phone or in person instead of "
        "by email, and so that the pledge is known to rest on their word.",
    ),
    KeptField(
        ("max_price", "firmness"),
        "On a campaign that asks what you would pay: the most you would pay (or that you "
        "are not sure), and how firm your pledge is (interested; will switch when the "
        "service is offered at or below your price; or ready to pay a deposit)",
        "So that providers can see whether enough homes would pay a price that pays for the "
        "service, and how many are likely to sign up. Providers, councils and the "
        "campaign's lead see only totals: how many pledges at each price and each "
        "firmness, never whose answer is whose.",
    ),
    KeptField(
        ("show_name", "share_contact"),
        "Your two choices: whether to show your name, and whether providers may contact you",
        "Your name stays hidden, and your details stay with us, unless you tick these.",
    ),
    KeptField(
        ("max_price", "firmness"),
        "On a campaign that asks it, the most you would pay (one of its prices, or not "
        "sure); and how sure you are: interested, will sign up when offered at or below "
        "your price, or paid a deposit",
        "So that providers and councils see how many would take the service at each price "
        "and how many are likely to sign up: only as totals, never yours alone. When a "
        "closed campaign's pledges are anonymised, the answer of one that counted stays, "
        "an anonymous part of those totals; erasing your data removes it.",
    ),
    KeptField(
        ("source", "status"),
        "How your pledge arrived (this website, the API, or on paper through the campaign "
        "lead) and whether it is waiting for confirmation, confirmed, withdrawn or struck out",
        "Only confirmed pledges count towards the target.",
    ),
    KeptField(
        ("invalidated_at", "anonymised_at"),
        "When the site's moderators struck a pledge out, and when it was anonymised",
        "Moderators strike out pledges that come from organised abuse, so that counts stay "
        "honest; a struck-out pledge no longer counts. Anonymising removes your personal "
        "details a set time after the campaign closes (see below).",
    ),
    KeptField(
        ("created_at", "confirmed_at", "withdrawn_at", "unsubscribed_at"),
        "When you pledged, confirmed, withdrew, or asked for no more emails",
        "To count pledges correctly over time, and to stop emails once you unsubscribe.",
    ),
    KeptField(
        ("ip",),
        "The internet (IP) address a pledge came from, when it was made on this website or "
        "through the API without a campaign lead's key",
        "To limit how many pledges one address can make on one campaign, and to find and "
        "remove organised abuse.",
    ),
    KeptField(
        ("amount", "payment_status"),
        "For a campaign that asks for money: the amount you pledged, and where its payment "
        "stands (waiting for a card, card saved, paid, not paid, card released, refunded)",
        "To charge the right amount, and only if the campaign reaches its target; to show "
        "the campaign's lead what was paid, so they can refund it; to show you what you "
        "paid.",
    ),
    KeptField(
        ("stripe_customer_id", "stripe_payment_method_id", "stripe_payment_intent_id"),
        "Stripe's reference numbers for you, your saved card and your payment. Not your "
        "card's number or any other card details: those are held by Stripe, our card "
        "processor, only, and never reach Groundswell",
        "So that Stripe can charge the card you saved if the campaign reaches its target, "
        "remove it from its records of your card if the campaign does not, and refund a "
        "payment. Once your pledge is erased or anonymised, we ask Stripe to delete its "
        "record of you (your name and email there, and any saved card) and drop the "
        "references to you and your card; the payment's reference stays, for refunds.",
    ),
    KeptField(
        ("email_confirmed_at", "card_saved_at", "paid_at", "released_at", "refunded_at"),
        "When you confirmed your email address and saved a card (a money pledge counts once "
        "both are done), when you paid, and when your card was released or your payment "
        "refunded",
        "To count money pledges correctly, and as the record of each payment.",
    ),
    KeptField(
        ("payment_error", "charge_failed_at", "payment_reminded_at", "charge_lease_until"),
        "If charging your card fails: the reason Stripe gave (such as “card declined”), "
        "when it failed and when we reminded you; and, while a charge is being made, a note "
        "that keeps a second one from starting",
        "To ask you to pay yourself, remind you once, stop asking after a week, and never "
        "charge you twice.",
    ),
)
TECHNICAL_COLUMNS = ("id", "campaign_id")

# A resident's choice between providers' offers; a test fails when a column is missing.
CHOICE_FIELDS = (
    KeptField(
        ("offer_id",),
        "After a campaign reaches its target: the offer you chose from its providers' "
        "offers, or “none of these”",
        "So that each provider learns how many homes chose each of its offers (totals "
        "only), and so that the provider you chose can contact you, if you agree.",
        "choices",
    ),
    KeptField(
        ("unit_key", "pledge_id"),
        "Whose choice it is: yours, or on a campaign that counts homes, your home's, and "
        "which of its pledgers made or changed it last",
        "So that each home chooses once. Another pledger from your home sees which offer "
        "your home chose, never your private answers.",
        "choices",
    ),
    KeptField(
        ("needs_social_tariff",),
        "Whether you said, privately, that you would need a social tariff",
        "So that providers learn how many homes need one. It is only ever shown as a "
        "total, never under {min_cell}, and never whose answer it is: it is not in the "
        "contacts a provider downloads.",
        "choices",
    ),
    KeptField(
        ("share_contact",),
        "Whether the provider you chose may contact you",
        "If you agree, once the round closes that provider alone can download your name, "
        "email address, phone number, postcode and address line. Until you answer on your "
        "choice page, your answer when you pledged stands.",
        "choices",
    ),
    KeptField(
        ("service_confirmed_at",),
        "When you confirmed that the chosen provider's service reached your home",
        "So that everyone can see how many homes the provider has actually served.",
        "choices",
    ),
    KeptField(
        ("created_at", "updated_at"),
        "When you chose, and when you last changed your mind",
        "To count choices correctly until the round closes.",
        "choices",
    ),
)

# What providers and councils publish after a campaign tips: no resident's personal data,
# only their own words, dates and totals; a test fails when a column is missing here.
PUBLISHED_FIELDS = (
    KeptField(
        ("organisation_id", "body", "created_at"),
        "A provider's or council's response to a campaign, and when it was posted",
        "Shown under “Responses” on the campaign page, and emailed to its pledgers who "
        "still want news.",
        "responses",
    ),
    KeptField(
        (
            "organisation_id",
            "title",
            "description",
            "currency",
            "price",
            "period",
            "setup_fee",
            "minimum_term_months",
            "available_from",
            "valid_until",
            "created_at",
            "updated_at",
        ),
        "A provider's offer: what it is, its price, set-up fee and minimum term, when it is "
        "available and until when it stands",
        "Shown to everyone on the campaign page and emailed to its pledgers side by side, "
        "so that they can compare and choose.",
        "offers",
    ),
    KeptField(
        ("social_tariff_price", "social_tariff_eligibility", "no_social_tariff"),
        "What each offer does for households on low incomes: a social tariff's price and "
        "who qualifies, or the provider's plain statement that it has none",
        "Every offer must say one or the other, so that nobody has to ask.",
        "offers",
    ),
    KeptField(
        ("status", "withdrawn_reason", "withdrawn_at"),
        "Whether a provider withdrew an offer, when, and why",
        "So that residents who chose it see why it went.",
        "offers",
    ),
    KeptField(
        ("shuffle_key",),
        "A random number drawn for each offer when it is posted",
        "Offers are listed by price, then in the order of these numbers, so that no provider "
        "can buy or predict a better place. Groundswell takes no fee from providers.",
        "offers",
    ),
    KeptField(
        ("chosen_count", "social_tariff_count", "served_count"),
        "For each offer: how many homes chose it, how many of them would need a social "
        "tariff, and how many confirmed the service reached them",
        "Totals only. How many would need a social tariff is shown only from {min_cell}, "
        "rounded down to a multiple of {min_cell}.",
        "offers",
    ),
    KeptField(
        ("opened_by", "opened_at", "closes_at", "closed_at"),
        "When a campaign's choice round opened (by its lead, or by itself two weeks after "
        "the first offer) and when it closes",
        "So that everyone knows until when they can choose or change their mind.",
        "choice_rounds",
    ),
    KeptField(
        ("chose_count", "none_count", "social_tariff_count"),
        "For the round: how many homes chose an offer, how many chose none of these, and "
        "how many would need a social tariff",
        "The round's results, as totals. When you are erased or anonymised after the round "
        "closed, its results stay as they were reported; your answers go.",
        "choice_rounds",
    ),
    KeptField(
        (
            "organisation_id",
            "kind",
            "title",
            "due_on",
            "done_on",
            "missed_at",
            "created_at",
            "updated_at",
        ),
        "The chosen provider's delivery milestones (survey, build, first connections): "
        "the date each is due, and when it was done or missed",
        "So that the provider's promise is kept in public after the round; the homes "
        "waiting are emailed when a date is missed.",
        "delivery_milestones",
    ),
)
# Every column of a resident's report of a campaign or update (pledges.reports).
REPORT_FIELDS = (
    KeptField(
        ("update_id",),
        "Which update you reported, if it was an update",
        "So that administrators read what you read.",
        "reports",
    ),
    KeptField(
        ("reason", "details"),
        "The reason you chose and what you wrote",
        "So that administrators can decide what to do. Erasing removes what you wrote.",
        "reports",
    ),
    KeptField(
        ("reporter_email", "reporter_email_canonical"),
        "Your email address, only if you gave one",
        "So that an administrator can reply. Removed {email_days} days after the report is "
        "dealt with, or when you erase your data.",
        "reports",
    ),
    KeptField(
        ("ip",),
        "Your internet (IP) address",
        "To limit how many reports one connection sends. Removed after {ip_days} days.",
        "reports",
    ),
    KeptField(
        ("created_at", "action_id", "closed_at"),
        "When you reported it, and which administrator's decision closed it, when",
        "So that every report is dealt with, and every decision is on record.",
        "reports",
    ),
)
# Columns that are only keys: which row, which campaign.
TECHNICAL = {
    "reports": ("id", "campaign_id"),
    "pledges": TECHNICAL_COLUMNS,
    "choices": ("id", "campaign_id"),
    "responses": ("id", "public_id", "campaign_id"),
    "offers": ("id", "public_id", "campaign_id"),
    "choice_rounds": ("campaign_id",),
    "delivery_milestones": ("id", "public_id", "campaign_id"),
}


def _existing(fields: tuple[KeptField, ...]) -> list[KeptField]:
    return [
        f
        for f in fields
        if f.table in metadata.tables and all(c in metadata.tables[f.table].c for c in f.columns)
    ]


def kept_fields() -> list[KeptField]:
    """The fields that the pledges table actually has."""
    return _existing(PLEDGE_FIELDS)


def choice_fields() -> list[KeptField]:
    """The fields of a resident's choice that the choices table actually has."""
    return _existing(CHOICE_FIELDS)


def published_fields() -> list[KeptField]:
    """The fields of what providers publish that their tables actually have."""
    return _existing(PUBLISHED_FIELDS)


def report_fields() -> list[KeptField]:
    """The fields of a resident's report that the reports table actually has."""
    return [
        KeptField(
            f.columns,
            f.what,
            f.why.format(email_days=REPORTER_EMAIL_KEPT.days, ip_days=IP_KEPT.days),
            f.table,
        )
        for f in _existing(REPORT_FIELDS)
    ]


def _with_min_cell(fields: list[KeptField]) -> list[KeptField]:
    return [KeptField(f.columns, f.what, f.why.format(min_cell=MIN_CELL), f.table) for f in fields]


def _days(seconds: int) -> int:
    return seconds // DAY


@cacheable(STATIC_TEXT)
async def privacy_page(request: Request) -> Response:
    return render(
        request,
        "privacy.html",
        {
            "fields": kept_fields(),
            "choice_fields": _with_min_cell(choice_fields()),
            "published_fields": _with_min_cell(published_fields()),
            "confirm_days": _days(MAX_AGE["pledge-confirm"]),
            "withdraw_days": _days(MAX_AGE["pledge-withdraw"]),
            "unsubscribe_days": _days(MAX_AGE["unsubscribe"]),
            "session_days": _days(SESSION_MAX_AGE_SECONDS),
            "retention_days": services(request).settings.pledge_retention_days,
            "card_days": _days(MAX_AGE["pledge-card"]),
            "remind_hours": int(REMIND_AFTER.total_seconds()) // 3600,
            "give_up_days": GIVE_UP_AFTER.days,
            "attempt_days": LETTER_ATTEMPTS_KEPT.days,
            "link_days": SIGN_IN_LINKS_KEPT.days,
            "min_cell": MIN_CELL,
            "report_fields": report_fields(),
            "report_ip_days": IP_KEPT.days,
            "report_email_days": REPORTER_EMAIL_KEPT.days,
        },
    )


routes = [Route("/privacy", privacy_page, methods=["GET"])]
