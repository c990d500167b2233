"""QR codes drawn on the server as inline SVG, so no URL ever carries what they encode.

Drawing one (segno choosing the best of 8 masks) cost about a fifth of the swap page's CPU, and
a technician reloads the same code's page, so each process keeps the last few it drew: in its
own memory only (never a shared cache: a verifyCode is a secret), keyed by an HMAC under a key
made at start-up rather than by the code, and bounded (QR_CACHE_SIZE entries, least recently
used out first).
"""

import hashlib
import hmac
import io
import secrets
import threading
from collections import OrderedDict

import segno
from django.utils.safestring import SafeString, mark_safe

QR_CACHE_SIZE = 128
_cache_key = secrets.token_bytes(32)
_cache: OrderedDict[bytes, SafeString] = OrderedDict()
_cache_lock = threading.Lock()


def qr_svg(data: str, *, label: str = "QR code") -> SafeString:
    """An inline <svg> (sized by CSS through its viewBox) encoding ``data``."""
    key = hmac.digest(_cache_key, f"{len(label)}:{label}:{data}".encode(), hashlib.sha256)
    with _cache_lock:
        svg = _cache.get(key)
        if svg is not None:
            _cache.move_to_end(key)
            return svg
    svg = _draw(data, label=label)
    with _cache_lock:
        _cache[key] = svg
        while len(_cache) > QR_CACHE_SIZE:
            _cache.popitem(last=False)
    return svg


def qr_cache_clear() -> None:
    with _cache_lock:
        _cache.clear()


def _draw(data: str, *, label: str) -> SafeString:
    qr = segno.make(data, error="m", micro=False)
    buffer = io.BytesIO()
    qr.save(
        buffer,
        kind="svg",
        xmldecl=False,
        svgns=True,
        omitsize=True,
        svgclass="qr",
        lineclass=None,
        border=2,
        dark="#000",
        light="#fff",
    )
    svg = buffer.getvalue().decode("ascii")
    # segno writes only ASCII markup; the label is ours and escaped by the caller's template.
    svg = svg.replace("<svg ", f'<svg role="img" aria-label="{_attr(label)}" ', 1)
    return mark_safe(svg)  # noqa: S308 - segno's own markup plus an escaped attribute


def _attr(text: str) -> str:
    return (
        text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;")
    )
