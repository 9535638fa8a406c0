"""Providers set up their payout account (Stripe Connect Express, or the sandbox's stand-in)
from Settings; payouts wait for it and are transferred once it is ready."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from django.test import Client

from outbox.services import outbox_drain
from payments.models import Payout, PayoutStatus
from payments.payouts import payouts_create
from providers.models import Provider, Slot
from tests.factories import ServiceFactory, UserFactory, book_confirmed, deliver_webhooks, path_of
from tests.payments.fake_stripe import FakeStripe

pytestmark = pytest.mark.django_db


@pytest.fixture
def earned(frozen_now: Any, client: Client) -> Provider:
    """A provider with one €40 appointment over, not set up for payouts yet, signed in."""
    service = ServiceFactory(price_minor=4000)
    book_confirmed(UserFactory(), Slot.objects.filter(service=service, slot_date=date(2026, 11, 30)).first())
    frozen_now.move_to("2026-12-01 10:00:00+00:00")
    client.force_login(service.provider.user)
    return Provider.objects.get(pk=service.provider_id)


def test_a_provider_sets_up_payouts_in_the_sandbox_and_the_waiting_payout_goes_out(
    client: Client, earned: Provider
) -> None:
    # Given a payout made before the provider had an account: it waits, and the pages say why
    [payout] = payouts_create()
    outbox_drain()
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.PENDING
    assert "Waiting for your payout account" in client.get("/dashboard/payouts").content.decode()
    settings_page = client.get("/dashboard/settings").content.decode()
    assert "Set up payouts" in settings_page
    # When they press it: the onboarding page of a new account
    pressed = client.post("/dashboard/settings/payouts")
    assert pressed.status_code == 302
    earned.refresh_from_db()
    assert earned.payout_account_id.startswith("acct_sandbox_")
    assert f"/sandbox/connect/{earned.payout_account_id}?" in pressed.url
    onboarding = path_of(pressed.url)
    assert "Finish setting up payouts" in client.get(onboarding).content.decode()
    # Nobody else can open or finish it
    other = Client()
    other.force_login(ServiceFactory().provider.user)
    assert other.post(onboarding).status_code == 404
    # Pressing again does not make a second account
    client.post("/dashboard/settings/payouts")
    assert Provider.objects.filter(payout_account_id__startswith="acct_sandbox_").count() == 1
    # Coming back before finishing: still needs details
    early = client.get("/dashboard/settings/payouts/return", follow=True).content.decode()
    assert "Your payout account still needs some details" in early
    assert "Continue setting up payouts" in early
    # Finishing: back on Settings, ready; the webhook queues the waiting payout, which goes out
    finished = client.post(onboarding)
    assert path_of(finished.url) == "/dashboard/settings/payouts/return"
    deliver_webhooks(client)
    page = client.get(path_of(finished.url), follow=True).content.decode()
    assert "Payouts are set up" in page
    outbox_drain()
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.TRANSFERRED
    assert "Waiting for your payout account" not in client.get("/dashboard/payouts").content.decode()


def test_connect_onboarding_states_and_a_transfer_through_stripe(
    client: Client, earned: Provider, fake: FakeStripe
) -> None:
    # Express account and its onboarding link at Stripe
    pressed = client.post("/dashboard/settings/payouts")
    earned.refresh_from_db()
    (account,) = fake.accounts.values()
    assert (account["id"], account["type"]) == (earned.payout_account_id, "express")
    assert pressed.url == f"{fake.url}/onboard/{account['id']}"
    (link,) = fake.calls("POST", "/v1/account_links")
    assert link["type"] == "account_onboarding"
    assert link["return_url"] == "http://testserver/dashboard/settings/payouts/return"
    assert link["refresh_url"] == "http://testserver/dashboard/settings/payouts"
    # Back without finishing: Stripe says payouts are not enabled
    client.get("/dashboard/settings/payouts/return")
    earned.refresh_from_db()
    assert earned.payout_account_ready is False
    # A payout meanwhile waits: no transfer is attempted to an account that cannot take it
    [payout] = payouts_create()
    outbox_drain()
    assert not fake.calls("POST", "/v1/transfers")
    # Stripe's account.updated webhook: ready, and the waiting payout is transferred once
    body, signature = fake.signed(fake.onboard(account["id"]))
    answer = client.post("/payments/webhook", body, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature)
    assert answer.json()["outcome"] == "ready"
    outbox_drain()
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.TRANSFERRED
    (transfer,) = fake.transfers.values()
    assert (transfer["amount"], transfer["destination"], payout.gateway_ref) == (3800, account["id"], transfer["id"])
    # The same payout asked again (a retry after a killed worker): Stripe replays, no second one
    from payments.payouts import payout_transfer

    Payout.objects.filter(pk=payout.pk).update(status=PayoutStatus.PENDING)
    payout_transfer(payout_id=str(payout.pk))
    assert len(fake.transfers) == 1
    assert len(fake.calls("POST", "/v1/transfers")) == 2
