"""DEBUG mode never shows or logs the push secret; a POST without the slash never 500s."""

import logging

import pytest
from django.views.debug import get_default_exception_reporter_filter

from devices.push_logging import RedactPushSecretFilter

pytestmark = pytest.mark.django_db

SECRET = "debug-leak-push-secret-42"


@pytest.fixture(autouse=True)
def debug_on(settings):
    settings.DEBUG = True
    settings.IOT_PUSH_SECRET = SECRET
    settings.IOT_CALLBACK_URL = f"https://iot.example.com/platform/push/{SECRET}/"


def test_debug_page_settings_mask_the_callback_url_and_push_secret():
    safe = get_default_exception_reporter_filter().get_safe_settings()
    assert safe["IOT_PUSH_SECRET"] != SECRET
    assert safe["IOT_CALLBACK_URL"] != f"https://iot.example.com/platform/push/{SECRET}/"
    assert SECRET not in repr(safe)


def test_debug_page_request_meta_hides_the_push_path(rf):
    request = rf.post(f"/platform/push/{SECRET}/x/")
    meta = get_default_exception_reporter_filter().get_safe_request_meta(request)
    assert SECRET not in repr(meta)


def test_post_to_login_without_slash_redirects_keeping_the_method(client):
    response = client.post("/login", {"username": "nobody", "password": "nothing"})
    assert response.status_code == 308
    assert response["Location"] == "/login/"
    assert b"SECRET_KEY" not in response.content


@pytest.mark.parametrize("method", ["get", "post"])
def test_push_path_without_slash_answers_404_without_echoing_it(client, method, caplog):
    with caplog.at_level(logging.INFO):
        response = getattr(client, method)(f"/platform/push/{SECRET}")
    assert response.status_code == 404
    assert SECRET.encode() not in response.content
    assert "Location" not in response
    assert all(SECRET not in r.getMessage() for r in caplog.records)


def test_unknown_path_under_push_is_a_bare_404_and_logged_redacted(client, caplog):
    with caplog.at_level(logging.INFO):
        response = client.get(f"/platform/push/{SECRET}/nothing-here/")
    assert response.status_code == 404
    assert SECRET.encode() not in response.content
    assert all(SECRET not in r.getMessage() for r in caplog.records)


def test_django_request_logger_redacts_the_push_path(caplog):
    with caplog.at_level(logging.WARNING, logger="django.request"):
        logging.getLogger("django.request").warning(
            "Not Found: %s", f"/platform/push/{SECRET}/nothing/"
        )
    [record] = [r for r in caplog.records if r.name == "django.request"]
    assert SECRET not in record.getMessage()


def test_filter_masks_literal_secrets_and_tracebacks():
    try:
        raise ValueError(f"boom {SECRET}")
    except ValueError:
        import sys

        record = logging.LogRecord(
            "x", logging.ERROR, __file__, 1, "value %s", (SECRET,), sys.exc_info()
        )
    assert RedactPushSecretFilter(secrets=[SECRET]).filter(record)
    assert SECRET not in record.getMessage()
    assert SECRET not in (record.exc_text or "")
