"""/dev/mail: the outbox as a mailbox, in development and the demo only (404 otherwise)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.bootstrap import services
from app.errors import Problem
from app.pages.rendering import render
from app.security_headers import content_security_policy
from notifications.outbox import get_email, recent_emails

# Enough for every message the demo's seeding sends, with room for the visitor's own.
SHOWN = 200


def require_dev(request: Request) -> None:
    if not services(request).settings.development:
        raise Problem(404, "There is nothing at this address.")


async def dev_mail(request: Request) -> Response:
    require_dev(request)
    messages = await recent_emails(services(request).store.database, limit=SHOWN)
    return render(request, "dev_mail.html", {"messages": messages})


async def dev_mail_message(request: Request) -> Response:
    require_dev(request)
    message = await get_email(services(request).store.database, request.path_params["id"])
    if message is None or message["html_body"] is None:
        raise Problem(404, "There is no such message.")
    response = render(request, "dev_mail_message.html", {"message": message})
    # Emails carry inline styles, as mail clients expect; scripts stay refused.
    response.headers["Content-Security-Policy"] = content_security_policy(inline_styles=True)
    return response


routes = [
    Route("/dev/mail", dev_mail, methods=["GET"]),
    Route("/dev/mail/{id:int}", dev_mail_message, methods=["GET"]),
]
