"""The gateway's webhook, and the sandbox gateway's own pages (its hosted payment page and its
onboarding page), which stand in for Stripe's when no Stripe keys are set."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from payments.gateways import SandboxGateway, get_gateway
from payments.models import SandboxAccount, SandboxCheckout
from payments.webhooks import BadWebhook, webhook_receive

WEBHOOK_MAX_BYTES = 256 * 1024


@csrf_exempt
@require_POST
def webhook(request: HttpRequest) -> HttpResponse:
    """Stripe (or the sandbox) telling us what happened. 400 for a bad signature: nothing
    changes; 200 for an event applied, repeated or ignored."""
    if len(request.body) > WEBHOOK_MAX_BYTES:
        return JsonResponse({"code": "too_large", "message": "Body too large.", "details": {}}, status=413)
    try:
        outcome = webhook_receive(payload=request.body, signature=request.headers.get("Stripe-Signature", ""))
    except BadWebhook as exc:
        return JsonResponse({"code": "bad_signature", "message": str(exc), "details": {}}, status=400)
    return JsonResponse({"received": True, "outcome": outcome})


def _sandbox() -> SandboxGateway:
    gateway = get_gateway()
    if not isinstance(gateway, SandboxGateway):
        raise Http404("The sandbox gateway is not in use.")
    return gateway


@require_http_methods(["GET", "POST"])
def sandbox_checkout(request: HttpRequest, session_id: str) -> HttpResponse:
    """The sandbox's hosted payment page: test cards only, like Stripe's test mode. On success
    it sends the customer back; our webhook hears about it separately, signed."""
    gateway = _sandbox()
    session = SandboxCheckout.objects.filter(pk=session_id).first()
    if session is None:
        raise Http404("No such payment page.")
    error = ""
    if request.method == "POST":
        error = gateway.pay(session_id, request.POST.get("card_number", ""))
        if not error:
            return redirect(session.success_url.replace("{CHECKOUT_SESSION_ID}", session.id))
        session.refresh_from_db()
    checkout = gateway.checkout_retrieve(session_id)
    status = 400 if error else 410 if checkout.status == "expired" else 200
    context = {"session": session, "checkout": checkout, "error": error}
    return render(request, "payments/sandbox_checkout.html", context, status=status)


@require_http_methods(["GET", "POST"])
def sandbox_onboarding(request: HttpRequest, account_id: str) -> HttpResponse:
    """The sandbox's onboarding page for a provider's connected account."""
    gateway = _sandbox()
    provider = getattr(request.user, "provider", None) if request.user.is_authenticated else None
    account = SandboxAccount.objects.filter(pk=account_id).first()
    if account is None or provider is None or provider.payout_account_id != account_id:
        # Stripe's onboarding links are secret and single-use; the sandbox's open only for the
        # signed-in provider whose account it is.
        raise Http404("No such account.")
    return_url = request.GET.get("return_url", "/dashboard/settings")
    if not return_url.startswith(("http://", "https://", "/")):
        return_url = "/dashboard/settings"
    if request.method == "POST":
        gateway.onboard(account_id)
        return redirect(return_url)
    return render(request, "payments/sandbox_onboarding.html", {"account": account, "return_url": return_url})
