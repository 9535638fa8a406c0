from django.apps import AppConfig


class OutboxConfig(AppConfig):
    name = "outbox"
    verbose_name = "Job queue"

    def ready(self) -> None:
        from outbox import jobs  # noqa: F401 - registers the queue's own job kinds
