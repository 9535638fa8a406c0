"""A local HTTP server speaking Twilio's Messages API, so the real `twilio` client runs."""

from __future__ import annotations

import json
import secrets
import threading
import urllib.parse
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FakeTwilio:
    def __init__(self) -> None:
        self.requests: list[dict[str, str]] = []
        # Scripted answers, oldest first: (http status, twilio error code or None). Default: 201.
        self.script: deque[tuple[int, int | None]] = deque()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        port = self._server.server_address[1]
        return f"http://127.0.0.1:{port}"

    def start(self) -> FakeTwilio:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                raw = self.rfile.read(length)
                if len(raw) < length:
                    return  # the client died mid-request (a killed worker): nothing was sent
                form = dict(urllib.parse.parse_qsl(raw.decode()))
                fake.requests.append({"path": self.path, **form})
                status, code = fake.script.popleft() if fake.script else (201, None)
                if status >= 400:
                    body = {
                        "code": code or status,
                        "message": f"fake error {code or status}",
                        "status": status,
                        "more_info": "https://www.twilio.com/docs/errors",
                    }
                else:
                    sid = "SM" + secrets.token_hex(16)
                    body = {
                        "sid": sid,
                        "status": "queued",
                        "to": form.get("To"),
                        "from": form.get("From"),
                        "body": form.get("Body"),
                        "account_sid": self.path.split("/")[3],
                    }
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                if status == 429:
                    self.send_header("Retry-After", "45")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        return Handler
