"""`{% open_in_panel a label %}`: a link that opens an appointment in the dashboard's side
panel (HTMX), and as its own page without JavaScript; `{% pick_box a %}`: the checkbox that
picks it for a bulk cancel. Tags, not includes or partials: the day grid and the week view
write one per appointment, and a partial of one checkbox cost more than the row around it
(0.12 ms a row, 1.7 ms of the dashboard's 12)."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.timezone import localtime

from appointly.links import link
from bookings.templatetags.when import short_day_hm_zone

register = template.Library()


@register.simple_tag
def open_in_panel(appointment: Any, label: object) -> SafeString:
    url = link("dashboard_appointment", appointment.pk)
    return format_html(
        '<a href="{}" hx-get="{}" hx-target="#side-panel" hx-swap="innerHTML" data-opens-panel>{}</a>', url, url, label
    )


@register.simple_tag(takes_context=True)
def pick_box(context: template.Context, appointment: Any) -> SafeString | str:
    """The checkbox of an appointment the provider may cancel (`pickable`, the view's set of
    their ids), tied to the bulk-cancel form; nothing for the others. Its label names the
    appointment with its time in the active zone (the page's `{% timezone %}` block)."""
    if appointment.pk not in (context.get("pickable") or ()):
        return ""
    return format_html(
        '<input type="checkbox" name="ids" value="{}" form="cancel-picked" id="pick-{}-{}" hx-preserve="true" '
        'class="pick" aria-label="Select {} with {} on {}">',
        appointment.pk,
        context.get("view", ""),
        appointment.pk,
        appointment.service.name,
        appointment.customer_label,
        short_day_hm_zone(localtime(appointment.start)),
    )
