"""devices/qr.py: the verifyCode's QR code, remembered per process (never in a shared store)."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from devices import qr


@pytest.fixture(autouse=True)
def _empty():
    qr.qr_cache_clear()
    yield
    qr.qr_cache_clear()


def test_a_remembered_qr_code_is_the_one_drawn_afresh():
    first = qr.qr_svg("K7Q2M9XZ4B", label="QR code of the verifyCode")
    assert first == qr._draw("K7Q2M9XZ4B", label="QR code of the verifyCode")
    assert qr.qr_svg("K7Q2M9XZ4B", label="QR code of the verifyCode") is first


def test_each_code_and_label_has_its_own_qr_code():
    one = qr.qr_svg("K7Q2M9XZ4B")
    assert qr.qr_svg("K7Q2M9XZ4C") != one
    other_label = qr.qr_svg("K7Q2M9XZ4B", label='a "label" <b>')
    assert other_label != one
    assert 'aria-label="a &quot;label&quot; &lt;b&gt;"' in other_label


def test_the_memory_is_bounded_oldest_out_first(monkeypatch):
    monkeypatch.setattr(qr, "QR_CACHE_SIZE", 3)
    kept = qr.qr_svg("CODE0")
    for number in range(1, 4):
        qr.qr_svg(f"CODE{number}")
    assert len(qr._cache) == 3
    assert qr.qr_svg("CODE0") is not kept  # drawn again: it had been dropped


def test_no_code_is_kept_in_clear_or_in_the_shared_cache(caplog):
    cache.clear()
    qr.qr_svg("SECRETCODE42")
    assert all(b"SECRETCODE42" not in key for key in qr._cache)
    assert cache.get("SECRETCODE42") is None
    assert "SECRETCODE42" not in caplog.text
