"""Times for people: in the visitor's zone (`visitor_tz`, appointly/zones.py), with the
provider's beside them when the two differ ("10:00–10:30 WET in Lisbon · 21:00–21:30 AEDT in
Sydney"); in the provider's zone, named, while the visitor's is unknown. The instant is always
the same: `<time datetime>` carries it in ISO 8601."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from django import template
from django.utils.dateformat import format as dateformat
from django.utils.html import format_html
from django.utils.safestring import SafeString

from appointly.zones import city

register = template.Library()


def _zones(context: template.Context, provider_tz: str) -> tuple[ZoneInfo, ZoneInfo | None]:
    visitor = str(context.get("visitor_tz") or "")
    provider = ZoneInfo(provider_tz)
    return (ZoneInfo(visitor), provider) if visitor and visitor != provider_tz else (provider, None)


@register.simple_tag(takes_context=True)
def when(context: template.Context, start: datetime, end: datetime, provider_tz: str) -> SafeString:
    """Date and time range: `{% when a.start a.end a.provider.timezone %}`."""
    shown, other = _zones(context, provider_tz)
    s, e = start.astimezone(shown), end.astimezone(shown)
    main = format_html(
        '<time datetime="{}">{}–{}</time>', start.isoformat(), dateformat(s, "l j F Y, H:i"), dateformat(e, "H:i T")
    )
    if other is None:
        return format_html('{} <span class="muted">({})</span>', main, provider_tz)
    ps, pe = start.astimezone(other), end.astimezone(other)
    day = "" if ps.date() == s.date() else dateformat(ps, "D j M, ")
    return format_html(
        '{} <span class="zone-note">in {} · {}{}–{} in {}</span>',
        main,
        city(shown.key),
        day,
        dateformat(ps, "H:i"),
        dateformat(pe, "H:i T"),
        city(provider_tz),
    )


@register.simple_tag(takes_context=True)
def when_time(context: template.Context, start: datetime, end: datetime, provider_tz: str) -> SafeString:
    """Times only (a slot button): `09:00–09:30 WET` and, when the zones differ, the provider's."""
    shown, other = _zones(context, provider_tz)
    main = format_html(
        '<time datetime="{}">{}–{}</time>',
        start.isoformat(),
        dateformat(start.astimezone(shown), "H:i"),
        dateformat(end.astimezone(shown), "H:i T"),
    )
    if other is None:
        return main
    return format_html(
        '{} <span class="zone-note">{} in {}</span>', main, dateformat(start.astimezone(other), "H:i"), city(other.key)
    )


@register.filter
def shown_zone(value: object, visitor_tz: object) -> str:
    """The zone a block of times is shown in: `{% timezone provider|shown_zone:visitor_tz %}`
    (the visitor's when known, else the provider's, or a zone name given instead, else UTC)."""
    if visitor_tz:
        return str(visitor_tz)
    name = getattr(value, "timezone", value) if value else ""
    return str(name or "UTC")
