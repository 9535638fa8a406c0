"""`{% link 'bookings:cancel' appointment.pk %}`: what `{% url %}` gives for one id or slug,
with the URL pattern reversed once per name instead of once per link.

Django's `reverse` walks the URL patterns and their converters on every call: ~15 µs each on
a quiet machine, and a page of 70 appointments has ~440 links (a quarter of the account
page's time). The shape of a one-argument URL does not change while the process runs, so it is
reversed once with a placeholder and each link fills the hole. A key its converter would not
take (a UUID pattern, a slug pattern) goes to `reverse` itself, so nothing `{% url %}` refuses
is accepted here.
"""

from __future__ import annotations

import re
from functools import lru_cache

from django import template
from django.urls import NoReverseMatch, get_script_prefix, reverse

register = template.Library()

# A valid UUID is also a valid slug: it passes both converters.
_HOLE = "00000000-0000-4000-8000-000000000000"
_SLUG = re.compile(r"[-a-zA-Z0-9_]+")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@lru_cache(maxsize=512)
def _shape(name: str, script_prefix: str) -> tuple[str, str, re.Pattern[str]]:
    """The URL before and after its argument, and which keys fill it as `reverse` would."""
    url = reverse(name, args=[_HOLE])
    head, hole, tail = url.partition(_HOLE)
    if not hole:
        raise template.TemplateSyntaxError(f"{name} does not take its argument in the path")
    try:
        reverse(name, args=["a-slug"])
    except NoReverseMatch:
        return head, tail, _UUID
    return head, tail, _SLUG


@register.simple_tag
def link(name: str, key: object) -> str:
    text = str(key)
    head, tail, fits = _shape(name, get_script_prefix())
    if not fits.fullmatch(text):
        return reverse(name, args=[key])  # what {% url %} does with it, error included
    return head + text + tail
