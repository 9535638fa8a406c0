"""The time-zone switcher: `/timezone` (one component for customers, visitors and providers)."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods

from accounts.services import user_timezone_set
from appointly.core import who
from appointly.zones import SESSION_KEY, city, is_zone, visitor_zone, zone_names


def _back(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or "/"
    return target if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}) else "/"


@require_http_methods(["GET", "POST"])
def timezone_set(request: HttpRequest) -> HttpResponse:
    """GET: the switcher (search the canonical IANA names). POST `zone`: keep it on the signed-in
    user, or in the session for a visitor. The browser's own detection posts `detected=1`,
    which never replaces a zone already known (a choice made here wins)."""
    current = visitor_zone(request)
    if request.method == "POST":
        name = request.POST.get("zone", "").strip()[:64]
        detected = request.POST.get("detected") == "1"
        if detected and current:
            return HttpResponse(status=204)
        if not is_zone(name):
            if detected:
                return HttpResponse(status=204)  # a browser naming a zone we do not know: ignore
            context = {"zones": zone_names(), "current": current, "next": _back(request), "value": name}
            context["error"] = "Choose a time zone from the list, e.g. Europe/Lisbon."
            return render(request, "accounts/timezone.html", context, status=400)
        identity = who(request)
        if identity.is_anonymous:
            request.session[SESSION_KEY] = name
        else:
            user_timezone_set(user=identity.user, name=name)
        if detected:
            return HttpResponse(status=204)
        messages.success(request, f"Times are now shown in {city(name)} time ({name}).")
        return redirect(_back(request))
    return render(
        request,
        "accounts/timezone.html",
        {"zones": zone_names(), "current": current, "next": _back(request), "value": current or ""},
    )
