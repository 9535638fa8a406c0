import os

from django.core.wsgi import get_wsgi_application

from appointly.telemetry import configure

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "appointly.settings.base")
configure()  # OpenTelemetry, from the OTEL_* variables (off unless OTEL_TRACES_EXPORTER says)
application = get_wsgi_application()
