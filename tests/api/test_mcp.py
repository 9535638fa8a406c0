"""The MCP server: an in-process client session books end to end through the tools, and the
SDK's streamable-HTTP client reaches /mcp on the live server with a bearer token."""

from __future__ import annotations

import asyncio
import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from typing import Any

import httpx2
import pytest
from asgiref.sync import async_to_sync, sync_to_async
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from api.mcp_server import serve_as, server
from api.operations import Actor
from api.tokens import token_create, token_revoke
from bookings.models import Appointment, AppointmentEvent, AppointmentStatus
from payments.gateways import SandboxGateway
from payments.models import Payment
from payments.webhooks import sandbox_deliver_now
from providers.models import Slot
from tests.factories import ServiceFactory, UserFactory


def result_of(answer: Any) -> Any:
    """A tool's answer as data (its structured content, else its JSON text)."""
    assert not answer.is_error, answer.content
    if answer.structured_content is not None:
        data = answer.structured_content
        return data.get("result", data) if isinstance(data, dict) and set(data) == {"result"} else data
    return json.loads(answer.content[0].text)


@pytest.mark.django_db
def test_an_agent_books_end_to_end_through_the_mcp_tools(frozen_now: object) -> None:
    ServiceFactory(price_minor=4000, name="Sports massage")
    customer = UserFactory()
    token = token_create(user=customer, name="Desktop assistant", scopes=["read", "book", "cancel"], days=7)[0]
    day = date(2026, 11, 30)

    async def session() -> dict[str, Any]:
        seen: dict[str, Any] = {}
        async with Client(server) as client:
            tools = {t.name: t for t in (await client.list_tools()).tools}
            seen["tools"] = tools
            found = result_of(await client.call_tool("search_services", {"query": "massage"}))
            times = result_of(
                await client.call_tool(
                    "free_times", {"slug": found[0]["slug"], "start": day.isoformat(), "tz": "Europe/Lisbon"}
                )
            )
            proposed = result_of(await client.call_tool("propose_booking", {"slot_id": times[2]["slot_id"]}))
            seen["proposed"] = proposed
            confirmed = result_of(await client.call_tool("confirm_booking", {"appointment_id": proposed["id"]}))
            seen["confirmed"] = confirmed
            # The person pays on the hosted page; the gateway's webhook arrives
            await sync_to_async(_pay_and_deliver)()
            seen["mine"] = result_of(await client.call_tool("my_appointments", {}))
            dry = result_of(await client.call_tool("cancel_appointment", {"appointment_id": proposed["id"]}))
            seen["dry"] = dry
            seen["cancelled"] = result_of(
                await client.call_tool(
                    "cancel_appointment",
                    {
                        "appointment_id": proposed["id"],
                        "dry_run": False,
                        "expected_refund_minor": dry["refund"]["amount_minor"],
                    },
                )
            )
            # Someone else's id, and a made-up one, are "not found"
            stranger = await client.call_tool("cancel_appointment", {"appointment_id": str(uuid.uuid4())})
            seen["stranger"] = stranger
        return seen

    def _pay_and_deliver() -> None:
        assert SandboxGateway().pay(Payment.objects.get().checkout_session_id, "4242424242424242") == ""
        sandbox_deliver_now()

    seen = async_to_sync(serve_as)(Actor(user=customer, token=token), session)
    # The tools, described, with their input schemas; nothing takes a price or a status
    tools = seen["tools"]
    assert {"search_services", "free_times", "propose_booking", "confirm_booking", "cancel_appointment"} <= set(tools)
    for tool in tools.values():
        assert tool.description
        assert not {"price", "price_minor", "status", "customer_id"} & set(tool.input_schema.get("properties", {}))
    assert seen["proposed"]["status"] == "held"
    assert seen["proposed"]["price"]["display"] == "€40.00"
    assert "/sandbox/checkout/" in seen["confirmed"]["checkout_url"]
    assert [(a["id"], a["status"]) for a in seen["mine"]] == [(seen["proposed"]["id"], "confirmed")]
    assert seen["dry"]["cancelled"] is False
    assert seen["cancelled"]["refund"] == seen["dry"]["refund"]
    assert seen["cancelled"]["appointment"]["status"] == "cancelled"
    assert seen["stranger"].is_error
    assert "Not found" in seen["stranger"].content[0].text
    appointment = Appointment.objects.get()
    assert appointment.status == AppointmentStatus.CANCELLED
    assert AppointmentEvent.objects.get(appointment=appointment, kind="held").data == {
        "via": "agent",
        "token": "Desktop assistant",
        "until": AppointmentEvent.objects.get(appointment=appointment, kind="held").data["until"],
    }


