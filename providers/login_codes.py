"""Provider sign-in, second factor: a 6-digit code emailed after the password step.

What is stored: a random challenge id, HMAC-SHA256(SECRET_KEY, id + code), an HMAC of a
per-browser secret, expiry (5 minutes), attempts, sends. Never the code, never the password.
Comparisons are constant-time. Codes are not logged (the email body is the only place).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from accounts.models import User
from appointly.core import DomainError
from appointly.telemetry import traced
from providers.models import ProviderLoginChallenge


class ChallengeGone(DomainError):
    """Expired, used up, unknown, or from another browser: the provider must log in again."""


class ResendNotAllowed(DomainError):
    """Too soon, or too many resends for this challenge."""


def _hmac(purpose: str, value: str) -> str:
    key = f"appointly.provider-login.{purpose}.{settings.SECRET_KEY}".encode()
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


def _code_hash(challenge_id: str, code: str) -> str:
    return _hmac("code", f"{challenge_id}:{code}")


def _new_code() -> str:
    return f"{secrets.randbelow(10**6):06d}"


def _send_code(user: User, code: str, expires_at: datetime) -> None:
    context = {
        "code": code,
        "minutes": settings.PROVIDER_OTP_TTL_SECONDS // 60,
        "expires_at": expires_at,
        "site_url": settings.SITE_URL,
        "email": user.email,
    }
    message = EmailMultiAlternatives(
        # Never the code itself: subjects show on lock screens and in mail logs.
        subject="Your Appointly sign-in code",
        body=render_to_string("providers/email/login_code.txt", context),
        to=[user.email],
    )
    message.attach_alternative(render_to_string("providers/email/login_code.html", context), "text/html")
    message.send()


@dataclass(frozen=True)
class Started:
    challenge: ProviderLoginChallenge
    browser_secret: str


@transaction.atomic
@traced("provider_signin.code_sent")  # no attributes: the challenge id and code are secrets
def login_challenge_start(*, user: User, now: datetime | None = None) -> Started:
    """Create the OTP session and email the code. The caller keeps `browser_secret` in the
    browser's session."""
    now = now or timezone.now()
    browser_secret = secrets.token_urlsafe(32)
    challenge = ProviderLoginChallenge(
        user=user,
        browser_hash=_hmac("browser", browser_secret),
        expires_at=now + timedelta(seconds=settings.PROVIDER_OTP_TTL_SECONDS),
        last_sent_at=now,
    )
    code = _new_code()
    challenge.code_hash = _code_hash(challenge.id, code)
    challenge.save(force_insert=True)
    transaction.on_commit(lambda: _send_code(user, code, challenge.expires_at))
    return Started(challenge, browser_secret)


def _lock_live(challenge_id: str, browser_secret: str | None, now: datetime) -> ProviderLoginChallenge:
    """The challenge, locked, if it exists, belongs to this browser and is still usable.

    Otherwise raise ChallengeGone: one answer for every case. Must run inside a transaction;
    an expired or used-up challenge is deleted by `_checked`, which commits the deletion.
    """
    challenge = (
        ProviderLoginChallenge.objects.select_for_update().select_related("user").filter(pk=challenge_id).first()
    )
    same_browser = (
        challenge is not None
        and browser_secret is not None
        and constant_time_compare(challenge.browser_hash, _hmac("browser", browser_secret))
    )
    if challenge is None or not same_browser:
        raise ChallengeGone("That sign-in code is no longer valid. Please log in again.")
    if challenge.expires_at <= now or challenge.attempts >= settings.PROVIDER_OTP_MAX_ATTEMPTS:
        raise _Expired(challenge.pk)
    return challenge


class _Expired(ChallengeGone):
    def __init__(self, challenge_id: str) -> None:
        super().__init__("That sign-in code has expired. Please log in again.")
        self.challenge_id = challenge_id


def _delete_expired(exc: _Expired) -> None:
    """Runs after the failed transaction rolled back: the deletion must stick."""
    ProviderLoginChallenge.objects.filter(pk=exc.challenge_id).delete()


