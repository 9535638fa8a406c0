"""Every email we send has a text part and an HTML part in the product's look, signed with the
product's name and its public address (SITE_URL). The HTML is made from the text, so the two
never say different things."""

from __future__ import annotations

from django.conf import settings
from django.core.mail import EmailMessage, EmailMultiAlternatives
from django.core.mail.backends.console import EmailBackend as ConsoleBackend
from django.template.loader import render_to_string


def with_html(message: EmailMessage, *, html_from: str | None = None) -> EmailMultiAlternatives:
    """`message` as text + HTML (unchanged if it already has an HTML part). `html_from`: the
    text the HTML shows, when the text part carries a signature the HTML has as its footer."""
    if isinstance(message, EmailMultiAlternatives) and any(
        mimetype == "text/html" for _content, mimetype in message.alternatives
    ):
        return message
    multi = EmailMultiAlternatives(
        subject=message.subject,
        body=message.body,
        from_email=message.from_email,
        to=message.to,
        cc=message.cc,
        bcc=message.bcc,
        reply_to=message.reply_to,
        headers=message.extra_headers,
    )
    site_url = settings.SITE_URL.rstrip("/")
    html = render_to_string(
        "email/message.html",
        {"subject": message.subject, "body": message.body if html_from is None else html_from, "site_url": site_url},
    )
    multi.attach_alternative(html, "text/html")
    return multi


class ReadableConsoleBackend(ConsoleBackend):
    """The console backend for `make run`: prints the headers that matter and the text part as
    written (Django's prints the raw MIME, where quoted-printable breaks links across lines)."""

    def write_message(self, message: EmailMessage) -> None:
        parts = ["text"] + [mimetype for _content, mimetype in getattr(message, "alternatives", [])]
        self.stream.write(
            f"From: {message.from_email}\nTo: {', '.join(message.to)}\nSubject: {message.subject}\n"
            f"Parts: {', '.join(parts)}\n\n{message.body}\n{'-' * 79}\n"
        )
