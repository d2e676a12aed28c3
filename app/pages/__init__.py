"""Server-rendered pages, one module per audience: residents (and their own pledges), campaign
leads, organisations, administrators; with payments, sharing, sign-in and privacy."""

from __future__ import annotations

from app.pages import (
    administrators,
    campaign_demand,
    choice_round,
    choices,
    delivery_record,
    hand_notes,
    leads,
    letters,
    my_pledges,
    offers,
    organisation_approval,
    organisations,
    payments,
    premises,
    privacy,
    reporting,
    residents,
    review,
    sharing,
    sign_in,
)

routes = [
    *residents.routes,
    *reporting.routes,
    *payments.routes,
    *sharing.routes,
    *privacy.routes,
    *organisations.routes,
    *offers.routes,
    *sign_in.routes,
    *administrators.routes,
    *review.routes,
    *organisation_approval.routes,
    *my_pledges.routes,
    *premises.routes,
    *leads.routes,
    *campaign_demand.routes,
    *letters.routes,
    *hand_notes.routes,
    *delivery_record.routes,
    *choice_round.routes,
    *choices.routes,
]
