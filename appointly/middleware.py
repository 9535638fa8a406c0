"""Request checks that hold for every page and endpoint, in one place."""

from __future__ import annotations

import re
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

# C0 control characters a person never types (tab, newline and carriage return are fine) and
# DEL. NUL in particular cannot be stored in a PostgreSQL text column: left to the database it
# is a 500 on any page that filters or saves the value.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# The same inside a JSON body, raw or escaped ("\u0000" decodes to NUL).
_JSON_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]|\\u00[01][0-9a-fA-F]|\\u007[fF]")

MESSAGE = "The request contains control characters (such as NUL) that no field accepts."


def wants_json(request: HttpRequest) -> bool:
    return request.path.startswith("/api/") or "application/json" in request.headers.get("Content-Type", "")


def _has_control(request: HttpRequest) -> bool:
    if _CONTROL.search(request.path):
        return True
    if any(_CONTROL.search(k) or any(_CONTROL.search(v) for v in vs) for k, vs in request.GET.lists()):
        return True
    if request.method != "POST":
        return False
    content_type = request.headers.get("Content-Type", "")
    if "application/json" in content_type:
        return bool(_JSON_CONTROL.search(request.body))
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        return any(_CONTROL.search(k) or any(_CONTROL.search(v) for v in vs) for k, vs in request.POST.lists())
    return False


class RefuseControlCharacters:
    """Answer 400 (JSON for JSON callers) before any view, form or query sees input that the
    database cannot store or that no person types: one check instead of one per page."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if _has_control(request):
            if wants_json(request):
                return JsonResponse({"code": "invalid_input", "message": MESSAGE, "details": {}}, status=400)
            return render(request, "400.html", {"message": MESSAGE}, status=400)
        return self.get_response(request)
