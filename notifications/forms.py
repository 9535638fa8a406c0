from __future__ import annotations

from typing import Any

import phonenumbers
from django import forms

from notifications.models import Channel

CHOICES = [(Channel.EMAIL, "Email"), (Channel.SMS, "SMS"), (Channel.WHATSAPP, "WhatsApp")]


class PreferenceForm(forms.Form):
    channel = forms.ChoiceField(choices=CHOICES, label="Send me updates by")
    phone = forms.CharField(
        required=False,
        max_length=32,
        label="Mobile number",
        help_text="International format, e.g. +49 151 12345678. Needed for SMS and WhatsApp.",
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        raw = (cleaned.get("phone") or "").strip()
        if raw:
            try:
                number = phonenumbers.parse(raw, None)
            except phonenumbers.NumberParseException:
                self.add_error("phone", "Enter the number with + and the country code.")
                return cleaned
            if not phonenumbers.is_valid_number(number):
                self.add_error("phone", "This phone number is not valid for its country.")
                return cleaned
            cleaned["phone"] = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        if cleaned.get("channel") in (Channel.SMS, Channel.WHATSAPP) and not cleaned.get("phone"):
            self.add_error("phone", "SMS and WhatsApp need a mobile number.")
        return cleaned


def preference_context(user: Any) -> dict[str, Any]:
    """The "how we reach you" form as the account page and the provider's dashboard show it."""
    from notifications.models import Preference

    pref = Preference.objects.filter(user=user).first()
    return {
        "preference_form": PreferenceForm(
            initial={"channel": pref.channel if pref else "email", "phone": pref.phone if pref else ""}
        ),
        "phone_opted_out": bool(pref and pref.phone_opted_out),
    }
