"""The provider's check-in QR code: the URL it carries and its images, drawn on the server with
`qrcode` (no JavaScript library). Medium error correction survives a smudged print."""

from __future__ import annotations

import io
from urllib.parse import urlencode

import qrcode
import qrcode.constants
import qrcode.image.svg
from django.conf import settings
from django.urls import reverse

from providers.models import Provider


def check_in_url(provider: Provider) -> str:
    """`SITE_URL/mark?id=<token>`: what the printed code opens on a customer's phone."""
    return f"{settings.SITE_URL.rstrip('/')}{reverse('check_in')}?{urlencode({'id': provider.qr_token})}"


def _code(url: str, *, box_size: int) -> qrcode.QRCode:  # type: ignore[type-arg]
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=box_size, border=4)
    code.add_data(url)
    code.make(fit=True)
    return code


def qr_svg(url: str) -> bytes:
    """A scalable code on a white background (prints sharp at any size)."""
    image = _code(url, box_size=10).make_image(image_factory=qrcode.image.svg.SvgPathFillImage)
    return bytes(image.to_string(encoding="utf-8"))


def qr_png(url: str, *, box_size: int = 12) -> bytes:
    """A PNG for places that take no SVG (about 500 px square at the default size)."""
    image = _code(url, box_size=box_size).make_image(fill_color="black", back_color="white")
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()
