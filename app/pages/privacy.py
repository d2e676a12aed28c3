"""The privacy page: what Groundswell keeps about residents, why, and for how long.

Built from the code it describes (the pledges table, link lifetimes, the session cookie,
the payment reminders), and tested against it, so that it says what the code actually
does."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.bootstrap import services
from app.csrf import SESSION_MAX_AGE_SECONDS
from app.pages.rendering import render
from pledges.demand_curve import MIN_CELL
from pledges.payments import GIVE_UP_AFTER, REMIND_AFTER
from pledges.retention import LETTER_ATTEMPTS_KEPT
from pledges.tables import pledges
from pledges.tokens import DAY, MAX_AGE


@dataclass(frozen=True)
class KeptField:
    columns: tuple[str, ...]  # the columns of the pledges table it describes
    what: str
    why: str


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


def kept_fields() -> list[KeptField]:
    """The fields that the pledges table actually has."""
    return [f for f in PLEDGE_FIELDS if all(c in pledges.c for c in f.columns)]


def _days(seconds: int) -> int:
    return seconds // DAY


async def privacy_page(request: Request) -> Response:
    return render(
        request,
        "privacy.html",
        {
            "fields": kept_fields(),
            "confirm_days": _days(MAX_AGE["pledge-confirm"]),
            "withdraw_days": _days(MAX_AGE["pledge-withdraw"]),
            "unsubscribe_days": _days(MAX_AGE["unsubscribe"]),
            "session_days": _days(SESSION_MAX_AGE_SECONDS),
            "retention_days": services(request).settings.pledge_retention_days,
            "card_days": _days(MAX_AGE["pledge-card"]),
            "remind_hours": int(REMIND_AFTER.total_seconds()) // 3600,
            "give_up_days": GIVE_UP_AFTER.days,
            "attempt_days": LETTER_ATTEMPTS_KEPT.days,
            "min_cell": MIN_CELL,
        },
    )


routes = [Route("/privacy", privacy_page, methods=["GET"])]
