"""Personal access tokens: made, listed, revoked, and checked on every API and MCP call."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from api.models import AccessToken, Scope
from appointly.compiled import Compiled
from appointly.core import DomainError

TOKEN_START = "apt_"  # noqa: S105 (the tokens' visible start, not a secret)
LAST_USED_EVERY = timedelta(minutes=1)  # last-used time written at most this often per token
EXPIRY_CHOICES = (7, 30, 90, 365)


class TokenInvalid(DomainError):
    """Missing, unknown, expired or revoked: 401."""


class ScopeMissing(DomainError):
    """A valid token without the scope this operation needs: 403."""


def scopes_for(user: User) -> list[str]:
    """The scopes this kind of account may give a token."""
    if user.is_provider:
        return [Scope.READ, Scope.PROVIDER]
    return [Scope.READ, Scope.BOOK, Scope.CANCEL]


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


@transaction.atomic
def token_create(*, user: User, name: str, scopes: list[str], days: int) -> tuple[AccessToken, str]:
    """A new token; the raw value is returned this once and never stored."""
    name = " ".join(name.split())[:80]
    if not name:
        raise DomainError("Give the token a name, so you know later what uses it.")
    allowed = scopes_for(user)
    wanted = sorted({s for s in scopes if s})
    if not wanted or any(s not in allowed for s in wanted):
        raise DomainError(f"Choose one or more of: {', '.join(allowed)}.")
    if days not in EXPIRY_CHOICES:
        raise DomainError(f"Choose an expiry of {', '.join(str(d) for d in EXPIRY_CHOICES)} days.")
    if user.access_tokens.filter(revoked_at__isnull=True, expires_at__gt=timezone.now()).count() >= 20:
        raise DomainError("You have 20 live tokens: revoke one before making another.")
    prefix = secrets.token_hex(4)
    raw = f"{TOKEN_START}{prefix}_{secrets.token_urlsafe(32)}"
    token = AccessToken.objects.create(
        user=user,
        name=name,
        prefix=prefix,
        digest=_digest(raw),
        scopes=wanted,
        expires_at=timezone.now() + timedelta(days=days),
    )
    return token, raw


def token_revoke(*, user: User, token_id: int) -> bool:
    """Revoke one of the user's tokens (another person's id revokes nothing)."""
    return bool(
        AccessToken.objects.filter(pk=token_id, user=user, revoked_at__isnull=True).update(revoked_at=timezone.now())
    )


# The account page's list and every API request's lookup, compiled once (ADR 0029).
_TOKENS_OF: Compiled[AccessToken] = Compiled(
    lambda user_id: AccessToken.objects.filter(user_id=user_id).order_by("-created_at")[:50]
)
_BY_DIGEST: Compiled[AccessToken] = Compiled(
    lambda digest: AccessToken.objects.select_related("user").filter(digest=digest).order_by("pk")[:1]
)


def tokens_for(*, user: User) -> list[AccessToken]:
    return _TOKENS_OF.list(user_id=user.pk)


def token_authenticate(raw: str) -> AccessToken:
    """The live token for this raw value (looked up by its digest), its last use recorded."""
    if not raw.startswith(TOKEN_START) or len(raw) > 200:
        raise TokenInvalid("The access token is not valid.")
    token = _BY_DIGEST.first(digest=_digest(raw))
    now = timezone.now()
    if token is None or not token.user.is_active:
        raise TokenInvalid("The access token is not valid.")
    if token.revoked_at is not None:
        raise TokenInvalid("This access token was revoked.")
    if token.expires_at <= now:
        raise TokenInvalid("This access token has expired. Make a new one on your account page.")
    if token.last_used_at is None or token.last_used_at < now - LAST_USED_EVERY:
        AccessToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token


def token_require(token: AccessToken, scope: str) -> None:
    if scope not in token.scopes:
        raise ScopeMissing(f"This token does not have the `{scope}` scope.")
