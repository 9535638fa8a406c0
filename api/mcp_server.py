"""The MCP server: the API's operations as tools for AI agents (official `mcp` SDK, 2.x).

Served two ways, both acting as one personal access token's person:
- stdio: `python manage.py mcp` with the token in APPOINTLY_TOKEN;
- streamable HTTP at `/mcp` (`mcp_endpoint`): a Django view that checks the bearer token and
  bridges the request to the SDK in stateless JSON-response mode, so runserver, gunicorn and
  the test live server all serve it (docs/adr/0020).

Tools never take prices, statuses or other people's ids; booking is two tools (propose, then
confirm), and money only moves when the person pays on the payment provider's page. The tool
bodies run in the thread that received the call (`sync_to_async(thread_sensitive=True)` inside
`async_to_sync`), so they use that thread's database connection and transaction.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, MutableMapping
from contextvars import ContextVar
from datetime import date
from typing import Any
from urllib.parse import urlsplit

from asgiref.sync import async_to_sync, sync_to_async
from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings

from api import operations as ops
from api.tokens import ScopeMissing, TokenInvalid, token_authenticate
from appointly.core import DomainError
from appointly.errors import json_error

server = MCPServer(
    name="appointly",
    title="Appointly",
    instructions=(
        "Book, reschedule and cancel appointments for the person whose token this is. Find a "
        "service, list its free times, then propose_booking (holds the time and shows the price "
        "and refund policy: tell the person) and, once the person agrees, confirm_booking. For a "
        "paid service confirm_booking returns checkout_url: the person opens it to pay; the "
        "booking is confirmed when they have paid. Before cancelling, call cancel_appointment "
        "with dry_run=true and tell the person the refund."
    ),
    version="1",
)

_actor: ContextVar[ops.Actor | None] = ContextVar("mcp_actor", default=None)


def _call(fn: Callable[..., Any], actor: ops.Actor, kwargs: dict[str, Any]) -> Any:
    """Run an operation; its refusals become tool errors an agent can read (never a trace)."""
    try:
        return fn(actor, **kwargs)
    except Http404 as exc:
        raise ToolError("Not found: there is nothing with that id that you may see.") from exc
    except ScopeMissing as exc:
        raise ToolError(f"Forbidden: {exc}") from exc
    except ops.Conflict as exc:
        raise ToolError(json.dumps({"code": "conflict", "message": str(exc), "details": exc.details})) from exc
    except DomainError as exc:
        raise ToolError(str(exc)) from exc


async def _run(fn: Callable[..., Any], **kwargs: Any) -> Any:
    actor = _actor.get()
    if actor is None:
        raise ToolError("Not signed in: connect with a personal access token.")
    return await sync_to_async(_call, thread_sensitive=True)(fn, actor, kwargs)


def _uuid(value: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except (ValueError, AttributeError, TypeError) as exc:
        raise ToolError(f"{what} must be an id as returned by another tool.") from exc


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise ToolError("`start` must be a date like 2026-12-01.") from exc


@server.tool(description="Search bookable services by words (name, description, category, business).")
async def search_services(query: str = "", category: str = "", limit: int = 10) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = await _run(ops.services_find, q=query, category=category, limit=limit)
    return result


@server.tool(description="A service's details: price, duration, where, its refund policy in words, the zone.")
async def service_details(slug: str) -> dict[str, Any]:
    result: dict[str, Any] = await _run(ops.service_details, slug=slug)
    return result


@server.tool(
    description=(
        "Free times of a service from `start` (YYYY-MM-DD) for `days` days (1-14), shown in the "
        "IANA zone `tz` (default: the provider's). Each has a slot_id for propose_booking."
    )
)
async def free_times(slug: str, start: str, days: int = 1, tz: str = "") -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = await _run(ops.free_times, slug=slug, start=_day(start), days=days, tz=tz)
    return result


@server.tool(
    description=(
        "Hold a free time for the person (the first step of booking). Returns the price, refund "
        "policy and the hold's deadline: tell the person before confirming. `request_id`: any "
        "UUID of yours, so a retry returns the same hold. A taken time answers with alternatives."
    )
)
async def propose_booking(
    slot_id: str, request_id: str = "", name: str = "", phone: str = "", notes: str = ""
) -> dict[str, Any]:
    key = _uuid(request_id, "request_id") if request_id else uuid.uuid4()
    result: dict[str, Any] = await _run(
        ops.booking_propose,
        slot_id=_uuid(slot_id, "slot_id"),
        idempotency_key=key,
        name=name,
        phone=phone,
        notes=notes,
    )
    return result


@server.tool(
    description=(
        "Confirm a proposed booking the person agreed to. Paid services return checkout_url: "
        "the person pays there, and the booking is confirmed once they have. Free and "
        "pay-at-the-venue services are confirmed already."
    )
)
async def confirm_booking(appointment_id: str, request_id: str = "") -> dict[str, Any]:
    key = _uuid(request_id, "request_id") if request_id else uuid.uuid5(uuid.NAMESPACE_URL, f"confirm:{appointment_id}")
    result: dict[str, Any] = await _run(
        ops.booking_confirm, appointment_id=_uuid(appointment_id, "appointment_id"), idempotency_key=key
    )
    return result


@server.tool(description="The person's upcoming appointments (past=true: the past ones).")
async def my_appointments(past: bool = False) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = await _run(ops.appointments_mine, past=past)
    return result


@server.tool(
    description=(
        "Cancel one of the person's appointments. dry_run=true (the default) only returns the "
        "refund; then call again with dry_run=false and expected_refund_minor set to that refund."
    )
)
async def cancel_appointment(
    appointment_id: str, dry_run: bool = True, expected_refund_minor: int | None = None
) -> dict[str, Any]:
    result: dict[str, Any] = await _run(
        ops.appointment_cancel,
        appointment_id=_uuid(appointment_id, "appointment_id"),
        dry_run=dry_run,
        expected_refund_minor=expected_refund_minor,
    )
    return result


@server.tool(description="Ask the provider to move an appointment to another free time (slot_id from free_times).")
async def request_reschedule(appointment_id: str, slot_id: str) -> dict[str, Any]:
    result: dict[str, Any] = await _run(
        ops.appointment_reschedule,
        appointment_id=_uuid(appointment_id, "appointment_id"),
        slot_id=_uuid(slot_id, "slot_id"),
    )
    return result


@server.tool(description="Withdraw the person's waiting reschedule request for an appointment.")
async def withdraw_reschedule(appointment_id: str) -> dict[str, Any]:
    result: dict[str, Any] = await _run(
        ops.appointment_reschedule_withdraw, appointment_id=_uuid(appointment_id, "appointment_id")
    )
    return result


@server.tool(description="Provider accounts: the business's appointments from `start` (YYYY-MM-DD) for `days` days.")
async def provider_appointments(start: str, days: int = 1) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = await _run(ops.provider_appointments, start=_day(start), days=days)
    return result


@server.tool(description="Provider accounts: cancel appointments by id (full refunds); a result per id.")
async def provider_cancel(appointment_ids: list[str], reason: str = "") -> dict[str, Any]:
    result: dict[str, Any] = await _run(ops.provider_cancel, ids=appointment_ids, reason=reason)
    return result


@server.tool(description="Provider accounts: mark an appointment attended (true) or a no-show (false).")
async def provider_attendance(appointment_id: str, attended: bool) -> dict[str, Any]:
    result: dict[str, Any] = await _run(
        ops.provider_attendance, appointment_id=_uuid(appointment_id, "appointment_id"), attended=attended
    )
    return result


async def serve_as(actor: ops.Actor, coroutine_factory: Callable[[], Any]) -> Any:
    """Run an MCP session (stdio, in-memory) acting as `actor`."""
    reset = _actor.set(actor)
    try:
        return await coroutine_factory()
    finally:
        _actor.reset(reset)


# --- /mcp over streamable HTTP, from a Django view ---------------------------------------------


def _security() -> TransportSecuritySettings:
    """Host and Origin checks (DNS rebinding): this site's hosts, and its own origin."""
    hosts = [h for h in settings.ALLOWED_HOSTS if h != "*"]
    site = urlsplit(settings.SITE_URL)
    allowed_hosts = [*hosts, *(f"{h}:*" for h in hosts), site.netloc]
    return TransportSecuritySettings(
        enable_dns_rebinding_protection="*" not in settings.ALLOWED_HOSTS,
        allowed_hosts=allowed_hosts,
        allowed_origins=[f"{site.scheme}://{site.netloc}"],
    )


