"""QR codes drawn on the server as inline SVG, so no URL ever carries what they encode."""

import io

import segno
from django.utils.safestring import SafeString, mark_safe


def qr_svg(data: str, *, label: str = "QR code") -> SafeString:
    """An inline <svg> (sized by CSS through its viewBox) encoding ``data``."""
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
