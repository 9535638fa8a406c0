"""The single guard for provider pages."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django_htmx.http import HttpResponseClientRedirect

from appointly.core import who

View = Callable[..., HttpResponse]


def provider_required(*, onboarded: bool = True) -> Callable[[View], View]:
    """Anonymous -> provider login; customer -> 403; provider mid-onboarding -> the wizard.

    `onboarded=False` is for the wizard itself.
    """

    def decorator(view: View) -> View:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            identity = who(request)
            if identity.is_anonymous:
                if getattr(request, "htmx", False):
                    # An HTMX request (the live poll after the session ended) must not swap the
                    # login page into a fragment: the whole page goes to the login.
                    return HttpResponseClientRedirect(reverse("provider_login"))
                return redirect_to_login(request.get_full_path(), login_url="provider_login")
            if not identity.is_provider:
                return render(request, "providers/not_a_provider.html", status=403)
            if onboarded and not identity.is_onboarded:
                return redirect("onboarding")
            return view(request, *args, **kwargs)

        return wrapped

    return decorator
