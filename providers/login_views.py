"""Provider sign-in: email + password, then the emailed code at /auth/<id>; logout (everywhere)."""

from __future__ import annotations

from typing import Any

from allauth.core import ratelimit
from django.contrib import messages
from django.contrib.auth import authenticate, login, logout
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from accounts.models import Role
from appointly.core import who
from providers.decorators import provider_required
from providers.login_codes import (
    ChallengeGone,
    ResendNotAllowed,
    login_challenge_get_live,
    login_challenge_resend,
    login_challenge_start,
    login_challenge_verify,
    user_sessions_end_all,
)
from providers.signup import provider_email_unverified

SESSION_KEY = "provider_login"
BAD_CREDENTIALS = "That email and password do not match a provider account."


def _state(request: HttpRequest, challenge_id: str) -> dict[str, Any]:
    state = request.session.get(SESSION_KEY) or {}
    return state if state.get("id") == challenge_id else {}


def _safe_next(request: HttpRequest, target: str | None) -> str:
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return reverse("dashboard")


@require_http_methods(["GET", "POST"])
def provider_login(request: HttpRequest) -> HttpResponse:
    """Step 1. The same answer for an unknown email, a customer's email and a wrong password:
    the password hasher runs on every path (Django's backend hashes even for unknown users)."""
    if who(request).is_provider and who(request).is_onboarded:
        return redirect("dashboard")
    context: dict[str, Any] = {"email": "", "next": request.GET.get("next", "")}
    if request.method != "POST":
        return render(request, "providers/login.html", context)
    email = request.POST.get("email", "").strip().lower()[:254]
    password = request.POST.get("password", "")
    context["email"] = email
    if not ratelimit.consume(request, action="provider_login", key=email):
        context["error"] = "Too many sign-in attempts. Please wait a few minutes and try again."
        return render(request, "providers/login.html", context, status=429)
    user = authenticate(request, username=email, password=password)
    if user is None or getattr(user, "role", None) != Role.PROVIDER:
        context["error"] = BAD_CREDENTIALS
        return render(request, "providers/login.html", context, status=400)
    if provider_email_unverified(user):  # type: ignore[arg-type]
        # Only said after the right password, so it tells nothing to someone guessing.
        context["error"] = "Confirm your email first: follow the link we sent when you signed up."
        return render(request, "providers/login.html", context, status=400)
    if not ratelimit.consume(request, action="provider_code", key=email):
        context["error"] = "Too many sign-in codes were requested for this account. Please try again later."
        return render(request, "providers/login.html", context, status=429)
    started = login_challenge_start(user=user)  # type: ignore[arg-type]
    request.session[SESSION_KEY] = {
        "id": started.challenge.id,
        "secret": started.browser_secret,
        "email": email,
        "next": _safe_next(request, request.POST.get("next") or request.GET.get("next")),
    }
    return redirect("provider_code", challenge_id=started.challenge.id)


def _gone(request: HttpRequest, challenge_id: str, exc: ChallengeGone) -> HttpResponse:
    # Forget this browser's pending sign-in only if it was this one (a stray or forged link
    # must not spoil a sign-in in progress).
    if _state(request, challenge_id):
        request.session.pop(SESSION_KEY, None)
    messages.error(request, str(exc))
    return redirect("provider_login")


@require_http_methods(["GET", "POST"])
def provider_code(request: HttpRequest, challenge_id: str) -> HttpResponse:
    """Step 2: the code from the email. Right: signed in. Wrong: try again (5 tries in all)."""
    state = _state(request, challenge_id)
    secret = state.get("secret")
    context: dict[str, Any] = {"challenge_id": challenge_id}
    if request.method == "POST":
        try:
            result = login_challenge_verify(
                challenge_id=challenge_id, browser_secret=secret, code=request.POST.get("code", "")
            )
        except ChallengeGone as exc:
            return _gone(request, challenge_id, exc)
        if result.user is None:
            context["error"] = (
                f"That code is not right. {result.attempts_left} "
                f"{'try' if result.attempts_left == 1 else 'tries'} left."
            )
            return render(request, "providers/login_code.html", context, status=400)
        target = state.get("next") or reverse("dashboard")
        request.session.pop(SESSION_KEY, None)
        # login() rotates the session key: nothing from before the code step carries a session.
        login(request, result.user, backend="accounts.backends.ModelBackend")
        return redirect(target)
    try:
        challenge = login_challenge_get_live(challenge_id=challenge_id, browser_secret=secret)
    except ChallengeGone as exc:
        return _gone(request, challenge_id, exc)
    context["email"] = challenge.user.email
    return render(request, "providers/login_code.html", context)


@require_POST
def provider_code_resend(request: HttpRequest, challenge_id: str) -> HttpResponse:
    state = _state(request, challenge_id)
    email = state.get("email", "")
    try:
        # Check the per-email/IP limit first, but count only codes actually sent.
        if not ratelimit.consume(request, action="provider_code", key=email, dry_run=True):
            raise ResendNotAllowed("Too many sign-in codes were requested. Please try again later.")
        login_challenge_resend(challenge_id=challenge_id, browser_secret=state.get("secret"))
        ratelimit.consume(request, action="provider_code", key=email)
    except ChallengeGone as exc:
        return _gone(request, challenge_id, exc)
    except ResendNotAllowed as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "We sent a new code. The previous one no longer works.")
    return redirect("provider_code", challenge_id=challenge_id)


@require_POST
def provider_logout(request: HttpRequest) -> HttpResponse:
    logout(request)
    messages.info(request, "You are signed out.")
    return redirect("provider_login")


@require_POST
@provider_required(onboarded=False)
def provider_logout_everywhere(request: HttpRequest) -> HttpResponse:
    user_sessions_end_all(user=request.user)  # type: ignore[arg-type]
    logout(request)
    messages.info(request, "You are signed out on every device.")
    return redirect("provider_login")
