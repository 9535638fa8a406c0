"""Writes of the identity app."""

from __future__ import annotations

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
