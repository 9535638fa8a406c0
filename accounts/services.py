"""Writes of the identity app."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from accounts.models import User
from appointly.core import DomainError
from appointly.zones import is_zone


def user_timezone_set(*, user: User, name: str) -> User:
    """The zone this person reads times in (an IANA name)."""
    if not is_zone(name):
        raise DomainError("Choose a time zone from the list, e.g. Europe/Lisbon.")
    user.timezone = name
    user.save(update_fields=["timezone"])
    return user


# A customer a provider books by phone alone still needs an account (appointments belong to
# one): its address is in the reserved `.invalid` domain (RFC 2606), so no mail is ever sent
# there, and its messages go by SMS to the number given.
PHONE_ONLY_DOMAIN = "walk-in.invalid"


def customer_for_provider_booking(*, email: str, phone: str) -> User:
    """The customer account a provider's walk-in or phone booking belongs to: the account with
    this email, or a new one without a password (the customer can set one with "forgot
    password" and then sees the booking); with a phone only, one account per number, told by
    SMS. A provider's email is refused: their account cannot hold customer bookings."""
    from accounts.models import Role
    from notifications.models import Channel, Preference

    email = email.strip().lower()
    if not email and not phone:
        raise DomainError("Give the customer's email or phone number, so they can be told.")
    address = email or f"phone-{phone.lstrip('+')}@{PHONE_ONLY_DOMAIN}"
    user = User.objects.filter(email__iexact=address).first()
    if user is None:
        try:
            with transaction.atomic():
                user = User.objects.create_user(email=address, password=None, role=Role.CUSTOMER)
                if not email:
                    Preference.objects.create(user=user, channel=Channel.SMS, phone=phone, email_enabled=False)
        except IntegrityError:  # made by a concurrent booking for the same person a moment ago
            user = User.objects.get(email__iexact=address)
    if user.role != Role.CUSTOMER:
        raise DomainError("That email belongs to a provider account. Use the customer's own email.")
    return user
