#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "appointly.settings.base")
    from django.core.management import execute_from_command_line

    from appointly.telemetry import configure

    configure()  # OpenTelemetry for runserver and commands (off unless OTEL_TRACES_EXPORTER says)

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
