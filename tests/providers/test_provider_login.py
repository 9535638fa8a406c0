"""Provider sign-in: password, then a one-time code from the email (issue: provider OTP login)."""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from typing import Any
from unittest import mock

import pytest
import time_machine
from django.contrib.auth.hashers import MD5PasswordHasher
from django.core import mail
from django.test import Client

from providers.login_codes import login_challenges_purge
from providers.models import ProviderLoginChallenge
from tests.factories import PASSWORD, ProviderFactory, ProviderUserFactory, UserFactory

pytestmark = pytest.mark.django_db

EMAIL = "barber@example.com"


@pytest.fixture
def provider(db: None) -> Any:
    return ProviderFactory(user=ProviderUserFactory(email=EMAIL))


def password_step(client: Client, email: str = EMAIL, password: str = PASSWORD, **extra: Any) -> Any:
    return client.post("/login-provider", {"email": email, "password": password}, **extra)


def last_code() -> str:
    match = re.search(r"sign-in code is: (\d{6})", mail.outbox[-1].body)
    assert match is not None
    return match.group(1)


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


def test_password_then_code_signs_in_and_rotates_the_session(
    client: Client, provider: Any, django_capture_on_commit_callbacks: Any
) -> None:
    # Given the password step
    client.get("/login-provider")
    with django_capture_on_commit_callbacks(execute=True):
        response = password_step(client)
    challenge = ProviderLoginChallenge.objects.get()
    assert response.status_code == 302
    assert response.url == f"/auth/{challenge.id}"
    # Then not signed in yet, and an email with the code went out (text and HTML)
    assert "_auth_user_id" not in client.session
    assert client.get("/dashboard").status_code == 302
    message = mail.outbox[-1]
    assert message.to == [EMAIL]
    code = last_code()
    assert message.subject == "Your Appointly sign-in code"  # never the code: lock screens show subjects
    assert code not in message.subject
    assert "5 minutes" in message.body
    assert "did not try to sign in" in message.body
    assert code in message.alternatives[0][0]
    # The code page is a proper one-time-code form
    page = client.get(response.url).content.decode()
    assert 'autocomplete="one-time-code"' in page
    assert 'inputmode="numeric"' in page
    # A wrong code says so and counts
    bad = client.post(response.url, {"code": wrong(code)})
    assert bad.status_code == 400
    assert "That code is not right. 4 tries left." in bad.content.decode()
    # The right code signs in, with a new session key, and lands on the dashboard
    key_before = client.session.session_key
    ok = client.post(response.url, {"code": code})
    assert ok.status_code == 302
    assert ok.url == "/dashboard"
    assert client.session.session_key != key_before
    assert int(client.session["_auth_user_id"]) == provider.user.pk
    assert client.get("/dashboard").status_code == 200
    # The code was single-use: the challenge is gone
    assert not ProviderLoginChallenge.objects.exists()
    again = client.post(response.url, {"code": code})
    assert again.status_code == 302
    assert again.url == "/login-provider"


def test_nothing_secret_is_stored(client: Client, provider: Any, django_capture_on_commit_callbacks: Any) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        password_step(client)
    code = last_code()
    row = ProviderLoginChallenge.objects.values().get()
    flat = " ".join(str(v) for v in row.values())
    assert code not in flat
    assert PASSWORD not in flat
    assert len(row["id"]) >= 40
    assert row["expires_at"] - row["created_at"] <= timedelta(minutes=5, seconds=1)


@pytest.mark.parametrize("case", ["unknown", "customer", "wrong-password"])
def test_one_answer_for_every_failure_and_the_hasher_always_runs(client: Client, provider: Any, case: str) -> None:
    UserFactory(email="casey@example.com")
    email, password = {
        "unknown": ("nobody@example.com", PASSWORD),
        "customer": ("casey@example.com", PASSWORD),
        "wrong-password": (EMAIL, "nope-nope-nope"),
    }[case]
    with mock.patch.object(MD5PasswordHasher, "encode", autospec=True, side_effect=MD5PasswordHasher.encode) as enc:
        response = password_step(client, email, password)
    assert enc.call_count >= 1
    assert response.status_code == 400
    body = response.content.decode()
    assert "That email and password do not match a provider account." in body
    assert not ProviderLoginChallenge.objects.exists()
    assert len(mail.outbox) == 0
    assert "_auth_user_id" not in client.session


