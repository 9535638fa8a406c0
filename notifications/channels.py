"""Delivery channels. Twilio is used when its credentials are set, otherwise a console backend
prints what would have been sent. Errors are classified for the queue: retry or give up."""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage

from appointly.mail import with_html
from outbox.registry import PermanentFailure, RetryLater

logger = logging.getLogger(__name__)

# Twilio error codes that no retry can fix.
PERMANENT_TWILIO_CODES = {21211, 21214, 21408, 21610, 21612, 21614, 63003, 63016, 63024}


@dataclass(frozen=True)
class Sent:
    provider_sid: str = ""


class PhoneUnreachable(PermanentFailure):
    """A permanent failure on a phone channel: fall back to the next channel."""


def _twilio_client() -> Any:
    from twilio.http.http_client import TwilioHttpClient
    from twilio.rest import Client

    base = settings.TWILIO_API_BASE.rstrip("/")

    class _Client(TwilioHttpClient):
        # There is no base-URL setting in twilio-python: rewrite the host (tests and proxies).
        retry_after: float | None = None

        def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
            if base and url.startswith("https://api.twilio.com"):
                url = base + url[len("https://api.twilio.com") :]
            response = super().request(method, url, *args, **kwargs)
            # Twilio's exceptions carry no headers: keep Retry-After for the 429 handling.
            value = (response.headers or {}).get("Retry-After")
            try:
                self.retry_after = float(value) if value is not None else None
            except ValueError:
                self.retry_after = None
            return response

    return Client(settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN, http_client=_Client(timeout=10))


def twilio_enabled() -> bool:
    return bool(settings.TWILIO_ACCOUNT_SID and settings.TWILIO_AUTH_TOKEN)


def send_phone(*, channel: str, to: str, body: str, status_callback: str, subject: str = "") -> Sent:
    """WhatsApp or SMS through Twilio (or the console without credentials).

    WhatsApp free-form text only works within 24 hours of the person's last message; outside
    it Twilio answers 63016 and we resend through the approved template
    (`TWILIO_WHATSAPP_CONTENT_SID`, variables 1 = subject, 2 = body) when one is configured.
    """
    if not twilio_enabled():
        print(f"[{channel} to {to}] {body}", file=sys.stdout, flush=True)
        return Sent(provider_sid="console")
    from twilio.base.exceptions import TwilioRestException

    sender = settings.TWILIO_WHATSAPP_FROM if channel == "whatsapp" else settings.TWILIO_SMS_FROM
    prefix = "whatsapp:" if channel == "whatsapp" else ""
    kwargs: dict[str, Any] = {"to": prefix + to, "from_": prefix + sender.removeprefix("whatsapp:"), "body": body}
    if status_callback:
        kwargs["status_callback"] = status_callback
    client = _twilio_client()
    try:
        try:
            message = client.messages.create(**kwargs)
        except TwilioRestException as exc:
            if channel != "whatsapp" or exc.code != 63016 or not settings.TWILIO_WHATSAPP_CONTENT_SID:
                raise
            kwargs.pop("body")
            kwargs["content_sid"] = settings.TWILIO_WHATSAPP_CONTENT_SID
            kwargs["content_variables"] = json.dumps({"1": subject or body[:60], "2": body})
            message = client.messages.create(**kwargs)
    except TwilioRestException as exc:
        if exc.status == 429 or exc.code == 20429:
            wait = getattr(client.http_client, "retry_after", None) or 30
            raise RetryLater(f"Twilio {exc.status}/{exc.code}: too many requests", seconds=min(wait, 3600)) from exc
        if exc.code in PERMANENT_TWILIO_CODES or (400 <= exc.status < 500 and exc.status != 408):
            raise PhoneUnreachable(f"Twilio {exc.status}/{exc.code}: {exc.msg}") from exc
        # 5xx: the outcome is unknown; retrying may send twice (documented in ADR 0008).
        raise RuntimeError(f"Twilio {exc.status}/{exc.code}: {exc.msg}") from exc
    return Sent(provider_sid=message.sid)


def send_email(*, to: str, subject: str, body: str) -> Sent:
    """Text and HTML (appointly.mail), signed with the product and SITE_URL."""
    signed = f"{body.rstrip()}\n\n-- \nAppointly · {settings.SITE_URL.rstrip('/')}\n"
    with_html(EmailMessage(subject=subject, body=signed, to=[to]), html_from=body).send()
    return Sent()
