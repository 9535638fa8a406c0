"""Twilio webhooks: delivery status callbacks and inbound messages (STOP). Signature-checked."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from twilio.request_validator import RequestValidator

from notifications.services import message_status_update, phone_opt_out


def _valid(request: HttpRequest, public_url: str) -> bool:
    if not settings.TWILIO_AUTH_TOKEN:
        return False
    # Validate against the URL Twilio called (the public one, not what a proxy forwarded).
    url = public_url or request.build_absolute_uri()
    signature = request.headers.get("X-Twilio-Signature", "")
    return RequestValidator(settings.TWILIO_AUTH_TOKEN).validate(url, request.POST.dict(), signature)


@csrf_exempt
@require_POST
def twilio_status(request: HttpRequest) -> HttpResponse:
    if not _valid(request, settings.TWILIO_STATUS_CALLBACK_URL):
        return HttpResponseForbidden("bad signature")
    message_status_update(
        provider_sid=request.POST.get("MessageSid", ""),
        twilio_status=request.POST.get("MessageStatus", ""),
        error_code=request.POST.get("ErrorCode", ""),
    )
    return HttpResponse(status=204)


@csrf_exempt
@require_POST
def twilio_inbound(request: HttpRequest) -> HttpResponse:
    if not _valid(request, settings.TWILIO_INBOUND_URL):
        return HttpResponseForbidden("bad signature")
    body = request.POST.get("Body", "").strip().upper()
    sender = request.POST.get("From", "").removeprefix("whatsapp:")
    if body in {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"}:
        phone_opt_out(phone=sender)
    return HttpResponse("<Response/>", content_type="application/xml")


@require_POST
def preferences_save(request: HttpRequest) -> HttpResponse:
    """The account page's "how to reach me" form (customers and providers alike)."""
    from django.contrib import messages
    from django.shortcuts import redirect

    from appointly.core import who
    from notifications.forms import PreferenceForm
    from notifications.services import preference_save

    identity = who(request)
    if identity.is_anonymous:
        return redirect("account_login")
    form = PreferenceForm(request.POST)
    back = "dashboard_settings" if identity.is_provider else "bookings:account"
    if form.is_valid():
        preference_save(user=request.user, channel=form.cleaned_data["channel"], phone=form.cleaned_data["phone"])  # type: ignore[arg-type]
        messages.success(request, "Saved: we'll send updates the way you chose.")
    else:
        errors = "; ".join(str(e) for errs in form.errors.values() for e in errs)
        messages.error(request, f"Not saved: {errors}")
    return redirect(back)


@require_POST
def inbox_mark_read(request: HttpRequest) -> HttpResponse:
    from django.shortcuts import redirect

    from appointly.core import who
    from notifications.services import messages_mark_read

    identity = who(request)
    if identity.is_anonymous:
        return redirect("account_login")
    messages_mark_read(user=request.user)  # type: ignore[arg-type]
    if identity.is_provider and getattr(request, "htmx", False):
        # The dashboard's inbox (page or side panel) answers in place, the badge out of band.
        from django.shortcuts import render

        from notifications.services import inbox

        where = request.POST.get("where")
        return render(
            request,
            "notifications/_inbox_read.html",
            {
                "inbox": inbox(user=request.user, limit=20),  # type: ignore[arg-type]
                "inbox_id": where if where in ("inbox", "panel-inbox") else "inbox",
                "unread": 0,
                "oob": True,
            },
        )
    return redirect("dashboard_messages" if identity.is_provider else "bookings:account")
