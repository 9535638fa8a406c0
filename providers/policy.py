"""The cancellation/refund policy as a value: written once, read by the service page, the
confirm page, the appointment (which keeps the copy it was booked under) and the refund rule."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class RefundPolicy:
    """Full refund at least `full_hours` before the start, `partial_percent` at least
    `partial_hours` before, nothing after that (default 24 h / 2 h / 50 %)."""

    full_hours: int = 24
    partial_hours: int = 2
    partial_percent: int = 50

    @property
    def has_partial_tier(self) -> bool:
        return bool(self.partial_percent) and self.partial_hours < self.full_hours

    def refund_minor(self, *, price_minor: int, start: datetime, now: datetime) -> int:
        """What a customer gets back for cancelling at `now` an appointment starting at `start`."""
        before = start - now
        if before >= timedelta(hours=self.full_hours):
            return price_minor
        if self.has_partial_tier and before >= timedelta(hours=self.partial_hours):
            return price_minor * self.partial_percent // 100
        return 0

    @property
    def lines(self) -> list[str]:
        lines = [f"Cancel at least {self.full_hours} hours before the start: full refund."]
        if self.has_partial_tier:
            lines.append(
                f"Cancel between {self.partial_hours} and {self.full_hours} hours before: "
                f"{self.partial_percent} % refund."
            )
            lines.append(f"Cancel less than {self.partial_hours} hours before, or after the start: no refund.")
        else:
            lines.append(f"Cancel less than {self.full_hours} hours before, or after the start: no refund.")
        lines.append("If the provider cancels, you always get a full refund.")
        return lines

    def as_token(self) -> str:
        """A compact form for hidden form fields: the confirm form carries the terms it showed."""
        return f"{self.full_hours}-{self.partial_hours}-{self.partial_percent}"
