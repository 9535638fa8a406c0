"""The provider's QR page: the code (decoded from the real images), downloads, print sheets,
replacing it, and who may see it."""

from __future__ import annotations

import io
from typing import Any
from xml.etree import ElementTree

import pytest
import zxingcpp
from django.test import Client
from PIL import Image

from providers.models import Provider

pytestmark = pytest.mark.django_db


def decode_png(data: bytes) -> list[str]:
    return [r.text for r in zxingcpp.read_barcodes(Image.open(io.BytesIO(data)))]


def test_the_page_shows_the_code_and_what_it_opens(client: Client, setup: dict[str, Any], settings: Any) -> None:
    settings.SITE_URL = "https://appointly.example"
    provider = setup["provider"]
    page = client.get("/dashboard/qr").content.decode()
    assert '<img class="qr-image" src="/dashboard/qr.svg"' in page
    assert f"https://appointly.example/mark?id={provider.qr_token}" in page
    assert 'href="/dashboard/qr.png?download=1"' in page
    assert 'href="/dashboard/qr/print?size=a4"' in page
    assert 'href="/dashboard/qr/print?size=a6"' in page
    assert "Automatic no-shows" in page
    assert "Turn automatic no-shows on" in page
    # The dashboard links to it
    assert 'href="/dashboard/qr"' in client.get("/dashboard").content.decode()


def test_the_png_download_decodes_to_the_check_in_url(client: Client, setup: dict[str, Any], settings: Any) -> None:
    settings.SITE_URL = "https://appointly.example/"
    response = client.get("/dashboard/qr.png?download=1")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response["Content-Disposition"] == f'attachment; filename="check-in-{setup["provider"].slug}.png"'
    assert response["Cache-Control"] == "private, no-store"
    assert decode_png(response.content) == [f"https://appointly.example/mark?id={setup['provider'].qr_token}"]


def test_the_svg_is_a_real_svg_without_styles(client: Client, setup: dict[str, Any]) -> None:
    response = client.get("/dashboard/qr.svg")
    assert response["Content-Type"] == "image/svg+xml"
    root = ElementTree.fromstring(response.content)  # noqa: S314 - our own output
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert b"style=" not in response.content
    assert client.get("/dashboard/qr.gif").status_code == 404


def test_print_sheets_name_the_business_and_say_what_to_do(client: Client, setup: dict[str, Any]) -> None:
    provider = setup["provider"]
    for size in ("a4", "a6"):
        page = client.get(f"/dashboard/qr/print?size={size}").content.decode()
        assert f'<main class="sheet sheet-{size}">' in page
        assert provider.business_name in page
        assert provider.address in page
        assert "Scan with your phone's camera to check in for your appointment" in page
        assert "qr-print.css" in page
        assert "js/print.js" in page
        assert "onclick" not in page
        assert "style=" not in page
    assert client.get("/dashboard/qr/print?size=a3").status_code == 404


def test_customers_and_visitors_never_see_a_providers_code(setup: dict[str, Any]) -> None:
    provider = setup["provider"]
    customer = Client()
    customer.force_login(setup["customers"][0])
    for url in ("/dashboard/qr", "/dashboard/qr.png", "/dashboard/qr.svg", "/dashboard/qr/print"):
        denied = customer.get(url)
        assert denied.status_code == 403
        assert provider.qr_token.encode() not in denied.content
        assert Client().get(url).status_code == 302
    assert customer.post("/dashboard/qr/rotate").status_code == 403
    assert Provider.objects.get(pk=provider.pk).qr_token == provider.qr_token


def test_each_provider_gets_their_own_code(client: Client, setup: dict[str, Any]) -> None:
    from tests.factories import ServiceFactory

    other = ServiceFactory().provider
    mine = decode_png(client.get("/dashboard/qr.png").content)[0]
    assert mine.endswith(setup["provider"].qr_token)
    assert other.qr_token not in mine
    assert setup["provider"].qr_token != other.qr_token
    assert len(setup["provider"].qr_token) == 32  # 192 random bits, not the id or slug
    assert str(setup["provider"].pk) not in mine
    assert setup["provider"].slug not in mine
