"""A provider signs in with password + emailed code in a real browser and lands on the dashboard."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core import mail

from tests.factories import PASSWORD, ProviderFactory, ProviderUserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_provider_signs_in_with_the_emailed_code(live_server: Any, page: Any) -> None:
    provider = ProviderFactory(user=ProviderUserFactory(email="barber@example.com"), business_name="Kiez Barber")
    page.goto(f"{live_server.url}/login-provider")
    page.get_by_label("Email").fill("barber@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(re.compile(r".*/auth/[\w-]+$"))
    assert "Check your email" in page.content()
    code = re.search(r"sign-in code is: (\d{6})", mail.outbox[-1].body).group(1)
    # A wrong code first: the page says so and stays
    page.get_by_label("Sign-in code").fill(f"{(int(code) + 1) % 10**6:06d}")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    assert "That code is not right. 4 tries left." in page.content()
    page.get_by_label("Sign-in code").fill(code)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server.url}/dashboard")
    assert "Kiez Barber" in page.locator(".dash-business").inner_text()  # the dashboard names the business
    assert provider.user.email in page.content()
