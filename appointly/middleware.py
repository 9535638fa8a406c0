"""Request checks that hold for every page and endpoint, in one place."""

from __future__ import annotations

import re
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from django.utils.cache import patch_cache_control

from appointly.errors import json_error

# C0 control characters a person never types (tab, newline and carriage return are fine) and
# DEL. NUL in particular cannot be stored in a PostgreSQL text column: left to the database it
# is a 500 on any page that filters or saves the value.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# The same inside a JSON body, raw or escaped ("\u0000" decodes to NUL).
_JSON_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]|\\u00[01][0-9a-fA-F]|\\u007[fF]")

MESSAGE = "The request contains control characters (such as NUL) that no field accepts."


def wants_json(request: HttpRequest) -> bool:
    return request.path.startswith("/api/") or "application/json" in request.headers.get("Content-Type", "")


def _any_control(data: QueryDict) -> bool:
    return any(_CONTROL.search(k) or any(_CONTROL.search(v) for v in vs) for k, vs in data.lists())


def _has_control(request: HttpRequest) -> bool:
    if _CONTROL.search(request.path) or _any_control(request.GET):
        return True
    if request.method != "POST":
        return False
    content_type = request.headers.get("Content-Type", "")
    # Read the raw body first: it stays available to views that read `request.body` after
    # the form fields below were parsed (otherwise Django refuses it: a 500 on a JSON view
    # sent a form).
    _ = request.body
    if "application/json" in content_type:
        return bool(_JSON_CONTROL.search(request.body))
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        return _any_control(request.POST)
    return False


class RefuseControlCharacters:
    """Answer 400 (JSON for JSON callers) before any view, form or query sees input that the
    database cannot store or that no person types: one check instead of one per page."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if _has_control(request):
            if wants_json(request):
                return json_error(400, code="invalid_input", message=MESSAGE)
            return render(request, "400.html", {"message": MESSAGE}, status=400)
        return self.get_response(request)


API_MAX_BODY = 64 * 1024


class JsonErrorBodies:
    """Under /api/, every error answers the JSON error body (`{"code", "message", "details"}`),
    whatever produced it: a method decorator (405), a login redirect (401 instead of a 302 to
    an HTML page), a permission page (403), an unknown URL (404). Responses that already are
    JSON pass unchanged."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith("/api/") and int(request.headers.get("Content-Length") or 0) > API_MAX_BODY:
            return json_error(413, "too_large", f"The body must be at most {API_MAX_BODY // 1024} KiB.")
        response = self.get_response(request)
        if not request.path.startswith("/api/") or response.get("Content-Type", "").startswith("application/json"):
            return response
        if response.status_code in (301, 302) and "login" in response.get("Location", ""):
            return json_error(401)
        if response.status_code < 400:
            return response
        converted = json_error(response.status_code)
        if "Allow" in response:
            converted["Allow"] = response["Allow"]
        return converted


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF_FAILURE_VIEW: JSON callers get the JSON error body, people our 403_csrf.html through
    Django's view (Django's built-in page has an inline style the Content-Security-Policy blocks)."""
    if wants_json(request):
        return json_error(
            403, code="csrf_failed", message="The CSRF token is missing or wrong: send it in X-CSRFToken."
        )
    from django.views.csrf import csrf_failure as default

    return default(request, reason=reason)


class PrivatePages:
    """Pages answered to a signed-in person are theirs alone: no shared cache (a proxy, a
    CDN) may keep them and the browser may not store them (the back button on a shared
    computer after signing out)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        # Only a response whose view looked at who is asking can be personal; reading
        # `request.user` here would load the session and user on every request (the bare
        # health check included). AuthenticationMiddleware caches the user it loads here.
        user = getattr(request, "_cached_user", None)
        if user is not None and user.is_authenticated:
            patch_cache_control(response, private=True, no_store=True)
        return response


class StaffSecondFactor:
    """The admin needs a second factor: a staff member without an authenticator app is sent to
    set one up before any admin page (allauth then asks for its code at every sign-in)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if request.path.startswith("/admin/") and user is not None and user.is_authenticated and user.is_staff:
            from allauth.mfa.models import Authenticator

            if not Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists():
                from django.contrib import messages
                from django.shortcuts import redirect

                messages.info(request, "Staff need a second factor: set up an authenticator app to open the admin.")
                return redirect("mfa_activate_totp")
        return self.get_response(request)