@pytest.mark.django_db
def test_a_read_only_token_cannot_book_through_mcp(frozen_now: object) -> None:
    service = ServiceFactory()
    customer = UserFactory()
    token = token_create(user=customer, name="reader", scopes=["read"], days=7)[0]
    slot = Slot.objects.filter(service=service, slot_date=date(2026, 11, 30)).first()

    async def session() -> Any:
        async with Client(server) as client:
            return await client.call_tool("propose_booking", {"slot_id": str(slot.pk)})

    answer = async_to_sync(serve_as)(Actor(user=customer, token=token), session)
    assert answer.is_error
    assert "`book` scope" in answer.content[0].text
    assert not Appointment.objects.exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_sdks_http_client_reaches_mcp_on_the_live_server_with_a_bearer_token(live_server: Any) -> None:
    ServiceFactory(name="Yoga class")
    customer = UserFactory()
    token, raw = token_create(user=customer, name="http agent", scopes=["read"], days=7)
    url = f"{live_server.url}/mcp"

    async def call(with_token: str) -> Any:
        headers = {"Authorization": f"Bearer {with_token}"}
        async with (
            httpx2.AsyncClient(headers=headers, timeout=20) as http,
            Client(streamable_http_client(url, http_client=http)) as client,
        ):
            names = [t.name for t in (await client.list_tools()).tools]
            found = result_of(await client.call_tool("search_services", {"query": "yoga"}))
            return names, found

    # The client runs on its own thread and event loop (the browser tests' Playwright may hold
    # this thread's); the server is the live server, on its own thread too.
    with ThreadPoolExecutor(1) as pool:
        names, found = pool.submit(asyncio.run, call(raw)).result(timeout=60)
    assert "propose_booking" in names
    assert [s["name"] for s in found] == ["Yoga class"]
    # Revoked: 401 before any MCP message is read
    token_revoke(user=customer, token_id=token.pk)
    answer = httpx2.post(
        url, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, headers={"Authorization": f"Bearer {raw}"}
    )
    assert answer.status_code == 401
    assert answer.json()["code"] == "token_invalid"
    assert httpx2.post(url, json={}).status_code == 401


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_manage_py_mcp_serves_the_tools_over_stdio_as_the_token_in_the_environment() -> None:
    import os
    import sys
    from pathlib import Path

    from django.db import connection
    from mcp import StdioServerParameters

    ServiceFactory(name="Stdio stretching")
    customer = UserFactory()
    raw = token_create(user=customer, name="desktop", scopes=["read"], days=7)[1]
    db = connection.settings_dict
    root = Path(__file__).resolve().parent.parent.parent
    params = StdioServerParameters(
        command=sys.executable,
        args=[str(root / "manage.py"), "mcp"],
        cwd=str(root),
        env={
            **os.environ,
            "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
            "DJANGO_SETTINGS_MODULE": "appointly.settings.base",
            "DJANGO_SECRET_KEY": "stdio-test-" + "x" * 40,
            "LOG_LEVEL": "ERROR",
            "APPOINTLY_TOKEN": raw,
        },
    )

    async def session() -> Any:
        async with Client(params) as client:
            names = [t.name for t in (await client.list_tools()).tools]
            found = result_of(await client.call_tool("search_services", {"query": "stretching"}))
            booking = await client.call_tool("propose_booking", {"slot_id": str(uuid.uuid4())})
            return names, found, booking

    with ThreadPoolExecutor(1) as pool:
        names, found, booking = pool.submit(asyncio.run, session()).result(timeout=90)
    assert "confirm_booking" in names
    assert [s["name"] for s in found] == ["Stdio stretching"]
    assert booking.is_error  # a read-only token
    assert "`book` scope" in booking.content[0].text
