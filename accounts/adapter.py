from __future__ import annotations

from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from django.http import HttpRequest

from accounts.models import Role


class AccountAdapter(DefaultAccountAdapter):
    """allauth is the customers' door: sign-up always makes a customer account."""

    def save_user(self, request: HttpRequest, user: Any, form: Any, commit: bool = True) -> Any:
        user.role = Role.CUSTOMER
        return super().save_user(request, user, form, commit=commit)
