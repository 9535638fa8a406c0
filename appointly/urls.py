from django.contrib import admin
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.urls import include, path
from django.views.decorators.http import require_GET

from dashboard import views as dashboard_views
from providers import views as provider_views


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok", "database": connection.vendor})


urlpatterns = [
    path("", provider_views.home, name="home"),
    path("services/<slug:slug>/", provider_views.service_detail, name="service_detail"),
    path("login-provider", provider_views.provider_login, name="provider_login"),
    path("logout-provider", provider_views.provider_logout, name="provider_logout"),
    path("onboarding/", provider_views.onboarding, name="onboarding"),
    path("onboarding/profile/", provider_views.onboarding_profile, name="onboarding_profile"),
    path("onboarding/hours/", provider_views.onboarding_hours, name="onboarding_hours"),
    path("onboarding/service/", provider_views.onboarding_service, name="onboarding_service"),
    path("dashboard", dashboard_views.dashboard, name="dashboard"),
    path("", include("bookings.urls")),
    path("accounts/", include("allauth.urls")),
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
]
