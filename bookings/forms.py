"""The confirm page's details for the provider: name, phone and a note (all optional; the phone
rule is the service's, `CustomerDetails.cleaned`, translated to the field here)."""

from __future__ import annotations

from typing import Any

from django import forms

from bookings.services import BookingNotAllowed, CustomerDetails


class BookingDetailsForm(forms.Form):
    name = forms.CharField(label="Your name", max_length=120, required=False)
    phone = forms.CharField(
        label="Phone (optional)",
        max_length=32,
        required=False,
        help_text="International format, e.g. +351 912 345 678, in case the provider needs to reach you.",
    )
    notes = forms.CharField(
        label="Notes for the provider (optional)",
        max_length=500,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["name"].widget.attrs["autocomplete"] = "name"
        self.fields["phone"].widget.attrs.update(autocomplete="tel", inputmode="tel")

    def clean_phone(self) -> str:
        try:
            return CustomerDetails(phone=self.cleaned_data.get("phone", "")).cleaned().phone
        except BookingNotAllowed as exc:
            raise forms.ValidationError(str(exc)) from exc

    def details(self) -> CustomerDetails:
        return CustomerDetails(**{k: self.cleaned_data.get(k, "") for k in ("name", "phone", "notes")})


class WalkInForm(BookingDetailsForm):
    """Who a provider books for at the desk or on the phone: a name, and an email or a phone
    number so the customer can be told (and can later sign in with that email)."""

    email = forms.EmailField(label="Email", max_length=254, required=False)
    payment = forms.ChoiceField(
        label="Payment",
        choices=[
            ("venue", "At the venue (booked now)"),
            ("link", "Send a payment link (held until they pay)"),
        ],
        initial="venue",
        widget=forms.RadioSelect,
    )

    field_order = ["name", "email", "phone", "notes", "payment"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["name"].label = "Customer's name"
        self.fields["name"].required = True
        self.fields["phone"].label = "Phone"
        self.fields["phone"].help_text = "International format, e.g. +351 912 345 678."
        self.fields["email"].help_text = "We send the confirmation here; give a phone instead if they have no email."
        self.fields["notes"].label = "Notes (optional)"

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if not self.errors and not cleaned.get("email") and not cleaned.get("phone"):
            raise forms.ValidationError("Give the customer's email or phone number, so they can be told.")
        if cleaned.get("payment") == "link" and not cleaned.get("email"):
            self.add_error("payment", "A payment link needs the customer's email: they sign in with it to pay.")
        return cleaned
