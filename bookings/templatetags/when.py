"""Times for people: in the visitor's zone (`visitor_tz`, appointly/zones.py), with the
provider's beside them when the two differ ("10:00–10:30 WET in Lisbon · 21:00–21:30 AEDT in
Sydney"); in the provider's zone, named, while the visitor's is unknown. The instant is always
the same: `<time datetime>` carries it in ISO 8601."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from django import template
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString

from appointly.zones import city

register = template.Library()


# Written out rather than through Django's `date` formats: these tags run for every row of a
# list (40 on the account page), and Django's formatter costs ~25 µs a call. The product is in
# English (LANGUAGE_CODE, no other language enabled); the names are the C locale's, the same
# words Django's English formats give ("Friday 27 November 2026, 09:00–09:30 CET"). In the
# hour a clock repeats (summer time ending), "T" names the zone as the instant has it (BST,
# then GMT), where Django's formatter leaves it blank.
def _long_day(value: datetime) -> str:
    """Django's "l j F Y, H:i"."""
    return f"{value:%A} {value.day} {value:%B} {value.year}, {value:%H:%M}"


def _short_day(value: datetime) -> str:
    """Django's "D j M, "."""
    return f"{value:%a} {value.day} {value:%b}, "


def _hm(value: datetime) -> str:
    """Django's "H:i"."""
    return f"{value:%H:%M}"


def _hm_zone(value: datetime) -> str:
    """Django's "H:i T" (the zone's abbreviation at that instant)."""
    return f"{value:%H:%M} {value.tzname() or ''}".rstrip()


def _zones(context: template.Context, provider_tz: str) -> tuple[ZoneInfo, ZoneInfo | None]:
    visitor = str(context.get("visitor_tz") or "")
    provider = ZoneInfo(provider_tz)
    return (ZoneInfo(visitor), provider) if visitor and visitor != provider_tz else (provider, None)


@register.simple_tag(takes_context=True)
def when(context: template.Context, start: datetime, end: datetime, provider_tz: str) -> SafeString:
    """Date and time range: `{% when a.start a.end a.provider.timezone %}`."""
    shown, other = _zones(context, provider_tz)
    s, e = start.astimezone(shown), end.astimezone(shown)
    # Only the zone names come from outside this function (IANA keys, but escaped all the same);
    # the times are digits and the C locale's day and month names. An f-string, not
    # format_html: it escaped each of the six parts again (~10 µs a row).
    main = f'<time datetime="{start.isoformat()}">{_long_day(s)}–{_hm_zone(e)}</time>'
    if other is None:
        return SafeString(f'{main} <span class="muted">({escape(provider_tz)})</span>')
    ps, pe = start.astimezone(other), end.astimezone(other)
    day = "" if ps.date() == s.date() else _short_day(ps)
    return SafeString(
        f'{main} <span class="zone-note">in {escape(city(shown.key))} · {day}{_hm(ps)}–{_hm_zone(pe)}'
        f" in {escape(city(provider_tz))}</span>"
    )


@register.simple_tag(takes_context=True)
def when_time(context: template.Context, start: datetime, end: datetime, provider_tz: str) -> SafeString:
    """Times only (a slot button): `09:00–09:30 WET` and, when the zones differ, the provider's."""
    shown, other = _zones(context, provider_tz)
    main = format_html(
        '<time datetime="{}">{}–{}</time>',
        start.isoformat(),
        _hm(start.astimezone(shown)),
        _hm_zone(end.astimezone(shown)),
    )
    if other is None:
        return main
    return format_html(
        '{} <span class="zone-note">{} in {}</span>', main, _hm(start.astimezone(other)), city(other.key)
    )


@register.filter
def shown_zone(value: object, visitor_tz: object) -> str:
    """The zone a block of times is shown in: `{% timezone provider|shown_zone:visitor_tz %}`
    (the visitor's when known, else the provider's, or a zone name given instead, else UTC)."""
    if visitor_tz:
        return str(visitor_tz)
    name = getattr(value, "timezone", value) if value else ""
    return str(name or "UTC")


# Per-row times in a `{% timezone %}` block, as the `date` filter localizes them
# (`expects_localtime`), without Django's formatter: `{{ a.start|hm_zone }}` is
# `{{ a.start|date:"H:i T" }}`, `|hm` is "H:i", `|iso` is "c", `|short_day_hm_zone` is "D j M H:i T".
@register.filter(expects_localtime=True)
def hm_zone(value: datetime) -> str:
    return _hm_zone(value)


@register.filter(expects_localtime=True)
def hm(value: datetime) -> str:
    return _hm(value)


@register.filter(expects_localtime=True)
def iso(value: datetime) -> str:
    return value.isoformat()


@register.filter(expects_localtime=True)
def short_day_hm_zone(value: datetime) -> str:
    return f"{value:%a} {value.day} {value:%b} {_hm_zone(value)}"
