"""The visitor's time zone: detected in the browser, stored on the signed-in user (so workers
writing emails and reminders can use it) or in the session for visitors, and changed with one
switcher (`/timezone`). Times are shown in it, with the provider's zone beside them when the two
differ (bookings' `when` tag)."""

from __future__ import annotations

import functools
import zoneinfo

from django.http import HttpRequest

SESSION_KEY = "visitor_tz"
# Old aliases and POSIX names the switcher does not offer (they still parse if stored).
_NOT_OFFERED = ("Etc/", "SystemV/", "US/", "posix/", "right/", "Brazil/", "Canada/", "Chile/", "Mexico/")


@functools.cache
def zone_names() -> list[str]:
    """Canonical IANA names (Region/City) and UTC, sorted: what the switcher searches."""
    names = {n for n in zoneinfo.available_timezones() if "/" in n and not n.startswith(_NOT_OFFERED)}
    return sorted(names | {"UTC"})


def is_zone(name: str) -> bool:
    return name in zone_names() or name in zoneinfo.available_timezones()


def visitor_zone(request: HttpRequest) -> str | None:
    """The zone this visitor sees times in, or None while unknown (then the provider's only)."""
    user = getattr(request, "user", None)
    stored = getattr(user, "timezone", "") if user is not None and user.is_authenticated else ""
    name = stored or (request.session.get(SESSION_KEY, "") if hasattr(request, "session") else "")
    return name if name and is_zone(name) else None


def visitor_zone_context(request: HttpRequest) -> dict[str, object]:
    """Template context processor: `{{ visitor_tz }}` (lazy: no session read unless used)."""
    from django.utils.functional import SimpleLazyObject

    return {"visitor_tz": SimpleLazyObject(lambda: visitor_zone(request) or "")}


def city(name: str) -> str:
    """`America/New_York` -> `New York` (how people name a zone)."""
    return name.rsplit("/", 1)[-1].replace("_", " ")
