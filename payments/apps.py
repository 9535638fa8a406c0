from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "payments"

    def ready(self) -> None:
        from payments import jobs  # noqa: F401 - registers the refund job kind
        from payments.payouts import register_webhook_handlers

        register_webhook_handlers()
