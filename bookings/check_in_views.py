"""`/mark?id=<token>`: the page a provider's printed QR code opens on a customer's phone. The GET
shows what a check-in would do (it changes nothing); the POST checks in. Rules in
bookings/attendance.py, the write in bookings.services.appointment_check_in."""

from __future__ import annotations

from typing import Any

from allauth.core.internal import ratelimit
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from accounts.adapter import RESUME_SESSION_KEY
from appointly.core import DomainError, who
from appointly.zones import visitor_zone
from bookings.attendance import check_in_candidates, check_in_decide
from bookings.services import appointment_check_in
from providers.selectors import provider_by_check_in_code

TEMPLATE = "bookings/check_in.html"


def _within_rate(request: HttpRequest) -> bool:
    """allauth's cache-backed limiter (the provider login's), counting GETs too: a guess at a
    code is a GET. `ACCOUNT_RATE_LIMITS`: "check_in" per IP, "check_in_user" per signed-in user."""
    if ratelimit.consume(request, app="allauth.account", action="check_in", limit_get=True) is None:
        return False
    if not request.user.is_authenticated:
        return True
    return (
        ratelimit.consume(request, app="allauth.account", action="check_in_user", user=request.user, limit_get=True)
        is not None
    )


def _page(request: HttpRequest, context: dict[str, Any], status: int = 200) -> HttpResponse:
    provider = context.get("provider")
    # Times in the visitor's zone when known, else the provider's (where they stand to scan).
    context["zone"] = visitor_zone(request) or (provider.timezone if provider is not None else "UTC")
    response = render(request, TEMPLATE, context, status=status)
    # The code is in this page's URL: requests from here carry only our origin, never the path
    # and query (not `no-referrer`: browsers then send `Origin: null` and the form's CSRF
    # origin check fails).
    response["Referrer-Policy"] = "strict-origin"
    return response


@require_http_methods(["GET", "POST"])
def check_in(request: HttpRequest) -> HttpResponse:
    if not _within_rate(request):
        return _page(request, {"state": "rate_limited"}, status=429)
    provider = provider_by_check_in_code(token=request.GET.get("id", "")[:64])
    if provider is None:
        return _page(request, {"state": "invalid"}, status=404)
    identity = who(request)
    context: dict[str, Any] = {"provider": provider, "action": request.get_full_path()}
    if identity.is_anonymous:
        # Log in or sign up, then back here: the booking flow's resume (it survives the
        # email-verification detour, and keeps the code out of a `?next=` in the login URL).
        request.session[RESUME_SESSION_KEY] = request.get_full_path()
        return _page(request, {**context, "state": "anonymous"})
    if identity.is_provider:
        own = identity.provider is not None and identity.provider.pk == provider.pk
        return _page(request, {**context, "state": "provider", "own": own}, status=403)
    request.session.pop(RESUME_SESSION_KEY, None)
    now = timezone.now()
    if request.method == "POST":
        try:
            decided = appointment_check_in(customer=who(request).user, provider=provider, now=now)
        except DomainError as exc:
            return _page(request, {**context, "state": "error", "error": str(exc)}, status=409)
    else:
        decided = check_in_decide(
            list(check_in_candidates(customer=who(request).user, provider=provider, now=now)), now
        )
    # Every answer is a page that says what happened and what to do next (not an error).
    return _page(request, {**context, "state": decided.answer.value, "check_in": decided, "now": now})
