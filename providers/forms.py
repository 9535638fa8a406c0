"""Forms of the provider pages: onboarding steps and the service form."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

import phonenumbers
from django import forms
from django.core.exceptions import ValidationError

from appointly.money import minor_digits
from appointly.zones import zone_names
from providers import rules
from providers.models import MAX_PRICE_MINOR, Category, PaymentMode, Provider, Service
from providers.services import ProviderHours


def validate_timezone(value: str) -> None:
    """Canonical IANA names only (Region/City, UTC): no deprecated aliases like US/Eastern."""
    if value not in zone_names():
        raise ValidationError("Choose a time zone from the list, e.g. Europe/Berlin.")


def normalise_phone(value: str) -> str:
    """E.164 or a ValidationError that says what is wrong."""
    raw = value.strip()
    if not raw.startswith("+"):
        raise ValidationError("Enter the number in international format, starting with + and the country code.")
    try:
        number = phonenumbers.parse(raw, None)
    except phonenumbers.NumberParseException as exc:
        raise ValidationError("This is not a phone number we can read.") from exc
    if not phonenumbers.is_valid_number(number):
        raise ValidationError("This phone number is not valid for its country.")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


class ProfileForm(forms.Form):
    business_name = forms.CharField(max_length=120)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    timezone = forms.CharField(
        max_length=64,
        help_text="Your hours are read in this zone. Type a city, e.g. Lisbon, New_York, Sydney.",
        widget=forms.TextInput(attrs={"list": "zone-list", "autocomplete": "off"}),
    )
    phone = forms.CharField(max_length=32, help_text="International format, e.g. +49 151 12345678.")
    address = forms.CharField(
        max_length=255, required=False, help_text="Leave empty if you only work online (video calls)."
    )

    @staticmethod
    def initial_for(provider: Provider) -> dict[str, str]:
        return {
            "business_name": provider.business_name,
            "description": provider.description,
            "timezone": provider.timezone,
            "phone": provider.phone,
            "address": provider.address,
        }

    def profile_fields(self) -> dict[str, str]:
        """The cleaned values as `provider_profile_save` takes them."""
        data = self.cleaned_data
        return {
            "business_name": data["business_name"],
            "timezone_name": data["timezone"],
            "phone": data["phone"],
            "address": data["address"],
            "description": data["description"],
        }

    def clean_timezone(self) -> str:
        value: str = self.cleaned_data["timezone"]
        validate_timezone(value)
        return value

    def clean_phone(self) -> str:
        return normalise_phone(self.cleaned_data["phone"])


class ServiceForm(forms.ModelForm):
    price = forms.CharField(
        label="Price", required=False, help_text="In the currency below, e.g. 35.00. Leave empty for a free service."
    )

    class Meta:
        model = Service
        fields = (
            "name",
            "category",
            "description",
            "duration_minutes",
            "price",
            "currency",
            "payment_mode",
            "max_appointments_per_day",
            "buffer_before_minutes",
            "buffer_after_minutes",
            "min_notice_minutes",
            "booking_window_days",
            "refund_full_hours",
            "refund_partial_hours",
            "refund_partial_percent",
            "location",
            "is_online",
        )
        labels = {
            "duration_minutes": "Duration (minutes)",
            "max_appointments_per_day": "Most appointments per day",
            "buffer_before_minutes": "Buffer before (minutes)",
            "buffer_after_minutes": "Buffer after (minutes)",
            "min_notice_minutes": "Minimum notice (minutes)",
            "booking_window_days": "Booking window (days ahead)",
            "refund_full_hours": "Full refund if cancelled at least (hours before)",
            "refund_partial_hours": "Partial refund if cancelled at least (hours before)",
            "refund_partial_percent": "Partial refund (%)",
        }
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args: Any, provider: Provider, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.provider = provider
        self.fields["category"].queryset = Category.objects.all()  # type: ignore[attr-defined]
        if not self.instance._state.adding and not self.is_bound:
            exponent = minor_digits(self.instance.currency)
            self.initial["price"] = str(Decimal(self.instance.price_minor) / (10**exponent))
        for name in ("duration_minutes", "max_appointments_per_day", "booking_window_days"):
            self.fields[name].widget.attrs["min"] = 1

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        self._clean_price(cleaned)
        if not self.errors:
            # The service layer's rules, asked here only to put their messages on the fields.
            weekly = list(ProviderHours.load(self.provider).weekly.values())
            self.add_rule_errors(rules.service_errors(cleaned, weekly=weekly))
        return cleaned

    def _clean_price(self, cleaned: dict[str, Any]) -> None:
        if cleaned.get("payment_mode") == PaymentMode.FREE:  # no price to ask for
            self.instance.price_minor = cleaned["price_minor"] = 0
            return
        raw = (self.data.get(self.add_prefix("price")) or "").strip().replace(",", ".")
        currency = cleaned.get("currency") or "EUR"
        exponent = minor_digits(currency)
        try:
            amount = Decimal(raw)
        except InvalidOperation:
            self.add_error("price", "Enter a price like 35.00.")
            return
        if not amount.is_finite() or amount <= 0:
            self.add_error("price", "The price must be more than zero.")
            return
        # Range before arithmetic: quantizing 1e30 raises instead of answering.
        if amount > Decimal(MAX_PRICE_MINOR).scaleb(-exponent):
            self.add_error("price", "That price is too high for one appointment.")
            return
        quantum = Decimal(1).scaleb(-exponent)
        if amount != amount.quantize(quantum, rounding=ROUND_HALF_UP):
            self.add_error("price", f"{currency} has {exponent} decimal places at most.")
            return
        minor = int(amount.scaleb(exponent))
        self.instance.price_minor = minor
        cleaned["price_minor"] = minor

    def add_rule_errors(self, errors: dict[str | None, str]) -> None:
        """Put the service layer's messages (providers.rules) on the form's fields."""
        for name, message in errors.items():
            field = "price" if name == "price_minor" else name
            self.add_error(field if field in self.fields else None, message)

    def service_fields(self) -> dict[str, Any]:
        """The cleaned values as keyword arguments for service_create / service_update."""
        data = {name: self.cleaned_data[name] for name in self.Meta.fields if name != "price"}
        data["price_minor"] = self.cleaned_data["price_minor"]
        return data
