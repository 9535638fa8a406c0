"""Browser tests: Debian's chromium driven by Playwright (never `playwright install`)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.error_urls import FAILING_PATH

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A browser test that fails on a Playwright timeout runs once more, and only then (ADR
    0033): about one full browser run in seven or eight, here and in CI, a navigation after a
    click never reached `load` within 30 s, never twice in a row, never reproduced on demand.
    Any other failure, and a second timeout, fail as before; pytest reports each rerun."""
    for item in items:
        if "e2e" in item.path.parts:
            item.add_marker(pytest.mark.flaky(reruns=1, only_rerun=["TimeoutError"]))


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if CHROMIUM is None:
        pytest.skip("needs Debian's chromium (apt-get install chromium); CI installs it")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the ORM calls the tests make
    # around it are still plain synchronous code.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"],
        )
        yield browser
        browser.close()


# Every page reports Content-Security-Policy violations to the test (a violation is a console
# message only, easy to miss): the fixture fails on any, and on any JavaScript or console error.
REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (e) => {
  const where = `${e.sourceFile}:${e.lineNumber}`;
  window.reportViolation(`${e.violatedDirective} blocked ${e.blockedURI || "inline"} at ${where}`);
});
"""


def _is_error(message: Any) -> bool:
    """A console error, except the browser noting a 4xx answer (a page that says "wrong code"
    or "just taken" on purpose); a 5xx is an error, except from the one view that fails on purpose
    (`error_urls`, to show the 500 page)."""
    failed = message.text.startswith("Failed to load resource: the server responded with a status of ")
    expected = failed and (
        message.text.startswith("Failed to load resource: the server responded with a status of 4")
        or FAILING_PATH in message.location.get("url", "")
    )
    return bool(message.type == "error" and not expected)


@pytest.fixture
def open_page(browser: Any) -> Iterator[Any]:
    """`open_page(width=390, height=844)`: a page in a fresh browser context (its own cookies:
    one person each), with the same checks as `page` for every context opened."""
    contexts: list[Any] = []
    violations: list[str] = []
    errors: list[str] = []

    def open_one(width: int = 1200, height: int = 900, **options: Any) -> Any:
        context = browser.new_context(viewport={"width": width, "height": height}, **options)
        context.expose_binding("reportViolation", lambda _source, text: violations.append(text))
        context.add_init_script(REPORT_VIOLATIONS)
        contexts.append(context)
        new = context.new_page()
        new.on("pageerror", lambda exc: errors.append(str(exc)))
        new.on("console", lambda message: errors.append(message.text) if _is_error(message) else None)
        return new

    yield open_one
    for context in contexts:
        context.close()
    assert violations == [], f"Content-Security-Policy violations: {violations}"
    assert errors == [], f"JavaScript or console errors: {errors}"


@pytest.fixture
def page(open_page: Any) -> Any:
    return open_page()


def pay_on_hosted_page(page: Any, card: str = "4242 4242 4242 4242", on_confirming: Any = None) -> None:
    """On our pay page: press Pay, type the card on the sandbox's hosted page, come back to
    "Confirming…", let the sandbox's webhooks reach the live server over HTTP (the queue's
    delivery job, run here), and wait for the page to move on by itself."""
    import re

    from django.test import override_settings

    from payments.gateways import sandbox_deliver
    from payments.models import SandboxEvent

    page.get_by_role("button", name=re.compile("^Pay ")).click()
    page.wait_for_url(re.compile(r".*/sandbox/checkout/.*"))
    page.get_by_label("Card number").fill(card)
    page.get_by_role("button", name=re.compile("^Pay ")).click()
    # Where the site's own queue already delivered the webhook (SITE_URL is the live server's),
    # the return page moves straight on.
    page.wait_for_url(re.compile(r".*(/pay/return/|booked=1).*"))
    if "booked=1" in page.url:
        return
    page.get_by_text("Confirming your payment").wait_for()
    if on_confirming is not None:
        on_confirming()
    origin = re.match(r"https?://[^/]+", page.url).group(0)  # type: ignore[union-attr]
    with override_settings(SANDBOX_WEBHOOK_URL=f"{origin}/payments/webhook"):
        for event_id in SandboxEvent.objects.filter(delivered_at__isnull=True).values_list("pk", flat=True):
            sandbox_deliver(event_id=event_id)
    page.wait_for_url(re.compile(r".*booked=1.*"), timeout=10_000)
