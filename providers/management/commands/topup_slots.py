from typing import Any

from django.core.management.base import BaseCommand

from providers.services import slots_topup


class Command(BaseCommand):
    help = "Create the missing slots so every active service has its whole booking window. Idempotent."

    def handle(self, *args: Any, **options: Any) -> None:
        created = slots_topup()
        self.stdout.write(self.style.SUCCESS(f"Created {created} slots."))
