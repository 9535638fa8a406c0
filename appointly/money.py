"""Money is integer minor units + an ISO 4217 currency code; this formats it for people with
Babel (CLDR data: the symbol, its place, the digits of the minor unit): `€35.00`, `$90.00`,
`A$80.00`, `¥1,200`."""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache

from babel.numbers import format_currency, get_currency_precision

LOCALE = "en"


def minor_digits(currency: str) -> int:
    """Digits of the currency's minor unit (2 for EUR, 0 for JPY), from CLDR."""
    return int(get_currency_precision(currency))


# Babel reads its CLDR tables and parses the locale's pattern on every call (~40 µs: the
# largest part of a dashboard row's rendering). Pages show the same few amounts again and
# again (a service's price on every row), and the answer is a pure function of its two
# arguments: kept for the 4,096 most recent.
@lru_cache(maxsize=4096)
def format_money(amount_minor: int, currency: str) -> str:
    amount = Decimal(amount_minor).scaleb(-minor_digits(currency))
    return str(format_currency(amount, currency, locale=LOCALE))
