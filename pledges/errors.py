"""Domain errors; app/ maps each to an HTTP answer once."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

# What is wrong with a field, as a stable identifier: the forms choose their own words
# from (field, code, params) and never read `message`, so the two cannot drift apart.
ErrorCode = Literal[
    "not_an_object",  # a JSON object (the body, or a part of it) was expected
    "not_json",
    "too_deep",
    "unknown_field",  # a key the domain does not know; params: none
    "required",
    "not_text",
    "not_a_boolean",
    "not_a_list",  # params: max (items)
    "contains_nul",
    "contains_control",  # a control character (NUL, a line break, ...) or a lone surrogate
    "not_an_address",  # no letter or digit in an address line
    "not_a_uprn",  # params: max (digits)
    "missing_columns",  # a file without the named columns; params: columns
    "too_many",  # params: max (items)
    "empty",  # a file or list with nothing in it
    "duplicate",  # the same thing twice in a list; params: same_as (its first place)
    "too_many_errors",  # only the first errors are listed; params: more (how many not listed)
    "too_long",  # params: max (characters)
    "wrong_length",  # params: min, max (characters)
    "not_one_line",
    "not_an_email",
    "not_a_postcode",
    "not_a_postcode_district",  # params: value
    "not_a_postcode_prefix",
    "not_a_slug",
    "reserved",  # params: value
    "taken",
    "not_in_choices",  # params: choices
    "not_a_whole_number",  # params: min, max
    "out_of_range",  # params: min, max (and currency for an amount)
    "below_minimum",  # params: min
    "deposit_or_range",  # a fixed deposit and a range given together
    "not_a_date",
    "not_in_future",
    "too_far_ahead",  # params: latest (a datetime, when it is fixed by another date)
    "not_later",  # params: current (the deadline it may not move before)
    "not_after_start",
    "not_an_ip",
    "not_a_range_start",  # params: value, suggestion
    "not_a_domain",
    "no_filter",
    "not_found",
    "unsafe_url",
    "invalid_token",
    "money_unavailable",
    "money_online_only",
    "not_a_cursor",  # a page cursor Groundswell did not give
    "target_or_coverage",  # a households campaign gave both a target and a coverage target
    "households_only",  # a setting only a campaign counting households may have
    "needs_price_question",  # a target price or quote on a campaign asking no price
    "target_or_cost",  # a target given beside tipping on a shared quote
    "period_once_only",  # tipping on a shared build cost with a monthly or yearly price
    "social_tariff_or_statement",  # an offer needs a social tariff or a statement of none
    "above_price",  # a social tariff dearer than the offer's own price
    "before_available_from",  # an offer standing until before it is available
    "offer_withdrawn",  # choosing an offer its provider withdrew
    "struck_out",  # a paper pledge of an email whose pledge the moderators struck out
    "not_valid",  # none of the above: the message says what is wrong
]


class DomainError(Exception):
    """Base of every error the domain raises on purpose."""


@dataclass(frozen=True)
class FieldError:
    """One problem with one field. `code` and `params` say what is wrong for code that
    words it itself (the forms); `message` is the domain's plain English for API clients."""

    field: str
    code: ErrorCode
    message: str
    params: Mapping[str, Any] = dataclasses.field(default_factory=dict)


class ValidationFailed(DomainError):
    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))
        self.errors = errors


class CampaignNotFound(DomainError):
    pass


class CampaignNotOpen(DomainError):
    def __init__(self, status: str) -> None:
        super().__init__(f"This campaign is {status} and is not taking pledges.")
        self.status = status


class FieldsFixed(DomainError):
    """An edit names fields that a published campaign can no longer change."""

    def __init__(self, fields: list[str]) -> None:
        super().__init__(
            "Once a campaign is published, only its title, summary, description, a later "
            "deadline, its take-up rates and its quote's total and voucher can change."
        )
        self.fields = fields


class SlugTaken(DomainError):
    pass


