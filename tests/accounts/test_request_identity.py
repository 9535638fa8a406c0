"""The reads every signed-in request makes before its view (ADR 0029): the session, the user and
a provider's profile, each a compiled read, answer as Django's own would."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone

from accounts.backends import ModelBackend
from accounts.sessions import SessionStore
from appointly.core import identity_for_user
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_a_session_is_read_until_it_expires() -> None:
    # Given a stored session
    store = SessionStore()
    store["cart"] = "kept"
    store.create()
    key = store.session_key
    # When it is read back, then after its expiry has passed
    assert SessionStore(key).load() == {"cart": "kept"}
    Session.objects.filter(session_key=key).update(expire_date=timezone.now() - timedelta(seconds=1))
    expired = SessionStore(key)
    # Then the expired one reads as empty, and its key is forgotten (a new one will be made)
    assert expired.load() == {}
    assert expired.session_key is None
    assert SessionStore("no-such-session-key").load() == {}


def test_the_backend_returns_active_users_only() -> None:
    # Given an active user and one who was deactivated
    active, gone = UserFactory(), UserFactory(is_active=False)
    backend = ModelBackend()
    # Then an active user is found by their id as the session holds it (text), others are not
    assert backend.get_user(str(active.pk)) == active
    assert backend.get_user(active.pk) == active
    assert backend.get_user(str(gone.pk)) is None
    assert backend.get_user("999999") is None
    assert backend.get_user("not-a-number") is None


def test_signing_out_and_deactivation_take_effect_on_the_next_request(client: Client) -> None:
    # Given a signed-in customer
    customer = UserFactory()
    client.force_login(customer)
    assert client.get("/account/").status_code == 200
    # When their account is deactivated
    type(customer).objects.filter(pk=customer.pk).update(is_active=False)
    # Then the next request is anonymous: sent to log in
    answer = client.get("/account/")
    assert answer.status_code == 302
    assert "/accounts/login/" in answer["Location"]


def test_a_providers_profile_is_read_once_and_kept_on_the_user(provider: Any, django_assert_num_queries: Any) -> None:
    # Given a provider user read afresh, and a provider user with no profile yet
    user = type(provider.user).objects.get(pk=provider.user_id)
    starting = UserFactory(role="provider")
    # When their identity is asked
    with django_assert_num_queries(2):
        identity = identity_for_user(user)
        assert identity_for_user(starting).provider is None
    # Then it is their profile, and `user.provider` answers the same without another query
    with django_assert_num_queries(0):
        assert identity.provider == provider
        assert user.provider is identity.provider
        assert identity.provider.user is user
        with pytest.raises(type(provider).DoesNotExist):
            starting.provider  # noqa: B018
