"""The provider's QR page: the check-in code (SVG, PNG, print sheets), replacing it, and the
opt-in automatic no-shows. Drawing is in providers/qr.py; writes are providers' services."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from appointly.core import who
from dashboard.layout import layout_context
from providers.decorators import provider_required
from providers.qr import check_in_url, qr_png, qr_svg
from providers.services import provider_auto_no_show_set, provider_qr_rotate

PRINT_SIZES = {"a4": "A4 poster", "a6": "A6 counter card"}


@require_GET
@provider_required()
def qr_page(request: HttpRequest) -> HttpResponse:
    provider = who(request).provider
    return render(
        request,
        "dashboard/qr.html",
        {
            **layout_context(provider, "qr"),
            "url": check_in_url(provider),
            "print_sizes": PRINT_SIZES,
            "opens_minutes": settings.ATTENDANCE_CHECK_IN_OPENS_MINUTES,
            "no_show_minutes": settings.ATTENDANCE_NO_SHOW_AFTER_MINUTES,
        },
    )


@require_GET
@provider_required()
def qr_image(request: HttpRequest, fmt: str) -> HttpResponse:
    """The code as a download (`?download=1`) or for the page's <img>; private to the provider."""
    provider = who(request).provider
    url = check_in_url(provider)
    if fmt == "svg":
        response = HttpResponse(qr_svg(url), content_type="image/svg+xml")
    elif fmt == "png":
        response = HttpResponse(qr_png(url), content_type="image/png")
    else:
        raise Http404("unknown image format")
    if request.GET.get("download"):
        response["Content-Disposition"] = f'attachment; filename="check-in-{provider.slug}.{fmt}"'
    return response


@require_GET
@provider_required()
def qr_print(request: HttpRequest) -> HttpResponse:
    size = request.GET.get("size", "a4")
    if size not in PRINT_SIZES:
        raise Http404("unknown print size")
    provider = who(request).provider
    return render(request, "dashboard/qr_print.html", {"provider": provider, "size": size, "label": PRINT_SIZES[size]})


@require_http_methods(["GET", "POST"])
@provider_required()
def qr_rotate(request: HttpRequest) -> HttpResponse:
    """GET asks first (printed copies of the current code stop working); POST replaces it."""
    provider = who(request).provider
    if request.method == "POST":
        provider_qr_rotate(provider=provider)
        messages.success(request, "Your check-in code was replaced. Print the new one: the old copies no longer work.")
        return redirect("dashboard_qr")
    return render(request, "dashboard/qr_rotate.html", {"provider": provider})


@require_POST
@provider_required()
def qr_no_shows(request: HttpRequest) -> HttpResponse:
    enabled = request.POST.get("enabled") == "1"
    provider_auto_no_show_set(provider=who(request).provider, enabled=enabled)
    if enabled:
        messages.success(
            request,
            f"Automatic no-shows are on: appointments that end from now on without a check-in become no-shows "
            f"{settings.ATTENDANCE_NO_SHOW_AFTER_MINUTES} minutes after they end. You can correct any of them.",
        )
    else:
        messages.info(request, "Automatic no-shows are off: only you mark no-shows.")
    return redirect("dashboard_qr")
