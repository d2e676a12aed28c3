"""Renders a page template with what every page needs: the CSRF token and the settings."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from app.bootstrap import services
from app.csrf import csrf_token


def render(
    request: Request, name: str, context: dict[str, Any], status_code: int = 200
) -> Response:
    context.setdefault("csrf_token", csrf_token(request))
    context.setdefault("settings", services(request).settings)
    return request.app.state.templates.TemplateResponse(
        request, name, context, status_code=status_code
    )
