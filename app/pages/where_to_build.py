"""The "Where to build next" part of the provider's and council's demand page: a GET form
for a price (currency, period), and their districts ranked by the take-up projected at it
(notifications/demand_ranking.py)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from app.bootstrap import services
from notifications.demand import DemandFilter
from notifications.demand_ranking import RANK_LIMIT, where_to_build
from pledges.accounts import Organisation
from pledges.demand import PERIOD_WORDS, site_take_up
from pledges.demand_areas import parse_asked_price
from pledges.demand_curve import assumption
from pledges.errors import ValidationFailed
from pledges.money import CURRENCIES


async def ranking_context(
    request: Request, org: Organisation, wanted: DemandFilter | None
) -> tuple[dict[str, Any], dict[str, str]]:
    """What the page shows of the ranking, and the price form's errors by field. Nothing is
    ranked until a price is sent, nor while the filter above it is in error (`wanted`
    None)."""
    query = request.query_params
    form = {
        "price": query.get("price", ""),
        "currency": query.get("currency", "gbp"),
        "period": query.get("period", "month"),
    }
    context: dict[str, Any] = {
        "build_form": form,
        "ranking": None,
        "currencies": CURRENCIES,
        "periods": PERIOD_WORDS,
        "rank_limit": RANK_LIMIT,
        "site_assumes": assumption(site_take_up(), "households"),
    }
    if "price" not in query:
        return context, {}
    try:
        asked = parse_asked_price(form["price"], form["currency"], form["period"])
    except ValidationFailed as exc:
        return context, {e.field: e.message for e in exc.errors}
    if wanted is not None:
        context["ranking"] = await where_to_build(
            services(request).store.database, org.id, wanted, asked
        )
    return context, {}