def test_four_fifty_nine_works_five_oh_one_does_not(
    client: Client, provider: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with time_machine.travel("2026-11-25 08:00:00+00:00", tick=False) as clock:
        with django_capture_on_commit_callbacks(execute=True):
            url = password_step(client).url
        clock.shift(timedelta(minutes=4, seconds=59))
        assert client.post(url, {"code": last_code()}).url == "/dashboard"
    other = Client()
    with time_machine.travel("2026-11-25 09:00:00+00:00", tick=False) as clock:
        with django_capture_on_commit_callbacks(execute=True):
            url = password_step(other).url
        clock.shift(timedelta(minutes=5, seconds=1))
        response = other.post(url, {"code": last_code()}, follow=True)
    assert "_auth_user_id" not in other.session
    assert "expired" in response.content.decode()
    assert response.redirect_chain[-1][0] == "/login-provider"
    assert not ProviderLoginChallenge.objects.exists()


def test_five_wrong_codes_end_the_code_session(
    client: Client, provider: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        url = password_step(client).url
    code = last_code()
    for left in (4, 3, 2, 1):
        assert f"{left} tr" in client.post(url, {"code": wrong(code)}).content.decode()
    fifth = client.post(url, {"code": wrong(code)}, follow=True)
    assert "Too many wrong codes. Please log in again." in fifth.content.decode()
    assert not ProviderLoginChallenge.objects.exists()
    # Even the right code is useless now
    assert client.post(url, {"code": code}).url == "/login-provider"
    assert "_auth_user_id" not in client.session


def test_another_browser_or_a_made_up_id_gets_log_in_again(
    client: Client, provider: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        url = password_step(client).url
    code = last_code()
    thief = Client()
    stolen = thief.post(url, {"code": code}, follow=True)
    assert "no longer valid. Please log in again." in stolen.content.decode()
    assert "_auth_user_id" not in thief.session
    made_up = client.get("/auth/" + "x" * 43, follow=True)
    assert "no longer valid. Please log in again." in made_up.content.decode()
    # The owner's challenge is untouched by the thief's attempt
    assert ProviderLoginChallenge.objects.get().attempts == 0
    assert client.post(url, {"code": code}).url == "/dashboard"


def test_resend_waits_30_seconds_replaces_the_code_and_stops_after_three(
    client: Client, provider: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with time_machine.travel("2026-11-25 08:00:00+00:00", tick=False) as clock:
        with django_capture_on_commit_callbacks(execute=True):
            url = password_step(client).url
        first = last_code()
        too_soon = client.post(url + "/resend", follow=True)
        assert "Please wait" in too_soon.content.decode()
        assert len(mail.outbox) == 1
        for n in range(3):
            clock.shift(timedelta(seconds=31))
            with django_capture_on_commit_callbacks(execute=True):
                client.post(url + "/resend")
            assert len(mail.outbox) == 2 + n
        clock.shift(timedelta(seconds=31))
        refused = client.post(url + "/resend", follow=True)
        assert "No more codes for this sign-in" in refused.content.decode()
        assert len(mail.outbox) == 4
        newest = last_code()
        if newest != first:
            assert "not right" in client.post(url, {"code": first}).content.decode()
        assert client.post(url, {"code": newest}).url == "/dashboard"


def test_codes_are_rate_limited_per_email(client: Client, provider: Any) -> None:
    statuses = [password_step(Client(REMOTE_ADDR=f"10.0.0.{i}")).status_code for i in range(7)]
    assert statuses == [302] * 5 + [429] * 2
    assert ProviderLoginChallenge.objects.count() == 5
    body = password_step(Client(REMOTE_ADDR="10.0.0.99")).content.decode()
    assert "Too many sign-in codes were requested for this account" in body


def test_password_attempts_are_rate_limited_per_ip(client: Client, provider: Any) -> None:
    statuses = [password_step(client, f"someone{i}@example.com", "x").status_code for i in range(31)]
    assert statuses[:30] == [400] * 30
    assert statuses[30] == 429


def test_customer_session_cannot_open_provider_pages(client: Client) -> None:
    client.force_login(UserFactory())
    for url in ("/dashboard", "/onboarding/", "/onboarding/hours/"):
        assert client.get(url).status_code == 403


def test_codes_and_passwords_never_reach_the_logs(
    client: Client, provider: Any, caplog: pytest.LogCaptureFixture, django_capture_on_commit_callbacks: Any
) -> None:
    caplog.set_level(logging.DEBUG)
    with django_capture_on_commit_callbacks(execute=True):
        url = password_step(client).url
    code = last_code()
    client.post(url, {"code": wrong(code)})
    client.post(url, {"code": code})
    password_step(Client(), EMAIL, "a-wrong-password-123")
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert code not in text
    assert PASSWORD not in text
    assert "a-wrong-password-123" not in text


GUESSES = 1_000


def test_a_thousand_guesses_never_get_in(
    client: Client, provider: Any, django_capture_on_commit_callbacks: Any
) -> None:
    """An attacker who knows the password but not the inbox: 1,000 code guesses. The limits bite
    within the first ~30 requests (5 codes an hour, 4 wrong answers each); the rest shows they
    stay shut (10,000 guesses cost CI ~75 s and proved nothing more)."""
    successes = wrong_answers = log_in_again = rate_limited = challenges = 0
    url = None
    for guess in range(GUESSES):
        if url is None:
            with django_capture_on_commit_callbacks(execute=True):
                response = password_step(client)
            if response.status_code == 429:
                rate_limited += 1
            else:
                challenges += 1
                url = response.url
                real = last_code()
        target = url or "/auth/" + "y" * 43
        code = f"{guess % 10**6:06d}"
        if url is not None and code == real:
            code = wrong(real)  # the attacker does not see the inbox
        response = client.post(target, {"code": code})
        if response.status_code == 302 and response.url == "/dashboard":
            successes += 1
        elif response.status_code == 400:
            wrong_answers += 1
        else:
            log_in_again += 1
            url = None
    assert successes == 0
    assert challenges == 5  # per-email limit: 5 codes an hour
    assert wrong_answers == 5 * 4  # per-session limit: the 5th wrong code ends the session
    assert log_in_again == GUESSES - wrong_answers
    assert rate_limited > 0
    assert "_auth_user_id" not in client.session


def test_logout_everywhere_ends_every_session(client: Client, provider: Any) -> None:
    other_device = Client()
    client.force_login(provider.user)
    other_device.force_login(provider.user)
    assert other_device.get("/dashboard").status_code == 200
    response = client.post("/logout-provider/everywhere")
    assert response.url == "/login-provider"
    assert other_device.get("/dashboard").status_code == 302
    assert client.get("/dashboard").status_code == 302


def test_expired_code_sessions_are_purged(client: Client, provider: Any, frozen_now: Any) -> None:
    password_step(client)
    password_step(Client())
    assert login_challenges_purge() == 0
    frozen_now.shift(timedelta(minutes=6))
    assert login_challenges_purge() == 2
    assert not ProviderLoginChallenge.objects.exists()


def test_next_is_kept_but_never_offsite(client: Client, provider: Any, django_capture_on_commit_callbacks: Any) -> None:
    for target, expected in (("/onboarding/hours/", "/onboarding/hours/"), ("https://evil.example/", "/dashboard")):
        browser = Client()
        with django_capture_on_commit_callbacks(execute=True):
            url = browser.post(f"/login-provider?next={target}", {"email": EMAIL, "password": PASSWORD}).url
        assert browser.post(url, {"code": last_code()}).url == expected


def test_codes_are_compared_in_constant_time(
    client: Client, provider: Any, django_capture_on_commit_callbacks: Any
) -> None:
    from django.utils.crypto import constant_time_compare

    with django_capture_on_commit_callbacks(execute=True):
        url = password_step(client).url
    with mock.patch("providers.login_codes.constant_time_compare", side_effect=constant_time_compare) as spy:
        client.post(url, {"code": "123"})
    # One comparison of the browser binding, one of the code hash: both through the constant-time helper
    assert spy.call_count == 2
    stored = ProviderLoginChallenge.objects.get().code_hash
    assert spy.call_args_list[1].args[0] == stored
    assert len(spy.call_args_list[1].args[1]) == 64


def test_the_purge_runs_as_a_queued_job(client: Client, provider: Any, frozen_now: Any) -> None:
    from outbox.models import Job
    from outbox.services import outbox_drain
    from providers.tasks import login_challenges_purge_task

    password_step(client)
    frozen_now.shift(timedelta(minutes=6))
    login_challenges_purge_task.delay()
    assert Job.objects.filter(kind="providers.login_challenges_purge").count() == 1
    outbox_drain()
    assert not ProviderLoginChallenge.objects.exists()
