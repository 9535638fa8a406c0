"""Money is integer minor units + an ISO 4217 currency code; this formats it for people."""

from __future__ import annotations

# Digits after the decimal point of each currency's minor unit (ISO 4217); default 2.
CURRENCY_EXPONENT = {"JPY": 0, "KRW": 0, "CLP": 0}


def format_money(amount_minor: int, currency: str) -> str:
    exponent = CURRENCY_EXPONENT.get(currency, 2)
    sign = "-" if amount_minor < 0 else ""
    amount_minor = abs(amount_minor)
    if exponent == 0:
        return f"{sign}{amount_minor:,} {currency}"
    major, minor = divmod(amount_minor, 10**exponent)
    return f"{sign}{major:,}.{minor:0{exponent}d} {currency}"