class InvalidToken(DomainError):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class PledgeNotFound(DomainError):
    pass


class PledgeWithdrawn(DomainError):
    """A withdrawn pledge cannot be confirmed by an old link."""


class StruckOutEmail(DomainError):
    """A lead records on paper an email whose pledge on this campaign the site's moderators
    struck out: it is not revived, and the lead is told so (not "confirmed")."""

    def __init__(self, pledge_id: int) -> None:
        super().__init__(
            "The pledge from this email on this campaign was struck out by the site's "
            "moderators, so it was not recorded again and is not counted."
        )
        self.pledge_id = pledge_id
        self.errors = [FieldError("email", "struck_out", str(self))]


class PledgeInvalid(DomainError):
    """A pledge struck out by the site's moderators cannot be confirmed or revived."""

    def __init__(self, pledge_id: str) -> None:
        super().__init__(
            "This pledge was struck out by the site's moderators, so it cannot be confirmed "
            "and is not counted."
        )
        self.pledge_id = pledge_id


class CampaignHidden(DomainError):
    """The campaign is hidden by an administrator: its pending pledges cannot be confirmed."""

    def __init__(self, slug: str) -> None:
        super().__init__(
            "The site's moderators have taken this campaign down for now, so your pledge "
            "cannot be confirmed. It has not been counted."
        )
        self.slug = slug


class MoneyUnavailable(DomainError):
    """A money campaign on a site without Stripe keys: nobody can save a card, so no
    pledge is taken (nothing stored)."""

    def __init__(self) -> None:
        super().__init__("Money pledges are not available on this site now.")


class NotCampaignLead(DomainError):
    """The caller's key does not belong to this campaign's lead."""


class RateLimited(DomainError):
    """Too many pledges from one address on one campaign; nothing was stored. `pledges` in
    `seconds`: the window of the limit that was reached (the one with the longest wait)."""

    def __init__(self, retry_after_seconds: int, pledges: int = 0, seconds: int = 0) -> None:
        super().__init__(
            f"Too many pledges from this address; try again in {retry_after_seconds} s."
        )
        self.retry_after_seconds = retry_after_seconds
        self.pledges = pledges
        self.seconds = seconds


class SignInLinksLimited(DomainError):
    """Too many sign-in links asked for one mailbox (by_client False) or from one client
    address (by_client True) in the last hour; nothing was sent."""

    def __init__(self, retry_after_seconds: int, *, by_client: bool) -> None:
        super().__init__(
            "Too many sign-in links were asked for "
            + ("from this internet connection" if by_client else "for this email address")
            + f" in the last hour; try again in {retry_after_seconds} s."
        )
        self.retry_after_seconds = retry_after_seconds
        self.by_client = by_client


class PaymentsOff(DomainError):
    """This site takes no money now (no Stripe keys): there is no Checkout to go to."""


class CheckoutRefused(DomainError):
    """The pledge is not in a state to go to Checkout now."""


class CardNotNeeded(CheckoutRefused):
    """Saving a card: the pledge is not waiting for one (saved already, or not money)."""


class NothingToPay(CheckoutRefused):
    """Paying after a failed charge: the pledge owes nothing now (paid, given up,
    withdrawn or struck out since)."""


class RefundRefused(DomainError):
    """Nothing was refunded; a subclass says why."""


class RefundsUnavailable(RefundRefused):
    """This site takes no money now (no Stripe keys), so nothing can be refunded."""


class PaymentNotPossible(RefundRefused):
    """The pledge is not in a state for this (not paid, already refunded, ...)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class RefundFailed(RefundRefused):
    """Stripe did not make the refund (unreachable, or refusing); nothing changed here."""


class NotPermitted(DomainError):
    """The caller may not do this (HTTP 403); the message says why, in words."""


class WrongState(DomainError):
    """Not possible in the thing's present state (HTTP 409); the message says why."""


class NotFound(DomainError):
    """There is no such thing, or none the caller may see (HTTP 404); the message says what."""
