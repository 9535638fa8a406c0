from __future__ import annotations

from typing import Any

import phonenumbers
from django import forms

from appointly.compiled import Compiled
from notifications.models import Channel, Preference

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


_PREFERENCE_OF: Compiled[Preference] = Compiled(lambda user_id: Preference.objects.filter(user_id=user_id)[:1])


def preference_context(user: Any) -> dict[str, Any]:
    """The "how we reach you" form as the account page and the provider's dashboard show it:
    the saved choice, and the form's fields for their labels, help and choices. The form is
    always shown empty of errors (a refused save comes back as a message), so the template
    writes its two fields itself: Django's field templates cost ~1.5 ms a page (ADR 0031)."""
    pref = _PREFERENCE_OF.first(user_id=user.pk)
    return {
        "preference_fields": PreferenceForm.base_fields,
        "preference_channel": pref.channel if pref else Channel.EMAIL,
        "preference_phone": pref.phone if pref else "",
        "phone_opted_out": bool(pref and pref.phone_opted_out),
    }
