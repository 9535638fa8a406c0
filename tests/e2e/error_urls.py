"""The project's URLs plus one view that fails, so a browser test can see the real 500 page the
way a visitor would (rendered by Django's handler, with no request context)."""

from django.http import HttpRequest, HttpResponse
from django.urls import path

from appointly.urls import urlpatterns as project_urlpatterns

FAILING_PATH = "/__deliberate-failure/"


def failing_view(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("deliberate failure: the 500 page's browser test")


urlpatterns = [path(FAILING_PATH.strip("/") + "/", failing_view), *project_urlpatterns]
