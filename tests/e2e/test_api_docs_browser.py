"""The API's docs page works in a browser under the site's Content-Security-Policy, with its
files served by us (no CDN)."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_the_api_docs_render_every_operation_without_csp_violations(live_server: Any, open_page: Any) -> None:
    page = open_page(width=390, height=844)
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(f"{live_server.url}/api/v1/docs")
    page.locator(".opblock-summary-path").first.wait_for(timeout=15_000)
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert "/api/v1/bookings" in [p.strip() for p in paths]
    assert all(url.startswith(live_server.url) for url in requested), [u for u in requested if live_server.url not in u]
