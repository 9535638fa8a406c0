from django import template

from appointly.money import format_money

register = template.Library()


@register.filter
def money(amount_minor: int | None, currency: str) -> str:
    """`{{ appointment.price_minor|money:appointment.currency }}` -> `€35.00`."""
    return format_money(amount_minor or 0, currency)


@register.simple_tag
def money_totals(totals: dict[str, int]) -> str:
    """A per-currency total as one line: `€70.00 · $95.00` (or 0)."""
    if not totals:
        return "0"
    return " · ".join(format_money(amount, currency) for currency, amount in sorted(totals.items()))
