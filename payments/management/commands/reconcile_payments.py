"""`python manage.py reconcile_payments [--since 2026-11-01 | --days 2]`: the ledger against the
gateway; prints every difference and exits 1 when there is any (beat runs it daily)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from payments.reconcile import payments_reconcile


class Command(BaseCommand):
    help = "Compare payments and refunds with the gateway and print the differences."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--since", help="ISO date or time (default: --days ago)")
        parser.add_argument("--days", type=int, default=2, help="how far back (default 2 days)")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["since"]:
            try:
                since = datetime.fromisoformat(options["since"])
            except ValueError as exc:
                raise CommandError(f"--since {options['since']!r} is not a date like 2026-11-01") from exc
            if timezone.is_naive(since):
                since = since.replace(tzinfo=UTC)
        else:
            since = timezone.now() - timedelta(days=options["days"])
        run = payments_reconcile(since=since)
        for difference in run.differences:
            self.stdout.write(difference["text"])
        self.stdout.write(
            f"Checked {run.checked} payments and refunds since {since:%Y-%m-%d %H:%M %Z}: "
            f"{len(run.differences)} difference{'s' if len(run.differences) != 1 else ''}."
        )
        if run.differences:
            raise SystemExit(1)
