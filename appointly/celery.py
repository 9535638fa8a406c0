"""The Celery application; tasks live in each app's tasks.py and are found by autodiscovery."""

import os

from celery import Celery
from celery.signals import worker_init, worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "appointly.settings.base")

app = Celery("appointly")


@worker_init.connect
@worker_process_init.connect
def _telemetry(**kwargs: object) -> None:
    """Tracing in the worker: `worker_process_init` in each prefork child (as OpenTelemetry's
    Celery instrumentation asks), `worker_init` for the solo pool of `make run` (no children);
    configuring twice in one process does nothing."""
    from appointly.telemetry import configure_celery_worker

    configure_celery_worker()


app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
