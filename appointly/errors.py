"""The project's one JSON error body: `{"code", "message", "details"}` with the status."""

from __future__ import annotations

from typing import Any

from django.http import JsonResponse

# What each status means when nothing more specific is said.
DEFAULTS = {
    400: ("bad_request", "The request is not valid."),
    401: ("unauthenticated", "Sign in first: this endpoint needs a provider session."),
    403: ("forbidden", "This account may not use this endpoint."),
    404: ("not_found", "There is nothing at this address."),
    405: ("method_not_allowed", "This method is not allowed here."),
    413: ("too_large", "The request body is too large."),
    429: ("rate_limited", "Too many requests. Please wait and try again."),
    500: ("server_error", "Something went wrong on our side. Please try again."),
}


def json_error(status: int, code: str | None = None, message: str | None = None, **details: Any) -> JsonResponse:
    default_code, default_message = DEFAULTS.get(status, ("error", "The request failed."))
    return JsonResponse(
        {"code": code or default_code, "message": message or default_message, "details": details}, status=status
    )
