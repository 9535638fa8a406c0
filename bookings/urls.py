from django.urls import path

from bookings import views

app_name = "bookings"

urlpatterns = [
    path("book/<uuid:slot_id>/", views.book, name="book"),
    path("appointments/<uuid:appointment_id>/", views.appointment_detail, name="appointment"),
    path("appointments/<uuid:appointment_id>/pay/", views.pay, name="pay"),
    path("appointments/<uuid:appointment_id>/pay/return/", views.pay_return, name="pay_return"),
    path("appointments/<uuid:appointment_id>/pay/status", views.pay_status, name="pay_status"),
    path("appointments/<uuid:appointment_id>/calendar.ics", views.appointment_calendar, name="calendar"),
    path("appointments/<uuid:appointment_id>/receipt/", views.appointment_receipt, name="receipt"),
    path("appointments/<uuid:appointment_id>/cancel/", views.appointment_cancel, name="cancel"),
    path("appointments/<uuid:appointment_id>/reschedule/", views.appointment_reschedule, name="reschedule"),
    path(
        "appointments/<uuid:appointment_id>/reschedule/withdraw/",
        views.appointment_reschedule_withdraw,
        name="reschedule_withdraw",
    ),
    path("account/", views.account, name="account"),
]