async def _bridge(request: HttpRequest, actor: ops.Actor) -> HttpResponse:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": request.method,
        "scheme": request.scheme,
        "path": "/mcp",
        "raw_path": b"/mcp",
        "root_path": "",
        "query_string": request.META.get("QUERY_STRING", "").encode(),
        "headers": [(k.lower().encode(), v.encode()) for k, v in request.headers.items()],
        "server": (request.get_host().split(":")[0], int(request.get_port() or 80)),
        "client": (request.META.get("REMOTE_ADDR", ""), 0),
    }
    body = request.body
    sent_body = False

    async def receive() -> dict[str, Any]:
        nonlocal sent_body
        if not sent_body:
            sent_body = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    status = 500
    headers: list[tuple[str, str]] = []
    chunks: list[bytes] = []

    async def send(message: MutableMapping[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
            headers.extend((k.decode(), v.decode()) for k, v in message.get("headers", []))
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    manager = StreamableHTTPSessionManager(
        app=server._lowlevel_server, json_response=True, stateless=True, security_settings=_security()
    )
    reset = _actor.set(actor)
    try:
        async with manager.run():
            await manager.handle_request(scope, receive, send)
    finally:
        _actor.reset(reset)
    response = HttpResponse(b"".join(chunks), status=status)
    for name, value in headers:
        if name.lower() not in ("content-length", "transfer-encoding", "connection"):
            response[name] = value
    return response


@csrf_exempt
def mcp_endpoint(request: HttpRequest) -> HttpResponse:
    """`/mcp`: streamable HTTP with a personal access token (`Authorization: Bearer apt_…`)."""
    from api.v1 import TokenRateThrottle

    scheme, _, raw = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not raw.strip():
        response = json_error(401, "unauthenticated", "Send a personal access token: `Authorization: Bearer apt_…`.")
        response["WWW-Authenticate"] = "Bearer"
        return response
    try:
        token = token_authenticate(raw.strip())
    except TokenInvalid as exc:
        response = json_error(401, "token_invalid", str(exc))
        response["WWW-Authenticate"] = 'Bearer error="invalid_token"'
        return response
    request.access_token = token  # type: ignore[attr-defined]
    throttle = TokenRateThrottle()
    if not throttle.allow_request(request):
        limited = json_error(429, "rate_limited", "Too many requests with this token. Please wait and try again.")
        limited["Retry-After"] = str(int(throttle.wait() or 60))
        return limited
    bridged: HttpResponse = async_to_sync(_bridge)(request, ops.Actor(user=token.user, token=token))
    return bridged
