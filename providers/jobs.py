"""Queue handlers of the providers domain: slot top-up and the purge of expired sign-in codes.
Beat only enqueues them (one job per period, by key); the queue runs, retries and records them."""

from __future__ import annotations

from typing import Any

from outbox.registry import register


@register("providers.slots_topup", max_attempts=3)
def slots_topup_job(payload: dict[str, Any]) -> None:
    from providers.services import slots_topup

    slots_topup()


@register("providers.login_challenges_purge", max_attempts=3)
def login_challenges_purge_job(payload: dict[str, Any]) -> None:
    from providers.login_codes import login_challenges_purge

    login_challenges_purge()
