"""Django's database sessions, with the read every signed-in request makes compiled once
(docs/adr/0029): `SESSION_ENGINE = "accounts.sessions"`. The same table and rows as
`django.contrib.sessions.backends.db`, so switching either way signs nobody out."""

from __future__ import annotations

from typing import Any

from django.contrib.sessions.backends import db
from django.contrib.sessions.models import Session
from django.utils import timezone

from appointly.compiled import Compiled

_SESSION: Compiled[Session] = Compiled(lambda key, now: Session.objects.filter(session_key=key, expire_date__gt=now))


class SessionStore(db.SessionStore):
    def _get_session_from_db(self) -> Any:
        """The unexpired session row with this key, as Django's store reads it (None, and the
        key forgotten, when there is none)."""
        found = _SESSION.first(key=self.session_key, now=timezone.now()) if self.session_key else None
        if found is None:
            self._session_key = None
        return found
