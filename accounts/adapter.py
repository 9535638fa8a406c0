from __future__ import annotations

from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from accounts.models import Role


class AccountAdapter(DefaultAccountAdapter):
    """allauth is the customers' door: sign-up makes customers, provider accounts go elsewhere."""

    def save_user(self, request: HttpRequest, user: Any, form: Any, commit: bool = True) -> Any:
        user.role = Role.CUSTOMER
        return super().save_user(request, user, form, commit=commit)

    def pre_login(self, request: HttpRequest, user: Any, **kwargs: Any) -> HttpResponse | None:
        # Only reached after the password matched, so saying "provider account" reveals
        # nothing to someone who does not already own it.
        if getattr(user, "role", None) == Role.PROVIDER:
            from allauth.account.internal.stagekit import clear_login

            clear_login(request)
            messages.error(request, "This is a provider account. Please sign in on the provider page.")
            return redirect("provider_login")
        return super().pre_login(request, user, **kwargs)
