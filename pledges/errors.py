"""Domain errors; app/ maps each to an HTTP answer once."""

from __future__ import annotations

from dataclasses import dataclass


class DomainError(Exception):
    """Base of every error the domain raises on purpose."""


@dataclass
class FieldError:
    field: str
    message: str


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
    """Too many pledges from one address on one campaign; nothing was stored."""

    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__(
            f"Too many pledges from this address; try again in {retry_after_seconds} s."
        )
        self.retry_after_seconds = retry_after_seconds


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
