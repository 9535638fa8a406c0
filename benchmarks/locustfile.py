"""The load test's people (run by `python benchmarks/load.py`, which sets the site up and reads
the figures; see there). Each user sends its next request when the last one is answered (no
think time), so the figures are what the server does when it is kept busy.

- Visitor (70 %): the home page and its later pages, a search, a service page, another day of it
  (the HTMX fragment).
- Customer booking (10 %): the whole flow on a free time of its own: confirm, hold, the pay page,
  Pay, the gateway's hosted page and its card form; the gateway's webhook is delivered by the
  Celery worker (the sandbox's queued delivery); the return page is polled until it redirects.
- Customer account (10 %): the account page, a page of its past list, an appointment's page.
- Provider (10 %): the dashboard, then its live poll (`/dashboard/changes`, 204 while nothing
  changed), as an open dashboard does.
- Bare (only in the baseline run): `/healthz`, the denominator of the ratios.

`APPOINTLY_LOAD_DATA` names the JSON file load.py wrote: sessions, services, free slots.
"""

from __future__ import annotations

import html
import json
import os
import random
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from locust import HttpUser, constant, task

DATA: dict[str, Any] = json.loads(Path(os.environ["APPOINTLY_LOAD_DATA"]).read_text())
# gevent: one process, so no two users pop the same slot or the same booking customer (each
# books one time after another, so never holds more than one unpaid time: the hold limit).
_free_slots: list[str] = list(DATA["free_slots"])
_bookers: list[str] = list(DATA["customers"])
_HIDDEN = re.compile(r'<input type="hidden" name="(\w+)" value="([^"]*)"')


def _path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


class _Signed(HttpUser):
    abstract = True
    wait_time = constant(0)
    pool = ""

    def on_start(self) -> None:
        self.client.cookies.set("sessionid", random.choice(DATA[self.pool]), domain="127.0.0.1")

    def post(self, path: str, data: dict[str, str], name: str) -> Any:
        csrf = self.client.cookies.get("csrftoken", "")
        headers = {"X-CSRFToken": csrf, "Referer": f"{self.host}{path}"}
        return self.client.post(
            path, data={**data, "csrfmiddlewaretoken": csrf}, headers=headers, name=name, allow_redirects=False
        )


class Visitor(HttpUser):
    weight = 70
    wait_time = constant(0)

    @task(3)
    def browse(self) -> None:
        self.client.get(f"/?page={random.randint(1, 3)}", name="/ (browse)")

    @task(2)
    def search(self) -> None:
        self.client.get(f"/?q={random.choice(DATA['words'])}", name="/?q= (search)")

    @task(3)
    def service(self) -> None:
        self.client.get(f"/services/{random.choice(DATA['services'])}/", name="/services/[slug]/")

    @task(2)
    def service_day(self) -> None:
        slug, day = random.choice(DATA["services"]), random.choice(DATA["days"])
        self.client.get(
            f"/services/{slug}/?day={day}", headers={"HX-Request": "true"}, name="/services/[slug]/?day= (htmx)"
        )


class CustomerBooking(_Signed):
    weight = 10
    pool = "customers"

    def on_start(self) -> None:
        self.client.cookies.set("sessionid", _bookers.pop(), domain="127.0.0.1")

    @task
    def book(self) -> None:
        if not _free_slots:
            self.client.get("/account/", name="/account/")
            return
        slot = _free_slots.pop()
        with self.client.get(f"/book/{slot}/", name="/book/[slot]/ GET", catch_response=True) as page:
            if page.status_code == 409:  # just taken: an answer, not an error
                page.success()
                return
        form = dict(_HIDDEN.findall(page.text))
        form.pop("csrfmiddlewaretoken", None)
        with self.client.post(
            f"/book/{slot}/",
            data={**form, "csrfmiddlewaretoken": self.client.cookies.get("csrftoken", "")},
            headers={"X-CSRFToken": self.client.cookies.get("csrftoken", ""), "Referer": self.host},
            name="/book/[slot]/ POST (hold)",
            allow_redirects=False,
            catch_response=True,
        ) as held:
            if held.status_code == 409:
                held.success()
                return
            if held.status_code != 302:
                held.failure(f"hold answered {held.status_code}")
                return
        pay_path = held.headers["Location"]
        page = self.client.get(pay_path, name="/appointments/[id]/pay/ GET")
        key = re.search(r'name="payment_key" value="([^"]+)"', page.text)
        pressed = self.post(pay_path, {"payment_key": key[1] if key else ""}, "/appointments/[id]/pay/ POST")
        if pressed.status_code != 302:
            return
        hosted = _path(pressed.headers["Location"])
        self.client.get(hosted, name="/sandbox/checkout/[id] GET")
        paid = self.post(hosted, {"card_number": "4242424242424242"}, "/sandbox/checkout/[id] POST (card)")
        if paid.status_code != 302:
            return
        back = _path(paid.headers["Location"])
        self.client.get(back, name="/appointments/[id]/pay/return/", allow_redirects=False)
        status = back.replace("/pay/return/", "/pay/status")
        for _ in range(20):  # the return page's poll, until the worker's webhook has confirmed
            answer = self.client.get(
                status, headers={"HX-Request": "true"}, name="/appointments/[id]/pay/status", allow_redirects=False
            )
            if answer.headers.get("HX-Redirect"):
                return
            self._sleep(0.5)

    def _sleep(self, seconds: float) -> None:
        import gevent

        gevent.sleep(seconds)


class CustomerAccount(_Signed):
    weight = 10
    pool = "account_customers"

    @task(3)
    def account(self) -> None:
        page = self.client.get("/account/", name="/account/")
        found = re.findall(r'href="/appointments/([0-9a-f-]{36})/"', page.text)
        if found:
            self.client.get(f"/appointments/{random.choice(found)}/", name="/appointments/[id]/")

    @task(1)
    def older(self) -> None:
        self.client.get(f"/account/?show=past&page={random.randint(1, 3)}", name="/account/?show=past&page=")


class Provider(_Signed):
    weight = 10
    pool = "providers"

    @task
    def dashboard(self) -> None:
        page = self.client.get("/dashboard", name="/dashboard")
        poll = re.search(r'hx-get="(/dashboard/changes\?[^"]+)"', page.text)
        for _ in range(5):  # an open dashboard polls
            if poll:
                self.client.get(
                    html.unescape(poll[1]), headers={"HX-Request": "true"}, name="/dashboard/changes (poll)"
                )


class Bare(HttpUser):
    """The baseline: the bare view under the same number of users."""

    weight = 1  # run only when named (load.py names the classes of each run)
    wait_time = constant(0)

    @task
    def healthz(self) -> None:
        self.client.get("/healthz", name="/healthz")
