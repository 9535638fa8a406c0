"""A local HTTP server speaking the parts of Stripe's API we use, so the real `stripe` client
runs in tests (stripe-mock is a Go binary, not installable here).

Serves: checkout sessions (create, retrieve, list, expire), refunds (create, list), accounts
(create, retrieve), account links, transfers and events (list). A repeated `Idempotency-Key`
replays the first answer, as Stripe does. Faults are scripted per path. What a person does on
Stripe's pages (pay, finish onboarding) is a method here, and produces the events Stripe would
send, which `signed()` turns into a webhook delivery signed with the test secret.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
import urllib.parse
from collections import defaultdict, deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from payments.gateways import sign_payload

WEBHOOK_SECRET = "whsec_test_fake_stripe"


def _unflatten(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Stripe's form encoding (`line_items[0][price_data][currency]=eur`) back to a dict."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        parts = key.replace("]", "").split("[")
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return out


class FakeStripe:
    def __init__(self) -> None:
        self.sessions: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self.accounts: dict[str, dict[str, Any]] = {}
        self.transfers: dict[str, dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []
        self.requests: list[tuple[str, str, dict[str, Any]]] = []
        # Scripted answers per (method, path prefix), oldest first: an HTTP status to fail with.
        self.faults: dict[tuple[str, str], deque[int]] = defaultdict(deque)
        self._replies: dict[str, tuple[int, bytes]] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> FakeStripe:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def fail(self, method: str, path: str, *statuses: int) -> None:
        self.faults[(method, path)].extend(statuses)

    def calls(self, method: str, path: str) -> list[dict[str, Any]]:
        return [params for m, p, params in self.requests if m == method and p.startswith(path)]

    # --- what people do on Stripe's pages ------------------------------------------------------
    def pay(self, session_id: str) -> dict[str, Any]:
        """The customer pays on the hosted page (the session must be open)."""
        with self._lock:
            session = self.sessions[session_id]
            assert session["status"] == "open", session["status"]
            session.update(status="complete", payment_status="paid", payment_intent="pi_" + secrets.token_hex(8))
            return self._event("checkout.session.completed", session)

    def onboard(self, account_id: str) -> dict[str, Any]:
        with self._lock:
            account = self.accounts[account_id]
            account.update(payouts_enabled=True, details_submitted=True, charges_enabled=True)
            return self._event("account.updated", account)

    def signed(self, event: dict[str, Any], secret: str = WEBHOOK_SECRET) -> tuple[str, str]:
        body = json.dumps(event)
        return body, sign_payload(body, secret)

    def _event(self, kind: str, obj: dict[str, Any]) -> dict[str, Any]:
        event = {
            "id": "evt_" + secrets.token_hex(10),
            "object": "event",
            "type": kind,
            "created": int(time.time()),
            "livemode": False,
            "data": {"object": dict(obj)},
        }
        self.events.append(event)
        return event

    # --- the API ----------------------------------------------------------------------------
    def _answer(self, method: str, path: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        for (m, prefix), queue in self.faults.items():
            if m == method and path.startswith(prefix) and queue:
                status = queue.popleft()
                return status, {"error": {"type": "api_error", "message": f"fake failure {status}"}}
        parts = path.strip("/").split("/")[1:]  # without "v1"
        with self._lock:
            return self._route(method, parts, params)

    def _route(self, method: str, parts: list[str], params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if parts[:2] == ["checkout", "sessions"]:
            return self._sessions(method, parts[2:], params)
        if parts[0] == "refunds":
            if method == "POST":
                refund = {
                    "id": "re_" + secrets.token_hex(8),
                    "object": "refund",
                    "amount": int(params["amount"]),
                    "payment_intent": params["payment_intent"],
                    "status": "succeeded",
                    "metadata": params.get("metadata", {}),
                }
                self.refunds[refund["id"]] = refund
                return 200, refund
            found = [r for r in self.refunds.values() if r["payment_intent"] == params.get("payment_intent")]
            return 200, self._list(found, "/v1/refunds")
        if parts[0] == "accounts":
            if method == "POST" and len(parts) == 1:
                account: dict[str, Any] = {
                    "id": "acct_" + secrets.token_hex(8),
                    "object": "account",
                    "type": params.get("type"),
                    "email": params.get("email"),
                    "payouts_enabled": False,
                    "details_submitted": False,
                    "charges_enabled": False,
                }
                self.accounts[account["id"]] = account
                return 200, account
            if parts[1] not in self.accounts:
                return 404, {"error": {"type": "invalid_request_error", "message": "No such account"}}
            return 200, self.accounts[parts[1]]
        if parts[0] == "account_links":
            return 200, {
                "object": "account_link",
                "url": f"{self.url}/onboard/{params['account']}",
                "expires_at": int(time.time()) + 300,
            }
        if parts[0] == "transfers":
            destination = self.accounts.get(params["destination"])
            if destination is None or not destination["payouts_enabled"]:
                message = "Your destination account needs to have at least one of the following capabilities enabled"
                return 400, {"error": {"type": "invalid_request_error", "message": message}}
            transfer = {
                "id": "tr_" + secrets.token_hex(8),
                "object": "transfer",
                "amount": int(params["amount"]),
                "currency": params["currency"],
                "destination": params["destination"],
            }
            self.transfers[transfer["id"]] = transfer
            return 200, transfer
        if parts[0] == "events":
            return 200, self._list(list(reversed(self.events)), "/v1/events")
        return 404, {"error": {"type": "invalid_request_error", "message": f"Unrecognized request URL ({parts})"}}

    def _sessions(self, method: str, rest: list[str], params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if method == "POST" and not rest:
            item = params["line_items"]["0"]
            session = {
                "id": "cs_test_" + secrets.token_hex(12),
                "object": "checkout.session",
                "mode": params["mode"],
                "status": "open",
                "payment_status": "unpaid",
                "amount_total": int(item["price_data"]["unit_amount"]),
                "currency": item["price_data"]["currency"],
                "client_reference_id": params.get("client_reference_id"),
                "customer_email": params.get("customer_email"),
                "success_url": params["success_url"],
                "cancel_url": params["cancel_url"],
                "expires_at": int(params["expires_at"]),
                "created": int(time.time()),
                "payment_intent": None,
                "metadata": params.get("metadata", {}),
            }
            if session["expires_at"] < time.time() + 30 * 60 - 60:
                message = "The `expires_at` timestamp must be at least 30 minutes from Checkout Session creation."
                return 400, {"error": {"type": "invalid_request_error", "message": message}}
            session["url"] = f"{self.url}/pay/{session['id']}"
            self.sessions[session["id"]] = session
            return 200, session
        if not rest:
            since = int(params.get("created", {}).get("gte", 0))
            found = [
                s
                for s in self.sessions.values()
                if s["created"] >= since and s["status"] == params.get("status", s["status"])
            ]
            return 200, self._list(found, "/v1/checkout/sessions")
        found_session = self.sessions.get(rest[0])
        if found_session is None:
            return 404, {"error": {"type": "invalid_request_error", "message": "No such checkout.session"}}
        session = found_session
        if rest[1:] == ["expire"]:
            if session["status"] != "open":
                message = 'Only Checkout Sessions with a status in ["open"] can be expired.'
                return 400, {"error": {"type": "invalid_request_error", "message": message}}
            session["status"] = "expired"
            self._event("checkout.session.expired", session)
        return 200, session

    @staticmethod
    def _list(data: list[dict[str, Any]], url: str) -> dict[str, Any]:
        return {"object": "list", "data": data, "has_more": False, "url": url}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _serve(self, method: str) -> None:
                parsed = urllib.parse.urlsplit(self.path)
                length = int(self.headers.get("Content-Length", 0) or 0)
                raw = self.rfile.read(length).decode() if length else ""
                params = _unflatten(urllib.parse.parse_qsl(raw or parsed.query, keep_blank_values=True))
                fake.requests.append((method, parsed.path, params))
                key = self.headers.get("Idempotency-Key")
                replay = fake._replies.get(key) if key and method == "POST" else None
                if replay is not None:
                    status, payload = replay
                else:
                    status, body = fake._answer(method, parsed.path, params)
                    payload = json.dumps(body).encode()
                    if key and method == "POST" and status < 500:
                        fake._replies[key] = (status, payload)  # Stripe keeps answers, not 5xx
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_GET(self) -> None:
                self._serve("GET")

            def do_POST(self) -> None:
                self._serve("POST")

        return Handler
