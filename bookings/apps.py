from django.apps import AppConfig


class BookingsConfig(AppConfig):
    name = "bookings"

    def ready(self) -> None:
        from bookings import jobs  # noqa: F401 - registers the booking job kinds
        from bookings.services import appointment_follow_payment, local_dates_refile
        from payments.services import PAYMENT_FINAL
        from providers.services import TIMEZONE_CHANGED

        if local_dates_refile not in TIMEZONE_CHANGED:
            TIMEZONE_CHANGED.append(local_dates_refile)
        if appointment_follow_payment not in PAYMENT_FINAL:
            PAYMENT_FINAL.append(appointment_follow_payment)
