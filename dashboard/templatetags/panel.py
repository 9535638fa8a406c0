"""`{% open_in_panel a label %}`: a link that opens an appointment in the dashboard's side
panel (HTMX), and as its own page without JavaScript. A tag, not an include: the week view
writes one per appointment, and an include costs more than the row around it."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString

from appointly.links import link

register = template.Library()


@register.simple_tag
def open_in_panel(appointment: Any, label: object) -> SafeString:
    url = link("dashboard_appointment", appointment.pk)
    return format_html(
        '<a href="{}" hx-get="{}" hx-target="#side-panel" hx-swap="innerHTML" data-opens-panel>{}</a>', url, url, label
    )
