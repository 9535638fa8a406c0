"""Where a request's time goes, in process: time inside the database driver (round trips
included) and in template rendering (less the SQL run inside it); the rest is Python
(middleware, sessions, forms, views, services).

    clock = Clock()
    with clock.running():
        clock.reset(); t0 = perf_counter(); client.get(...); total = perf_counter() - t0
        clock.sql, clock.template_only, clock.queries
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class Clock:
    def __init__(self) -> None:
        self.sql = self.template = self.sql_in_template = 0.0
        self.queries = 0
        self.depth = 0

    @property
    def template_only(self) -> float:
        return self.template - self.sql_in_template

    def reset(self) -> None:
        self.sql = self.template = self.sql_in_template = 0.0
        self.queries = 0

    def execute(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            spent = time.perf_counter() - t0
            self.sql += spent
            self.queries += 1
            if self.depth:
                self.sql_in_template += spent

    @contextmanager
    def running(self) -> Iterator[Clock]:
        """Times every statement on the default connection and every outermost template render."""
        from django.db import connection
        from django.template.backends.django import Template

        render = Template.render

        def timed_render(template: Any, *a: Any, **kw: Any) -> Any:
            self.depth += 1
            t0 = time.perf_counter()
            try:
                return render(template, *a, **kw)
            finally:
                self.depth -= 1
                if not self.depth:
                    self.template += time.perf_counter() - t0

        Template.render = timed_render  # type: ignore[assignment]
        try:
            with connection.execute_wrapper(self.execute):
                yield self
        finally:
            Template.render = render  # type: ignore[method-assign]
