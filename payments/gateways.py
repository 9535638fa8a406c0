"""Payment gateways: one interface, a sandbox (the default) and, later, Stripe.

A gateway call is network I/O: callers make it outside database transactions that hold locks,
and pass an idempotency key so a retried call never charges or refunds twice.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils.module_loading import import_string


class TransientGatewayError(Exception):
    """The outcome is unknown or the gateway is unavailable: safe to retry with the same key."""


@dataclass(frozen=True)
class GatewayResult:
    succeeded: bool
    gateway_ref: str = ""
    message: str = ""


class Gateway(Protocol):
    name: str

    def charge(
        self, *, amount_minor: int, currency: str, card_number: str, idempotency_key: str, description: str
    ) -> GatewayResult: ...

    def refund(self, *, gateway_ref: str, amount_minor: int, currency: str, idempotency_key: str) -> GatewayResult: ...

    def charge_status(self, *, idempotency_key: str) -> GatewayResult | None:
        """What became of a charge made with this key: its result, or None when the gateway
        never completed one (nothing was charged)."""
        ...

    def refund_status(self, *, idempotency_key: str) -> GatewayResult | None:
        """What became of a refund made with this key (None: the gateway made none)."""
        ...

    def transfer(self, *, destination: str, amount_minor: int, currency: str, idempotency_key: str) -> GatewayResult:
        """Move money from the platform to a provider's account (a Connect transfer)."""
        ...

    def charges_since(self, since: datetime) -> list[tuple[str, GatewayResult]]:
        """Every completed charge the gateway made since then, as (idempotency key, result):
        the reconciliation looks for charges the ledger does not know."""
        ...


# Test cards, like a real gateway's test mode.
CARD_SUCCESS = "4242424242424242"
CARD_DECLINED = "4000000000000002"
CARD_NETWORK_ERROR = "4000000000000119"  # fails once per idempotency key, then succeeds
CARD_REFUND_FAILS = "4000000000005126"  # charge succeeds; refunds fail once, then succeed
TRANSFER_FLAKY_PREFIX = "flaky-"  # a destination whose first transfer fails (tests' drills)


class SandboxGateway:
    """Behaves like a gateway's test mode, keeping its state in its own table.

    Answers are replayed for a repeated idempotency key, exactly like Stripe, so a retried
    request never charges twice.
    """

    name = "sandbox"

    def _operation(self, kind: str, key: str) -> tuple[int, dict[str, object] | None]:
        from payments.models import SandboxOperation

        with transaction.atomic():
            try:
                with transaction.atomic():
                    SandboxOperation.objects.create(idempotency_key=key, kind=kind, calls=1)
                return 1, None
            except IntegrityError:
                SandboxOperation.objects.filter(idempotency_key=key).update(calls=F("calls") + 1)
                op = SandboxOperation.objects.get(idempotency_key=key)
                return op.calls, op.result

    def _remember(self, key: str, result: GatewayResult) -> GatewayResult:
        from payments.models import SandboxOperation

        SandboxOperation.objects.filter(idempotency_key=key).update(
            result={"succeeded": result.succeeded, "gateway_ref": result.gateway_ref, "message": result.message}
        )
        return result

    def charge(
        self, *, amount_minor: int, currency: str, card_number: str, idempotency_key: str, description: str
    ) -> GatewayResult:
        calls, replay = self._operation("charge", idempotency_key)
        if replay is not None:
            return GatewayResult(**replay)  # type: ignore[arg-type]
        digits = "".join(ch for ch in card_number if ch.isdigit())
        if digits == CARD_NETWORK_ERROR and calls == 1:
            raise TransientGatewayError("The payment network did not answer in time.")
        if digits == CARD_DECLINED:
            return self._remember(idempotency_key, GatewayResult(False, "", "Your card was declined."))
        if len(digits) < 12 or not _luhn_ok(digits):
            return self._remember(idempotency_key, GatewayResult(False, "", "That card number is not valid."))
        prefix = "ch_rf_" if digits == CARD_REFUND_FAILS else "ch_"
        return self._remember(idempotency_key, GatewayResult(True, prefix + secrets.token_hex(10), ""))

    def charge_status(self, *, idempotency_key: str) -> GatewayResult | None:
        return self._status("charge", idempotency_key)

    def refund_status(self, *, idempotency_key: str) -> GatewayResult | None:
        return self._status("refund", idempotency_key)

    def _status(self, kind: str, idempotency_key: str) -> GatewayResult | None:
        from payments.models import SandboxOperation

        op = SandboxOperation.objects.filter(idempotency_key=idempotency_key, kind=kind).first()
        if op is None or op.result is None:
            return None
        return GatewayResult(**op.result)  # type: ignore[arg-type]

    def charges_since(self, since: datetime) -> list[tuple[str, GatewayResult]]:
        from payments.models import SandboxOperation

        done = SandboxOperation.objects.filter(kind="charge", created_at__gte=since, result__isnull=False)
        return [(op.idempotency_key, GatewayResult(**op.result)) for op in done.order_by("created_at")]  # type: ignore[arg-type]

    def transfer(self, *, destination: str, amount_minor: int, currency: str, idempotency_key: str) -> GatewayResult:
        calls, replay = self._operation("transfer", idempotency_key)
        if replay is not None:
            return GatewayResult(**replay)  # type: ignore[arg-type]
        if destination.startswith(TRANSFER_FLAKY_PREFIX) and calls == 1:
            raise TransientGatewayError("The transfer service is temporarily unavailable.")
        return self._remember(idempotency_key, GatewayResult(True, "tr_" + secrets.token_hex(10), ""))

    def refund(self, *, gateway_ref: str, amount_minor: int, currency: str, idempotency_key: str) -> GatewayResult:
        calls, replay = self._operation("refund", idempotency_key)
        if replay is not None:
            return GatewayResult(**replay)  # type: ignore[arg-type]
        if gateway_ref.startswith("ch_rf_") and calls == 1:
            raise TransientGatewayError("The refund service is temporarily unavailable.")
        return self._remember(idempotency_key, GatewayResult(True, "re_" + secrets.token_hex(10), ""))


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def get_gateway() -> Gateway:
    gateway: Gateway = import_string(settings.PAYMENT_GATEWAY)()
    return gateway