def login_challenge_get_live(
    *, challenge_id: str, browser_secret: str | None, now: datetime | None = None
) -> ProviderLoginChallenge:
    """The usable challenge for this browser, or ChallengeGone (and an expired one is deleted)."""
    try:
        with transaction.atomic():
            return _lock_live(challenge_id, browser_secret, now or timezone.now())
    except _Expired as exc:
        _delete_expired(exc)
        raise


@dataclass(frozen=True)
class Verification:
    user: User | None
    attempts_left: int


@traced(
    "provider_signin.code_checked",
    lambda kwargs, result: {"signin.accepted": result.user is not None, "signin.attempts_left": result.attempts_left},
)
def login_challenge_verify(
    *, challenge_id: str, browser_secret: str | None, code: str, now: datetime | None = None
) -> Verification:
    """Check a code. Right: the challenge is deleted (single use) and the user returned.
    Wrong: one attempt used; the last wrong attempt deletes the challenge (ChallengeGone).

    The row lock makes concurrent guesses count one by one: never more than the maximum.
    """
    now = now or timezone.now()
    try:
        with transaction.atomic():
            result = _verify(challenge_id, browser_secret, code, now)
    except _Expired as exc:
        _delete_expired(exc)
        raise
    if result.user is None and result.attempts_left == 0:
        raise ChallengeGone("Too many wrong codes. Please log in again.")
    return result


def _verify(challenge_id: str, browser_secret: str | None, code: str, now: datetime) -> Verification:
    challenge = _lock_live(challenge_id, browser_secret, now)
    challenge.attempts += 1
    # Hash whatever was typed (even malformed input) so every path costs the same.
    typed = "".join(ch for ch in code if ch.isdigit())[:12]
    if constant_time_compare(challenge.code_hash, _code_hash(challenge.id, typed)):
        user = challenge.user
        challenge.delete()
        return Verification(user=user, attempts_left=0)
    left = settings.PROVIDER_OTP_MAX_ATTEMPTS - challenge.attempts
    if left <= 0:
        challenge.delete()
        return Verification(user=None, attempts_left=0)
    challenge.save(update_fields=["attempts"])
    return Verification(user=None, attempts_left=left)


def login_challenge_resend(*, challenge_id: str, browser_secret: str | None, now: datetime | None = None) -> None:
    """A new code for the same challenge (the old one stops working), at most N times, not
    sooner than 30 seconds after the last. Attempts are not reset."""
    now = now or timezone.now()
    try:
        with transaction.atomic():
            _resend(challenge_id, browser_secret, now)
    except _Expired as exc:
        _delete_expired(exc)
        raise


def _resend(challenge_id: str, browser_secret: str | None, now: datetime) -> None:
    challenge = _lock_live(challenge_id, browser_secret, now)
    wait = challenge.last_sent_at + timedelta(seconds=settings.PROVIDER_OTP_RESEND_AFTER_SECONDS) - now
    if wait > timedelta(0):
        raise ResendNotAllowed(f"Please wait {int(wait.total_seconds()) + 1} seconds before asking again.")
    if challenge.sends > settings.PROVIDER_OTP_MAX_RESENDS:
        raise ResendNotAllowed("No more codes for this sign-in. Log in again if the email does not arrive.")
    code = _new_code()
    challenge.code_hash = _code_hash(challenge.id, code)
    challenge.sends += 1
    challenge.last_sent_at = now
    challenge.expires_at = now + timedelta(seconds=settings.PROVIDER_OTP_TTL_SECONDS)
    challenge.save(update_fields=["code_hash", "sends", "last_sent_at", "expires_at"])
    user, expires_at = challenge.user, challenge.expires_at
    transaction.on_commit(lambda: _send_code(user, code, expires_at))


def login_challenges_purge(*, now: datetime | None = None) -> int:
    deleted, _ = ProviderLoginChallenge.objects.filter(expires_at__lte=now or timezone.now()).delete()
    return deleted


@transaction.atomic
def user_sessions_end_all(*, user: User) -> None:
    """Log out everywhere: every existing session of this user stops validating."""
    from django.db.models import F

    User.objects.filter(pk=user.pk).update(sessions_version=F("sessions_version") + 1)
