"""Residents' "my pledges" (/me): every pledge made with one email address, to withdraw,
download or erase.

A resident signs in with an emailed link (app/pages/sign_in.py), which keeps their canonical
address in the session for an hour, so pledges made as j.smith+x@gmail.com and
jsmith@gmail.com are listed together. A pledge id that is not theirs is answered as if it
did not exist. These pages hold personal data: browsers and proxies are told not to keep
them.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from app.bootstrap import services
from app.csrf import check_csrf
from app.errors import Problem
from app.pages.rendering import render
from app.pages.sign_in import resident_email, sign_in_redirect
from app.sessions import end_signed_in_session
from notifications.outbox import scrub_pledge_mail
from notifications.resident_data import emails_for_pledges
from pledges.contact_downloads import recipients_of_pledges
from pledges.demand import PERIOD_WORDS
from pledges.erasure import ResidentPledge, erase_resident, resident_pledge, resident_pledges
from pledges.errors import PledgeNotFound
from pledges.money import format_money
from pledges.pledging import withdraw_pledge
from pledges.reports import reports_by
from pledges.store import utcnow

NO_STORE = {"Cache-Control": "no-store"}
FIRMNESS_WORDS = {
    "interested": "Interested",
    "will_switch": "Will switch when it is offered at or below my price",
    "deposit": "Ready to pay a deposit",
}
STATUS_WORDS = {
    "pending": "Not confirmed yet: open the link in the email we sent you",
    "confirmed": "Confirmed: counted",
    "withdrawn": "Withdrawn: not counted",
    "invalid": "Not counted: removed by the site's moderators",
}


def answer_words(pledge: ResidentPledge) -> str:
    """The most a resident said they would pay, as their pledge card shows it."""
    if pledge.max_price is None or not pledge.price_currency or not pledge.price_period:
        return "Not sure"
    money = format_money(pledge.max_price, pledge.price_currency)
    return f"{money} {PERIOD_WORDS[pledge.price_period]}"


def _private(response: Response) -> Response:
    response.headers.update(NO_STORE)
    return response


async def my_pledges(request: Request) -> Response:
    email = resident_email(request)
    if email is None:
        return sign_in_redirect("resident")
    async with services(request).store.read() as db:
        items = await resident_pledges(db, email)
        reported = await reports_by(db, email)
    notice = None
    withdrawn = request.query_params.get("withdrawn", "")
    for item in items:
        if withdrawn == str(item.id) and item.status == "withdrawn":
            notice = f"Your pledge to {item.campaign_title} is withdrawn."
    return _private(
        render(
            request,
            "me/pledges.html",
            {
                "email": email,
                "pledges": items,
                "reports": reported,
                "notice": notice,
                "status_words": STATUS_WORDS,
                "firmness_words": FIRMNESS_WORDS,
                "answer_words": answer_words,
            },
        )
    )


async def withdraw(request: Request) -> Response:
    email = resident_email(request)
    if email is None:
        return sign_in_redirect("resident")
    form = await request.form()
    check_csrf(request, form.get("csrf_token"))
    svc = services(request)
    pledge_id = int(request.path_params["pledge_id"])
    try:
        async with svc.store.read() as db:
            await resident_pledge(db, email, pledge_id)
    except PledgeNotFound:
        raise Problem(404, "You have no pledge with that number.") from None
    await withdraw_pledge(svc.store, pledge_id)
    return RedirectResponse(f"/me?withdrawn={pledge_id}", status_code=303)


async def download(request: Request) -> Response:
    """Everything stored about the resident's pledges, the emails we sent about them, and
    which organisations received their contact details, and when, and the reports they made
    with their address."""
    email = resident_email(request)
    if email is None:
        return sign_in_redirect("resident")
    async with services(request).store.read() as db:
        items = await resident_pledges(db, email)
        sent = await emails_for_pledges(db, [p.id for p in items])
        received = await recipients_of_pledges(db, [p.id for p in items])
        reported = await reports_by(db, email)
    data: dict[str, Any] = {
        "exported_at": utcnow().isoformat(),
        "signed_in_as": email,
        "pledges": [
            {
                **p.personal_data(),
                "emails": sent[p.id],
                # Which organisations downloaded this pledge's contact details, and when.
                "contact_details_received_by": received[p.id],
            }
            for p in items
        ],
        "reports": reported,
    }
    return Response(
        json.dumps(data, indent=2, ensure_ascii=False),
        media_type="application/json",
        headers={
            **NO_STORE,
            "Content-Disposition": 'attachment; filename="groundswell-my-data.json"',
        },
    )


async def erase(request: Request) -> Response:
    """GET explains what erasing does; POST does it, then signs the resident out."""
    email = resident_email(request)
    if email is None:
        return sign_in_redirect("resident")
    svc = services(request)
    if request.method == "GET":
        async with svc.store.read() as db:
            items = await resident_pledges(db, email)
        return _private(render(request, "me/erase.html", {"email": email, "pledges": items}))
    form = await request.form()
    check_csrf(request, form.get("csrf_token"))
    erased = await erase_resident(svc.store, email, scrub_mail=scrub_pledge_mail)
    await end_signed_in_session(request, "resident")
    return _private(render(request, "me/erased.html", {"erased": erased}))


routes = [
    Route("/me", my_pledges, methods=["GET"]),
    Route("/me/pledges/{pledge_id:int}/withdraw", withdraw, methods=["POST"]),
    Route("/me/data.json", download, methods=["GET"]),
    Route("/me/erase", erase, methods=["GET", "POST"]),
]
