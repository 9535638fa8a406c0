"""`python manage.py mcp`: the MCP tools over stdio (for desktop AI clients), acting as the
personal access token in the APPOINTLY_TOKEN environment variable."""

from __future__ import annotations

import os
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from api.mcp_server import _actor, server
from api.operations import Actor
from api.tokens import TokenInvalid, token_authenticate


class Command(BaseCommand):
    help = "Serve Appointly's MCP tools over stdio as the token in APPOINTLY_TOKEN."

    def handle(self, *args: Any, **options: Any) -> None:
        raw = os.environ.get("APPOINTLY_TOKEN", "").strip()
        if not raw:
            raise CommandError("Set APPOINTLY_TOKEN to a personal access token (account page → Access tokens).")
        try:
            token = token_authenticate(raw)
        except TokenInvalid as exc:
            raise CommandError(str(exc)) from exc
        _actor.set(Actor(user=token.user, token=token))
        server.run("stdio")
