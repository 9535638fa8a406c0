"""Provider sign-up: business name, email and password, then a link by email that verifies the
address before the account can sign in. The answer never says whether an email already has an
account (of either kind): such an address gets an email explaining instead. See docs/adr/0014."""

from __future__ import annotations

from dataclasses import dataclass

from allauth.account.models import EmailAddress
from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.contrib.auth.password_validation import validate_password
from django.core import signing
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse

from accounts.models import Role, User
from appointly.core import DomainError
from appointly.mail import with_html

SALT = "providers.signup"
VERIFY_MAX_AGE = 3 * 24 * 3600  # a verification link works for three days


class SignupLinkInvalid(DomainError):
    pass


@dataclass(frozen=True)
class Verified:
    user: User
    business_name: str


def _send(to: str, template: str, context: dict[str, str], subject: str) -> None:
    body = render_to_string(f"providers/email/{template}.txt", context)
    message = with_html(EmailMessage(subject=f"Appointly: {subject}", body=body, to=[to]))
    transaction.on_commit(message.send)


@transaction.atomic
def provider_signup(*, business_name: str, email: str, password: str) -> None:
    """Make an unverified provider account and email its verification link; for an email that
    already has an account, email that instead (same answer to the caller either way). The
    password is hashed on both paths, so the time taken says nothing either."""
    email = email.strip().lower()
    site = settings.SITE_URL.rstrip("/")
    hashed = make_password(password)
    if User.objects.filter(email__iexact=email).exists():
        _send(
            email,
            "signup_exists",
            {"site_url": site, "login": site + reverse("provider_login")},
            "You already have an account",
        )
        return
    try:
        with transaction.atomic():
            user = User.objects.create(email=email, role=Role.PROVIDER, password=hashed)
    except IntegrityError:  # the same email signed up at the same moment
        return
    EmailAddress.objects.create(user=user, email=email, verified=False, primary=True)
    token = signing.dumps({"u": user.pk, "e": email, "b": business_name[:120]}, salt=SALT)
    link = site + reverse("provider_signup_verify", args=[token])
    _send(
        email, "signup_verify", {"site_url": site, "link": link, "business_name": business_name}, "Confirm your email"
    )


@transaction.atomic
def provider_signup_verify(*, token: str) -> Verified:
    try:
        data = signing.loads(token, salt=SALT, max_age=VERIFY_MAX_AGE)
    except signing.BadSignature as exc:  # also SignatureExpired
        raise SignupLinkInvalid("This link is not valid or has expired. Sign up again to get a new one.") from exc
    user = User.objects.filter(pk=data.get("u"), email=data.get("e"), role=Role.PROVIDER).first()
    if user is None:
        raise SignupLinkInvalid("This link is not valid or has expired. Sign up again to get a new one.")
    EmailAddress.objects.filter(user=user, email=user.email).update(verified=True)
    return Verified(user=user, business_name=str(data.get("b", "")))


def password_problems(password: str, email: str) -> list[str]:
    """Django's password validators, as messages for the form."""
    from django.core.exceptions import ValidationError

    try:
        validate_password(password, User(email=email, role=Role.PROVIDER))
    except ValidationError as exc:
        return list(exc.messages)
    return []


def provider_email_unverified(user: User) -> bool:
    """A provider who signed up and has not clicked the link yet (staff-made accounts have no
    address row and are not held back)."""
    states = set(EmailAddress.objects.filter(user=user).values_list("verified", flat=True))
    return states == {False}
