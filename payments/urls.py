from django.urls import path

from payments import views

app_name = "payments"

urlpatterns = [
    path("payments/webhook", views.webhook, name="webhook"),
    path("sandbox/checkout/<str:session_id>", views.sandbox_checkout, name="sandbox_checkout"),
    path("sandbox/connect/<str:account_id>", views.sandbox_onboarding, name="sandbox_onboarding"),
]
