"""Public catalogue pages, the onboarding wizard and the provider sign-in page."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods
from django.views.decorators.vary import vary_on_headers

from appointly.core import HtmxHttpRequest, who
from appointly.zones import visitor_zone, zone_names
from bookings.picker import pick_day
from providers import selectors
from providers.decorators import provider_required
from providers.forms import ProfileForm, ServiceForm
from providers.hours_form import hours_form_for
from providers.models import OnboardingStep
from providers.rules import ScheduleInvalid
from providers.services import ProviderHours, provider_hours_set, provider_profile_save, provider_today, service_create

PAGE_SIZE = 24


@require_GET
@vary_on_headers("HX-Request")
def home(request: HtmxHttpRequest) -> HttpResponse:
    q = request.GET.get("q", "")[:100]
    category = request.GET.get("category", "")[:80]
    provider = request.GET.get("provider", "")[:140]
    paginator = Paginator(selectors.services_search(q=q, category=category, provider=provider), PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    context = {
        "page": page,
        "q": q,
        "category": category,
        "provider": provider,
        "categories": list(selectors.categories_in_use()),
        "providers": list(selectors.providers_public()),
        "filtered": bool(q or category or provider),
        "page_query": urlencode({"q": q, "category": category, "provider": provider}),
    }
    template = "providers/home.html#results" if request.htmx else "providers/home.html"
    return render(request, template, context)


@require_GET
@vary_on_headers("HX-Request")
def service_detail(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    service = selectors.service_get_public(slug=slug)
    # What "bookable" means lives in bookings.availability, shared with the booking services.
    # Days and times in the visitor's zone when known (bookable is still decided in the
    # provider's days, by bookings.availability).
    zone = visitor_zone(request)
    tz = ZoneInfo(zone) if zone else None
    picked = pick_day(request.GET, service=service, tz=tz)
    day, today, last = picked.day, picked.today, picked.last
    context = {
        "service": service,
        "provider": service.provider,
        "day": day,
        "slots": picked.slots,
        "month": picked.month,
        "outside": picked.outside,
        "last": last,
        "prev_day": day - timedelta(days=1) if day > today else None,
        "next_day": day + timedelta(days=1) if day < last else None,
        "next_free": next((d for d in sorted(picked.counts) if d > day), None),
        "total_free": sum(picked.counts.values()),
    }
    template = "providers/service_detail.html#availability" if request.htmx else "providers/service_detail.html"
    return render(request, template, context)


@require_GET
def provider_page(request: HttpRequest, slug: str) -> HttpResponse:
    """`/p/<slug>/`: the page a provider shares — business, where, hours, services to book."""
    provider = selectors.provider_get_public(slug=slug)
    return render(
        request,
        "providers/provider_page.html",
        {
            "provider": provider,
            "services": list(selectors.services_public().filter(provider=provider).order_by("name")),
            "week": ProviderHours.load(provider).week(),
        },
    )


# --- Onboarding wizard ------------------------------------------------------------------------

STEP_URLS = {
    OnboardingStep.PROFILE: "onboarding_profile",
    OnboardingStep.HOURS: "onboarding_hours",
    OnboardingStep.SERVICE: "onboarding_service",
    OnboardingStep.DONE: "dashboard",
}
STEP_ORDER = [OnboardingStep.PROFILE, OnboardingStep.HOURS, OnboardingStep.SERVICE]


def _current_step(request: HttpRequest) -> OnboardingStep:
    provider = who(request).provider
    return OnboardingStep.PROFILE if provider is None else OnboardingStep(provider.onboarding_step)


def _step_allowed(request: HttpRequest, step: OnboardingStep) -> bool:
    """A provider may revisit finished steps but not skip ahead."""
    current = _current_step(request)
    if current == OnboardingStep.DONE:
        return True
    return STEP_ORDER.index(step) <= STEP_ORDER.index(current)


def _wizard_context(request: HttpRequest, step: OnboardingStep) -> dict[str, object]:
    current = _current_step(request)
    return {
        "step": step,
        "steps": [
            {
                "key": s,
                "label": s.label,
                "url": reverse(STEP_URLS[s]),
                "done": current == OnboardingStep.DONE or STEP_ORDER.index(s) < STEP_ORDER.index(current),
                "reachable": current == OnboardingStep.DONE or STEP_ORDER.index(s) <= STEP_ORDER.index(current),
            }
            for s in STEP_ORDER
        ],
    }


@require_GET
@provider_required(onboarded=False)
def onboarding(request: HttpRequest) -> HttpResponse:
    """Resume the wizard where the provider left it."""
    return redirect(STEP_URLS[_current_step(request)])


@require_http_methods(["GET", "POST"])
@provider_required(onboarded=False)
def onboarding_profile(request: HttpRequest) -> HttpResponse:
    provider = who(request).provider
    if provider is not None and provider.is_onboarded:
        return redirect("dashboard_settings")  # the wizard is for starting; settings edit later
    if provider is not None:
        initial = ProfileForm.initial_for(provider)
    else:
        # The name typed at sign-up (providers/signup_views.py), so it is not asked twice, and
        # the zone the browser reported (a suggestion the provider can change).
        initial = {
            "business_name": request.session.get("signup_business_name", ""),
            "timezone": visitor_zone(request) or "",
        }
    form = ProfileForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        provider = provider_profile_save(user=request.user, **form.profile_fields())  # type: ignore[arg-type]
        return redirect(STEP_URLS[OnboardingStep(provider.onboarding_step)])
    return render(
        request,
        "providers/onboarding_profile.html",
        {"form": form, "zone_names": zone_names(), **_wizard_context(request, OnboardingStep.PROFILE)},
    )


@require_http_methods(["GET", "POST"])
@provider_required(onboarded=False)
def onboarding_hours(request: HttpRequest) -> HttpResponse:
    if not _step_allowed(request, OnboardingStep.HOURS):
        return redirect("onboarding")
    provider = who(request).provider
    if provider.is_onboarded:
        return redirect("dashboard_hours")  # the weekly editor, with a review before saving
    form, copied = hours_form_for(request, provider, provider_today(provider))
    if request.method == "POST" and not copied and form.is_valid():
        try:
            provider_hours_set(
                provider=provider, weekly=form.cleaned_data["weekly"], exceptions=form.cleaned_data["exception_rows"]
            )
        except ScheduleInvalid as exc:  # a service changed since the form checked
            for message in exc.errors.values():
                form.add_error(None, message)
        else:
            provider.refresh_from_db()
            return redirect(STEP_URLS[OnboardingStep(provider.onboarding_step)])
    return render(
        request, "providers/onboarding_hours.html", {"form": form, **_wizard_context(request, OnboardingStep.HOURS)}
    )


@require_http_methods(["GET", "POST"])
@provider_required(onboarded=False)
def onboarding_service(request: HttpRequest) -> HttpResponse:
    if not _step_allowed(request, OnboardingStep.SERVICE):
        return redirect("onboarding")
    provider = who(request).provider
    form = ServiceForm(request.POST or None, provider=provider)
    if request.method == "POST" and form.is_valid():
        fields = form.service_fields()
        try:
            service = service_create(
                provider=provider, category=fields.pop("category"), name=fields.pop("name"), **fields
            )
        except ScheduleInvalid as exc:
            form.add_rule_errors(exc.errors)
        else:
            page = request.build_absolute_uri(reverse("provider_page", args=[service.provider.slug]))
            messages.success(
                request,
                f"“{service.name}” is live with {service.slots.count()} slots to book. Share your page: {page}",
            )
            return redirect("dashboard")
    return render(
        request, "providers/onboarding_service.html", {"form": form, **_wizard_context(request, OnboardingStep.SERVICE)}
    )
