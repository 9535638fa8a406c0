from allauth.account.decorators import secure_admin_login
from django.contrib import admin
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.urls import include, path
from django.views.decorators.http import require_GET

from accounts import views as account_views
from api import views as api_views
from api.mcp_server import mcp_endpoint
from api.v1 import api as api_v1
from bookings import check_in_views
from dashboard import booking_views, qr_views
from dashboard import pages as dashboard_pages
from dashboard import views as dashboard_views
from notifications import views as notification_views
from providers import login_views, signup_views
from providers import views as provider_views


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok", "database": connection.vendor})


# The admin signs in through allauth: its rate limits, its lockout and the staff's second factor
# (Django's own admin login form has none of them).
admin.site.login = secure_admin_login(admin.site.login)  # type: ignore[method-assign]

urlpatterns = [
    path("", provider_views.home, name="home"),
    path("services/<slug:slug>/", provider_views.service_detail, name="service_detail"),
    path("p/<slug:slug>/", provider_views.provider_page, name="provider_page"),
    path("login-provider", login_views.provider_login, name="provider_login"),
    path("signup-provider", signup_views.signup, name="provider_signup"),
    path("signup-provider/verify/<str:token>", signup_views.signup_verify, name="provider_signup_verify"),
    path("auth/<str:challenge_id>", login_views.provider_code, name="provider_code"),
    path("auth/<str:challenge_id>/resend", login_views.provider_code_resend, name="provider_code_resend"),
    path("logout-provider", login_views.provider_logout, name="provider_logout"),
    path("logout-provider/everywhere", login_views.provider_logout_everywhere, name="provider_logout_everywhere"),
    path("onboarding/", provider_views.onboarding, name="onboarding"),
    path("onboarding/profile/", provider_views.onboarding_profile, name="onboarding_profile"),
    path("onboarding/hours/", provider_views.onboarding_hours, name="onboarding_hours"),
    path("onboarding/service/", provider_views.onboarding_service, name="onboarding_service"),
    path("dashboard", dashboard_views.dashboard, name="dashboard"),
    path("dashboard/changes", dashboard_views.changes, name="dashboard_changes"),
    path("dashboard/appointments", dashboard_pages.appointments, name="dashboard_appointments"),
    path("dashboard/appointments/new", booking_views.walk_in_start, name="dashboard_walk_in_start"),
    path("dashboard/appointments/new/<uuid:service_id>", booking_views.walk_in, name="dashboard_walk_in"),
    path("dashboard/appointments/<uuid:appointment_id>/move", booking_views.move, name="dashboard_move"),
    path("dashboard/services", dashboard_pages.services, name="dashboard_services"),
    path("dashboard/hours", dashboard_pages.hours, name="dashboard_hours"),
    path("dashboard/earnings", dashboard_pages.earnings, name="dashboard_earnings"),
    path("dashboard/payouts", dashboard_pages.payouts, name="dashboard_payouts"),
    path("dashboard/messages", dashboard_pages.messages_page, name="dashboard_messages"),
    path("dashboard/panel", dashboard_pages.panel, name="dashboard_panel"),
    path("dashboard/settings", dashboard_pages.settings_page, name="dashboard_settings"),
    path("dashboard/settings/payouts", dashboard_pages.payout_setup, name="dashboard_payout_setup"),
    path("dashboard/settings/payouts/return", dashboard_pages.payout_return, name="dashboard_payout_return"),
    path("dashboard/qr", qr_views.qr_page, name="dashboard_qr"),
    path("dashboard/qr.<str:fmt>", qr_views.qr_image, name="dashboard_qr_image"),
    path("dashboard/qr/print", qr_views.qr_print, name="dashboard_qr_print"),
    path("dashboard/qr/rotate", qr_views.qr_rotate, name="dashboard_qr_rotate"),
    path("dashboard/qr/no-shows", qr_views.qr_no_shows, name="dashboard_qr_no_shows"),
    path("mark", check_in_views.check_in, name="check_in"),
    path("timezone", account_views.timezone_set, name="timezone_set"),
    path("dashboard/appointments/cancel", dashboard_views.bulk_cancel, name="dashboard_bulk_cancel"),
    path(
        "dashboard/appointments/<uuid:appointment_id>", dashboard_views.appointment_detail, name="dashboard_appointment"
    ),
    path("dashboard/services/new", dashboard_views.service_edit, name="dashboard_service_new"),
    path("dashboard/services/<uuid:service_id>/edit", dashboard_views.service_edit, name="dashboard_service_edit"),
    path(
        "dashboard/services/<uuid:service_id>/toggle", dashboard_views.service_toggle, name="dashboard_service_toggle"
    ),
    path(
        "dashboard/appointments/<uuid:appointment_id>/paid",
        dashboard_views.paid_at_venue,
        name="dashboard_paid_at_venue",
    ),
    path(
        "dashboard/appointments/<uuid:appointment_id>/attendance",
        dashboard_views.attendance,
        name="dashboard_attendance",
    ),
    path(
        "dashboard/reschedules/<uuid:request_id>/<str:answer>",
        dashboard_views.reschedule_answer,
        name="dashboard_reschedule_answer",
    ),
    path("", include("bookings.urls")),
    path("", include("payments.urls")),
    path("api/v1/", api_v1.urls),
    path("mcp", mcp_endpoint, name="mcp"),
    path("tokens/new", api_views.token_new, name="api_token_new"),
    path("tokens/<int:token_id>/revoke", api_views.token_revoke_view, name="api_token_revoke"),
    path("accounts/", include("allauth.urls")),
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    path("notifications/twilio/status", notification_views.twilio_status, name="twilio_status"),
    path("notifications/twilio/inbound", notification_views.twilio_inbound, name="twilio_inbound"),
    path("notifications/preferences", notification_views.preferences_save, name="notification_preferences"),
    path("notifications/read", notification_views.inbox_mark_read, name="notifications_read"),
]
