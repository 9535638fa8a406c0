from __future__ import annotations

import secrets
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from allauth.account.adapter import DefaultAccountAdapter
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.hashers import make_password
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme

from accounts.models import Role
from accounts.services import user_timezone_set
from appointly import zones
from appointly.mail import with_html

# Set by any page that sends an anonymous visitor to log in and wants them back afterwards.
RESUME_SESSION_KEY = "resume_after_login"


def _public(url: str) -> str:
    """A link for an email, on the public address (SITE_URL) whatever host the request used."""
    bits, site = urlsplit(url), urlsplit(settings.SITE_URL)
    return urlunsplit((site.scheme, site.netloc, bits.path, bits.query, bits.fragment))


class AccountAdapter(DefaultAccountAdapter):
    """allauth is the customers' door: sign-up makes customers, provider accounts go elsewhere."""

    def save_user(self, request: HttpRequest, user: Any, form: Any, commit: bool = True) -> Any:
        user.role = Role.CUSTOMER
        return super().save_user(request, user, form, commit=commit)

    def send_account_already_exists_mail(self, email: str) -> None:
        # A sign-up for an email that has an account hashes nothing, a new one hashes the
        # password once: without this the answer time tells which emails have accounts.
        make_password(secrets.token_urlsafe(16))
        super().send_account_already_exists_mail(email)

    def _resume_url(self, request: HttpRequest) -> str | None:
        # A flow interrupted by login or sign-up (a booking in progress) resumes where it was,
        # even across the email-verification detour that drops `?next=`. The page that set it
        # clears it when the visitor arrives back.
        resume = request.session.get(RESUME_SESSION_KEY)
        if resume and url_has_allowed_host_and_scheme(resume, allowed_hosts={request.get_host()}):
            return str(resume)
        return None

    def get_login_redirect_url(self, request: HttpRequest) -> str:
        return self._resume_url(request) or str(super().get_login_redirect_url(request))

    def get_signup_redirect_url(self, request: HttpRequest) -> str:
        return self._resume_url(request) or str(super().get_signup_redirect_url(request))

    def render_mail(self, template_prefix: str, email: str, context: dict[str, Any], headers: Any = None) -> Any:
        # Every allauth email gets our HTML part too (made from its text; appointly.mail).
        return with_html(super().render_mail(template_prefix, email, context, headers=headers))

    def send_mail(self, template_prefix: str, email: str, context: dict[str, Any]) -> None:
        # Our email templates sign with the product and its public address (SITE_URL), never
        # the host a request happened to use (allauth's default "Hello from 127.0.0.1:8000").
        site = SimpleNamespace(name="Appointly", domain=urlsplit(settings.SITE_URL).netloc)
        super().send_mail(
            template_prefix, email, {**context, "site_url": settings.SITE_URL.rstrip("/"), "current_site": site}
        )

    def get_email_confirmation_url(self, request: HttpRequest, emailconfirmation: Any) -> str:
        return _public(super().get_email_confirmation_url(request, emailconfirmation))

    def get_reset_password_from_key_url(self, key: str) -> str:
        return _public(super().get_reset_password_from_key_url(key))

    def login(self, request: HttpRequest, user: Any) -> None:
        # The zone the browser told us before signing in becomes the account's, unless the
        # account already has one (then that one wins, on every device).
        zone = request.session.get(zones.SESSION_KEY, "")
        super().login(request, user)
        if zone and not getattr(user, "timezone", "") and zones.is_zone(zone):
            user_timezone_set(user=user, name=zone)

    def pre_login(self, request: HttpRequest, user: Any, **kwargs: Any) -> HttpResponse | None:
        # Only reached after the password matched, so saying "provider account" reveals
        # nothing to someone who does not already own it.
        if getattr(user, "role", None) == Role.PROVIDER:
            from allauth.account.internal.stagekit import clear_login

            clear_login(request)
            messages.error(request, "This is a provider account. Please sign in on the provider page.")
            return redirect("provider_login")
        return super().pre_login(request, user, **kwargs)
