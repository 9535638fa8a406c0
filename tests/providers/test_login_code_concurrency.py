"""Concurrent code guesses against one sign-in: never more than the allowed attempts."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import pytest
from django.db import connection

from appointly.core import DomainError
from providers.login_codes import login_challenge_start, login_challenge_verify
from providers.models import ProviderLoginChallenge
from tests.factories import ProviderFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_twenty_simultaneous_wrong_guesses_use_exactly_five_attempts(django_capture_on_commit_callbacks: Any) -> None:
    provider = ProviderFactory()
    started = login_challenge_start(user=provider.user)
    challenge_id, secret = started.challenge.id, started.browser_secret
    barrier = threading.Barrier(20)
    outcomes: list[str] = []
    lock = threading.Lock()

    def guess(n: int) -> None:
        try:
            barrier.wait()
            # None of these can be right: the real code is never among them by construction.
            result = login_challenge_verify(challenge_id=challenge_id, browser_secret=secret, code=f"x{n}")
            kind = "signed-in" if result.user else f"wrong:{result.attempts_left}"
        except DomainError as exc:
            kind = type(exc).__name__
        finally:
            connection.close()
        with lock:
            outcomes.append(kind)

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    counts = Counter(outcomes)
    # Four wrong answers with tries left (4, 3, 2, 1), the fifth ends the session, the rest find it gone
    assert counts == Counter({"wrong:4": 1, "wrong:3": 1, "wrong:2": 1, "wrong:1": 1, "ChallengeGone": 16})
    assert not ProviderLoginChallenge.objects.exists()
