"""Django's and allauth's authentication backends, with the signed-in user's read on every
request compiled once (docs/adr/0029): `get_user` is the one read every signed-in request makes
before any view runs, and Django builds and compiles it anew each time."""

from __future__ import annotations

from typing import Any

from allauth.account.auth_backends import AuthenticationBackend as AllauthBackend
from django.contrib.auth.backends import ModelBackend as DjangoModelBackend
from django.core.exceptions import ValidationError

from accounts.models import User
from appointly.compiled import Compiled

_USER: Compiled[User] = Compiled(lambda pk: User._default_manager.filter(pk=pk))


class _CompiledUser:
    """`get_user` as Django's ModelBackend answers it (None for an unknown id or an inactive
    user), read through a compiled statement."""

    def get_user(self, user_id: Any) -> User | None:
        try:
            pk = User._meta.pk.to_python(user_id)  # type: ignore[union-attr]
        except ValidationError:
            return None
        user = _USER.first(pk=pk)
        return user if user is not None and self.user_can_authenticate(user) else None  # type: ignore[attr-defined]


class ModelBackend(_CompiledUser, DjangoModelBackend):  # type: ignore[misc]
    pass


class AuthenticationBackend(_CompiledUser, AllauthBackend):  # type: ignore[misc]
    pass
